package imappoller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/helpmail/helpmail/internal/dovecottest"
	"github.com/helpmail/helpmail/mailbox"
)

// corpusMessages returns up to n CRLF-only messages of the shared corpus
// with distinct Message-IDs (IMAP servers return CRLF, so only those can
// come back byte for byte), or none when the corpus is missing.
func corpusMessages(t testing.TB, n int) [][]byte {
	t.Helper()
	dir := os.Getenv("HELPMAIL_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "testdata", "corpus")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Logf("corpus not found at %s (set HELPMAIL_CORPUS): %v", dir, err)
		return nil
	}
	var out [][]byte
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".eml") || len(out) == n {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		crlfOnly := bytes.Count(raw, []byte("\r\n")) == bytes.Count(raw, []byte("\n")) &&
			bytes.Count(raw, []byte("\r")) == bytes.Count(raw, []byte("\n"))
		key := dedupeKey(raw)
		if !crlfOnly || len(raw) > 64<<10 || !bytes.Contains(raw, []byte("\r\n\r\n")) ||
			strings.HasPrefix(key, "sha256:") || seen[key] || bytes.IndexByte(raw, 0) >= 0 {
			return nil
		}
		seen[key] = true
		out = append(out, raw)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPollDelivers: a pass takes every message byte for byte, with the right
// envelope, flags it \Seen, saves the checkpoint, and a second pass takes
// nothing.
func TestPollDelivers(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{})
	c := d.Client(t)

	type sent struct {
		raw        []byte
		mailFrom   string
		nullSender bool
	}
	msgs := []sent{
		{raw: testMessage("<plain@example.org>", ""), mailFrom: ""},
		{raw: testMessage("<bounce@example.org>", "<>"), nullSender: true},
		{raw: testMessage("<rp@example.org>", "<owner-list@example.net>"), mailFrom: "owner-list@example.net"},
	}
	for _, raw := range corpusMessages(t, 12) {
		from, null, _ := returnPath(headerOf(raw))
		msgs = append(msgs, sent{raw: raw, mailFrom: from, nullSender: null})
	}
	for _, m := range msgs {
		dovecottest.Append(t, c, "INBOX", m.raw)
	}

	rec := newRecorder()
	p := newPoller(t, d, rec, nil)
	n, err := p.Poll(context.Background())
	if err != nil || n != len(msgs) {
		t.Fatalf("Poll() = %d, %v, want %d, nil", n, err, len(msgs))
	}
	stored, _ := rec.snapshot()
	for _, m := range msgs {
		key := dedupeKey(m.raw)
		got, ok := stored[key]
		if !ok {
			t.Errorf("message %s not delivered", key)
			continue
		}
		if got.sum != sha256.Sum256(m.raw) {
			t.Errorf("message %s delivered with %d bytes that differ from the %d appended", key, got.size, len(m.raw))
		}
		want := mailbox.Envelope{Source: "imap", MailFrom: m.mailFrom, NullSender: m.nullSender,
			Rcpt: []string{testUser}, Account: testUser + "/INBOX"}
		if fmt.Sprint(got.env) != fmt.Sprint(want) {
			t.Errorf("envelope of %s = %+v, want %+v", key, got.env, want)
		}
	}

	inbox, _ := dovecottest.List(t, c, "INBOX")
	if len(inbox) != len(msgs) {
		t.Fatalf("INBOX holds %d messages, want %d (after=seen keeps them)", len(inbox), len(msgs))
	}
	for _, m := range inbox {
		if !m.Seen {
			t.Errorf("message %s (uid %d) not \\Seen after delivery", m.ID, m.UID)
		}
	}
	validity, last, _ := p.Checkpoints.LoadCheckpoint(context.Background(), testUser, "INBOX")
	if validity == 0 || last != inbox[len(inbox)-1].UID {
		t.Errorf("checkpoint = %d, %d, want the UIDVALIDITY, %d", validity, last, inbox[len(inbox)-1].UID)
	}

	n, err = p.Poll(context.Background())
	_, calls := rec.snapshot()
	if err != nil || n != 0 || calls != len(msgs) {
		t.Errorf("second Poll() = %d, %v with %d Deliver calls in all, want 0, nil with %d", n, err, calls, len(msgs))
	}
}

