package main

import (
	"context"
	"fmt"
	"net/smtp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/templates"
)

// This file proves mail-loop protection (SPEC §6): automatic mail is
// stored but answered by nothing, helpmail's own automatic mail says it is
// automatic, autoresponders cannot ping-pong with it, and notifications
// go in the right language to the right people.

// lpQueued returns the actions of a decision that queued mail.
func lpQueued(d helpmail.Decision) []string {
	var out []string
	for _, a := range d.Actions {
		if strings.HasPrefix(a, "queued:") {
			out = append(out, a)
		}
	}
	return out
}

// TestLoopProtection: each sign of automatic mail, on a reply to a ticket
// and on a message that would open one, is stored, answered by nothing,
// changes no status, and the decision says which sign it was.
func TestLoopProtection(t *testing.T) {
	s := MustStartServer(t, nil)
	const ann = "ann@customer.example"
	n := s.rlOpen(t, ann, "base@customer.example", "Printer on fire")
	ack := s.waitOutbox(t, ann)[0]
	waiting := helpmail.StatusWaitingForCustomer
	if _, err := s.App.Desk.UpdateTicket(context.Background(), n, "alice@example.com", helpmail.Change{Status: &waiting}); err != nil {
		t.Fatal(err)
	}
	s.waitOutbox(t, ann)

	tests := []struct {
		name    string
		headers []string
		null    bool   // MAIL FROM:<>
		from    string // "" = the customer
		reason  string // in the decision's notes
	}{
		{"auto-submitted auto-replied", []string{"Auto-Submitted: auto-replied"}, false, "", "auto-submitted: auto-replied"},
		{"auto-submitted auto-generated", []string{"Auto-Submitted: auto-generated (failure)"}, false, "", "auto-submitted: auto-generated"},
		{"precedence bulk", []string{"Precedence: bulk"}, false, "", "precedence: bulk"},
		{"precedence junk", []string{"Precedence: junk"}, false, "", "precedence: junk"},
		{"precedence list", []string{"Precedence: list"}, false, "", "precedence: list"},
		{"list-id", []string{"List-Id: Customer users <users.lists.customer.example>"}, false, "", "list mail: list-id"},
		{"null return path", nil, true, "", "null return path"},
		{"x-autoreply", []string{"X-Autoreply: yes"}, false, "", "x-autoreply present"},
		{"x-autorespond", []string{"X-Autorespond: Out of office"}, false, "", "x-autorespond present"},
		{"x-auto-response-suppress", []string{"X-Auto-Response-Suppress: All"}, false, "", "x-auto-response-suppress: all"},
		{"our own support address", nil, false, "support@example.com", "sent from one of our own addresses"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, reply := range []bool{true, false} {
				from := tt.from
				if from == "" {
					from = ann
					if !reply {
						from = fmt.Sprintf("robot%d@other%d.example", i, i)
					}
				}
				id := fmt.Sprintf("auto%d-%v@other.example", i, reply)
				h := append([]string{"From: " + from, "To: support@example.com", "Message-ID: <" + id + ">"}, tt.headers...)
				if reply {
					h = append(h, "Subject: Re: "+ack.Subject, "In-Reply-To: "+ack.MessageID)
				} else {
					h = append(h, "Subject: Weekly report")
				}
				envFrom := from
				if tt.null {
					envFrom = ""
				}
				rows, tickets := len(s.rlRows(t, helpmail.OutboxFilter{})), s.ticketCount(t)
				s.mustSend(t, envFrom, []string{"support@example.com"}, msg(h...))

				d := s.decision(t, id)
				notes := strings.Join(d.Decision.Notes, "; ")
				if d.Kind != helpmail.KindAutomatic || !strings.Contains(notes, "automatic mail: "+tt.reason) {
					t.Errorf("reply=%v: kind %s, notes %q; want automatic, saying %q", reply, d.Kind, notes, tt.reason)
				}
				if q := lpQueued(d.Decision); len(q) > 0 {
					t.Errorf("reply=%v: automatic mail queued %v", reply, q)
				}
				if got := len(s.rlRows(t, helpmail.OutboxFilter{})); got != rows {
					t.Errorf("reply=%v: outbox rows %d → %d, want no new mail", reply, rows, got)
				}
				if s.ticketCount(t) != tickets {
					t.Errorf("reply=%v: a ticket was opened", reply)
				}
				if reply && d.Ticket != n {
					t.Errorf("reply: filed on ticket %d, want it threaded to #%d", d.Ticket, n)
				}
				if st := s.ticket(t, n).Status; st != helpmail.StatusWaitingForCustomer {
					t.Fatalf("reply=%v: ticket status %s, want it to stay waiting_for_customer", reply, st)
				}
			}
		})
	}
}

