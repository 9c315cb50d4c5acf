package smtpserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/helpmail/helpmail/internal/testcert"
	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/mailbox/smtpserver"
)

// waitLimit bounds every wait in these tests.
const waitLimit = 10 * time.Second

type delivery struct {
	env mailbox.Envelope
	raw []byte
}

// recorder is a Deliver function that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []delivery
}

func (r *recorder) deliver(_ context.Context, env mailbox.Envelope, raw []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, delivery{env: env, raw: bytes.Clone(raw)})
	return nil
}

// take returns the deliveries so far and forgets them.
func (r *recorder) take() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	msgs := r.msgs
	r.msgs = nil
	return msgs
}

// logBuffer collects log output written from server goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// acceptOurs accepts support@helpdesk.test and its +detail sub-addresses.
func acceptOurs(rcpt string) bool {
	local, domain, _ := strings.Cut(rcpt, "@")
	return domain == "helpdesk.test" && (local == "support" || strings.HasPrefix(local, "support+"))
}

// startServer opens a server on 127.0.0.1:0 that records deliveries and
// logs into the returned buffer; configure may change any field first.
func startServer(t testing.TB, configure func(*smtpserver.Server)) (*smtpserver.Server, *recorder, *logBuffer) {
	t.Helper()
	rec := &recorder{}
	logs := &logBuffer{}
	s := &smtpserver.Server{
		Addr:    "127.0.0.1:0",
		Domain:  "mx.helpdesk.test",
		Accept:  acceptOurs,
		Deliver: rec.deliver,
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if configure != nil {
		configure(s)
	}
	if err := s.Open(); err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, rec, logs
}

// dial connects go-smtp's client and says EHLO.
func dial(t testing.TB, s *smtpserver.Server) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.ListenAddr().String())
	if err != nil {
		t.Fatalf("smtp.Dial() = %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example"); err != nil {
		t.Fatalf("Hello() = %v", err)
	}
	return c
}

// send runs one transaction and returns the first error the server gave.
func send(c *smtp.Client, from string, to []string, msg string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	return w.Close()
}

// rawConn is a line-level client, for bytes the real client would
// rewrite and for replies it does not expose.
type rawConn struct {
	*textproto.Conn
	nc net.Conn
}

func dialRaw(t testing.TB, s *smtpserver.Server) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", s.ListenAddr().String())
	if err != nil {
		t.Fatalf("net.Dial() = %v", err)
	}
	nc.SetDeadline(time.Now().Add(waitLimit))
	t.Cleanup(func() { nc.Close() })
	return &rawConn{Conn: textproto.NewConn(nc), nc: nc}
}

// cmd sends line and checks the reply code.
func (c *rawConn) cmd(t testing.TB, line string, want int) string {
	t.Helper()
	if err := c.PrintfLine("%s", line); err != nil {
		t.Fatalf("write %q: %v", line, err)
	}
	code, msg, err := c.ReadResponse(0)
	if err != nil || code != want {
		t.Fatalf("%q = %d %s (err %v), want %d", line, code, msg, err, want)
	}
	return msg
}

// greet reads the greeting and says EHLO.
func (c *rawConn) greet(t testing.TB) {
	t.Helper()
	if _, _, err := c.ReadResponse(220); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	c.cmd(t, "EHLO client.example", 250)
}

// sendData writes body as DATA with the dot-stuffing RFC 5321 section
// 4.5.2 asks for, and returns the bytes the server should deliver: body,
// completed with the CRLF that must precede the final dot. A body that
// ends in bare CRs is completed as Go's textproto.DotWriter does it (LF
// after an odd run, CRLF after an even one), because go-smtp v0.25.1,
// whose reader has the same state machine, sees no end of data in
// CR CR LF "." CR LF.
func (c *rawConn) sendData(t testing.TB, body []byte, want int) []byte {
	t.Helper()
	c.cmd(t, "DATA", 354)
	var b bytes.Buffer
	for i, ch := range body {
		if ch == '.' && (i == 0 || bytes.HasSuffix(body[:i], []byte("\r\n"))) {
			b.WriteByte('.')
		}
		b.WriteByte(ch)
	}
	crs := len(body) - len(bytes.TrimRight(body, "\r"))
	end := "\r\n"
	switch {
	case bytes.HasSuffix(body, []byte("\r\n")):
		end = ""
	case crs%2 == 1:
		end = "\n"
	}
	b.WriteString(end)
	expected := append(bytes.Clone(body), end...)
	b.WriteString(".\r\n")
	if _, err := c.nc.Write(b.Bytes()); err != nil {
		t.Fatalf("write DATA: %v", err)
	}
	if code, msg, err := c.ReadResponse(0); code != want {
		t.Fatalf("DATA = %d %s (err %v), want %d", code, msg, err, want)
	}
	return expected
}