// TestAfterActions: each after-action leaves the mailbox in its state.
func TestAfterActions(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{})
	tests := []struct {
		after     string
		inbox     bool   // the message stays in INBOX, \Seen
		moveTo    string // the message is in this folder
		untouched string // a folder that must stay empty
	}{
		{after: "seen", inbox: true, untouched: "Archive"},
		{after: "move:Archive", moveTo: "Archive"},
		{after: "move:Done/2024", moveTo: "Done/2024"}, // created on the fly
		{after: "delete", untouched: "Archive"},
	}
	for i, tt := range tests {
		t.Run(tt.after, func(t *testing.T) {
			// One mailbox per case, so the cases cannot see each other.
			mbox := fmt.Sprintf("Case%d", i)
			c := d.Client(t)
			if err := c.Create(mbox, nil).Wait(); err != nil {
				t.Fatalf("Create(%s) = %v", mbox, err)
			}
			id := fmt.Sprintf("<after-%d@example.org>", i)
			dovecottest.Append(t, c, mbox, testMessage(id, ""))
			rec := newRecorder()
			p := newPoller(t, d, rec, nil)
			p.Account.Mailbox, p.Account.After = mbox, tt.after
			if n, err := p.Poll(context.Background()); err != nil || n != 1 {
				t.Fatalf("Poll() = %d, %v, want 1, nil", n, err)
			}

			got, _ := dovecottest.List(t, c, mbox)
			switch {
			case tt.inbox && (len(got) != 1 || !got[0].Seen || got[0].Deleted):
				t.Errorf("%s after %q = %+v, want the message, \\Seen", mbox, tt.after, got)
			case !tt.inbox && len(got) != 0:
				t.Errorf("%s after %q = %+v, want empty", mbox, tt.after, got)
			}
			if tt.moveTo != "" {
				moved, exists := dovecottest.List(t, c, tt.moveTo)
				if !exists || !slices.Contains(dovecottest.IDs(moved), id) {
					t.Errorf("%s after %q = %v (exists %v), want it to hold %s", tt.moveTo, tt.after, dovecottest.IDs(moved), exists, id)
				}
			}
			if tt.untouched != "" {
				if other, _ := dovecottest.List(t, c, tt.untouched); slices.Contains(dovecottest.IDs(other), id) {
					t.Errorf("%s after %q holds %s, want it untouched", tt.untouched, tt.after, id)
				}
			}
			if _, exists := dovecottest.List(t, c, DefaultRefusedFolder); exists {
				t.Errorf("folder %s exists after %q with nothing refused", DefaultRefusedFolder, tt.after)
			}
		})
	}
}

// TestInitialScan: the first pass leaves messages that were \Seen before
// alone with "unseen" and takes them with "all"; later passes take \Seen
// messages too.
func TestInitialScan(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{})
	tests := []struct {
		scan string
		want []string // Message-IDs taken by the first pass
	}{
		{scan: "", want: []string{"<new1@x>", "<new2@x>"}},
		{scan: "unseen", want: []string{"<new1@x>", "<new2@x>"}},
		{scan: "all", want: []string{"<old1@x>", "<new1@x>", "<old2@x>", "<new2@x>"}},
	}
	for i, tt := range tests {
		t.Run("scan="+tt.scan, func(t *testing.T) {
			mbox := fmt.Sprintf("Scan%d", i)
			c := d.Client(t)
			if err := c.Create(mbox, nil).Wait(); err != nil {
				t.Fatalf("Create(%s) = %v", mbox, err)
			}
			dovecottest.Append(t, c, mbox, testMessage("<old1@x>", ""), imap.FlagSeen)
			dovecottest.Append(t, c, mbox, testMessage("<new1@x>", ""))
			dovecottest.Append(t, c, mbox, testMessage("<old2@x>", ""), imap.FlagSeen)
			dovecottest.Append(t, c, mbox, testMessage("<new2@x>", ""))

			rec := newRecorder()
			p := newPoller(t, d, rec, nil)
			p.Account.Mailbox, p.Account.InitialScan, p.Account.After = mbox, tt.scan, "move:Archive"
			if n, err := p.Poll(context.Background()); err != nil || n != len(tt.want) {
				t.Fatalf("Poll() = %d, %v, want %d, nil", n, err, len(tt.want))
			}
			stored, _ := rec.snapshot()
			for _, id := range tt.want {
				if _, ok := stored[id]; !ok {
					t.Errorf("InitialScan %q: %s not delivered", tt.scan, id)
				}
			}
			if len(stored) != len(tt.want) {
				t.Errorf("InitialScan %q delivered %d messages, want %d", tt.scan, len(stored), len(tt.want))
			}

			// Once a checkpoint exists, a \Seen message is new mail too.
			dovecottest.Append(t, c, mbox, testMessage("<later@x>", ""), imap.FlagSeen)
			if n, err := p.Poll(context.Background()); err != nil || n != 1 {
				t.Fatalf("second Poll() = %d, %v, want 1, nil", n, err)
			}
			if stored, _ := rec.snapshot(); len(stored) != len(tt.want)+1 {
				t.Errorf("after the second pass %d messages delivered, want %d", len(stored), len(tt.want)+1)
			}
		})
	}
}

