package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/internal/testcert"
	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/threading"
)

// This file proves outbound delivery end to end: the whole helpmail
// (MustStartServer or rlStart) sends through [outbound.relay] to a real
// go-smtp server on 127.0.0.1 (rlPeer) that records what it is given.

// rlWaitLimit bounds every wait in these tests.
const rlWaitLimit = 15 * time.Second

// rlMsg is one DATA transaction the relay saw.
type rlMsg struct {
	From      string // MAIL FROM
	To        []string
	Data      []byte
	TLS       bool
	User      string // the authenticated user, "" without AUTH
	MessageID string // canonical, from the data
	Subject   string
	Parsed    *mailbox.Message
}

// rlOptions says how an rlPeer behaves.
type rlOptions struct {
	// TLS enables STARTTLS; with it, AUTH is offered only after STARTTLS.
	TLS *tls.Config
	// User and Pass, when set, make AUTH PLAIN mandatory before MAIL.
	User, Pass string
	// Rcpt answers RCPT TO; n counts the RCPTs for that address so far,
	// from 1. nil (or a nil result) accepts.
	Rcpt func(rcpt string, n int) *smtp.SMTPError
	// Accepted is called in the session after a message was accepted.
	Accepted func(m rlMsg)
	// Gate, when set, makes every DATA wait until it is closed (the test
	// closes it; cleanup closes it too). Entered receives one value per
	// DATA that started waiting.
	Gate    chan struct{}
	Entered chan struct{}
}

// rlPeer is a real go-smtp server on 127.0.0.1 standing for helpmail's
// outbound relay. It records every accepted message.
type rlPeer struct {
	addr string
	port int
	opts rlOptions
	srv  *smtp.Server
	done chan struct{}

	mu       sync.Mutex
	accepted []rlMsg
	rcpts    map[string]int
	closed   bool
}

// rlStartPeer starts a relay on addr ("127.0.0.1:0" for a new port, or the
// address of a closed peer to come back on the same port) and stops it at
// cleanup.
func rlStartPeer(tb testing.TB, addr string, opts rlOptions) *rlPeer {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatalf("net.Listen(%s) = %v", addr, err)
	}
	p := &rlPeer{addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port, opts: opts,
		done: make(chan struct{}), rcpts: map[string]int{}}
	p.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &rlSession{p: p, conn: c}, nil
	}))
	p.srv.Domain = "relay.test"
	p.srv.TLSConfig = opts.TLS
	p.srv.AllowInsecureAuth = opts.TLS == nil
	p.srv.ReadTimeout, p.srv.WriteTimeout = rlWaitLimit, rlWaitLimit
	p.srv.ErrorLog = rlQuietLog{}
	go func() {
		defer close(p.done)
		p.srv.Serve(ln)
	}()
	tb.Cleanup(p.Close)
	return p
}

// rlQuietLog drops go-smtp's server log (connection resets are expected
// when helpmail or a test closes a connection).
type rlQuietLog struct{}

func (rlQuietLog) Printf(string, ...interface{}) {}
func (rlQuietLog) Println(...interface{})        {}

// Close stops the relay: the listener and every connection close, so the
// port refuses connections. It may be called more than once.
func (p *rlPeer) Close() {
	p.mu.Lock()
	closed := p.closed
	p.closed = true
	p.mu.Unlock()
	if closed {
		return
	}
	if p.opts.Gate != nil {
		select {
		case <-p.opts.Gate:
		default:
			close(p.opts.Gate)
		}
	}
	p.srv.Close()
	<-p.done
}

// Accepted returns the messages accepted so far.
func (p *rlPeer) Accepted() []rlMsg {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.accepted)
}

// byMessageID counts the accepted messages per Message-ID.
func (p *rlPeer) byMessageID() map[string]int {
	n := map[string]int{}
	for _, m := range p.Accepted() {
		n[m.MessageID]++
	}
	return n
}

// rcptCount returns how many RCPT commands named addr.
func (p *rlPeer) rcptCount(addr string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rcpts[strings.ToLower(addr)]
}

type rlSession struct {
	p    *rlPeer
	conn *smtp.Conn
	user string
	from string
	to   []string
}