// TestAutomaticMailSaysSo: what helpmail sends by itself carries
// Auto-Submitted (auto-replied when it answers a message, auto-generated
// when it is scheduled, caused by an agent's change, or a notification to
// an agent) and X-Auto-Response-Suppress: All; an agent's reply relayed to
// the customer is a person's mail and carries neither.
func TestAutomaticMailSaysSo(t *testing.T) {
	s := MustStartServer(t, nil)
	const ann = "ann@customer.example"
	n := s.rlOpen(t, ann, "hdr1@customer.example", "Printer on fire")
	waiting := helpmail.StatusWaitingForCustomer
	if _, err := s.App.Desk.UpdateTicket(context.Background(), n, "alice@example.com", helpmail.Change{Status: &waiting}); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(5 * 24 * time.Hour)
	if _, err := s.App.Desk.RunJobs(context.Background(), s.clock.Now()); err != nil {
		t.Fatal(err)
	}
	alice := s.rlRowTo(t, "alice@example.com", "agent_new_ticket")
	note, _ := mailbox.Parse(alice.Raw)
	token := note.ReplyTo[0].Addr
	s.mustSend(t, "alice@example.com", []string{token}, msg("From: Alice Agent <alice@example.com>", "To: "+token,
		"Subject: Re: "+note.Subject, "Message-ID: <hdr2@example.com>", "In-Reply-To: "+note.MessageID,
		"body:We are sending a technician.\r\n"))
	s.waitOutbox(t, ann)

	tests := []struct {
		rcpt, template string
		autoSubmitted  string
		suppress       string
	}{
		{ann, "ticket_opened", "auto-replied", "All"},
		{ann, "status_changed", "auto-generated", "All"},
		{ann, "waiting_reminder", "auto-generated", "All"},
		{ann, "agent_reply", "", ""},
		{"alice@example.com", "agent_new_ticket", "auto-generated", "All"},
		{"bob@example.com", "agent_copy", "auto-generated", "All"},
	}
	for _, tt := range tests {
		m, _ := mailbox.Parse(s.rlRowTo(t, tt.rcpt, tt.template).Raw)
		if got := header(m, "Auto-Submitted"); got != tt.autoSubmitted {
			t.Errorf("%s: Auto-Submitted = %q, want %q", tt.template, got, tt.autoSubmitted)
		}
		if got := header(m, "X-Auto-Response-Suppress"); got != tt.suppress {
			t.Errorf("%s: X-Auto-Response-Suppress = %q, want %q", tt.template, got, tt.suppress)
		}
	}
}

// lpResponder is an autoresponder behind the relay: it answers every
// message the relay accepts for one of its addresses by sending a reply
// back into helpmail's SMTP server, as the recipient. It stops by itself
// after lpMaxReplies, so a loop that helpmail fails to break still ends
// (and the test fails).
type lpResponder struct {
	mode  lpMode
	addrs map[string]bool // the mailboxes that answer; nil = every one

	mu       sync.Mutex
	smtpAddr string // helpmail's SMTP server
	replies  int
	inflight int
	stopped  bool
	errs     []error
	wg       sync.WaitGroup
}

// stop makes the responder answer nothing more and waits for the replies
// being sent.
func (r *lpResponder) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.wg.Wait()
}

// lpMode is how an autoresponder answers.
type lpMode struct {
	autoSubmitted bool // Auto-Submitted: auto-replied and MAIL FROM:<>
	returnPath    bool // to the envelope sender (RFC 3834, Sieve vacation), else to Reply-To
	fresh         bool // to From, with a new subject and no references (a ticket system acknowledging)
}

const lpMaxReplies = 60

// accepted is the relay's Accepted hook.
func (r *lpResponder) accepted(m rlMsg) {
	rcpt := strings.ToLower(m.To[0])
	r.mu.Lock()
	if r.stopped || (r.addrs != nil && !r.addrs[rcpt]) || r.replies >= lpMaxReplies {
		r.mu.Unlock()
		return
	}
	r.replies++
	r.inflight++
	n, addr := r.replies, r.smtpAddr
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		err := r.answer(addr, n, rcpt, m)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.inflight--
		if err != nil {
			r.errs = append(r.errs, err)
		}
	}()
}