// TestUIDValidityChange: when the mailbox is recreated, its messages are
// scanned again from UID 1, and the desk's dedupe leaves no duplicate.
func TestUIDValidityChange(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{})
	c := d.Client(t)
	const mbox = "Support"
	if err := c.Create(mbox, nil).Wait(); err != nil {
		t.Fatalf("Create(%s) = %v", mbox, err)
	}
	dovecottest.Append(t, c, mbox, testMessage("<one@x>", ""))
	dovecottest.Append(t, c, mbox, testMessage("<two@x>", ""))
	rec := newRecorder()
	msgs := make(chan string, 100)
	p := newPoller(t, d, rec, msgs)
	p.Account.Mailbox = mbox
	if n, err := p.Poll(context.Background()); err != nil || n != 2 {
		t.Fatalf("Poll() = %d, %v, want 2, nil", n, err)
	}
	oldValidity, _, _ := p.Checkpoints.LoadCheckpoint(context.Background(), testUser, mbox)

	if err := c.Delete(mbox).Wait(); err != nil {
		t.Fatalf("Delete(%s) = %v", mbox, err)
	}
	if err := c.Create(mbox, nil).Wait(); err != nil {
		t.Fatalf("Create(%s) = %v", mbox, err)
	}
	// UID 1 and 2 again: below the old checkpoint, so only a rescan finds
	// <three@x>.
	dovecottest.Append(t, c, mbox, testMessage("<three@x>", ""))
	dovecottest.Append(t, c, mbox, testMessage("<one@x>", ""))
	if n, err := p.Poll(context.Background()); err != nil || n != 2 {
		t.Fatalf("Poll() after recreate = %d, %v, want 2, nil", n, err)
	}
	waitLog(t, msgs, "UIDVALIDITY changed; scanning the mailbox again from UID 1", time.Second)
	stored, calls := rec.snapshot()
	if len(stored) != 3 || calls != 4 {
		t.Errorf("recorder holds %d messages after %d Deliver calls, want 3 after 4", len(stored), calls)
	}
	validity, last, _ := p.Checkpoints.LoadCheckpoint(context.Background(), testUser, mbox)
	if validity == oldValidity || last != 2 {
		t.Errorf("checkpoint = %d, %d, want a new UIDVALIDITY (old %d), 2", validity, last, oldValidity)
	}
}

// TestRunIdle: mail appended while Run idles is delivered within seconds,
// without waiting for the poll interval.
func TestRunIdle(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{})
	c := d.Client(t)
	dovecottest.Append(t, c, "INBOX", testMessage("<backlog@x>", ""))
	rec := newRecorder()
	msgs := make(chan string, 1000)
	p := newPoller(t, d, rec, msgs)
	p.Account.PollInterval = time.Hour // only IDLE can be this quick
	runPoller(t, p)
	rec.waitStored(t, "<backlog@x>", 10*time.Second)
	for i := range 3 {
		waitLog(t, msgs, "idling", 10*time.Second)
		id := fmt.Sprintf("<idle-%d@x>", i)
		dovecottest.Append(t, c, "INBOX", testMessage(id, ""))
		rec.waitStored(t, id, 10*time.Second)
	}
	// The flag follows Deliver's return: wait for it, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for {
		inbox, _ := dovecottest.List(t, c, "INBOX")
		if len(inbox) == 4 && inbox[3].Seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("INBOX = %+v, want 4 messages, the last \\Seen", inbox)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunIdleRestart: IDLE is stopped every PollInterval for a safety
