package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/smtp"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/threading"
)

// clock is a settable clock shared by the desk and the outbox worker.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testServer is a whole helpmail started on 127.0.0.1:0 in a temp dir.
type testServer struct {
	*Server
	dir   string
	clock *clock
	addr  string
	logs  *syncWriter
}

// Log returns what the server logged so far (level info and above).
func (s *testServer) Log() string {
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	return s.logs.w.String()
}

// testConfig returns a configuration for a test server rooted in dir.
func testConfig(dir string) *Config {
	cfg := DefaultConfig()
	cfg.Database.Path = filepath.Join(dir, "helpmail.db")
	cfg.Outbound.EmlDir = filepath.Join(dir, "outbox")
	cfg.Outbound.MinBackoff, cfg.Outbound.MaxBackoff = Duration(50*time.Millisecond), Duration(200*time.Millisecond)
	cfg.SMTP.Listen = "127.0.0.1:0"
	cfg.SMTP.MaxMessageBytes = 512 << 10
	cfg.Routes = []RouteConfig{{Address: "support@example.com"}, {Address: "incidents@example.com", Type: "incident", Priority: "critical"}}
	cfg.Agents = []AgentConfig{{Name: "Alice Agent", Address: "alice@example.com"}, {Name: "Bob Agent", Address: "bob@example.com"}}
	cfg.Helpdesk.Name = "Example Support"
	cfg.Log.Level = "warn"
	return &cfg
}

// MustStartServer starts helpmail with cfg (from testConfig), changed by
// mutate, in a new temp dir, and stops it at cleanup.
func MustStartServer(tb testing.TB, mutate func(*Config)) *testServer {
	tb.Helper()
	s, _ := startTestServer(tb, tb.TempDir(), mutate)
	return s
}

// startTestServer starts helpmail in dir (testConfig(dir) changed by
// mutate; a database already there is opened again) with its own settable
// clock starting on a Monday. stop closes it, once; cleanup calls it too
// and prints the log when the test failed.
func startTestServer(tb testing.TB, dir string, mutate func(*Config)) (s *testServer, stop func() error) {
	tb.Helper()
	cfg := testConfig(dir)
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatalf("test config: %v", err)
	}
	clk := &clock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)} // a Monday
	cfg.now = clk.Now
	logs := &syncWriter{w: &bytes.Buffer{}}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := StartServer(context.Background(), cfg, logger)
	if err != nil {
		tb.Fatalf("StartServer() = %v", err)
	}
	var once sync.Once
	var closeErr error
	stop = func() error {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			closeErr = srv.Close(ctx)
		})
		return closeErr
	}
	s = &testServer{Server: srv, dir: dir, clock: clk, logs: logs}
	if srv.SMTP != nil {
		s.addr = srv.SMTP.ListenAddr().String()
	}
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("Close() = %v", err)
		}
		if tb.Failed() {
			tb.Logf("server log (%s):\n%s", dir, s.Log())
		}
	})
	return s, stop
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// send delivers raw over SMTP with Go's net/smtp client.
func (s *testServer) send(from string, to []string, raw string) error {
	return smtp.SendMail(s.addr, nil, from, to, []byte(raw))
}

func (s *testServer) mustSend(tb testing.TB, from string, to []string, raw string) {
	tb.Helper()
	if err := s.send(from, to, raw); err != nil {
		tb.Fatalf("SendMail(%s → %v) = %v", from, to, err)
	}
}

// msg builds a message; headers are "Key: value" lines.
func msg(headers ...string) string {
	var b strings.Builder
	body := "Hello,\r\n\r\nThe printer is on fire.\r\n"
	for _, h := range headers {
		if strings.HasPrefix(h, "body:") {
			body = strings.TrimPrefix(h, "body:")
			continue
		}
		b.WriteString(h + "\r\n")
	}
	if !strings.Contains(b.String(), "Date:") {
		b.WriteString("Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n")
	}
	b.WriteString("\r\n" + body)
	return b.String()
}

// outboxFiles returns the parsed .eml files written so far, in name order.
func (s *testServer) outboxFiles(tb testing.TB) []*mailbox.Message {
	tb.Helper()
	names, _ := filepath.Glob(filepath.Join(s.dir, "outbox", "*.eml"))
	sort.Strings(names)
	var out []*mailbox.Message
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		m, _ := mailbox.Parse(b)
		out = append(out, m)
	}
	return out
}