func TestDeliverPassesExactBytes(t *testing.T) {
	s, rec, logs := startServer(t, nil)
	c := dial(t, s)
	msg := "From: Ann <ann@customer.example>\r\nTo: support@helpdesk.test\r\nSubject: dots\r\n\r\n" +
		".leading dot\r\n..two dots\r\n.\r\nlast line\r\n"
	to := []string{"support@helpdesk.test", "support+tag@helpdesk.test"}
	if err := send(c, "ann@customer.example", to, msg); err != nil {
		t.Fatalf("send() = %v, want nil", err)
	}
	got := rec.take()
	if len(got) != 1 {
		t.Fatalf("Deliver called %d times, want 1", len(got))
	}
	if string(got[0].raw) != msg {
		t.Errorf("Deliver raw = %q, want %q", got[0].raw, msg)
	}
	env := got[0].env
	if env.Source != "smtp" || env.MailFrom != "ann@customer.example" || env.NullSender ||
		strings.Join(env.Rcpt, ",") != strings.Join(to, ",") || env.RemoteAddr == "" {
		t.Errorf("Deliver env = %+v, want smtp from ann@customer.example to %v", env, to)
	}
	for _, want := range []string{"outcome=delivered", "rcpts=2", fmt.Sprintf("size=%d", len(msg)), "from=ann@customer.example"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log = %q, want it to contain %q", logs.String(), want)
		}
	}
}

func TestDeliverKeepsLineEndings(t *testing.T) {
	s, rec, _ := startServer(t, nil)
	tests := []struct {
		name string
		body string
	}{
		{"CRLF", "Subject: a\r\n\r\nbody\r\n"},
		{"bare LF", "Subject: a\n\n.not stuffed after LF\nbody\n"},
		{"bare CR", "Subject: a\r\rbody\r"},
		{"bare CR twice at the end", "Subject: a\r\rbody\r\r"},
		{"mixed", "Subject: a\r\n\nbody\rmore\r\n"},
		{"no final line break", "Subject: a\r\n\r\nno newline"},
		{"leading dot", ".Subject: odd\r\n\r\n.\r\n"},
		{"long line", "Subject: a\r\n\r\n" + strings.Repeat("x", 50000) + "\r\n"},
		{"8-bit", "Subject: caf\xe9\r\n\r\n\xff\xfe\r\n"},
	}
	c := dialRaw(t, s)
	c.greet(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.cmd(t, "MAIL FROM:<ann@customer.example>", 250)
			c.cmd(t, "RCPT TO:<support@helpdesk.test>", 250)
			want := c.sendData(t, []byte(tt.body), 250)
			got := rec.take()
			if len(got) != 1 || !bytes.Equal(got[0].raw, want) {
				t.Fatalf("Deliver got %d messages (%+v), want 1 with raw %q", len(got), got, want)
			}
		})
	}
}

// TestDeliverCorpus sends every message of the shared real-world corpus
// and checks that Deliver gets each one byte for byte.
func TestDeliverCorpus(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "corpus")
	var files []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".eml") {
			files = append(files, path)
		}
		return nil
	})
	if len(files) == 0 {
		t.Skipf("no corpus in %s", dir)
	}
	s, rec, _ := startServer(t, nil)
	c := dialRaw(t, s)
	c.nc.SetDeadline(time.Now().Add(time.Minute))
	c.greet(t)
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c.cmd(t, "MAIL FROM:<ann@customer.example>", 250)
		c.cmd(t, "RCPT TO:<support@helpdesk.test>", 250)
		want := c.sendData(t, body, 250)
		if got := rec.take(); len(got) != 1 || !bytes.Equal(got[0].raw, want) {
			t.Errorf("%s: Deliver got %d messages or different bytes, want 1 identical", f, len(got))
		}
	}
	t.Logf("%d corpus messages delivered", len(files))
}

func TestNullSender(t *testing.T) {
	s, rec, _ := startServer(t, nil)
	if err := send(dial(t, s), "", []string{"support@helpdesk.test"}, "Subject: bounce\r\n\r\nx\r\n"); err != nil {
		t.Fatalf("send() = %v, want nil", err)
	}
	got := rec.take()
	if len(got) != 1 || !got[0].env.NullSender || got[0].env.MailFrom != "" {
		t.Fatalf("Deliver env = %+v, want NullSender and empty MailFrom", got)
	}
}