// re-scan, then resumed.
func TestRunIdleRestart(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{})
	rec := newRecorder()
	msgs := make(chan string, 1000)
	p := newPoller(t, d, rec, msgs)
	p.Account.PollInterval = 100 * time.Millisecond
	runPoller(t, p)
	for range 3 {
		waitLog(t, msgs, "idling", 10*time.Second)
		waitLog(t, msgs, "pass complete", 10*time.Second)
	}
}

// TestRunServerRestart: Run reconnects after the server went away and
// delivers what arrives after it came back.
func TestRunServerRestart(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{})
	dovecottest.Append(t, d.Client(t), "INBOX", testMessage("<before@x>", ""))
	rec := newRecorder()
	msgs := make(chan string, 1000)
	p := newPoller(t, d, rec, msgs)
	p.Account.PollInterval = time.Hour
	runPoller(t, p)
	rec.waitStored(t, "<before@x>", 10*time.Second)
	waitLog(t, msgs, "idling", 10*time.Second)

	d.Stop()
	waitLog(t, msgs, "imap session failed; reconnecting", 10*time.Second)
	if err := d.Restart(); err != nil {
		t.Fatalf("restart dovecot: %v", err)
	}
	waitLog(t, msgs, "imap connected", 10*time.Second)
	dovecottest.Append(t, d.Client(t), "INBOX", testMessage("<after@x>", ""))
	rec.waitStored(t, "<after@x>", 10*time.Second)
	if stored, _ := rec.snapshot(); len(stored) != 2 {
		t.Errorf("recorder holds %d messages, want 2", len(stored))
	}
}

// TestCrashBetweenCommitAndFlag: the desk committed, but the after-action
// never happened; the next run delivers again, the desk dedupes, and the
// message ends flagged.
func TestCrashBetweenCommitAndFlag(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{})
	tests := []struct {
		name  string
		crash func(cancel context.CancelFunc) error // what Deliver does after committing, once
	}{
		{"error after commit", func(context.CancelFunc) error { return errors.New("process died before flagging") }},
		{"cancel after commit", func(cancel context.CancelFunc) error { cancel(); return nil }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mbox := fmt.Sprintf("Crash%d", i)
			c := d.Client(t)
			if err := c.Create(mbox, nil).Wait(); err != nil {
				t.Fatalf("Create(%s) = %v", mbox, err)
			}
			rec := newRecorder()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rec.hook = func(_ context.Context, _ []byte, calls int) (bool, error) {
				if calls == 1 {
					return true, tt.crash(cancel)
				}
				return false, nil
			}
			p := newPoller(t, d, rec, nil)
			p.Account.Mailbox = mbox
			// The first pass sets the checkpoint; the crash happens later.
			if n, err := p.Poll(context.Background()); err != nil || n != 0 {
				t.Fatalf("Poll() of the empty mailbox = %d, %v, want 0, nil", n, err)
			}
			dovecottest.Append(t, c, mbox, testMessage("<crash@x>", ""))
			if _, err := p.Poll(ctx); err == nil {
				t.Fatalf("Poll() with a crash after commit = nil error, want one")
			}

			if n, err := p.Poll(context.Background()); err != nil || n != 1 {
				t.Fatalf("Poll() after the crash = %d, %v, want 1, nil", n, err)
			}
			stored, calls := rec.snapshot()
			if len(stored) != 1 || calls != 2 {
				t.Errorf("recorder holds %d messages after %d Deliver calls, want 1 after 2", len(stored), calls)
			}
			if got, _ := dovecottest.List(t, c, mbox); len(got) != 1 || !got[0].Seen {
				t.Errorf("%s = %+v, want the message, \\Seen", mbox, got)
			}
		})
	}
}

