package imappoller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpmail/helpmail/internal/dovecottest"
	"github.com/helpmail/helpmail/mailbox"
)

// testUser is the test server's account, also the support address.
const testUser = dovecottest.User

// memCheckpoints is an in-memory Checkpoints.
type memCheckpoints struct {
	mu sync.Mutex
	m  map[string][2]uint32
}

func (c *memCheckpoints) LoadCheckpoint(ctx context.Context, account, mbox string) (uint32, uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.m[account+"\x00"+mbox]
	return v[0], v[1], nil
}

// SaveCheckpoint fails once ctx is done, as a database would.
func (c *memCheckpoints) SaveCheckpoint(ctx context.Context, account, mbox string, uidValidity, lastUID uint32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string][2]uint32)
	}
	c.m[account+"\x00"+mbox] = [2]uint32{uidValidity, lastUID}
	return nil
}

// delivery is what the recorder keeps of one stored message.
type delivery struct {
	env  mailbox.Envelope
	sum  [32]byte
	size int
}

// refusal is one call of Poller.Refuse.
type refusal struct {
	env    mailbox.Envelope
	header string
	size   int64
	reason string
}

// recorder stands in for the desk: it stores each message once, keyed by
// Message-ID (or by its sha256 when it has none), as the desk dedupes.
type recorder struct {
	mu       sync.Mutex
	stored   map[string]delivery
	calls    int
	refusals []refusal
	// got receives the key of every newly stored message.
	got chan string
	// hook, when set, runs first on every Deliver call (calls counts this
	// one); a non-nil error is returned instead of storing (stored says
	// whether to store first, as a desk that committed and then failed).
	hook func(ctx context.Context, raw []byte, calls int) (stored bool, err error)
}

func newRecorder() *recorder {
	return &recorder{stored: make(map[string]delivery), got: make(chan string, 4096)}
}

// dedupeKey is the Message-ID, or the sha256 of a message without one.
func dedupeKey(raw []byte) string {
	if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		if id := strings.TrimSpace(m.Header.Get("Message-Id")); id != "" {
			return id
		}
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (r *recorder) Deliver(ctx context.Context, env mailbox.Envelope, raw []byte) error {
	r.mu.Lock()
	r.calls++
	calls, hook := r.calls, r.hook
	r.mu.Unlock()
	if hook != nil {
		store, err := hook(ctx, raw, calls)
		if err != nil {
			if store {
				r.store(env, raw)
			}
			return err
		}
	}
	r.store(env, raw)
	return nil
}

func (r *recorder) store(env mailbox.Envelope, raw []byte) {
	key := dedupeKey(raw)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.stored[key]; dup {
		return
	}
	r.stored[key] = delivery{env: env, sum: sha256.Sum256(raw), size: len(raw)}
	r.got <- key
}

func (r *recorder) Refuse(ctx context.Context, env mailbox.Envelope, header []byte, size int64, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refusals = append(r.refusals, refusal{env: env, header: string(header), size: size, reason: reason})
	return nil
}

// snapshot returns the stored keys and the number of Deliver calls.
func (r *recorder) snapshot() (stored map[string]delivery, calls int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	stored = make(map[string]delivery, len(r.stored))
	for k, v := range r.stored {
		stored[k] = v
	}
	return stored, r.calls
}

// waitStored waits (at most timeout) until the message with this key is
// stored.
func (r *recorder) waitStored(t testing.TB, key string, timeout time.Duration) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for range 10000 {
		select {
		case got := <-r.got:
			if got == key {
				return
			}
		case <-timer.C:
			t.Fatalf("message %s not delivered within %v", key, timeout)
		}
	}
	t.Fatalf("message %s not among the first 10000 deliveries", key)
}

// testMessage returns a small CRLF message whose Message-ID is <id>.
func testMessage(id, returnPath string) []byte {
	var b strings.Builder
	if returnPath != "" {
		fmt.Fprintf(&b, "Return-Path: %s\r\n", returnPath)
	}
	fmt.Fprintf(&b, "From: Alice <alice@example.org>\r\nTo: %s\r\nSubject: test %s\r\n", testUser, id)
	fmt.Fprintf(&b, "Message-ID: %s\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\nHello from %s.\r\n", id, id)
	return []byte(b.String())
}

// testLogger logs to t and sends every record's message to msgs (without
// blocking; records are dropped when it is full).
func testLogger(t testing.TB, level slog.Level, msgs chan<- string) *slog.Logger {
	h := slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level})
	return slog.New(notifyHandler{Handler: h, msgs: msgs})
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type notifyHandler struct {
	slog.Handler
	msgs chan<- string
}

func (h notifyHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.msgs != nil {
		select {
		case h.msgs <- r.Message:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h notifyHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return notifyHandler{Handler: h.Handler.WithAttrs(attrs), msgs: h.msgs}
}

func (h notifyHandler) WithGroup(name string) slog.Handler {
	return notifyHandler{Handler: h.Handler.WithGroup(name), msgs: h.msgs}
}

// waitLog waits (at most timeout) for a log record with this message.
func waitLog(t testing.TB, msgs <-chan string, want string, timeout time.Duration) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for range 100000 {
		select {
		case got := <-msgs:
			if got == want {
				return
			}
		case <-timer.C:
			t.Fatalf("no log record %q within %v", want, timeout)
		}
	}
	t.Fatalf("no log record %q among the first 100000", want)
}

// account is a plaintext Account for the test server.
func account(d *dovecottest.Server) Account {
	return Account{
		Name:     testUser,
		Address:  testUser,
		Host:     "127.0.0.1",
		Port:     d.Port,
		Security: "none",
		Username: testUser,
		Password: dovecottest.Password,
	}
}

// newPoller returns a Poller on the test server's INBOX that delivers to
// rec and logs to t.
func newPoller(t testing.TB, d *dovecottest.Server, rec *recorder, msgs chan<- string) *Poller {
	return &Poller{
		Account:     account(d),
		Checkpoints: &memCheckpoints{},
		Deliver:     rec.Deliver,
		Refuse:      rec.Refuse,
		Logger:      testLogger(t, slog.LevelDebug, msgs),
		MinBackoff:  20 * time.Millisecond,
		MaxBackoff:  200 * time.Millisecond,
	}
}

// runPoller starts p.Run in a goroutine. The returned stop (also run at
// cleanup) cancels it and checks that Run returns nil within 10 s.
func runPoller(t testing.TB, p *Poller) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			timer := time.NewTimer(10 * time.Second)
			defer timer.Stop()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run() = %v, want nil after cancel", err)
				}
			case <-timer.C:
				t.Errorf("Run() did not return within 10 s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