func TestRecipientChecks(t *testing.T) {
	s, rec, _ := startServer(t, func(s *smtpserver.Server) { s.MaxRecipients = 2 })
	c := dial(t, s)
	if err := c.Mail("ann@customer.example", nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rcpt     string
		wantCode int
	}{
		{"someone@elsewhere.example", 550},
		{"support@helpdesk.test", 0},
		{"support.evil@helpdesk.test", 550},
		{"support+x@helpdesk.test", 0},
		{"support+y@helpdesk.test", 452}, // MaxRecipients
	}
	for _, tt := range tests {
		err := c.Rcpt(tt.rcpt, nil)
		var se *smtp.SMTPError
		code := 0
		if errors.As(err, &se) {
			code = se.Code
		} else if err != nil {
			t.Fatalf("Rcpt(%q) = %v, want an SMTP reply", tt.rcpt, err)
		}
		if code != tt.wantCode {
			t.Errorf("Rcpt(%q) = %v, want code %d", tt.rcpt, err, tt.wantCode)
		}
		if tt.wantCode == 550 && se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
			t.Errorf("Rcpt(%q) enhanced code = %v, want 5.1.1", tt.rcpt, se.EnhancedCode)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: x\r\n\r\nx\r\n")
	if err := w.Close(); err != nil {
		t.Fatalf("DATA = %v, want nil", err)
	}
	got := rec.take()
	if len(got) != 1 || strings.Join(got[0].env.Rcpt, ",") != "support@helpdesk.test,support+x@helpdesk.test" {
		t.Fatalf("Deliver got %+v, want one message for the two accepted recipients", got)
	}
}

func TestForeignRecipientOnlyIsNeverDelivered(t *testing.T) {
	s, rec, _ := startServer(t, nil)
	c := dialRaw(t, s)
	c.greet(t)
	c.cmd(t, "MAIL FROM:<spammer@example.com>", 250)
	c.cmd(t, "RCPT TO:<victim@elsewhere.example>", 550)
	c.cmd(t, "DATA", 502)
	c.cmd(t, "QUIT", 221)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("Deliver called %d times, want 0", len(got))
	}
}

func TestOversized(t *testing.T) {
	s, rec, logs := startServer(t, func(s *smtpserver.Server) { s.MaxMessageBytes = 1024 })
	c := dialRaw(t, s)
	c.greet(t)
	c.cmd(t, "MAIL FROM:<ann@customer.example> SIZE=5000", 552)
	c.cmd(t, "MAIL FROM:<ann@customer.example>", 250)
	c.cmd(t, "RCPT TO:<support@helpdesk.test>", 250)
	msg := c.ReadResponseMsg(t, []byte("Subject: big\r\n\r\n"+strings.Repeat("0123456789abcdef\r\n", 200)), 552)
	if !strings.HasPrefix(msg, "5.3.4") {
		t.Errorf("oversized DATA reply = %q, want 5.3.4", msg)
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("Deliver called %d times, want 0", len(got))
	}
	if !strings.Contains(logs.String(), `outcome="too large"`) {
		t.Errorf("log = %q, want a too large line", logs.String())
	}
	// The connection is still usable for a message within the limit.
	c.cmd(t, "MAIL FROM:<ann@customer.example>", 250)
	c.cmd(t, "RCPT TO:<support@helpdesk.test>", 250)
	c.sendData(t, []byte("Subject: small\r\n\r\nok\r\n"), 250)
}

// ReadResponseMsg is sendData for a reply whose text matters.
func (c *rawConn) ReadResponseMsg(t testing.TB, body []byte, want int) string {
	t.Helper()
	c.cmd(t, "DATA", 354)
	c.nc.Write(append(body, ".\r\n"...))
	code, msg, err := c.ReadResponse(0)
	if code != want {
		t.Fatalf("DATA = %d %s (err %v), want %d", code, msg, err, want)
	}
	return msg
}

