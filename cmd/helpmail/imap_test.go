package main

// End-to-end tests of the IMAP poller inside helpmail (SPEC §2.2): a real
// Dovecot (internal/dovecottest), the real desk and SQLite store, started
// with MustStartServer and [[imap]] accounts. Restarts are subtests that
// share one database: each subtest's server is closed when it ends.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/internal/dovecottest"
	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/mailbox/imappoller"
)

// imapAccount returns an [[imap]] account named name on mailbox mbox of d,
// receiving for support@example.com, in plaintext over loopback. Its poll
// interval is an hour, so mail that arrives within seconds came by IDLE.
func imapAccount(d *dovecottest.Server, name, mbox string) IMAPConfig {
	return IMAPConfig{
		Name: name, Address: "support@example.com", Host: "127.0.0.1", Port: d.Port, Security: "none",
		Username: dovecottest.User, Password: Secret{ref: dovecottest.Password, value: dovecottest.Password},
		Mailbox: mbox, PollInterval: Duration(time.Hour),
	}
}

// imapServer starts helpmail with these [[imap]] accounts and the admin
// HTTP listener, on the database in dbDir ("" for a fresh one), and stops
// it when tb ends.
func imapServer(tb testing.TB, dbDir string, accounts ...IMAPConfig) *testServer {
	tb.Helper()
	return MustStartServer(tb, func(c *Config) {
		c.IMAP = accounts
		c.HTTP.Listen = "127.0.0.1:0"
		if dbDir != "" {
			c.Database.Path = filepath.Join(dbDir, "helpmail.db")
		}
	})
}

// imapMessage returns a CRLF message from addr to support@example.com
// whose Message-ID is <id>; body "" means a short one.
func imapMessage(id, addr, subject, body string) []byte {
	h := []string{"From: " + addr, "To: support@example.com", "Subject: " + subject, "Message-ID: <" + id + ">"}
	if body != "" {
		h = append(h, "body:"+body)
	}
	return []byte(msg(h...))
}

// imapWait polls cond until it holds, every 20 ms or, for long timeouts,
// up to every 200 ms; it fails the test when it still does not after
// timeout.
func imapWait(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	every := min(max(timeout/500, 20*time.Millisecond), 200*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for range int(timeout/every) + 1 {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		<-tick.C
	}
	if !cond() {
		tb.Fatalf("%s: not after %v", what, timeout)
	}
}

// imapCreate creates mailboxes on the test server.
func imapCreate(tb testing.TB, c *imapclient.Client, names ...string) {
	tb.Helper()
	for _, name := range names {
		if err := c.Create(name, nil).Wait(); err != nil {
			tb.Fatalf("Create(%s) = %v", name, err)
		}
	}
}

// imapTicketCount counts the tickets without loading them.
func (s *testServer) imapTicketCount(tb testing.TB) int {
	tb.Helper()
	var total int
	err := s.App.DB.View(context.Background(), func(tx helpmail.Tx) (err error) {
		_, total, err = tx.FindTickets(context.Background(), helpmail.TicketFilter{Limit: 1})
		return err
	})
	if err != nil {
		tb.Fatalf("FindTickets() = %v", err)
	}
	return total
}

// imapTicketsOf returns the tickets whose requester is addr.
func (s *testServer) imapTicketsOf(tb testing.TB, addr string) []*helpmail.Ticket {
	tb.Helper()
	var ts []*helpmail.Ticket
	err := s.App.DB.View(context.Background(), func(tx helpmail.Tx) (err error) {
		ts, _, err = tx.FindTickets(context.Background(), helpmail.TicketFilter{Requester: addr})
		return err
	})
	if err != nil {
		tb.Fatalf("FindTickets(requester %s) = %v", addr, err)
	}
	return ts
}

// imapOutbox returns the outbox rows (in any state) to rcpt that carry
// the notification template.
func (s *testServer) imapOutbox(tb testing.TB, rcpt, template string) []*helpmail.OutboxItem {
	tb.Helper()
	var rows []*helpmail.OutboxItem
	err := s.App.DB.View(context.Background(), func(tx helpmail.Tx) error {
		all, err := tx.FindOutboxes(context.Background(), helpmail.OutboxFilter{})
		for _, o := range all {
			if strings.EqualFold(o.Rcpt, rcpt) && o.Template == template {
				full, err := tx.FindOutbox(context.Background(), o.ID)
				if err != nil {
					return err
				}
				rows = append(rows, full)
			}
		}
		return err
	})
	if err != nil {
		tb.Fatalf("FindOutboxes() = %v", err)
	}
	return rows
}

// imapInbound returns the inbound messages of ticket n, with their raw
// bytes.
func (s *testServer) imapInbound(tb testing.TB, n int64) []*helpmail.Message {
	tb.Helper()
	var out []*helpmail.Message
	err := s.App.DB.View(context.Background(), func(tx helpmail.Tx) error {
		ms, err := tx.FindMessages(context.Background(), n)
		for _, m := range ms {
			if m.Direction == helpmail.Inbound {
				full, err := tx.FindMessage(context.Background(), m.ID)
				if err != nil {
					return err
				}
				out = append(out, full)
			}
		}
		return err
	})
	if err != nil {
		tb.Fatalf("FindMessages(%d) = %v", n, err)
	}
	return out
}

// imapReceived reads helpmail_messages_received_total{source="imap"} by
// result from the server's /metrics, as an operator would.
func (s *testServer) imapReceived(tb testing.TB) map[string]int {
	tb.Helper()
	resp, err := http.Get("http://" + s.Admin.Addr() + "/metrics")
	if err != nil {
		tb.Fatalf("GET /metrics = %v", err)
	}
	defer resp.Body.Close()
	got := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	const prefix = `helpmail_messages_received_total{result="`
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		result, rest, _ := strings.Cut(line, `"`)
		labels, value, _ := strings.Cut(rest, " ")
		if labels != `,source="imap"}` {
			continue
		}
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			tb.Fatalf("metric line %q: %v", sc.Text(), err)
		}
		got[result] = int(n)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("read /metrics: %v", err)
	}
	return got
}