// TestDeliverTemporaryError: a temporary error leaves the message untouched
// and stops the pass there; Run retries it after a back-off.
func TestDeliverTemporaryError(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{})
	c := d.Client(t)
	for _, id := range []string{"<ok@x>", "<flaky@x>", "<behind@x>"} {
		dovecottest.Append(t, c, "INBOX", testMessage(id, ""))
	}
	rec := newRecorder()
	failures := 3
	rec.hook = func(_ context.Context, raw []byte, _ int) (bool, error) {
		if dedupeKey(raw) == "<flaky@x>" && failures > 0 {
			failures--
			return false, errors.New("database is locked")
		}
		return false, nil
	}
	msgs := make(chan string, 1000)
	p := newPoller(t, d, rec, msgs)
	p.Account.After = "move:Archive"
	p.Account.InitialScan = "all" // saves the checkpoint after each message

	n, err := p.Poll(context.Background())
	if err == nil || n != 1 || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("Poll() = %d, %v, want 1, the Deliver error", n, err)
	}
	inbox, _ := dovecottest.List(t, c, "INBOX")
	if want := []string{"<flaky@x>", "<behind@x>"}; !slices.Equal(dovecottest.IDs(inbox), want) || inbox[0].Seen {
		t.Errorf("INBOX after a failed Deliver = %+v, want %v unseen", inbox, want)
	}
	_, last, _ := p.Checkpoints.LoadCheckpoint(context.Background(), testUser, "INBOX")
	if last != inbox[0].UID-1 {
		t.Errorf("checkpoint last UID = %d, want %d (just below the failed message)", last, inbox[0].UID-1)
	}

	runPoller(t, p)
	rec.waitStored(t, "<flaky@x>", 10*time.Second)
	rec.waitStored(t, "<behind@x>", 10*time.Second)
	waitLog(t, msgs, "idling", 10*time.Second)
	if inbox, _ := dovecottest.List(t, c, "INBOX"); len(inbox) != 0 {
		t.Errorf("INBOX after the retry = %v, want empty", dovecottest.IDs(inbox))
	}
}

// TestRefused: an oversized message, or one the desk rejects, is reported
// to Refuse with its header and moved to the refused folder; a Refuse error
// leaves it in place.
func TestRefused(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{})
	big := testMessage("<big@x>", "<alice@example.org>")
	big = append(big, bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 200)...)
	tests := []struct {
		name       string
		raw        []byte
		reject     bool // Deliver returns *mailbox.Rejection
		refuseErr  error
		wantReason string
	}{
		{name: "oversized", raw: big, wantReason: fmt.Sprintf("the message is %d bytes, more than the 4096 bytes this address accepts", len(big))},
		{name: "rejected", raw: testMessage("<reject@x>", "<alice@example.org>"), reject: true, wantReason: "message has no body"},
		{name: "refuse fails", raw: testMessage("<refuse-fails@x>", ""), reject: true, refuseErr: errors.New("outbox full")},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mbox := fmt.Sprintf("Refuse%d", i)
			refused := fmt.Sprintf("Refused%d", i)
			c := d.Client(t)
			if err := c.Create(mbox, nil).Wait(); err != nil {
				t.Fatalf("Create(%s) = %v", mbox, err)
			}
			dovecottest.Append(t, c, mbox, tt.raw)
			dovecottest.Append(t, c, mbox, testMessage(fmt.Sprintf("<fine-%d@x>", i), ""))
			rec := newRecorder()
			rec.hook = func(_ context.Context, raw []byte, _ int) (bool, error) {
				if tt.reject && bytes.Equal(raw, tt.raw) {
					return false, &mailbox.Rejection{Reason: "message has no body"}
				}
				return false, nil
			}
			p := newPoller(t, d, rec, nil)
			p.Account.Mailbox, p.Account.RefusedFolder, p.Account.MaxMessageBytes = mbox, refused, 4096
			p.Account.After = "delete"
			if tt.refuseErr != nil {
				p.Refuse = func(context.Context, mailbox.Envelope, []byte, int64, string) error { return tt.refuseErr }
			}

			n, err := p.Poll(context.Background())
			if tt.refuseErr != nil {
				if !errors.Is(err, tt.refuseErr) || n != 0 {
					t.Fatalf("Poll() = %d, %v, want 0, %v", n, err, tt.refuseErr)
				}
				got, _ := dovecottest.List(t, c, mbox)
				if len(got) != 2 || got[0].ID != dedupeKey(tt.raw) || got[0].Seen {
					t.Errorf("%s after a failed Refuse = %+v, want both messages, untouched", mbox, got)
				}
				return
			}
			if err != nil || n != 2 {
				t.Fatalf("Poll() = %d, %v, want 2, nil", n, err)
			}
			if len(rec.refusals) != 1 {
				t.Fatalf("Refuse called %d times, want 1", len(rec.refusals))
			}
			r := rec.refusals[0]
			wantEnv := mailbox.Envelope{Source: "imap", MailFrom: "alice@example.org", Rcpt: []string{testUser}, Account: testUser + "/" + mbox}
			if string(r.header) != string(headerOf(tt.raw)) || r.size != int64(len(tt.raw)) ||
				r.reason != tt.wantReason || fmt.Sprint(r.env) != fmt.Sprint(wantEnv) {
				t.Errorf("Refuse(%+v, %q, %d, %q), want (%+v, %q, %d, %q)",
					r.env, r.header, r.size, r.reason, wantEnv, headerOf(tt.raw), len(tt.raw), tt.wantReason)
			}
			if stored, _ := rec.snapshot(); len(stored) != 1 {
				t.Errorf("recorder holds %d messages, want 1 (only the fine one)", len(stored))
			}
			if got, _ := dovecottest.List(t, c, mbox); len(got) != 0 {
				t.Errorf("%s = %v, want empty", mbox, dovecottest.IDs(got))
			}
			got, exists := dovecottest.List(t, c, refused)
			if !exists || len(got) != 1 || got[0].ID != dedupeKey(tt.raw) || got[0].Deleted {
				t.Errorf("%s = %+v (exists %v), want the refused message, not deleted", refused, got, exists)
			}
		})
	}
}