func TestDeliverErrorReplies(t *testing.T) {
	tests := []struct {
		name      string
		deliver   func() error
		wantCode  int
		wantEnh   smtp.EnhancedCode
		wantText  string
		forbidden string
	}{
		{"plain error", func() error { return errors.New("sqlite: database is locked at /var/lib/secret.db") },
			451, smtp.EnhancedCode{4, 3, 0}, "try again later", "secret"},
		{"rejection", func() error { return &mailbox.Rejection{Reason: "message has\nno body"} },
			554, smtp.EnhancedCode{5, 6, 0}, "message has no body", "mailbox:"},
		{"wrapped rejection", func() error { return fmt.Errorf("desk: %w", &mailbox.Rejection{Reason: "looping"}) },
			554, smtp.EnhancedCode{5, 6, 0}, "looping", "desk"},
		{"panic", func() error { panic("internal state /var/lib/secret.db") },
			451, smtp.EnhancedCode{4, 3, 0}, "try again later", "secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, logs := startServer(t, func(s *smtpserver.Server) {
				s.Deliver = func(context.Context, mailbox.Envelope, []byte) error { return tt.deliver() }
			})
			err := send(dial(t, s), "ann@customer.example", []string{"support@helpdesk.test"}, "Subject: x\r\n\r\nx\r\n")
			var se *smtp.SMTPError
			if !errors.As(err, &se) || se.Code != tt.wantCode || se.EnhancedCode != tt.wantEnh ||
				!strings.Contains(se.Message, tt.wantText) || strings.Contains(se.Message, tt.forbidden) {
				t.Fatalf("send() = %#v, want %d %v containing %q and not %q", err, tt.wantCode, tt.wantEnh, tt.wantText, tt.forbidden)
			}
			if tt.wantCode == 451 && !strings.Contains(logs.String(), "secret") {
				t.Errorf("log = %q, want the cause logged", logs.String())
			}
			// The server keeps serving, on a new connection too.
			err = send(dial(t, s), "ann@customer.example", []string{"support@helpdesk.test"}, "Subject: y\r\n\r\ny\r\n")
			if !errors.As(err, &se) || se.Code != tt.wantCode {
				t.Fatalf("second send() = %v, want code %d again", err, tt.wantCode)
			}
		})
	}
}

func TestPanicInDeliverLogsStack(t *testing.T) {
	s, _, logs := startServer(t, func(s *smtpserver.Server) {
		s.Deliver = func(context.Context, mailbox.Envelope, []byte) error { panic("boom") }
	})
	err := send(dial(t, s), "ann@customer.example", []string{"support@helpdesk.test"}, "Subject: x\r\n\r\nx\r\n")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 {
		t.Fatalf("send() = %v, want 451", err)
	}
	if l := logs.String(); !strings.Contains(l, "outcome=panic") || !strings.Contains(l, "goroutine") {
		t.Errorf("log = %q, want outcome=panic with a stack", l)
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup []string
		line  string
		want  int
	}{
		{"mail without brackets or address", nil, "MAIL FROM:bogus", 501},
		{"mail with bad size", nil, "MAIL FROM:<a@customer.example> SIZE=abc", 501},
		{"mail size above limit", nil, "MAIL FROM:<a@customer.example> SIZE=999999999", 552},
		{"rcpt before mail", nil, "RCPT TO:<support@helpdesk.test>", 502},
		{"empty rcpt", []string{"MAIL FROM:<a@customer.example>"}, "RCPT TO:<>", 501},
		{"data before rcpt", []string{"MAIL FROM:<a@customer.example>"}, "DATA", 502},
		{"unknown command", nil, "FROB now", 500},
		{"helo without name", nil, "HELO", 501},
	}
	s, _, _ := startServer(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, s)
			c.greet(t)
			for _, l := range tt.setup {
				c.cmd(t, l, 250)
			}
			c.cmd(t, tt.line, tt.want)
		})
	}
}

// testTLS returns a server config with a fresh self-signed certificate
// for 127.0.0.1 and the pool that trusts it.
func testTLS(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	c := testcert.New(t)
	return c.ServerConfig(), c.Pool
}

func TestSTARTTLS(t *testing.T) {
	serverTLS, roots := testTLS(t)
	s, rec, _ := startServer(t, func(s *smtpserver.Server) { s.TLSConfig = serverTLS })
	c, err := smtp.DialStartTLS(s.ListenAddr().String(), &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatalf("DialStartTLS() = %v, want nil", err)
	}
	defer c.Close()
	if _, ok := c.TLSConnectionState(); !ok {
		t.Fatalf("TLSConnectionState() ok = false, want true")
	}
	if err := send(c, "ann@customer.example", []string{"support@helpdesk.test"}, "Subject: tls\r\n\r\nx\r\n"); err != nil {
		t.Fatalf("send() over TLS = %v, want nil", err)
	}
	if got := rec.take(); len(got) != 1 {
		t.Fatalf("Deliver called %d times, want 1", len(got))
	}

	// Without a TLSConfig, STARTTLS is neither offered nor accepted.
	plain, _, _ := startServer(t, nil)
	if ok, _ := dial(t, plain).Extension("STARTTLS"); ok {
		t.Errorf("Extension(STARTTLS) = true without TLSConfig, want false")
	}
}