func (s *rlSession) AuthMechanisms() []string {
	if s.p.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *rlSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || s.p.opts.User == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.p.opts.User || pass != s.p.opts.Pass {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}

func (s *rlSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.p.opts.User != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *rlSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.p.mu.Lock()
	s.p.rcpts[strings.ToLower(to)]++
	n := s.p.rcpts[strings.ToLower(to)]
	s.p.mu.Unlock()
	if s.p.opts.Rcpt != nil {
		if e := s.p.opts.Rcpt(strings.ToLower(to), n); e != nil {
			return e
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *rlSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.p.opts.Gate != nil {
		if s.p.opts.Entered != nil {
			s.p.opts.Entered <- struct{}{}
		}
		<-s.p.opts.Gate
	}
	_, isTLS := s.conn.TLSConnectionState()
	parsed, _ := mailbox.Parse(data)
	m := rlMsg{From: s.from, To: slices.Clone(s.to), Data: data, TLS: isTLS, User: s.user,
		MessageID: threading.CanonicalMessageID(parsed.MessageID), Subject: parsed.Subject, Parsed: parsed}
	s.p.mu.Lock()
	s.p.accepted = append(s.p.accepted, m)
	s.p.mu.Unlock()
	if s.p.opts.Accepted != nil {
		s.p.opts.Accepted(m)
	}
	return nil
}

func (s *rlSession) Reset()        { s.from, s.to = "", nil }
func (s *rlSession) Logout() error { return nil }

// rlUse points helpmail's [outbound.relay] at p, in clear text.
func rlUse(p *rlPeer) func(*Config) {
	return func(c *Config) {
		c.Outbound.Relay.Host = "127.0.0.1"
		c.Outbound.Relay.Port = p.port
		c.Outbound.Relay.Security = "none"
		c.Outbound.Relay.HeloName = "helpmail.test"
		c.Outbound.Relay.DialTimeout = Duration(5 * time.Second)
		c.Outbound.Relay.CommandTimeout = Duration(5 * time.Second)
	}
}

// rlChain applies several config changes in order.
func rlChain(fs ...func(*Config)) func(*Config) {
	return func(c *Config) {
		for _, f := range fs {
			if f != nil {
				f(c)
			}
		}
	}
}

// rlRows returns the outbox rows matching f, oldest first.
func (s *testServer) rlRows(tb testing.TB, f helpmail.OutboxFilter) []*helpmail.OutboxItem {
	tb.Helper()
	var rows []*helpmail.OutboxItem
	err := s.App.DB.View(context.Background(), func(tx helpmail.Tx) (err error) {
		rows, err = tx.FindOutboxes(context.Background(), f)
		return err
	})
	if err != nil {
		tb.Fatalf("FindOutboxes(%+v) = %v", f, err)
	}
	slices.Reverse(rows)
	return rows
}

// rlRow returns one outbox row with its bytes.
func (s *testServer) rlRow(tb testing.TB, id int64) *helpmail.OutboxItem {
	tb.Helper()
	var o *helpmail.OutboxItem
	err := s.App.DB.View(context.Background(), func(tx helpmail.Tx) (err error) {
		o, err = tx.FindOutbox(context.Background(), id)
		return err
	})
	if err != nil {
		tb.Fatalf("FindOutbox(%d) = %v", id, err)
	}
	return o
}

// rlRowTo returns the only outbox row to rcpt with that template.
func (s *testServer) rlRowTo(tb testing.TB, rcpt, template string) *helpmail.OutboxItem {
	tb.Helper()
	var out []*helpmail.OutboxItem
	for _, o := range s.rlRows(tb, helpmail.OutboxFilter{}) {
		if o.Rcpt == rcpt && o.Template == template {
			out = append(out, o)
		}
	}
	if len(out) != 1 {
		tb.Fatalf("outbox rows to %s with template %s = %d, want 1", rcpt, template, len(out))
	}
	return s.rlRow(tb, out[0].ID)
}

// rlWait polls cond until it holds, calling step (if any) between polls,
// and fails the test after rlWaitLimit.
func rlWait(tb testing.TB, what string, step func(), cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(rlWaitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up after %s waiting for %s", rlWaitLimit, what)
		}
		if step != nil {
			step()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rlTick moves the server's clock on by d and wakes its outbox worker, so
// rows waiting for their back-off become due.
func (s *testServer) rlTick(d time.Duration) func() {
	return func() {
		s.clock.Advance(d)
		s.App.Desk.Queued()
	}
}

// rlDrained reports whether no outbox row is queued or sending.
func (s *testServer) rlDrained(tb testing.TB) bool {
	tb.Helper()
	return len(s.rlRows(tb, helpmail.OutboxFilter{Status: []helpmail.OutboxStatus{helpmail.OutboxQueued, helpmail.OutboxSending}})) == 0
}

// rlOpen opens a ticket from addr and returns its number.
func (s *testServer) rlOpen(tb testing.TB, addr, messageID, subject string, extra ...string) int64 {
	tb.Helper()
	before := s.ticketCount(tb)
	h := append([]string{"From: " + addr, "To: support@example.com", "Subject: " + subject, "Message-ID: <" + messageID + ">"}, extra...)
	s.mustSend(tb, addr, []string{"support@example.com"}, msg(h...))
	d := s.decision(tb, messageID)
	if d.Ticket == 0 || s.ticketCount(tb) != before+1 {
		tb.Fatalf("message <%s> from %s opened no ticket (outcome %q)", messageID, addr, d.Decision.Outcome)
	}
	return d.Ticket
}

// rlCert makes a self-signed certificate for 127.0.0.1 and writes it as a
// PEM file that helpmail's outbound.relay.ca_file can name.
func rlCert(tb testing.TB, dir string) (tls.Certificate, string) {
	tb.Helper()
	c := testcert.New(tb, "relay.test")
	path := filepath.Join(dir, "relay-ca.pem")
	if err := os.WriteFile(path, c.CertPEM, 0o600); err != nil {
		tb.Fatal(err)
	}
	return c.TLS, path
}

// rlCLI runs a helpmail command in-process against the database in dir
// and returns its standard output.
func rlCLI(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	conf := filepath.Join(dir, "cli.toml")
	toml := fmt.Sprintf("[database]\npath = %q\n\n[[routes]]\naddress = \"support@example.com\"\n", filepath.Join(dir, "helpmail.db"))
	if err := os.WriteFile(conf, []byte(toml), 0o600); err != nil {
		tb.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	if err := m.Run(context.Background(), append([]string{"--config", conf}, args...)); err != nil {
		tb.Fatalf("helpmail %s = %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// rlVERP returns the outbox row a VERP envelope sender names.
func rlVERP(tb testing.TB, s *testServer, from string) int64 {
	tb.Helper()
	local, domain, _ := strings.Cut(from, "@")
	base, token, ok := strings.Cut(local, "+")
	if !ok || base != "bounces" || domain != "example.com" {
		tb.Fatalf("envelope sender %q is not bounces+<token>@example.com", from)
	}
	id, ok := s.App.Signer.ParseBounceToken(token)
	if !ok {
		tb.Fatalf("envelope sender %q carries no valid bounce token", from)
	}
	return id
}

// TestRelayDelivery: every queued row reaches the relay once, byte for
// byte as stored, from the VERP address that names its row.
func TestRelayDelivery(t *testing.T) {
	relay := rlStartPeer(t, "127.0.0.1:0", rlOptions{})
	s := MustStartServer(t, rlUse(relay))
	s.rlOpen(t, "ann@customer.example", "d1@customer.example", "Printer on fire")
	rlWait(t, "the outbox to drain", nil, func() bool { return s.rlDrained(t) })

	rows := s.rlRows(t, helpmail.OutboxFilter{})
	if len(rows) != 3 { // the acknowledgement and one notification per agent
		t.Fatalf("outbox rows = %d, want 3", len(rows))
	}
	got := relay.Accepted()
	if len(got) != len(rows) {
		t.Fatalf("relay accepted %d messages, want %d", len(got), len(rows))
	}
	for _, o := range rows {
		o = s.rlRow(t, o.ID)
		if o.Status != helpmail.OutboxSent || o.Attempts != 1 {
			t.Errorf("row %d (%s) = %s after %d attempts, want sent after 1", o.ID, o.Template, o.Status, o.Attempts)
		}
		id := threading.CanonicalMessageID(o.MessageID)
		var m *rlMsg
		for i := range got {
			if got[i].MessageID == id {
				if m != nil {
					t.Fatalf("Message-ID %s relayed twice", id)
				}
				m = &got[i]
			}
		}
		if m == nil {
			t.Fatalf("row %d (%s to %s): Message-ID %s never reached the relay", o.ID, o.Template, o.Rcpt, id)
		}
		if !bytes.Equal(m.Data, o.Raw) {
			t.Errorf("row %d: relayed bytes differ from the stored message (%d vs %d bytes)", o.ID, len(m.Data), len(o.Raw))
		}
		if !slices.Equal(m.To, []string{o.Rcpt}) {
			t.Errorf("row %d: RCPT TO = %v, want [%s]", o.ID, m.To, o.Rcpt)
		}
		if got := rlVERP(t, s, m.From); got != o.ID {
			t.Errorf("row %d: MAIL FROM %s names row %d", o.ID, m.From, got)
		}
		if m.TLS || m.User != "" {
			t.Errorf("row %d: TLS %v, user %q on a clear-text relay without AUTH", o.ID, m.TLS, m.User)
		}
	}
}

// TestRelaySTARTTLSAndAuth: with security "starttls", the CA named by
// ca_file and a password, helpmail upgrades the connection, logs in with
// AUTH PLAIN and only then sends.
func TestRelaySTARTTLSAndAuth(t *testing.T) {
	cert, caFile := rlCert(t, t.TempDir())
	const user, pass = "helpmail", "s3cret-Relay-pw"
	relay := rlStartPeer(t, "127.0.0.1:0", rlOptions{
		TLS:  &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		User: user, Pass: pass,
	})
	tests := []struct {
		name     string
		password string
		caFile   string
		wantSent bool
		wantErr  string // in the row's last error
	}{
		{"verified certificate and right password", pass, caFile, true, ""},
		{"wrong password", "not-the-password", caFile, false, "535"},
		{"certificate not trusted", pass, "", false, "certificate"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustStartServer(t, rlChain(rlUse(relay), func(c *Config) {
				c.Outbound.Relay.Security = "starttls"
				c.Outbound.Relay.CAFile = tt.caFile
				c.Outbound.Relay.Username = user
				c.Outbound.Relay.Password = Secret{ref: tt.password, value: tt.password}
				c.Outbound.Relay.AuthMechanism = "plain"
				c.Agents = nil // one row: the acknowledgement
			}))
			ann := fmt.Sprintf("ann%d@customer.example", i)
			s.rlOpen(t, ann, fmt.Sprintf("tls%d@customer.example", i), "Secure printer")
			o := s.rlRowTo(t, ann, "ticket_opened")
			rlWait(t, "the acknowledgement to be attempted", nil, func() bool { return s.rlRow(t, o.ID).Attempts > 0 })
			o = s.rlRow(t, o.ID)
			var got []rlMsg
			for _, m := range relay.Accepted() {
				if m.MessageID == threading.CanonicalMessageID(o.MessageID) {
					got = append(got, m)
				}
			}
			if !tt.wantSent {
				if len(got) != 0 || o.Status != helpmail.OutboxQueued || !strings.Contains(o.LastError, tt.wantErr) {
					t.Errorf("row = %s, last error %q, relayed %d; want queued for a retry with %q, nothing relayed",
						o.Status, o.LastError, len(got), tt.wantErr)
				}
				return
			}
			if o.Status != helpmail.OutboxSent || len(got) != 1 {
				t.Fatalf("row = %s (%s), relayed %d times; want sent once", o.Status, o.LastError, len(got))
			}
			if !got[0].TLS || got[0].User != user {
				t.Errorf("relayed with TLS %v as user %q, want TLS as %q", got[0].TLS, got[0].User, user)
			}
			if !bytes.Equal(got[0].Data, o.Raw) {
				t.Errorf("relayed bytes differ from the stored message")
			}
		})
	}
}

// TestRelayTemporaryFailureRetried: a 4xx is retried with exponential
// back-off (min 50 ms, doubled, capped at 200 ms, ±20 %) until it is
// accepted, and the message arrives exactly once.
func TestRelayTemporaryFailureRetried(t *testing.T) {
	const ann = "ann@customer.example"
	const refusals = 3
	relay := rlStartPeer(t, "127.0.0.1:0", rlOptions{Rcpt: func(rcpt string, n int) *smtp.SMTPError {
		if rcpt == ann && n <= refusals {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Greylisted, try again later"}
		}
		return nil
	}})
	s := MustStartServer(t, rlChain(rlUse(relay), func(c *Config) { c.Agents = nil }))
	s.rlOpen(t, ann, "g1@customer.example", "Greylisted")
	o := s.rlRowTo(t, ann, "ticket_opened")

	// The worker's clock stands still until the test moves it, so each
	// back-off can be read off the row before the next attempt.
	wantBackoff := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}
	for attempt := 1; attempt <= refusals; attempt++ {
		rlWait(t, fmt.Sprintf("attempt %d", attempt), nil, func() bool { return s.rlRow(t, o.ID).Attempts == attempt })
		row := s.rlRow(t, o.ID)
		wait := row.NextAttempt.Sub(s.clock.Now())
		want := wantBackoff[attempt-1]
		if row.Status != helpmail.OutboxQueued || !strings.Contains(row.LastError, "451 4.7.1") {
			t.Fatalf("after attempt %d: row = %s, last error %q; want queued with the 451", attempt, row.Status, row.LastError)
		}
		if wait < want*8/10 || wait > want*12/10 {
			t.Errorf("after attempt %d: next attempt in %s, want %s ±20%%", attempt, wait, want)
		}
		if n := relay.rcptCount(ann); n != attempt {
			t.Fatalf("after attempt %d: relay saw %d attempts", attempt, n)
		}
		s.clock.Advance(wait)
		s.App.Desk.Queued()
	}
	rlWait(t, "the acknowledgement to be sent", nil, func() bool { return s.rlRow(t, o.ID).Status == helpmail.OutboxSent })
	if row := s.rlRow(t, o.ID); row.Attempts != refusals+1 || row.LastError != "" {
		t.Errorf("sent row: attempts %d, last error %q; want %d, none", row.Attempts, row.LastError, refusals+1)
	}
	if n := relay.byMessageID()[threading.CanonicalMessageID(o.MessageID)]; n != 1 {
		t.Errorf("acknowledgement delivered %d times, want 1", n)
	}
}

// TestRelayPermanentFailure: a 5xx fails the row at once; it is not
// retried, and the relay's reply is kept and shown by `outbox list`.
func TestRelayPermanentFailure(t *testing.T) {
	const ann, ben = "ann@customer.example", "ben@customer.example"
	const reply = "<ann@customer.example>: Recipient address rejected: User unknown in virtual mailbox table"
	relay := rlStartPeer(t, "127.0.0.1:0", rlOptions{Rcpt: func(rcpt string, n int) *smtp.SMTPError {
		if rcpt == ann {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: reply}
		}
		return nil
	}})
	s := MustStartServer(t, rlChain(rlUse(relay), func(c *Config) { c.Agents = nil }))
	s.rlOpen(t, ann, "p1@customer.example", "Nobody home")
	o := s.rlRowTo(t, ann, "ticket_opened")
	rlWait(t, "the row to fail", nil, func() bool { return s.rlRow(t, o.ID).Status == helpmail.OutboxFailed })

	// Much later, and after the worker has sent another message, the
	// failed row has still been tried only once.
	s.clock.Advance(24 * time.Hour)
	s.rlOpen(t, ben, "p2@customer.example", "Somebody home")
	b := s.rlRowTo(t, ben, "ticket_opened")
	rlWait(t, "the next message to be sent", nil, func() bool { return s.rlRow(t, b.ID).Status == helpmail.OutboxSent })
	o = s.rlRow(t, o.ID)
	if o.Status != helpmail.OutboxFailed || o.Attempts != 1 || relay.rcptCount(ann) != 1 {
		t.Errorf("failed row: %s after %d attempts, relay saw %d; want failed after 1", o.Status, o.Attempts, relay.rcptCount(ann))
	}
	if want := "550 5.1.1 " + reply; !strings.Contains(o.LastError, want) {
		t.Errorf("last error = %q, want it to contain %q", o.LastError, want)
	}

	out := rlCLI(t, s.dir, "outbox", "list", "--failed")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], fmt.Sprintf("%d ", o.ID)) ||
		!strings.Contains(lines[1], "failed") || !strings.Contains(lines[1], ann) || !strings.Contains(lines[1], "550 5.1.1") {
		t.Errorf("outbox list --failed =\n%s\nwant one line: row %d, failed, %s, 550 5.1.1", out, o.ID, ann)
	}
	var listed struct{ Outbox []helpmail.OutboxItem }
	if err := json.Unmarshal([]byte(rlCLI(t, s.dir, "outbox", "list", "--failed", "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed.Outbox) != 1 || listed.Outbox[0].ID != o.ID || listed.Outbox[0].LastError != o.LastError {
		t.Errorf("outbox list --failed --json = %+v, want row %d with last error %q", listed.Outbox, o.ID, o.LastError)
	}
}

// TestRelayDownAndBackUp: while the relay refuses connections the row
// waits; when a relay listens on the same port again it is delivered once.
func TestRelayDownAndBackUp(t *testing.T) {
	const ann = "ann@customer.example"
	first := rlStartPeer(t, "127.0.0.1:0", rlOptions{})
	s := MustStartServer(t, rlChain(rlUse(first), func(c *Config) { c.Agents = nil }))
	first.Close()
	s.rlOpen(t, ann, "down1@customer.example", "Relay down")
	o := s.rlRowTo(t, ann, "ticket_opened")
	rlWait(t, "a failed attempt", nil, func() bool { return s.rlRow(t, o.ID).Attempts >= 1 })
	if row := s.rlRow(t, o.ID); row.Status != helpmail.OutboxQueued || !strings.Contains(row.LastError, "dial") {
		t.Fatalf("row with the relay down = %s, last error %q; want queued after a dial error", row.Status, row.LastError)
	}
	// One more attempt while it is still down.
	s.rlTick(time.Second)()
	rlWait(t, "a second failed attempt", nil, func() bool { return s.rlRow(t, o.ID).Attempts >= 2 })

	second := rlStartPeer(t, first.addr, rlOptions{})
	rlWait(t, "delivery through the relay that came back", s.rlTick(100*time.Millisecond),
		func() bool { return s.rlRow(t, o.ID).Status == helpmail.OutboxSent })
	if n := second.byMessageID()[threading.CanonicalMessageID(o.MessageID)]; n != 1 || len(first.Accepted()) != 0 {
		t.Errorf("delivered %d times by the new relay, %d by the closed one; want 1, 0", n, len(first.Accepted()))
	}
}

// TestRelayRestartWithRowsInFlight: helpmail is stopped while rows are
// being sent and others wait; a new helpmail on the same database sends
// the rest; every row reaches the relay exactly once.
func TestRelayRestartWithRowsInFlight(t *testing.T) {
	gate, entered := make(chan struct{}), make(chan struct{}, 64)
	relay := rlStartPeer(t, "127.0.0.1:0", rlOptions{Gate: gate, Entered: entered})
	dir := t.TempDir()
	conf := rlChain(rlUse(relay), func(c *Config) { c.Outbound.Concurrency = 1 })
	a, stopA := startTestServer(t, dir, conf)

	// The first ticket's rows are claimed; the first send hangs in DATA.
	a.rlOpen(t, "c0@customer.example", "r0@customer.example", "Ticket 0")
	select {
	case <-entered:
	case <-time.After(rlWaitLimit):
		t.Fatal("no message reached the relay")
	}
	// More tickets queue more rows while the worker is busy. Then the
	// clock goes back so that this process will not claim them.
	for i := 1; i < 4; i++ {
		a.rlOpen(t, fmt.Sprintf("c%d@customer.example", i), fmt.Sprintf("r%d@customer.example", i), fmt.Sprintf("Ticket %d", i))
	}
	a.clock.Advance(-time.Hour)
	all := a.rlRows(t, helpmail.OutboxFilter{})
	sending := a.rlRows(t, helpmail.OutboxFilter{Status: []helpmail.OutboxStatus{helpmail.OutboxSending}})
	if len(all) != 12 || len(sending) == 0 || len(sending) == len(all) {
		t.Fatalf("before stopping: %d rows, %d sending; want 12 with some sending and some queued", len(all), len(sending))
	}

	stopped := make(chan error, 1)
	go func() { stopped <- stopA() }()
	close(gate) // the sends in flight finish during the shutdown
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Close() = %v", err)
		}
	case <-time.After(rlWaitLimit):
		t.Fatal("Close() did not return")
	}
	if n := len(relay.Accepted()); n != len(sending) {
		t.Errorf("the stopped helpmail delivered %d messages, want the %d it had claimed", n, len(sending))
	}

	b, _ := startTestServer(t, dir, conf)
	rlWait(t, "the new helpmail to drain the outbox", nil, func() bool { return b.rlDrained(t) })
	counts := relay.byMessageID()
	for _, o := range b.rlRows(t, helpmail.OutboxFilter{}) {
		if n := counts[threading.CanonicalMessageID(o.MessageID)]; n != 1 || o.Status != helpmail.OutboxSent {
			t.Errorf("row %d (%s to %s): %s, delivered %d times; want sent once", o.ID, o.Template, o.Rcpt, o.Status, n)
		}
	}
	if len(relay.Accepted()) != len(all) {
		t.Errorf("relay accepted %d messages for %d rows", len(relay.Accepted()), len(all))
	}
}

// TestRelayLeaseExpires: a row left "sending" by a process that died is
// sent again only after its lease, with the same bytes and Message-ID.
func TestRelayLeaseExpires(t *testing.T) {
	const ann = "ann@customer.example"
	relay := rlStartPeer(t, "127.0.0.1:0", rlOptions{})
	dir := t.TempDir()
	conf := rlChain(rlUse(relay), func(c *Config) { c.Agents = nil })
	a, stopA := startTestServer(t, dir, conf)
	a.rlOpen(t, ann, "lease1@customer.example", "Lease")
	o := a.rlRowTo(t, ann, "ticket_opened")
	rlWait(t, "the acknowledgement to be sent", nil, func() bool { return a.rlRow(t, o.ID).Status == helpmail.OutboxSent })
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	firstCopy := relay.Accepted()[0]

	// As if the process had died after the relay took the message but
	// before it recorded that: the row is still claimed for 10 minutes.
	claimedAt := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	db, err := sql.Open("sqlite3", filepath.Join(dir, "helpmail.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`UPDATE outbox SET status = 'sending', sent_at = 0, claimed_until = ? WHERE id = ?`,
		claimedAt.Add(10*time.Minute).UnixMilli(), o.ID)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	b, _ := startTestServer(t, dir, conf)
	// Before the lease ends nothing is sent, however often the worker runs.
	for i := 0; i < 3; i++ {
		b.rlTick(3 * time.Minute)()
		w := b.App.Outbox(rlSender(t, b))
		if n, err := w.RunOnce(context.Background()); err != nil || n != 0 {
			t.Fatalf("RunOnce() at %s = %d, %v; want nothing claimed before the lease ends", b.clock.Now(), n, err)
		}
	}
	if got := len(relay.Accepted()); got != 1 {
		t.Fatalf("relay got %d copies before the lease ended, want 1", got)
	}
	rlWait(t, "the row to be sent again", b.rlTick(time.Minute), func() bool { return b.rlRow(t, o.ID).Status == helpmail.OutboxSent })
	got := relay.Accepted()
	if len(got) != 2 {
		t.Fatalf("relay got %d copies, want 2 (one before the crash, one after the lease)", len(got))
	}
	if !bytes.Equal(got[1].Data, firstCopy.Data) || got[1].MessageID != firstCopy.MessageID || got[1].MessageID == "" {
		t.Errorf("resent copy differs: Message-ID %s vs %s, %d vs %d bytes", got[1].MessageID, firstCopy.MessageID, len(got[1].Data), len(firstCopy.Data))
	}
	if row := b.rlRow(t, o.ID); row.SentAt.Before(claimedAt.Add(10 * time.Minute)) {
		t.Errorf("resent at %s, before the lease ended at %s", row.SentAt, claimedAt.Add(10*time.Minute))
	}
}

// rlSender returns the relay sender helpmail is configured with.
func rlSender(tb testing.TB, s *testServer) helpmail.Sender {
	tb.Helper()
	sender, _, err := s.App.Sender()
	if err != nil {
		tb.Fatal(err)
	}
	return sender
}

// rlCorpus reads a file of the mail corpus.
func rlCorpus(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "corpus", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// rlRewriteDSN makes a corpus delivery report be about one of our
// messages: the recipient it reports on (target, or the first one it
// names) becomes rcpt, and the Message-ID of the message it returns (if
// it names one) becomes messageID. It checks that the report now reads so.
func rlRewriteDSN(tb testing.TB, file, target, rcpt, messageID string) (raw []byte, namesMessage bool) {
	tb.Helper()
	raw = rlCorpus(tb, file)
	d, ok := mailbox.ParseDSN(raw)
	if !ok || len(d.Recipients) == 0 {
		tb.Fatalf("ParseDSN(%s) = %+v, %v; want a report naming a recipient", file, d, ok)
	}
	if target == "" {
		target = d.Recipients[0].Final
	}
	raw = regexp.MustCompile(`(?i)`+regexp.QuoteMeta(target)).ReplaceAll(raw, []byte(rcpt))
	if orig := strings.Trim(d.OriginalMessageID, "<>"); orig != "" {
		raw = bytes.ReplaceAll(raw, []byte(orig), []byte(threading.CanonicalMessageID(messageID)))
	}
	d, ok = mailbox.ParseDSN(raw)
	if !ok || !slices.ContainsFunc(d.Recipients, func(r mailbox.DSNRecipient) bool { return strings.EqualFold(r.Final, rcpt) }) {
		tb.Fatalf("rewritten %s: ParseDSN = %+v, %v; want a report on %s", file, d, ok, rcpt)
	}
	namesMessage = d.OriginalMessageID != ""
	if namesMessage && threading.CanonicalMessageID(d.OriginalMessageID) != threading.CanonicalMessageID(messageID) {
		tb.Fatalf("rewritten %s: returned Message-ID = %s, want %s", file, d.OriginalMessageID, messageID)
	}
	return raw, namesMessage
}

// rlHistory returns the history of ticket n.
func (s *testServer) rlHistory(tb testing.TB, n int64) []helpmail.HistoryEntry {
	tb.Helper()
	var h []helpmail.HistoryEntry
	err := s.App.DB.View(context.Background(), func(tx helpmail.Tx) (err error) {
		h, err = tx.History(context.Background(), n)
		return err
	})
	if err != nil {
		tb.Fatalf("History(%d) = %v", n, err)
	}
	return h
}

// rlSuppressed returns why addr is suppressed, "" when it is not.
func (s *testServer) rlSuppressed(tb testing.TB, addr string) string {
	tb.Helper()
	var why string
	err := s.App.DB.View(context.Background(), func(tx helpmail.Tx) (err error) {
		why, err = tx.Suppressed(context.Background(), addr)
		return err
	})
	if err != nil {
		tb.Fatalf("Suppressed(%s) = %v", addr, err)
	}
	return why
}

// TestBouncesFromCorpus delivers real delivery reports, rewritten to be
// about an acknowledgement helpmail sent, either to that row's VERP
// address or to the support address (matched by the returned
// Message-ID). A permanent failure bounces the row and suppresses the
// address; a delay does neither; both are recorded on the ticket and
// neither opens a ticket.
func TestBouncesFromCorpus(t *testing.T) {
	s := MustStartServer(t, nil)
	tests := []struct {
		file      string
		target    string // the recipient of the report that becomes ours; "" = the first
		verp      bool   // sent to the row's VERP address, else to support@ with MAIL FROM:<>
		permanent bool
	}{
		{"enmime/dsn/simple_dsn.eml", "", true, true},
		{"enmime/dsn/dsn_with_multipart_alternative.eml", "", true, true},
		{"enmime/dsn/multi_recipient_dsn.eml", "arathib@vnet.ibm.com", true, true},
		{"enmime/dsn/multi_recipient_dsn.eml", "johnh@hpnjld.njd.hp.com", true, false}, // ours is only delayed
		{"enmime/dsn/delayed_dsn.eml", "", true, false},
		{"sisimai/bounces/lhost-postfix-01.eml", "", true, true},
		{"sisimai/bounces/lhost-exchange2007-01.eml", "", true, true},
		{"sisimai/crlf/lhost-postfix-01.eml", "", true, true},
		{"sisimai/bounces/lhost-exim-01.eml", "", false, true},
		{"sisimai/bounces/lhost-gmail-01.eml", "", false, true},
		{"sisimai/bounces/lhost-office365-01.eml", "", false, true},
		{"sisimai/bounces/lhost-office365-04.eml", "", false, true},
		{"sisimai/bounces/lhost-qmail-01.eml", "", false, true},
		{"sisimai/bounces/lhost-exchange2007-05.eml", "", false, true}, // 4.4.7 expired: Action failed
		{"sisimai/bounces/rfc3464-55.eml", "", false, false},           // 4.4.1 delayed
		{"bounceparser/iis-multiple-bounce.eml", "", false, true},
	}
	for i, tt := range tests {
		name := fmt.Sprintf("%s %s", tt.file, tt.target)
		t.Run(name, func(t *testing.T) {
			rcpt := fmt.Sprintf("dsn%d@customer%d.example", i, i)
			n := s.rlOpen(t, rcpt, fmt.Sprintf("dsn%d@customer%d.example", i, i), "Report "+tt.file)
			s.waitOutbox(t, rcpt)
			o := s.rlRowTo(t, rcpt, "ticket_opened")
			raw, namesMessage := rlRewriteDSN(t, tt.file, tt.target, rcpt, o.MessageID)
			to := "support@example.com"
			if tt.verp {
				to = "bounces+" + s.App.Signer.BounceToken(o.ID) + "@example.com"
			} else if !namesMessage {
				t.Fatalf("%s names no returned Message-ID; it must go to the VERP address", tt.file)
			}
			tickets := s.ticketCount(t)
			s.mustSend(t, "", []string{to}, string(raw))

			if got := s.ticketCount(t); got != tickets {
				t.Errorf("tickets = %d after the report, want %d", got, tickets)
			}
			row := s.rlRow(t, o.ID)
			why := s.rlSuppressed(t, rcpt)
			var bounce *helpmail.Message
			for _, m := range s.messages(t, n) {
				if m.Direction == helpmail.Inbound && m.Kind == helpmail.KindBounce {
					bounce = m
				}
			}
			if bounce == nil {
				t.Fatalf("no bounce stored on ticket #%d", n)
			}
			field := "delivery_delayed"
			if tt.permanent {
				field = "bounce"
				if row.Status != helpmail.OutboxBounced || row.LastError == "" || why == "" {
					t.Errorf("row %s (%q), suppression %q; want bounced, with the report's status, and suppressed", row.Status, row.LastError, why)
				}
			} else if row.Status != helpmail.OutboxSent || why != "" {
				t.Errorf("row %s, suppression %q; want still sent and not suppressed", row.Status, why)
			}
			if !slices.ContainsFunc(s.rlHistory(t, n), func(h helpmail.HistoryEntry) bool {
				return h.Field == field && h.New == rcpt && h.Message == bounce.ID
			}) {
				t.Errorf("history of #%d = %+v, want a %s entry for %s", n, s.rlHistory(t, n), field, rcpt)
			}
			if st := s.ticket(t, n).Status; st != helpmail.StatusWaitingForSupport {
				t.Errorf("ticket status = %s after the report, want it unchanged", st)
			}
		})
	}
}

// TestBounceSuppressesLaterAutomaticMail: after a permanent bounce, an
// agent's status change sends the requester nothing, and `messages
// explain` on the agent's message says why; the requester writing again
// lifts the suppression.
func TestBounceSuppressesLaterAutomaticMail(t *testing.T) {
	const ann = "ann@customer.example"
	s := MustStartServer(t, nil)
	n := s.rlOpen(t, ann, "sup1@customer.example", "Mailbox gone")
	s.waitOutbox(t, ann)
	o := s.rlRowTo(t, ann, "ticket_opened")
	raw, _ := rlRewriteDSN(t, "sisimai/bounces/lhost-postfix-01.eml", "", ann, o.MessageID)
	s.mustSend(t, "", []string{"bounces+" + s.App.Signer.BounceToken(o.ID) + "@example.com"}, string(raw))
	if s.rlSuppressed(t, ann) == "" {
		t.Fatalf("%s not suppressed after a permanent bounce", ann)
	}

	alice := s.rlRowTo(t, "alice@example.com", "agent_new_ticket")
	note, _ := mailbox.Parse(alice.Raw)
	token := note.ReplyTo[0].Addr
	s.mustSend(t, "alice@example.com", []string{token}, msg("From: Alice Agent <alice@example.com>", "To: "+token,
		"Subject: Re: "+note.Subject, "Message-ID: <cmd1@example.com>", "In-Reply-To: "+note.MessageID,
		"body:#status resolved\r\n"))
	if st := s.ticket(t, n).Status; st != helpmail.StatusResolved {
		t.Fatalf("status after #status resolved = %s", st)
	}
	s.waitOutbox(t, ann)
	for _, r := range s.rlRows(t, helpmail.OutboxFilter{Ticket: n}) {
		if r.Rcpt == ann && r.Template == "status_changed" {
			t.Errorf("status notice queued to the suppressed %s (row %d)", ann, r.ID)
		}
	}
	explain := rlCLI(t, s.dir, "messages", "explain", "<cmd1@example.com>")
	if !strings.Contains(explain, "not sent: status_changed to "+ann+": address suppressed") {
		t.Errorf("messages explain =\n%s\nwant the status notice to %s marked as not sent: address suppressed", explain, ann)
	}

	// Ann writes again: the address works, and she hears from us again.
	s.mustSend(t, ann, []string{"support@example.com"}, msg("From: "+ann, "To: support@example.com",
		"Subject: Re: "+note.Subject, "Message-ID: <sup2@customer.example>", "In-Reply-To: "+o.MessageID,
		"body:I have a new mailbox now, it works again.\r\n"))
	if why := s.rlSuppressed(t, ann); why != "" {
		t.Errorf("%s still suppressed after writing to us: %s", ann, why)
	}
}