// imapCheckpoint returns the stored checkpoint of an account's mailbox.
func (s *testServer) imapCheckpoint(tb testing.TB, account, mbox string) (validity, last uint32) {
	tb.Helper()
	validity, last, err := s.App.DB.LoadCheckpoint(context.Background(), account, mbox)
	if err != nil {
		tb.Fatalf("LoadCheckpoint(%s, %s) = %v", account, mbox, err)
	}
	return validity, last
}

// TestIMAPIdleAfterActions: mail appended to a watched mailbox becomes a
// ticket with its acknowledgement queued within seconds (by IDLE: the poll
// interval is an hour), stored byte for byte, and the mailbox is left as
// the account's "after" says.
func TestIMAPIdleAfterActions(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{})
	c := d.Client(t)
	tests := []struct {
		after string
		mbox  string
		// handled reports whether the after-action is done for id.
		handled func(mbox, archive []dovecottest.Message, id string) bool
	}{
		{after: "seen", mbox: "IdleSeen", handled: func(mbox, archive []dovecottest.Message, id string) bool {
			i := slices.IndexFunc(mbox, func(m dovecottest.Message) bool { return m.ID == id })
			return i >= 0 && mbox[i].Seen && !mbox[i].Deleted && !slices.Contains(dovecottest.IDs(archive), id)
		}},
		{after: "move:Archive", mbox: "IdleMove", handled: func(mbox, archive []dovecottest.Message, id string) bool {
			return !slices.Contains(dovecottest.IDs(mbox), id) && slices.Contains(dovecottest.IDs(archive), id)
		}},
		{after: "delete", mbox: "IdleDelete", handled: func(mbox, archive []dovecottest.Message, id string) bool {
			return !slices.Contains(dovecottest.IDs(mbox), id) && !slices.Contains(dovecottest.IDs(archive), id)
		}},
	}
	var accounts []IMAPConfig
	for _, tt := range tests {
		imapCreate(t, c, tt.mbox)
		a := imapAccount(d, "idle-"+tt.mbox, tt.mbox)
		a.After = tt.after
		accounts = append(accounts, a)
	}
	s := imapServer(t, "", accounts...)

	for _, tt := range tests {
		t.Run(tt.after, func(t *testing.T) {
			handled := func(id string) bool {
				inbox, _ := dovecottest.List(t, c, tt.mbox)
				archive, _ := dovecottest.List(t, c, "Archive")
				return tt.handled(inbox, archive, "<"+id+">")
			}
			// The first message ends the poller's first pass; the second
			// arrives while it waits, which only IDLE notices at once.
			for i, when := range []string{"before", "while idling"} {
				id := fmt.Sprintf("%s-%d@customer.example", tt.mbox, i)
				from := fmt.Sprintf("%s-%d@customer.example", strings.ToLower(tt.mbox), i)
				raw := imapMessage(id, from, "Printer on fire "+when, "")
				start := time.Now()
				dovecottest.Append(t, c, tt.mbox, raw)
				imapWait(t, 10*time.Second, "ticket for "+from, func() bool { return len(s.imapTicketsOf(t, from)) == 1 })
				took := time.Since(start)
				imapWait(t, 10*time.Second, fmt.Sprintf("after=%s done on %s", tt.after, id), func() bool { return handled(id) })
				t.Logf("after=%s: message appended %s became ticket in %v", tt.after, when, took.Round(time.Millisecond))

				tk := s.imapTicketsOf(t, from)[0]
				if tk.Subject != "Printer on fire "+when || tk.Status != helpmail.StatusWaitingForSupport || tk.Address != "support@example.com" {
					t.Errorf("ticket of %s = %q %s at %s, want %q waiting_for_support at support@example.com",
						from, tk.Subject, tk.Status, tk.Address, "Printer on fire "+when)
				}
				in := s.imapInbound(t, tk.Number)
				if len(in) != 1 || !bytes.Equal(in[0].Raw, raw) || in[0].Source != "imap" ||
					!slices.Equal(in[0].EnvelopeTo, []string{"support@example.com"}) {
					t.Fatalf("inbound messages of #%d = %d, want 1, from imap to support@example.com, byte for byte", tk.Number, len(in))
				}
				if acks := s.imapOutbox(t, from, "ticket_opened"); len(acks) != 1 || acks[0].Ticket != tk.Number {
					t.Errorf("acknowledgements to %s = %d, want 1 for #%d", from, len(acks), tk.Number)
				}
			}
			if _, exists := dovecottest.List(t, c, imappoller.DefaultRefusedFolder); exists {
				t.Errorf("folder %s exists with nothing refused", imappoller.DefaultRefusedFolder)
			}
		})
	}
}