// TestBacklog: a large backlog is delivered once, without holding it in
// memory.
func TestBacklog(t *testing.T) {
	t.Parallel()
	const count, size = 1000, 32 << 10
	d := dovecottest.Start(t, dovecottest.Options{})
	c := d.Client(t)
	start := time.Now()
	filler := bytes.Repeat([]byte("All work and no play makes Jack a dull boy, said the ticket.\r\n"), size/62)
	for i := range count {
		raw := append(testMessage(fmt.Sprintf("<backlog-%d@x>", i), ""), filler...)
		dovecottest.Append(t, c, "INBOX", raw)
	}
	t.Logf("appended %d messages of %d KiB in %v", count, size>>10, time.Since(start).Round(time.Millisecond))

	var baseline, peak runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&baseline)
	rec := newRecorder()
	rec.hook = func(_ context.Context, _ []byte, calls int) (bool, error) {
		if calls%200 == 0 {
			var m runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.HeapAlloc {
				peak = m
			}
		}
		return false, nil
	}
	p := newPoller(t, d, rec, nil)
	p.Logger = testLogger(t, slog.LevelInfo, nil)
	p.Account.After = "move:Archive"
	start = time.Now()
	n, err := p.Poll(context.Background())
	elapsed := time.Since(start)
	if err != nil || n != count {
		t.Fatalf("Poll() = %d, %v, want %d, nil", n, err, count)
	}
	t.Logf("delivered %d messages (%d MiB) in %v (%.0f messages/s)", count, count*size>>20, elapsed.Round(time.Millisecond), count/elapsed.Seconds())
	stored, calls := rec.snapshot()
	if len(stored) != count || calls != count {
		t.Errorf("recorder holds %d messages after %d Deliver calls, want %d after %d", len(stored), calls, count, count)
	}
	// Holding the backlog would take count*size = 32 MiB.
	grew := int64(peak.HeapAlloc) - int64(baseline.HeapAlloc)
	t.Logf("live heap: %d KiB before, %d KiB at the peak sample", baseline.HeapAlloc>>10, peak.HeapAlloc>>10)
	if grew > 8<<20 {
		t.Errorf("live heap grew by %d MiB while delivering, want under 8 MiB", grew>>20)
	}
	if inbox, _ := dovecottest.List(t, c, "INBOX"); len(inbox) != 0 {
		t.Errorf("INBOX holds %d messages, want none", len(inbox))
	}
	if archive, _ := dovecottest.List(t, c, "Archive"); len(archive) != count {
		t.Errorf("Archive holds %d messages, want %d", len(archive), count)
	}
}