func TestAuth(t *testing.T) {
	const user, pass = "agent", "correct-horse-battery"
	checkPassword := func(u, p string) error {
		if u != user || p != pass {
			return errors.New("wrong password")
		}
		return nil
	}
	serverTLS, roots := testTLS(t)
	tests := []struct {
		name          string
		useTLS        bool
		allowInsecure bool
		passwords     []string // tried in order on one connection
		wantOffered   bool
		wantCode      int // of the last attempt; 0 = success
	}{
		{"tls good", true, false, []string{pass}, true, 0},
		{"tls bad", true, false, []string{"nope"}, true, 535},
		{"bad then good", true, false, []string{"nope", pass}, true, 0},
		{"locked after three failures", true, false, []string{"wrong-1", "wrong-2", "wrong-3", pass}, true, 535},
		{"plain connection", false, false, []string{pass}, false, 523},
		{"plain connection allowed", false, true, []string{pass}, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, rec, logs := startServer(t, func(s *smtpserver.Server) {
				s.TLSConfig = serverTLS
				s.Auth = checkPassword
				s.AllowInsecureAuth = tt.allowInsecure
			})
			var c *smtp.Client
			if tt.useTLS {
				var err error
				if c, err = smtp.DialStartTLS(s.ListenAddr().String(), &tls.Config{RootCAs: roots}); err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			} else {
				c = dial(t, s)
			}
			if got := c.SupportsAuth(sasl.Plain); got != tt.wantOffered {
				t.Errorf("SupportsAuth(PLAIN) = %v, want %v", got, tt.wantOffered)
			}
			var err error
			for _, p := range tt.passwords {
				err = c.Auth(sasl.NewPlainClient("", user, p))
			}
			var se *smtp.SMTPError
			switch {
			case tt.wantCode == 0 && err != nil:
				t.Fatalf("Auth() = %v, want nil", err)
			case tt.wantCode != 0 && (!errors.As(err, &se) || se.Code != tt.wantCode):
				t.Fatalf("Auth() = %v, want code %d", err, tt.wantCode)
			}
			if tt.wantCode == 0 {
				if err := send(c, "agent@helpdesk.test", []string{"support@helpdesk.test"}, "Subject: x\r\n\r\nx\r\n"); err != nil {
					t.Fatalf("send() after AUTH = %v", err)
				}
				if len(rec.take()) != 1 || !strings.Contains(logs.String(), "user=agent") {
					t.Errorf("want one delivery logged with user=agent, log = %q", logs.String())
				}
			}
			for _, p := range tt.passwords {
				if strings.Contains(logs.String(), p) {
					t.Errorf("log contains password %q: %q", p, logs.String())
				}
			}
		})
	}
}