// TestIMAPRestartAndUIDValidity: checkpoints live in the helpmail
// database, so a restart takes only new mail; when the mailbox is
// recreated (a new UIDVALIDITY) it is scanned again and the desk's dedupe
// leaves no duplicate message, ticket or acknowledgement.
func TestIMAPRestartAndUIDValidity(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{})
	c := d.Client(t)
	const mbox = "Support"
	imapCreate(t, c, mbox)
	dbDir := t.TempDir()
	// "all": not initial_scan, only the checkpoint keeps a restart from
	// taking the \Seen messages again.
	account := imapAccount(d, "support", mbox)
	account.InitialScan = "all"
	from := func(i int) string { return fmt.Sprintf("user%d@customer.example", i) }
	message := func(i int) []byte {
		return imapMessage(fmt.Sprintf("uv%d@customer.example", i), from(i), fmt.Sprintf("Request %d", i), "")
	}
	// checkOnce checks that the requester of each message has exactly one
	// ticket, holding that one message, and one acknowledgement.
	checkOnce := func(t *testing.T, s *testServer, n int) {
		t.Helper()
		if got := s.ticketCount(t); got != n {
			t.Errorf("tickets = %d, want %d", got, n)
		}
		for i := 1; i <= n; i++ {
			ts := s.imapTicketsOf(t, from(i))
			if len(ts) != 1 {
				t.Errorf("tickets of %s = %d, want 1", from(i), len(ts))
				continue
			}
			if in := s.imapInbound(t, ts[0].Number); len(in) != 1 {
				t.Errorf("inbound messages of #%d = %d, want 1", ts[0].Number, len(in))
			}
			if acks := s.imapOutbox(t, from(i), "ticket_opened"); len(acks) != 1 {
				t.Errorf("acknowledgements to %s = %d, want 1", from(i), len(acks))
			}
		}
	}

	var validity uint32
	t.Run("first run", func(t *testing.T) {
		s := imapServer(t, dbDir, account)
		dovecottest.Append(t, c, mbox, message(1))
		dovecottest.Append(t, c, mbox, message(2))
		imapWait(t, 10*time.Second, "checkpoint at UID 2", func() bool {
			v, last := s.imapCheckpoint(t, "support", mbox)
			validity = v
			return v != 0 && last == 2
		})
		checkOnce(t, s, 2)
	})
	t.Run("restart takes only new mail", func(t *testing.T) {
		s := imapServer(t, dbDir, account)
		dovecottest.Append(t, c, mbox, message(3))
		imapWait(t, 10*time.Second, "checkpoint at UID 3", func() bool {
			v, last := s.imapCheckpoint(t, "support", mbox)
			return v == validity && last == 3
		})
		if got, want := s.imapReceived(t), map[string]int{"new_ticket": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("imap messages received after the restart = %v, want %v", got, want)
		}
		checkOnce(t, s, 3)
	})
	t.Run("new UIDVALIDITY rescans without duplicates", func(t *testing.T) {
		if err := c.Delete(mbox).Wait(); err != nil {
			t.Fatalf("Delete(%s) = %v", mbox, err)
		}
		imapCreate(t, c, mbox)
		// The new message gets UID 1, below the old checkpoint: only a
		// rescan from UID 1 finds it. The old ones come back \Seen, as a
		// server migration keeps flags.
		dovecottest.Append(t, c, mbox, message(4))
		for i := 1; i <= 3; i++ {
			dovecottest.Append(t, c, mbox, message(i), imap.FlagSeen)
		}
		s := imapServer(t, dbDir, account)
		imapWait(t, 10*time.Second, "checkpoint at UID 4 of the new UIDVALIDITY", func() bool {
			v, last := s.imapCheckpoint(t, "support", mbox)
			return v != validity && last == 4
		})
		if got, want := s.imapReceived(t), map[string]int{"duplicate": 3, "new_ticket": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("imap messages received after the rescan = %v, want %v", got, want)
		}
		checkOnce(t, s, 4)
	})
}