// answer sends the n-th reply, from rcpt to the message m.
func (r *lpResponder) answer(smtpAddr string, n int, rcpt string, m rlMsg) error {
	to := m.From
	switch {
	case r.mode.fresh:
		to = m.Parsed.From[0].Addr
	case !r.mode.returnPath && len(m.Parsed.ReplyTo) > 0:
		to = m.Parsed.ReplyTo[0].Addr
	}
	h := []string{"From: " + rcpt, "To: " + to, fmt.Sprintf("Message-ID: <auto%d.%s>", n, rcpt)}
	switch {
	case r.mode.fresh:
		h = append(h, fmt.Sprintf("Subject: Your message was received (our reference %d)", n))
	case r.mode.autoSubmitted:
		h = append(h, "Subject: Auto: "+m.Subject, "In-Reply-To: "+m.Parsed.MessageID, "References: "+m.Parsed.MessageID)
	default:
		h = append(h, "Subject: Re: "+m.Subject, "In-Reply-To: "+m.Parsed.MessageID, "References: "+m.Parsed.MessageID)
	}
	envFrom := rcpt
	if r.mode.autoSubmitted {
		h = append(h, "Auto-Submitted: auto-replied")
		envFrom = ""
	}
	h = append(h, "body:Thank you for your message. I am out of the office until next week and will read it then.\r\n")
	return smtp.SendMail(smtpAddr, nil, envFrom, []string{to}, []byte(msg(h...)))
}

// quiet reports whether the exchange has ended: no reply is being sent
// and no outbox row waits, and no reply started while looking.
func (r *lpResponder) quiet(tb testing.TB, s *testServer) bool {
	r.mu.Lock()
	started, busy := r.replies, r.inflight
	r.mu.Unlock()
	if busy > 0 || !s.rlDrained(tb) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.replies == started && r.inflight == 0
}

// TestAutorespondersDoNotPingPong: a customer's (and the agents')
// autoresponders answer every message helpmail sends them; the exchange
// stops by itself, with at most auto_reply_limit automatic messages to
// the customer, and nothing is bounced or suppressed by it.
func TestAutorespondersDoNotPingPong(t *testing.T) {
	const ann, limit = "ann@customer.example", 3
	everyone := map[string]bool(nil)
	customer := map[string]bool{ann: true}
	tests := []struct {
		name     string
		mode     lpMode
		addrs    map[string]bool
		wantAcks int // automatic messages to ann
	}{
		{"auto-submitted replies to Reply-To", lpMode{autoSubmitted: true}, everyone, 1},
		{"auto-submitted replies to the return path", lpMode{autoSubmitted: true, returnPath: true}, everyone, 1},
		{"naive customer replies to Reply-To", lpMode{}, customer, 1},
		{"naive customer replies to the return path", lpMode{returnPath: true}, customer, 1},
		{"naive replies to Reply-To on both sides", lpMode{}, everyone, 1},
		{"naive replies to the return path on both sides", lpMode{returnPath: true}, everyone, 1},
		{"ticket system opening a ticket per message", lpMode{fresh: true}, customer, limit},
		// Agents' autoresponders open a new ticket per notification too:
		// the agent who writes is never notified of their own message, and
		// acknowledgements to each address are rate-limited.
		{"ticket systems opening a ticket per message on both sides", lpMode{fresh: true}, everyone, limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bot := &lpResponder{mode: tt.mode, addrs: tt.addrs}
			relay := rlStartPeer(t, "127.0.0.1:0", rlOptions{Accepted: bot.accepted})
			s := MustStartServer(t, rlChain(rlUse(relay), func(c *Config) {
				c.Loop.AutoReplyLimit, c.Loop.AutoReplyWindow = limit, Duration(time.Hour)
			}))
			t.Cleanup(bot.stop)
			bot.mu.Lock()
			bot.smtpAddr = s.addr
			bot.mu.Unlock()

			s.rlOpen(t, ann, "start@customer.example", "Printer on fire")
			rlWait(t, "the exchange to end", nil, func() bool { return bot.quiet(t, s) })

			bot.mu.Lock()
			replies, errs := bot.replies, bot.errs
			bot.mu.Unlock()
			if replies >= lpMaxReplies {
				t.Fatalf("the autoresponders sent %d replies: helpmail did not break the loop", replies)
			}
			for _, err := range errs {
				t.Errorf("autoresponder: %v", err)
			}
			acks := 0
			for _, o := range s.rlRows(t, helpmail.OutboxFilter{}) {
				if o.Rcpt == ann && o.Automatic {
					acks++
				}
				if o.Status != helpmail.OutboxSent {
					t.Errorf("row %d (%s to %s) = %s, want sent", o.ID, o.Template, o.Rcpt, o.Status)
				}
			}
			if acks != tt.wantAcks {
				t.Errorf("automatic messages to %s = %d, want %d", ann, acks, tt.wantAcks)
			}
			if why := s.rlSuppressed(t, ann); why != "" {
				t.Errorf("%s suppressed by an autoresponder: %s", ann, why)
			}
			t.Logf("%d autoresponses, %d outbox rows, %d tickets", replies, len(s.rlRows(t, helpmail.OutboxFilter{})), s.ticketCount(t))
		})
	}
}