func TestShutdownFinishesDeliveryInFlight(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var delivered atomic.Bool
	s, _, _ := startServer(t, func(s *smtpserver.Server) {
		s.Deliver = func(ctx context.Context, _ mailbox.Envelope, _ []byte) error {
			close(entered)
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			delivered.Store(true)
			return nil
		}
	})
	idle := dialRaw(t, s)
	idle.greet(t)

	busy := dial(t, s)
	sent := make(chan error, 1)
	go func() {
		sent <- send(busy, "ann@customer.example", []string{"support@helpdesk.test"}, "Subject: x\r\n\r\nx\r\n")
	}()
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("Deliver was not called")
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()

	// The idle connection is told 421 and closed while Deliver still runs.
	if code, msg, err := idle.ReadResponse(0); code != 421 {
		t.Fatalf("idle connection got %d %s (err %v), want 421", code, msg, err)
	}
	if _, err := idle.ReadLine(); err != io.EOF {
		t.Fatalf("idle connection read after 421 = %v, want EOF", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown() = %v before the delivery in flight finished", err)
	default:
	}
	if _, err := net.Dial("tcp", s.ListenAddr().String()); err == nil {
		t.Errorf("net.Dial() during Shutdown = nil, want connection refused")
	}

	close(release)
	select {
	case err := <-sent:
		if err != nil {
			t.Fatalf("send() during Shutdown = %v, want 250", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("send() did not return")
	}
	if !delivered.Load() {
		t.Errorf("Deliver did not complete")
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown() = %v, want nil", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Shutdown() did not return")
	}
}

// TestShutdownLetsOpenTransactionFinish starts Shutdown while a client is
// in the middle of sending its message: the client may finish it.
func TestShutdownLetsOpenTransactionFinish(t *testing.T) {
	s, rec, _ := startServer(t, nil)
	idle := dialRaw(t, s)
	idle.greet(t)
	busy := dialRaw(t, s)
	busy.greet(t)
	busy.cmd(t, "MAIL FROM:<ann@customer.example>", 250)
	busy.cmd(t, "RCPT TO:<support@helpdesk.test>", 250)
	busy.cmd(t, "DATA", 354)
	busy.nc.Write([]byte("Subject: slow\r\n\r\nfirst half\r\n"))

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	// Once the idle connection has its 421, the drain has begun.
	if code, msg, err := idle.ReadResponse(0); code != 421 {
		t.Fatalf("idle connection got %d %s (err %v), want 421", code, msg, err)
	}

	busy.nc.Write([]byte("second half\r\n.\r\n"))
	if code, msg, err := busy.ReadResponse(0); code != 250 {
		t.Fatalf("end of DATA during Shutdown = %d %s (err %v), want 250", code, msg, err)
	}
	if code, msg, err := busy.ReadResponse(0); code != 421 {
		t.Fatalf("after its message the client got %d %s (err %v), want 421", code, msg, err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown() = %v, want nil", err)
	}
	want := "Subject: slow\r\n\r\nfirst half\r\nsecond half\r\n"
	if got := rec.take(); len(got) != 1 || string(got[0].raw) != want {
		t.Fatalf("Deliver got %+v, want one message %q", got, want)
	}
}

func TestShutdownForcesCloseWhenContextEnds(t *testing.T) {
	entered := make(chan struct{})
	var returned atomic.Bool
	s, _, _ := startServer(t, func(s *smtpserver.Server) {
		s.Deliver = func(ctx context.Context, _ mailbox.Envelope, _ []byte) error {
			close(entered)
			<-ctx.Done()
			returned.Store(true)
			return ctx.Err()
		}
	})
	c := dial(t, s)
	sent := make(chan error, 1)
	go func() {
		sent <- send(c, "ann@customer.example", []string{"support@helpdesk.test"}, "Subject: x\r\n\r\nx\r\n")
	}()
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("Deliver was not called")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown(cancelled ctx) = %v, want context.Canceled", err)
	}
	if !returned.Load() {
		t.Errorf("Shutdown returned before Deliver did")
	}
	select {
	case err := <-sent:
		if err == nil {
			t.Fatalf("send() = nil after a forced close, want an error")
		}
	case <-time.After(waitLimit):
		t.Fatal("send() did not return")
	}
}

func TestMaxConnections(t *testing.T) {
	s, _, _ := startServer(t, func(s *smtpserver.Server) { s.MaxConnections = 1 })
	first := dialRaw(t, s)
	first.greet(t)

	second := dialRaw(t, s)
	if code, msg, err := second.ReadResponse(220); code != 421 {
		t.Fatalf("second connection greeting = %d %s (err %v), want 421", code, msg, err)
	}

	first.cmd(t, "QUIT", 221)
	if _, err := first.ReadLine(); err != io.EOF {
		t.Fatalf("read after QUIT = %v, want EOF", err)
	}
	third := dialRaw(t, s)
	third.greet(t)
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name string
		s    *smtpserver.Server
	}{
		{"bad address", &smtpserver.Server{Addr: "127.0.0.1:99999", Accept: acceptOurs, Deliver: (&recorder{}).deliver}},
		{"no Accept", &smtpserver.Server{Addr: "127.0.0.1:0", Deliver: (&recorder{}).deliver}},
		{"no Deliver", &smtpserver.Server{Addr: "127.0.0.1:0", Accept: acceptOurs}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.s.Open(); err == nil {
				tt.s.Close()
				t.Fatalf("Open() = nil, want an error")
			}
		})
	}

	s, _, _ := startServer(t, nil)
	if err := s.Open(); err == nil {
		t.Errorf("second Open() = nil, want an error")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown() after Close = %v, want nil", err)
	}
}