// TestIMAPCrashBetweenCommitAndFlag: helpmail commits a message and dies
// before it flags it; after a restart it takes the message again, the desk
// dedupes it (no second ticket, message or acknowledgement), and the
// message ends where the account moves it.
func TestIMAPCrashBetweenCommitAndFlag(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{})
	dbDir := t.TempDir()
	account := imapAccount(d, "support", "INBOX")
	account.After = "move:Archive"
	const from = "erin@customer.example"
	raw := imapMessage("crash@customer.example", from, "VPN down", "")

	t.Run("commit, then die before the move", func(t *testing.T) {
		// A helpmail without pollers of its own; this one is driven by
		// the test with the same wiring serve uses.
		s := imapServer(t, dbDir)
		logger := slog.New(slog.NewTextHandler(imapLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
		p, err := s.App.Poller(account, logger)
		if err != nil {
			t.Fatalf("Poller() = %v", err)
		}
		// A first pass over the empty mailbox saves the checkpoint.
		if n, err := p.Poll(context.Background()); err != nil || n != 0 {
			t.Fatalf("Poll() of the empty INBOX = %d, %v, want 0, nil", n, err)
		}
		dovecottest.Append(t, d.Client(t), "INBOX", raw)

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		deliver, calls := p.Deliver, 0
		p.Deliver = func(ctx context.Context, env mailbox.Envelope, raw []byte) error {
			calls++
			err := deliver(ctx, env, raw)
			if err == nil {
				// The process dies: its context ends and nothing reaches
				// the mailbox any more (Stop returns once Dovecot is gone).
				cancel()
				d.Stop()
			}
			return err
		}
		if n, err := p.Poll(ctx); err == nil || n != 0 || calls != 1 {
			t.Fatalf("Poll() dying after the commit = %d, %v after %d Deliver calls, want 0, an error after 1", n, err, calls)
		}
		if err := d.Restart(); err != nil {
			t.Fatalf("restart dovecot: %v", err)
		}
		inbox, _ := dovecottest.List(t, d.Client(t), "INBOX")
		if len(inbox) != 1 || inbox[0].Seen || inbox[0].Deleted {
			t.Fatalf("INBOX after the crash = %+v, want the message, untouched", inbox)
		}
		if ts := s.imapTicketsOf(t, from); len(ts) != 1 {
			t.Fatalf("tickets of %s after the crash = %d, want 1 (committed)", from, len(ts))
		}
		if _, last := s.imapCheckpoint(t, "support", "INBOX"); last != 0 {
			t.Errorf("checkpoint after the crash = UID %d, want 0 (below the message)", last)
		}
	})
	t.Run("restart", func(t *testing.T) {
		s := imapServer(t, dbDir, account)
		c := d.Client(t)
		imapWait(t, 10*time.Second, "message moved to Archive", func() bool {
			inbox, _ := dovecottest.List(t, c, "INBOX")
			archive, _ := dovecottest.List(t, c, "Archive")
			return len(inbox) == 0 && slices.Equal(dovecottest.IDs(archive), []string{"<crash@customer.example>"})
		})
		if got, want := s.imapReceived(t), map[string]int{"duplicate": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("imap messages received after the restart = %v, want %v (taken again, deduplicated)", got, want)
		}
		ts := s.imapTicketsOf(t, from)
		if len(ts) != 1 || s.ticketCount(t) != 1 {
			t.Fatalf("tickets = %d (%d of %s), want 1", s.ticketCount(t), len(ts), from)
		}
		if in := s.imapInbound(t, ts[0].Number); len(in) != 1 {
			t.Errorf("inbound messages of #%d = %d, want 1", ts[0].Number, len(in))
		}
		if acks := s.imapOutbox(t, from, "ticket_opened"); len(acks) != 1 {
			t.Errorf("acknowledgements to %s = %d, want 1", from, len(acks))
		}
	})
}

// imapLogWriter writes log lines to the test log.
type imapLogWriter struct{ tb testing.TB }

func (w imapLogWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestIMAPOversized: a message over the account's max_message_bytes is
// moved to the refused folder (even with after = delete, nothing refused
// is deleted), its sender is told once, with the account's limit, and
// taking the same message again (as after a crash before the move) sends
// no second refusal.
func TestIMAPOversized(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{})
	c := d.Client(t)
	dbDir := t.TempDir()
	account := imapAccount(d, "support", "INBOX")
	account.MaxMessageBytes, account.After = 4096, "delete"
	const carol, dave = "carol@customer.example", "dave@customer.example"
	big := imapMessage("big@customer.example", "Carol <"+carol+">", "Screenshots",
		strings.Repeat("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk\r\n", 200))
	small := imapMessage("small@customer.example", dave, "Small question", "")
	refused := imappoller.DefaultRefusedFolder
	dovecottest.Append(t, c, "INBOX", big)
	dovecottest.Append(t, c, "INBOX", small)

	checkRefusal := func(t *testing.T, s *testServer) {
		t.Helper()
		notices := s.imapOutbox(t, carol, "message_too_large")
		if len(notices) != 1 {
			t.Fatalf("message_too_large notices to %s = %d, want 1", carol, len(notices))
		}
		m, _ := mailbox.Parse(notices[0].Raw)
		if len(m.To) != 1 || m.To[0].Addr != carol || !strings.Contains(m.Text, "4 KB") || strings.Contains(m.Text, "512 KB") {
			t.Errorf("notice to %v says %q, want it to %s with the account's limit, 4 KB", m.To, m.Text, carol)
		}
		if !strings.Contains(m.Subject, "Screenshots") || !strings.Contains(m.Text, "“Screenshots”") {
			t.Errorf("notice subject %q and text %q, want them to name the refused message, Screenshots", m.Subject, m.Text)
		}
		if ts := s.imapTicketsOf(t, carol); len(ts) != 0 {
			t.Errorf("tickets of %s = %d, want 0", carol, len(ts))
		}
	}

	t.Run("refused", func(t *testing.T) {
		s := imapServer(t, dbDir, account)
		imapWait(t, 10*time.Second, "INBOX emptied", func() bool {
			inbox, _ := dovecottest.List(t, c, "INBOX")
			return len(inbox) == 0
		})
		got, _ := dovecottest.List(t, c, refused)
		if len(got) != 1 || got[0].ID != "<big@customer.example>" || got[0].Deleted {
			t.Errorf("%s = %+v, want the big message, not deleted", refused, got)
		}
		if ts := s.imapTicketsOf(t, dave); len(ts) != 1 {
			t.Errorf("tickets of %s = %d, want 1", dave, len(ts))
		}
		checkRefusal(t, s)
	})
	t.Run("taken again after a restart", func(t *testing.T) {
		// As if helpmail had died after queueing the notice, before the move.
		dovecottest.Append(t, c, "INBOX", big)
		s := imapServer(t, dbDir, account)
		imapWait(t, 10*time.Second, "second copy refused", func() bool {
			got, _ := dovecottest.List(t, c, refused)
			return len(got) == 2
		})
		checkRefusal(t, s)
	})
}

// TestIMAPInitialScan: initial_scan = "unseen" leaves the messages read
// before helpmail was set up alone, "all" takes them too; once the first
// pass is done, new mail is taken even when it arrives \Seen.
func TestIMAPInitialScan(t *testing.T) {
	t.Parallel()
	d := dovecottest.Start(t, dovecottest.Options{})
	c := d.Client(t)
	tests := []struct {
		scan  string
		taken []string // which messages become tickets
		left  []string // which stay in the mailbox
	}{
		{scan: "unseen", taken: []string{"new1", "new2"}, left: []string{"old1", "old2"}},
		{scan: "all", taken: []string{"old1", "new1", "old2", "new2"}},
	}
	addr := func(scan, name string) string { return name + "-" + scan + "@customer.example" }
	id := func(scan, name string) string { return "<" + addr(scan, name) + ">" }
	var accounts []IMAPConfig
	for _, tt := range tests {
		mbox := "Scan-" + tt.scan
		imapCreate(t, c, mbox)
		for _, name := range []string{"old1", "new1", "old2", "new2"} {
			var flags []imap.Flag
			if strings.HasPrefix(name, "old") {
				flags = append(flags, imap.FlagSeen)
			}
			dovecottest.Append(t, c, mbox, imapMessage(addr(tt.scan, name), addr(tt.scan, name), name, ""), flags...)
		}
		a := imapAccount(d, "scan-"+tt.scan, mbox)
		a.InitialScan, a.After = tt.scan, "move:Archive"
		accounts = append(accounts, a)
	}
	s := imapServer(t, "", accounts...)

	for _, tt := range tests {
		t.Run(tt.scan, func(t *testing.T) {
			mbox := "Scan-" + tt.scan
			var wantLeft []string
			for _, name := range tt.left {
				wantLeft = append(wantLeft, id(tt.scan, name))
			}
			// The first pass is over when its checkpoint is saved: a \Seen
			// message that arrives while it runs is one of those it leaves.
			imapWait(t, 10*time.Second, "first pass over "+mbox, func() bool {
				got, _ := dovecottest.List(t, c, mbox)
				uv, _, err := s.App.DB.LoadCheckpoint(context.Background(), "scan-"+tt.scan, mbox)
				return err == nil && uv != 0 && slices.Equal(dovecottest.IDs(got), wantLeft) &&
					len(s.imapTicketsOf(t, addr(tt.scan, "new2"))) == 1
			})
			for _, name := range []string{"old1", "new1", "old2", "new2"} {
				want := 0
				if slices.Contains(tt.taken, name) {
					want = 1
				}
				if got := len(s.imapTicketsOf(t, addr(tt.scan, name))); got != want {
					t.Errorf("initial_scan %q: tickets of %s = %d, want %d", tt.scan, name, got, want)
				}
			}
			later := addr(tt.scan, "later")
			dovecottest.Append(t, c, mbox, imapMessage(later, later, "later", ""), imap.FlagSeen)
			imapWait(t, 10*time.Second, "the \\Seen message after the first pass taken and moved", func() bool {
				got, _ := dovecottest.List(t, c, mbox)
				return slices.Equal(dovecottest.IDs(got), wantLeft) && len(s.imapTicketsOf(t, later)) == 1
			})
		})
	}
}

// TestIMAPBacklog: a backlog of 1000 messages waiting before helpmail
// starts is taken once, every message a ticket.
func TestIMAPBacklog(t *testing.T) {
	t.Parallel()
	const count = 1000
	d := dovecottest.Start(t, dovecottest.Options{})
	c := d.Client(t)
	start := time.Now()
	for i := range count {
		addr := fmt.Sprintf("backlog%d@customer%d.example", i, i%50)
		dovecottest.Append(t, c, "INBOX", imapMessage(addr, addr, fmt.Sprintf("Backlog %d", i), ""))
	}
	t.Logf("appended %d messages in %v", count, time.Since(start).Round(time.Millisecond))
	account := imapAccount(d, "support", "INBOX")
	account.After = "move:Archive"

	start = time.Now()
	// No agents: one acknowledgement per ticket and no agent notices,
	// which would only slow the test down, not prove more of the poller.
	s := MustStartServer(t, func(c *Config) {
		c.IMAP, c.HTTP.Listen, c.Agents = []IMAPConfig{account}, "127.0.0.1:0", nil
	})
	imapWait(t, 3*time.Minute, fmt.Sprintf("%d tickets", count), func() bool { return s.imapTicketCount(t) >= count })
	imapWait(t, 10*time.Second, "INBOX emptied", func() bool {
		inbox, _ := dovecottest.List(t, c, "INBOX")
		return len(inbox) == 0
	})
	elapsed := time.Since(start)
	t.Logf("took %d messages into %d tickets in %v (%.0f messages/s)", count, s.ticketCount(t), elapsed.Round(time.Millisecond), count/elapsed.Seconds())
	if got := s.ticketCount(t); got != count {
		t.Errorf("tickets = %d, want %d", got, count)
	}
	if got, want := s.imapReceived(t), map[string]int{"new_ticket": count}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("imap messages received = %v, want %v", got, want)
	}
	if archive, _ := dovecottest.List(t, c, "Archive"); len(archive) != count {
		t.Errorf("Archive holds %d messages, want %d", len(archive), count)
	}
}