// lpSubject renders the subject a template gives a ticket, to compare
// with what was sent.
func lpSubject(tb testing.TB, lang, template string, number int64, subject string) string {
	tb.Helper()
	set, err := templates.New("")
	if err != nil {
		tb.Fatal(err)
	}
	r, err := set.Render(lang, template, templates.Data{Helpdesk: "Example Support", Tag: "Support",
		Ticket: templates.Ticket{Number: number, Subject: subject}})
	if err != nil {
		tb.Fatalf("Render(%s, %s) = %v", lang, template, err)
	}
	return r.Subject
}

// TestNotificationLanguage: the acknowledgement is in the language of the
// message (Content-Language), else of the organization, else the
// default; the ticket keeps it, and later notices use it.
func TestNotificationLanguage(t *testing.T) {
	s := MustStartServer(t, func(c *Config) {
		c.Organizations = []OrganizationConfig{{Name: "Voorbeeld", Domains: []string{"voorbeeld.example"}, Language: "nl"}}
	})
	tests := []struct {
		from, contentLanguage, want string
	}{
		{"marie@client.example", "fr-BE", "fr"},
		{"jan@voorbeeld.example", "", "nl"},
		{"pierre@voorbeeld.example", "fr", "fr"}, // the message says more than the organization
		{"ann@customer.example", "", "en"},
	}
	for i, tt := range tests {
		var extra []string
		if tt.contentLanguage != "" {
			extra = append(extra, "Content-Language: "+tt.contentLanguage)
		}
		subject := fmt.Sprintf("Imprimante %d", i)
		n := s.rlOpen(t, tt.from, fmt.Sprintf("lang%d@example.org", i), subject, extra...)
		if got := s.ticket(t, n).Language; got != tt.want {
			t.Errorf("%s (Content-Language %q): ticket language %q, want %q", tt.from, tt.contentLanguage, got, tt.want)
		}
		resolved := helpmail.StatusResolved
		if _, err := s.App.Desk.UpdateTicket(context.Background(), n, "alice@example.com", helpmail.Change{Status: &resolved}); err != nil {
			t.Fatal(err)
		}
		s.waitOutbox(t, tt.from)
		for _, tmpl := range []string{"ticket_opened", "status_changed"} {
			m, _ := mailbox.Parse(s.rlRowTo(t, tt.from, tmpl).Raw)
			if want := lpSubject(t, tt.want, tmpl, n, subject); m.Subject != want || header(m, "Content-Language") != tt.want {
				t.Errorf("%s to %s: subject %q, Content-Language %q; want %q, %q", tmpl, tt.from, m.Subject, header(m, "Content-Language"), want, tt.want)
			}
		}
	}
}

// TestNotificationRecipients: a status notice goes to the requester and
// the collaborators she CC'd; with visibility "organization" the
// organization's admins also get the acknowledgement; agents never get
// customer notices.
func TestNotificationRecipients(t *testing.T) {
	for _, visibility := range []string{"private", "organization"} {
		t.Run(visibility, func(t *testing.T) {
			s := MustStartServer(t, func(c *Config) {
				c.Helpdesk.Visibility = visibility
				c.Organizations = []OrganizationConfig{{Name: "Customer", Domains: []string{"customer.example"},
					Admins: []string{"boss@customer.example"}}}
			})
			const ann, cc, boss = "ann@customer.example", "colleague@customer.example", "boss@customer.example"
			n := s.rlOpen(t, ann, "rcpt1@customer.example", "Printer on fire", "Cc: Col League <"+cc+">")
			resolved := helpmail.StatusResolved
			if _, err := s.App.Desk.UpdateTicket(context.Background(), n, "alice@example.com", helpmail.Change{Status: &resolved}); err != nil {
				t.Fatal(err)
			}
			s.waitOutbox(t, ann)
			got := map[string][]string{}
			for _, o := range s.rlRows(t, helpmail.OutboxFilter{Ticket: n}) {
				got[o.Template] = append(got[o.Template], o.Rcpt)
			}
			wantAck, wantStatus := []string{ann}, []string{ann, cc}
			if visibility == "organization" {
				wantAck, wantStatus = []string{ann, boss}, []string{ann, cc, boss}
			}
			if !lpSameSet(got["ticket_opened"], wantAck) {
				t.Errorf("acknowledgement to %v, want %v", got["ticket_opened"], wantAck)
			}
			if !lpSameSet(got["status_changed"], wantStatus) {
				t.Errorf("status notice to %v, want %v", got["status_changed"], wantStatus)
			}
			for _, m := range append(s.waitOutbox(t, cc), s.waitOutbox(t, ann)...) {
				if n, ok := s.App.Signer.TicketFromMessageID(m.MessageID); !ok || n != 1 {
					t.Errorf("mail %q does not carry ticket 1 in its Message-ID", m.Subject)
				}
			}
		})
	}
}

// lpSameSet reports whether a and b hold the same addresses.
func lpSameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		if seen[x] == 0 {
			return false
		}
		seen[x]--
	}
	return true
}