// waitOutbox waits (bounded) until every queued row has been delivered and
// returns the delivered messages addressed to rcpt.
func (s *testServer) waitOutbox(tb testing.TB, rcpt string) []*mailbox.Message {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pending []*helpmail.OutboxItem
		err := s.App.DB.View(context.Background(), func(tx helpmail.Tx) (err error) {
			pending, err = tx.FindOutboxes(context.Background(), helpmail.OutboxFilter{Status: []helpmail.OutboxStatus{helpmail.OutboxQueued, helpmail.OutboxSending}})
			return err
		})
		if err != nil {
			tb.Fatal(err)
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("outbox not drained after 10 s: %d rows pending", len(pending))
		}
		time.Sleep(20 * time.Millisecond)
	}
	var out []*mailbox.Message
	for _, m := range s.outboxFiles(tb) {
		for _, a := range m.To {
			if strings.EqualFold(a.Addr, rcpt) {
				out = append(out, m)
			}
		}
	}
	return out
}

func (s *testServer) ticket(tb testing.TB, n int64) *helpmail.Ticket {
	tb.Helper()
	var t *helpmail.Ticket
	err := s.App.DB.View(context.Background(), func(tx helpmail.Tx) (err error) {
		t, err = tx.FindTicket(context.Background(), n)
		return err
	})
	if err != nil {
		tb.Fatalf("FindTicket(%d) = %v", n, err)
	}
	return t
}