// TestIMAPAccountChecks: [[imap]] accounts that can never work are refused
// before helpmail runs without them: two accounts sharing a checkpoint by
// the validation check-config runs, a password in clear to a remote host
// by StartServer (no connection is attempted).
func TestIMAPAccountChecks(t *testing.T) {
	t.Parallel()
	remote := IMAPConfig{Address: "support@example.com", Host: "imap.example.com", Username: "u"}
	tests := []struct {
		name         string
		accounts     []IMAPConfig
		wantValidate string // "" for valid
		wantStart    string // "" for not started
	}{
		{name: "same name and mailbox twice",
			accounts: []IMAPConfig{{Name: "support", Address: "support@example.com", Host: "imap.example.com"},
				{Name: "support", Address: "support@example.com", Host: "imap2.example.com", Mailbox: "INBOX"}},
			wantValidate: `imap[1].name: account "support" with mailbox "INBOX" is already imap[0]`},
		{name: "unnamed twice on one server",
			accounts:     []IMAPConfig{remote, remote},
			wantValidate: `imap[1].name: account "support@example.com on imap.example.com" with mailbox "INBOX" is already imap[0]`},
		{name: "unnamed, one address on two servers",
			accounts: []IMAPConfig{remote, {Address: "support@example.com", Host: "imap2.example.com"}}},
		{name: "same address, other mailbox",
			accounts: []IMAPConfig{remote, {Address: "support@example.com", Host: "imap.example.com", Mailbox: "Support"}}},
		{name: "password in clear to a remote host",
			accounts:  []IMAPConfig{{Address: "support@example.com", Host: "192.0.2.1", Security: "none"}},
			wantStart: "imap[0]: imappoller: Account.Security: \"none\" sends the password in clear"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			cfg.IMAP = tt.accounts
			err := cfg.Validate()
			if (tt.wantValidate == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantValidate)) {
				t.Fatalf("Validate() = %v, want an error with %q", err, tt.wantValidate)
			}
			if tt.wantStart == "" {
				return
			}
			s, err := StartServer(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err == nil {
				s.Close(context.Background())
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantStart) {
				t.Errorf("StartServer() = %v, want an error with %q", err, tt.wantStart)
			}
		})
	}
}