// TestTLS: STARTTLS and implicit TLS work with the server's certificate in
// RootCAs, and fail without it.
func TestTLS(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{TLS: true})
	dovecottest.Append(t, d.Client(t), "INBOX", testMessage("<tls@x>", ""))
	tests := []struct {
		security string
		port     int
		roots    *x509.CertPool
		wantErr  bool
	}{
		{"starttls", d.Port, d.Roots, false},
		{"tls", d.TLSPort, d.Roots, false},
		{"starttls", d.Port, nil, true},
		{"tls", d.TLSPort, nil, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/trusted=%v", tt.security, tt.roots != nil), func(t *testing.T) {
			rec := newRecorder()
			p := newPoller(t, d, rec, nil)
			p.Account.Security, p.Account.Port = tt.security, tt.port
			p.Account.InitialScan = "all" // every case takes the same message
			if tt.roots != nil {
				p.Account.TLSConfig = &tls.Config{RootCAs: tt.roots}
			}
			n, err := p.Poll(context.Background())
			if tt.wantErr {
				var unknown x509.UnknownAuthorityError
				if !errors.As(err, &unknown) {
					t.Errorf("Poll() = %d, %v, want an x509.UnknownAuthorityError", n, err)
				}
				return
			}
			if err != nil || n != 1 {
				t.Errorf("Poll() = %d, %v, want 1, nil", n, err)
			}
		})
	}
}

// TestLegacyServer: a server without IDLE, MOVE and UIDPLUS is polled, and
// moves fall back to COPY, \Deleted and EXPUNGE.
func TestLegacyServer(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{ExtraConf: "imap_capability = IMAP4rev1 LITERAL+ SASL-IR"})
	c := d.Client(t)
	caps, err := c.Capability().Wait()
	if err != nil || caps.Has(imap.CapIdle) || caps.Has(imap.CapMove) || caps.Has(imap.CapUIDPlus) {
		t.Fatalf("Capability() = %v, %v, want no IDLE, MOVE, UIDPLUS", caps, err)
	}
	rec := newRecorder()
	msgs := make(chan string, 1000)
	p := newPoller(t, d, rec, msgs)
	p.Account.PollInterval = 50 * time.Millisecond
	p.Account.After = "move:Archive"
	p.Account.MaxMessageBytes = 1000
	runPoller(t, p)
	waitLog(t, msgs, "imap connected", 10*time.Second)

	dovecottest.Append(t, c, "INBOX", testMessage("<legacy@x>", ""))
	big := append(testMessage("<legacy-big@x>", ""), bytes.Repeat([]byte("x"), 2000)...)
	dovecottest.Append(t, c, "INBOX", big)
	rec.waitStored(t, "<legacy@x>", 10*time.Second)
	waitLog(t, msgs, "refusing message", 10*time.Second)
	waitLog(t, msgs, "created folder", 10*time.Second)
	waitLog(t, msgs, "pass complete", 10*time.Second)

	if inbox, _ := dovecottest.List(t, c, "INBOX"); len(inbox) != 0 {
		t.Errorf("INBOX = %+v, want empty", inbox)
	}
	if archive, _ := dovecottest.List(t, c, "Archive"); !slices.Equal(dovecottest.IDs(archive), []string{"<legacy@x>"}) {
		t.Errorf("Archive = %v, want [<legacy@x>]", dovecottest.IDs(archive))
	}
	if refused, _ := dovecottest.List(t, c, DefaultRefusedFolder); !slices.Equal(dovecottest.IDs(refused), []string{"<legacy-big@x>"}) {
		t.Errorf("%s = %v, want [<legacy-big@x>]", DefaultRefusedFolder, dovecottest.IDs(refused))
	}
}