func (s *testServer) ticketCount(tb testing.TB) int {
	tb.Helper()
	var total int
	err := s.App.DB.View(context.Background(), func(tx helpmail.Tx) (err error) {
		_, total, err = tx.FindTickets(context.Background(), helpmail.TicketFilter{})
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return total
}

func (s *testServer) messages(tb testing.TB, n int64) []*helpmail.Message {
	tb.Helper()
	var ms []*helpmail.Message
	err := s.App.DB.View(context.Background(), func(tx helpmail.Tx) (err error) {
		ms, err = tx.FindMessages(context.Background(), n)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return ms
}

// lastInbound returns the decision of the newest stored inbound message
// with that Message-ID.
func (s *testServer) decision(tb testing.TB, messageID string) *helpmail.Message {
	tb.Helper()
	var ms []*helpmail.Message
	err := s.App.DB.View(context.Background(), func(tx helpmail.Tx) (err error) {
		ms, err = tx.FindMessagesByMessageID(context.Background(), threading.CanonicalMessageID(messageID))
		return err
	})
	if err != nil || len(ms) == 0 {
		tb.Fatalf("no stored message %s (%v)", messageID, err)
	}
	return ms[0]
}

func header(m *mailbox.Message, key string) string { return m.Header.Get(key) }

// TestMailLoop drives the core mail loop of SPEC §2–4 over real SMTP.
func TestMailLoop(t *testing.T) {
	s := MustStartServer(t, nil)
	ann := "ann@customer.example"

	// A new ticket and its acknowledgement.
	s.mustSend(t, ann, []string{"support@example.com"}, msg("From: Ann Customer <ann@customer.example>",
		"To: support@example.com", "Subject: Printer on fire", "Message-ID: <m1@customer.example>"))
	tk := s.ticket(t, 1)
	if tk.Status != helpmail.StatusWaitingForSupport || tk.Requester != ann || tk.Subject != "Printer on fire" {
		t.Fatalf("ticket 1 = %+v", tk)
	}
	acks := s.waitOutbox(t, ann)
	if len(acks) != 1 {
		t.Fatalf("acknowledgements to %s = %d, want 1", ann, len(acks))
	}
	ack := acks[0]
	if !strings.Contains(ack.Subject, "[Support #1]") {
		t.Errorf("ack subject = %q, want the tag [Support #1]", ack.Subject)
	}
	if got := header(ack, "Auto-Submitted"); got != "auto-replied" {
		t.Errorf("ack Auto-Submitted = %q", got)
	}
	if got := threading.CanonicalMessageID(ack.InReplyTo); got != "m1@customer.example" {
		t.Errorf("ack In-Reply-To = %q", ack.InReplyTo)
	}
	if !strings.Contains(ack.References, "m1@customer.example") {
		t.Errorf("ack References = %q", ack.References)
	}
	if n, ok := s.App.Signer.TicketFromMessageID(ack.MessageID); !ok || n != 1 {
		t.Errorf("ack Message-ID %q does not carry ticket 1", ack.MessageID)
	}
	if len(ack.ReplyTo) != 1 || !strings.HasPrefix(ack.ReplyTo[0].Addr, "support+") {
		t.Fatalf("ack Reply-To = %v, want a support+token address", ack.ReplyTo)
	}
	tokenAddr := ack.ReplyTo[0].Addr
	if ack.Text == "" || ack.HTML == "" {
		t.Errorf("ack is not multipart/alternative with text and HTML")
	}

	t.Run("reply by In-Reply-To", func(t *testing.T) {
		s.mustSend(t, ann, []string{"support@example.com"}, msg("From: ann@customer.example", "To: support@example.com",
			"Subject: Re: your request", "Message-ID: <m2@customer.example>", "In-Reply-To: "+ack.MessageID))
		if d := s.decision(t, "m2@customer.example"); d.Ticket != 1 || d.Decision.Rule != "reference" {
			t.Errorf("m2 → ticket %d by %q, want 1 by reference", d.Ticket, d.Decision.Rule)
		}
	})
	t.Run("reply by token address", func(t *testing.T) {
		s.mustSend(t, ann, []string{tokenAddr}, msg("From: ann@customer.example", "To: "+tokenAddr,
			"Subject: more information", "Message-ID: <m3@customer.example>"))
		if d := s.decision(t, "m3@customer.example"); d.Ticket != 1 || d.Decision.Rule != "token" {
			t.Errorf("m3 → ticket %d by %q, want 1 by token", d.Ticket, d.Decision.Rule)
		}
	})
	t.Run("forged token falls through", func(t *testing.T) {
		forged := "support+1.aaaaaaaaaa@example.com"
		s.mustSend(t, "eve@evil.example", []string{forged}, msg("From: eve@evil.example", "To: "+forged,
			"Subject: let me in", "Message-ID: <forged@evil.example>"))
		if d := s.decision(t, "forged@evil.example"); d.Ticket == 1 || d.Decision.Rule != "new" {
			t.Errorf("forged token → ticket %d by %q, want a new ticket", d.Ticket, d.Decision.Rule)
		}
	})
	t.Run("subject tag from a stranger opens a new ticket", func(t *testing.T) {
		s.mustSend(t, "mallory@other.example", []string{"support@example.com"}, msg("From: mallory@other.example",
			"To: support@example.com", "Subject: AW: [Support #1] Printer on fire", "Message-ID: <s1@other.example>"))
		d := s.decision(t, "s1@other.example")
		if d.Ticket == 1 || d.Decision.Rule != "new" {
			t.Errorf("stranger's tag → ticket %d by %q, want a new ticket", d.Ticket, d.Decision.Rule)
		}
	})
	t.Run("subject tag from the requester", func(t *testing.T) {
		s.mustSend(t, ann, []string{"support@example.com"}, msg("From: ann@customer.example",
			"To: support@example.com", "Subject: SV: RE: Antw: [Support #1] Printer on fire", "Message-ID: <m4@customer.example>"))
		if d := s.decision(t, "m4@customer.example"); d.Ticket != 1 || d.Decision.Rule != "tag" {
			t.Errorf("requester's tag → ticket %d by %q, want 1 by tag", d.Ticket, d.Decision.Rule)
		}
	})
	t.Run("duplicate delivery is stored once", func(t *testing.T) {
		inbound := func() int {
			n := 0
			for _, m := range s.messages(t, 1) {
				if m.Direction == helpmail.Inbound {
					n++
				}
			}
			return n
		}
		before := inbound()
		raw := msg("From: ann@customer.example", "To: support@example.com", "Subject: Re: [Support #1] x",
			"Message-ID: <dup@customer.example>", "In-Reply-To: "+ack.MessageID)
		s.mustSend(t, ann, []string{"support@example.com"}, raw)
		s.mustSend(t, ann, []string{"support@example.com"}, raw)
		// The same message relayed again with one more trace header.
		s.mustSend(t, ann, []string{"support@example.com"}, "Received: from relay2.example by mx\r\n"+raw)
		if got := inbound(); got != before+1 {
			t.Errorf("inbound messages on #1 = %d, want %d", got, before+1)
		}
	})
	t.Run("resolved then reply reopens", func(t *testing.T) {
		resolved := helpmail.StatusResolved
		if _, err := s.App.Desk.UpdateTicket(context.Background(), 1, "alice@example.com", helpmail.Change{Status: &resolved}); err != nil {
			t.Fatal(err)
		}
		s.mustSend(t, ann, []string{"support@example.com"}, msg("From: ann@customer.example", "To: support@example.com",
			"Subject: Re: [Support #1] Printer on fire", "Message-ID: <m5@customer.example>", "In-Reply-To: "+ack.MessageID,
			"body:It is burning again. Please come back.\r\n"))
		if tk := s.ticket(t, 1); tk.Status != helpmail.StatusWaitingForSupport {
			t.Errorf("status after reply to resolved = %s, want waiting_for_support", tk.Status)
		}
		if d := s.decision(t, "m5@customer.example"); !strings.Contains(d.Decision.Outcome, "reopened") {
			t.Errorf("outcome = %q, want reopened", d.Decision.Outcome)
		}
	})
	t.Run("thanks does not reopen a resolved ticket", func(t *testing.T) {
		resolved := helpmail.StatusResolved
		s.App.Desk.UpdateTicket(context.Background(), 1, "alice@example.com", helpmail.Change{Status: &resolved})
		s.mustSend(t, ann, []string{"support@example.com"}, msg("From: ann@customer.example", "To: support@example.com",
			"Subject: Re: [Support #1] Printer on fire", "Message-ID: <thanks@customer.example>", "In-Reply-To: "+ack.MessageID,
			"body:Thanks a lot!\r\n\r\nAnn\r\n"))
		if tk := s.ticket(t, 1); tk.Status != helpmail.StatusResolved {
			t.Errorf("status after thanks = %s, want resolved", tk.Status)
		}
	})
	t.Run("closed then reply within the window reopens", func(t *testing.T) {
		closed := helpmail.StatusClosed
		s.App.Desk.UpdateTicket(context.Background(), 1, "alice@example.com", helpmail.Change{Status: &closed})
		s.clock.Advance(24 * time.Hour)
		s.mustSend(t, ann, []string{"support@example.com"}, msg("From: ann@customer.example", "To: support@example.com",
			"Subject: Re: [Support #1] Printer on fire", "Message-ID: <m6@customer.example>", "In-Reply-To: "+ack.MessageID,
			"body:Still broken.\r\n"))
		if tk := s.ticket(t, 1); tk.Status != helpmail.StatusWaitingForSupport {
			t.Errorf("status = %s, want waiting_for_support", tk.Status)
		}
	})
	t.Run("reply after the reopen window opens a follow-up", func(t *testing.T) {
		closed := helpmail.StatusClosed
		s.App.Desk.UpdateTicket(context.Background(), 1, "alice@example.com", helpmail.Change{Status: &closed})
		s.clock.Advance(31 * 24 * time.Hour)
		before := s.ticketCount(t)
		s.mustSend(t, ann, []string{"support@example.com"}, msg("From: ann@customer.example", "To: support@example.com",
			"Subject: Re: [Support #1] Printer on fire", "Message-ID: <m7@customer.example>", "In-Reply-To: "+ack.MessageID,
			"body:It is on fire again, a month later.\r\n"))
		d := s.decision(t, "m7@customer.example")
		if d.Ticket == 1 || s.ticketCount(t) != before+1 {
			t.Fatalf("m7 filed on #%d; want a new follow-up ticket", d.Ticket)
		}
		if tk := s.ticket(t, d.Ticket); tk.FollowUpOf != 1 || tk.Status != helpmail.StatusWaitingForSupport {
			t.Errorf("follow-up = %+v, want FollowUpOf 1", tk)
		}
		if tk := s.ticket(t, 1); tk.Status != helpmail.StatusClosed {
			t.Errorf("old ticket status = %s, want closed", tk.Status)
		}
	})
	t.Run("auto-reply is stored without acknowledgement", func(t *testing.T) {
		before := len(s.waitOutbox(t, "ooo@customer.example"))
		s.mustSend(t, "ooo@customer.example", []string{"support@example.com"}, msg("From: ooo@customer.example",
			"To: support@example.com", "Subject: Out of office", "Auto-Submitted: auto-replied", "Message-ID: <ooo1@customer.example>",
			"body:I am away until Monday.\r\n"))
		d := s.decision(t, "ooo1@customer.example")
		if d.Kind != helpmail.KindAutomatic {
			t.Errorf("kind = %s, want automatic", d.Kind)
		}
		if got := len(s.waitOutbox(t, "ooo@customer.example")); got != before {
			t.Errorf("automatic message got %d notifications", got-before)
		}
	})
}

func TestSMTPRefusals(t *testing.T) {
	s := MustStartServer(t, nil)
	err := s.send("ann@customer.example", []string{"someone@elsewhere.example"}, msg("From: ann@customer.example", "Subject: relay?"))
	if err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("foreign recipient: SendMail = %v, want 550", err)
	}
	big := msg("From: ann@customer.example", "To: support@example.com", "Subject: big",
		"body:"+strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 10000))
	err = s.send("ann@customer.example", []string{"support@example.com"}, big)
	if err == nil || !strings.Contains(err.Error(), "552") {
		t.Errorf("oversized: SendMail = %v, want 552", err)
	}
	if n := s.ticketCount(t); n != 0 {
		t.Errorf("tickets after refusals = %d, want 0", n)
	}
}

func TestRoutesSetDefaults(t *testing.T) {
	s := MustStartServer(t, nil)
	s.mustSend(t, "ops@customer.example", []string{"incidents@example.com"}, msg("From: ops@customer.example",
		"To: incidents@example.com", "Subject: API down", "Message-ID: <inc1@customer.example>"))
	tk := s.ticket(t, 1)
	if tk.Type != helpmail.TypeIncident || tk.Priority != helpmail.PriorityCritical || tk.Address != "incidents@example.com" {
		t.Errorf("ticket from incidents@ = type %s priority %s address %s", tk.Type, tk.Priority, tk.Address)
	}
	if fmt.Sprint(tk.Organization) != "customer.example" {
		t.Errorf("organization = %q, want customer.example", tk.Organization)
	}
}
