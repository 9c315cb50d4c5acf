package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/threading"
)

// This file proves SPEC §5 end to end: agents answer from their ordinary
// mail client (Gmail, Outlook, Apple Mail, HTML-only webmail), email
// commands, agent authentication, the customer's #close, an agent's
// out-of-office and the requests overview; all over real SMTP on loopback.

const (
	agAlice = "alice@example.com"
	agBob   = "bob@example.com"
)

// agServer is a testServer whose log can be read.
type agServer struct {
	*testServer
	// eml caches the delivered .eml files by name (a file never changes
	// once it has its name); only the test goroutine uses it.
	eml map[string]agSent
}

// agStartServer starts helpmail with MustStartServer, with a cache of the
// delivered .eml files.
func agStartServer(tb testing.TB, mutate func(*Config)) *agServer {
	tb.Helper()
	return &agServer{testServer: MustStartServer(tb, mutate), eml: map[string]agSent{}}
}

// agSent is one delivered message: its outbox template, the bytes of the
// .eml file it was delivered as, and its parsed form.
type agSent struct {
	Template string
	Raw      []byte
	Msg      *mailbox.Message
}

// sentTo waits until the outbox is drained and returns every message
// delivered to rcpt, oldest first. Each outbox row must have been
// delivered as an .eml file.
func (s *agServer) sentTo(tb testing.TB, rcpt string) []agSent {
	tb.Helper()
	s.waitOutbox(tb, rcpt)
	names, err := filepath.Glob(filepath.Join(s.dir, "outbox", "*.eml"))
	if err != nil {
		tb.Fatal(err)
	}
	files := map[string]agSent{}
	for _, n := range names {
		f, ok := s.eml[n]
		if !ok {
			raw, err := os.ReadFile(n)
			if err != nil {
				tb.Fatal(err)
			}
			f.Raw = raw
			f.Msg, _ = mailbox.Parse(raw)
			s.eml[n] = f
		}
		files[threading.CanonicalMessageID(f.Msg.MessageID)] = f
	}
	var rows []*helpmail.OutboxItem
	err = s.App.DB.View(context.Background(), func(tx helpmail.Tx) (err error) {
		rows, err = tx.FindOutboxes(context.Background(), helpmail.OutboxFilter{})
		return err
	})
	if err != nil {
		tb.Fatalf("FindOutboxes() = %v", err)
	}
	slices.SortFunc(rows, func(a, b *helpmail.OutboxItem) int { return int(a.ID - b.ID) })
	var out []agSent
	for _, r := range rows {
		if !strings.EqualFold(r.Rcpt, rcpt) {
			continue
		}
		f, ok := files[r.MessageID]
		if !ok {
			tb.Fatalf("outbox row %d (%s to %s, %s) has no delivered .eml file", r.ID, r.Template, r.Rcpt, r.Status)
		}
		f.Template = r.Template
		out = append(out, f)
	}
	return out
}

// agTemplates lists the templates of sent.
func agTemplates(sent []agSent) []string {
	out := []string{}
	for _, m := range sent {
		out = append(out, m.Template)
	}
	return out
}

// agOnly returns the single message of sent with template tmpl, failing
// when there is not exactly one.
func agOnly(tb testing.TB, sent []agSent, tmpl string) agSent {
	tb.Helper()
	var found []agSent
	for _, m := range sent {
		if m.Template == tmpl {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		tb.Fatalf("%s messages = %d (all: %v), want 1", tmpl, len(found), agTemplates(sent))
	}
	return found[0]
}

// history returns the history of ticket n.
func (s *agServer) history(tb testing.TB, n int64) []helpmail.HistoryEntry {
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

// participants returns the addresses of the participants of ticket n.
func (s *agServer) participants(tb testing.TB, n int64) []string {
	tb.Helper()
	var ps []helpmail.Participant
	err := s.App.DB.View(context.Background(), func(tx helpmail.Tx) (err error) {
		ps, err = tx.Participants(context.Background(), n)
		return err
	})
	if err != nil {
		tb.Fatalf("Participants(%d) = %v", n, err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.Address)
	}
	slices.Sort(out)
	return out
}

// agHistoryLine renders a history entry for comparison: "field old→new",
// without the time a first_response entry carries.
func agHistoryLine(h helpmail.HistoryEntry) string {
	if h.Field == "first_response" {
		return "first_response by " + h.Actor
	}
	return fmt.Sprintf("%s %s→%s by %s", h.Field, h.Old, h.New, h.Actor)
}

// open sends a customer's first message and returns the ticket it opened.
func (s *agServer) open(tb testing.TB, from mailbox.Address, messageID, subject, body string, extra ...string) int64 {
	tb.Helper()
	headers := append([]string{"From: " + from.String(), "To: Example Support <support@example.com>",
		"Subject: " + subject, "Message-ID: <" + messageID + ">"}, extra...)
	headers = append(headers, "body:"+agCRLF(body))
	s.mustSend(tb, from.Addr, []string{"support@example.com"}, msg(headers...))
	d := s.decision(tb, messageID)
	if d.Ticket == 0 || d.Decision.Rule != string(threading.RuleNew) {
		tb.Fatalf("first message %s → ticket %d by %q, want a new ticket", messageID, d.Ticket, d.Decision.Rule)
	}
	return d.Ticket
}

// agCRLF turns LF line endings into CRLF.
func agCRLF(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// agLF turns CRLF line endings into LF.
func agLF(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

// agFile is an attachment of a reply.
type agFile struct {
	Name, Type string
	Data       []byte
}

// agReply is what an agent's (or anyone's) mail client answers to a
// message: the client's layout is chosen by the builder it is given to.
type agReply struct {
	From      mailbox.Address
	To        string           // the address answered (the Reply-To of Notif)
	Notif     *mailbox.Message // the message answered
	Text      string           // the new text, LF line endings
	MessageID string           // without angle brackets
	Files     []agFile
	Headers   []string // extra header fields
}

// agClient builds the raw message a mail client sends for r.
type agClient func(r agReply) string

// The date every client writes in its quote header.
const agQuoteDate = "Mon, 2 Mar 2026 at 10:00"

// agQP encodes s (LF lines) quoted-printable with CRLF lines, as clients do.
func agQP(s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(agCRLF(s)))
	w.Close()
	return b.String()
}

// agQuote quotes every line of s with "> " (">" for an empty line).
func agQuote(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(agLF(s), "\n"), "\n") {
		if l == "" {
			b.WriteString(">\n")
		} else {
			b.WriteString("> " + l + "\n")
		}
	}
	return b.String()
}

// agDivs renders text the way Gmail's and Outlook's editors do: one <div>
// per line, <div><br></div> for an empty line.
func agDivs(text, attr string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if l == "" {
			b.WriteString("<div" + attr + "><br></div>")
		} else {
			b.WriteString("<div" + attr + ">" + html.EscapeString(l) + "</div>")
		}
	}
	return b.String()
}

// agMIME assembles headers, a body part (its own header fields and body)
// and attachments into one message: multipart/mixed when there are files.
func agMIME(headers []string, bodyFields, body string, files []agFile, boundary string) string {
	var b strings.Builder
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\n")
	if len(files) == 0 {
		b.WriteString(bodyFields + "\r\n" + body)
		return b.String()
	}
	b.WriteString("Content-Type: multipart/mixed; boundary=\"" + boundary + "mixed\"\r\n\r\n")
	b.WriteString("--" + boundary + "mixed\r\n" + bodyFields + "\r\n" + body + "\r\n")
	for _, f := range files {
		b.WriteString("--" + boundary + "mixed\r\n")
		b.WriteString("Content-Type: " + f.Type + "; name=\"" + f.Name + "\"\r\n")
		b.WriteString("Content-Disposition: attachment; filename=\"" + f.Name + "\"\r\n")
		b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
		enc := base64.StdEncoding.EncodeToString(f.Data)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--" + boundary + "mixed--\r\n")
	return b.String()
}

// agAlternative renders a multipart/alternative body of a text and an HTML
// part, both quoted-printable.
func agAlternative(boundary, text, htmlBody string) (fields, body string) {
	fields = "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n"
	body = "--" + boundary + "\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		agQP(text) + "\r\n--" + boundary + "\r\nContent-Type: text/html; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		agQP(htmlBody) + "\r\n--" + boundary + "--\r\n"
	return fields, body
}

// agReferences is what a client that keeps References writes: the answered
// message's References and its Message-ID.
func agReferences(m *mailbox.Message) string {
	return strings.TrimSpace(m.References + " " + m.MessageID)
}

// agGmailHeaders are the header fields Gmail writes for a reply.
func agGmailHeaders(r agReply) []string {
	return append([]string{
		"Date: Mon, 2 Mar 2026 10:30:00 +0000",
		"Message-ID: <" + r.MessageID + ">",
		"References: " + agReferences(r.Notif),
		"In-Reply-To: " + r.Notif.MessageID,
		"Subject: Re: " + r.Notif.Subject,
		"From: " + r.From.String(),
		"To: Example Support <" + r.To + ">",
	}, r.Headers...)
}

// agGmailQuoteHTML is Gmail's HTML quote of the answered message.
func agGmailQuoteHTML(r agReply) string {
	return `<div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">On ` + agQuoteDate +
		`, Example Support &lt;<a href="mailto:` + r.To + `">` + r.To + `</a>&gt; wrote:<br></div>` +
		`<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">` +
		r.Notif.HTML + `</blockquote></div>`
}

// agGmail answers like Gmail: multipart/alternative, the new text, "On
// <date>, <name> <addr> wrote:" and a "> " quote; the HTML quote in a
// <div class="gmail_quote">.
func agGmail(r agReply) string {
	text := r.Text + "\n\nOn " + agQuoteDate + ", Example Support <" + r.To + "> wrote:\n\n" + agQuote(r.Notif.Text)
	htmlBody := `<div dir="ltr">` + agDivs(r.Text, "") + `</div><br>` + agGmailQuoteHTML(r)
	fields, body := agAlternative("000000000000a1b2c3d4e5f60708", text, htmlBody)
	return agMIME(agGmailHeaders(r), fields, body, r.Files, "000000000000f0e1d2c3b4a59687")
}

// agGmailHTMLOnly is the Gmail layout sent as text/html alone, as some
// webmails and mobile clients do.
func agGmailHTMLOnly(r agReply) string {
	htmlBody := `<div dir="ltr">` + agDivs(r.Text, "") + `</div><br>` + agGmailQuoteHTML(r)
	return agMIME(agGmailHeaders(r), "Content-Type: text/html; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n",
		agQP(htmlBody), r.Files, "000000000000f0e1d2c3b4a59687")
}

// agOutlookHeaders are the header fields Outlook writes: Thread-Topic and
// Thread-Index, In-Reply-To, and no References.
func agOutlookHeaders(r agReply) []string {
	return append([]string{
		"From: " + r.From.String(),
		"To: Example Support <" + r.To + ">",
		"Subject: RE: " + r.Notif.Subject,
		"Thread-Topic: " + r.Notif.Subject,
		"Thread-Index: AQHcqz3Vb5nUvJ0xR0uTXcYp8E1r5A==",
		"Date: Mon, 2 Mar 2026 10:30:00 +0000",
		"Message-ID: <" + r.MessageID + ">",
		"In-Reply-To: " + r.Notif.MessageID,
		"Accept-Language: en-US",
		"Content-Language: en-US",
		"X-MS-Has-Attach: " + map[bool]string{true: "yes", false: ""}[len(r.Files) > 0],
		"X-MS-TNEF-Correlator:",
		"x-ms-exchange-messagesentrepresentingtype: 1",
	}, r.Headers...)
}

// agOutlookQuoteHTML is Outlook's HTML header block and the answered message.
func agOutlookQuoteHTML(r agReply) string {
	return `<div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1">` +
		`<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" color="#000000">` +
		`<b>From:</b> Example Support &lt;` + r.To + `&gt;<br><b>Sent:</b> Monday, March 2, 2026 10:00 AM<br>` +
		`<b>To:</b> ` + html.EscapeString(r.From.String()) + `<br><b>Subject:</b> ` + html.EscapeString(r.Notif.Subject) +
		`</font><div>&nbsp;</div></div>` + r.Notif.HTML
}

// agOutlook answers like Outlook: top-posted text, the "____" rule and a
// From/Sent/To/Subject block above the unquoted original; HTML with
// <div id="divRplyFwdMsg">.
func agOutlook(r agReply) string {
	text := r.Text + "\n\n________________________________\nFrom: Example Support <" + r.To + ">\nSent: Monday, March 2, 2026 10:00 AM\n" +
		"To: " + r.From.String() + "\nSubject: " + r.Notif.Subject + "\n\n" + agLF(r.Notif.Text)
	htmlBody := `<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">` +
		`<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style></head><body dir="ltr">` +
		agDivs(r.Text, ` class="elementToProof" style="font-family: Aptos, Calibri, Helvetica, sans-serif; font-size: 12pt;"`) +
		agOutlookQuoteHTML(r) + `</body></html>`
	fields, body := agAlternative("_000_AM0PR01MB61234567ABCDEFGHIJKLM_", text, htmlBody)
	return agMIME(agOutlookHeaders(r), fields, body, r.Files, "_004_AM0PR01MB61234567ABCDEFGHIJKLM_")
}

// agOutlookHTMLOnly is the Outlook layout sent as text/html alone.
func agOutlookHTMLOnly(r agReply) string {
	htmlBody := `<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body dir="ltr">` +
		agDivs(r.Text, ` class="elementToProof"`) + agOutlookQuoteHTML(r) + `</body></html>`
	return agMIME(agOutlookHeaders(r), "Content-Type: text/html; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n",
		agQP(htmlBody), r.Files, "_004_AM0PR01MB61234567ABCDEFGHIJKLM_")
}

// agAppleMailFR answers like a French Apple Mail: "> Le <date> à <time>,
// <name> <addr> a écrit :" inside the "> " quote, the HTML quote in a
// <blockquote type="cite">.
func agAppleMailFR(r agReply) string {
	attribution := "Le 2 mars 2026 à 10:00, Example Support <" + r.To + "> a écrit :"
	text := r.Text + "\n\n" + agQuote(attribution+"\n\n"+r.Notif.Text)
	htmlBody := `<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head>` +
		`<body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;">` + agDivs(r.Text, "") +
		`<div><br><blockquote type="cite"><div>` + html.EscapeString(attribution) + `</div><br class="Apple-interchange-newline"><div>` +
		r.Notif.HTML + `</div></blockquote></div><br></body></html>`
	headers := append([]string{
		"Content-Type: multipart/alternative; boundary=\"Apple-Mail=_5B7E1C2D-8F3A-4E6B-9C0D-1A2B3C4D5E6F\"",
		"Subject: Re: " + r.Notif.Subject,
		"From: " + r.From.String(),
		"In-Reply-To: " + r.Notif.MessageID,
		"Date: Mon, 2 Mar 2026 11:30:00 +0100",
		"Message-Id: <" + r.MessageID + ">",
		"References: " + agReferences(r.Notif),
		"To: Example Support <" + r.To + ">",
		"X-Mailer: Apple Mail (2.3826.400.131.1.6)",
	}, r.Headers...)
	b := "Apple-Mail=_5B7E1C2D-8F3A-4E6B-9C0D-1A2B3C4D5E6F"
	var raw strings.Builder
	for _, h := range headers {
		raw.WriteString(h + "\r\n")
	}
	raw.WriteString("Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3826.400.131.1.6\\))\r\n\r\n")
	raw.WriteString("\r\n--" + b + "\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/plain;\r\n\tcharset=utf-8\r\n\r\n" + agQP(text))
	raw.WriteString("\r\n--" + b + "\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/html;\r\n\tcharset=utf-8\r\n\r\n" + agQP(htmlBody))
	raw.WriteString("\r\n--" + b + "--\r\n")
	return raw.String()
}

// agNotified checks what an agent's notification about a new customer
// message shows and returns it: the customer's text quoted, the ticket's
// state, and a Reply-To that is that agent's own token for the ticket.
func (s *agServer) agNotified(tb testing.TB, agent string, ticket int64, tmpl, quoted, status string) agSent {
	tb.Helper()
	var found []agSent
	for _, m := range s.sentTo(tb, agent) {
		if m.Template == tmpl && header(m.Msg, "X-Helpmail-Ticket") == fmt.Sprint(ticket) {
			found = append(found, m)
		}
	}
	if len(found) == 0 {
		tb.Fatalf("%s got no %s about #%d", agent, tmpl, ticket)
	}
	n := found[len(found)-1]
	text := agLF(n.Msg.Text)
	for _, l := range strings.Split(quoted, "\n") {
		if l != "" && !strings.Contains(text, "> "+l+"\n") {
			tb.Errorf("%s to %s: text does not quote %q:\n%s", tmpl, agent, "> "+l, text)
		}
	}
	if !regexp.MustCompile(`(?m)^Status:\s+` + regexp.QuoteMeta(status) + `$`).MatchString(text) {
		tb.Errorf("%s to %s: text does not show Status: %s:\n%s", tmpl, agent, status, text)
	}
	if len(n.Msg.ReplyTo) != 1 {
		tb.Fatalf("%s to %s: Reply-To = %v, want one token address", tmpl, agent, n.Msg.ReplyTo)
	}
	local, domain, _ := strings.Cut(n.Msg.ReplyTo[0].Addr, "@")
	base, tok, _ := strings.Cut(local, "+")
	rt, ok := s.App.Signer.ParseReplyToken(tok)
	if base != "support" || domain != "example.com" || !ok || rt.Ticket != ticket || rt.AgentKey != s.App.Signer.AgentKey(agent) {
		tb.Errorf("%s to %s: Reply-To = %s (token %+v, %v), want support+<token of %s on #%d>@example.com",
			tmpl, agent, n.Msg.ReplyTo[0].Addr, rt, ok, agent, ticket)
	}
	return n
}

// TestAgentAnswersFromMailClient is the round trip of SPEC §5 for each mail
// client layout: customer opens, every agent is notified, one agent answers
// from their client to their own token address, the customer gets only the
// new text from the support address, and the customer's answer notifies
// the agents again.
func TestAgentAnswersFromMailClient(t *testing.T) {
	pdf := agFile{"report.pdf", "application/pdf", []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")}
	exe := agFile{"setup.exe", "application/x-msdownload", []byte("MZ\x90\x00\x03\x00\x00\x00 not really a program")}
	tests := []struct {
		name   string
		client agClient
		text   string
		files  []agFile
	}{
		{"gmail", agGmail, "Hi Ann,\n\nI replaced the fuser unit remotely; please print a test page.\n\nAlice", []agFile{pdf}},
		{"outlook", agOutlook, "Hi Ann,\n\nThe fuser unit is replaced. The report is attached.\n\nBest regards,\nAlice", []agFile{pdf, exe}},
		{"apple mail fr", agAppleMailFR, "Bonjour Ann,\n\nC’est réparé : le module de fusion a été remplacé.\n\nAlice", nil},
		{"html-only gmail", agGmailHTMLOnly, "Hi Ann,\n\nFixed, please try again.\n\nAlice", nil},
		{"html-only outlook", agOutlookHTMLOnly, "Hi Ann,\n\nFixed on our side & tested.\n\nAlice", []agFile{pdf}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := agStartServer(t, nil)
			ann := mailbox.Address{Name: "Ann Customer", Addr: "ann@customer.example"}
			customerText := "Hello,\n\nThe printer on floor 3 is on fire again.\n\nAnn"
			n := s.open(t, ann, "open@customer.example", "Printer on fire", customerText)

			// Every agent is notified, each with their own token.
			var notif [2]agSent
			for i, a := range []string{agAlice, agBob} {
				notif[i] = s.agNotified(t, a, n, "agent_new_ticket", customerText, "Waiting for support")
			}
			if notif[0].Msg.ReplyTo[0].Addr == notif[1].Msg.ReplyTo[0].Addr {
				t.Errorf("both agents got Reply-To %s, want one token per agent", notif[0].Msg.ReplyTo[0].Addr)
			}
			aliceToken := notif[0].Msg.ReplyTo[0].Addr
			before := len(s.sentTo(t, ann.Addr))

			// Alice answers from her client.
			s.clock.Advance(30 * time.Minute)
			answeredAt := s.clock.Now()
			raw := tt.client(agReply{From: mailbox.Address{Name: "Alice Agent", Addr: agAlice}, To: aliceToken,
				Notif: notif[0].Msg, Text: tt.text, MessageID: "reply-" + strings.ReplaceAll(tt.name, " ", "-") + "@mail.example.com", Files: tt.files})
			s.mustSend(t, agAlice, []string{aliceToken}, raw)

			in := s.decision(t, "reply-"+strings.ReplaceAll(tt.name, " ", "-")+"@mail.example.com")
			if in.Ticket != n || in.Kind != helpmail.KindAgentReply || in.Decision.Rule != string(threading.RuleToken) {
				t.Fatalf("agent reply stored on #%d as %s by %q, want #%d agent_reply by token (decision %+v)",
					in.Ticket, in.Kind, in.Decision.Rule, n, in.Decision)
			}
			sent := s.sentTo(t, ann.Addr)[before:]
			if got := agTemplates(sent); !slices.Equal(got, []string{"agent_reply"}) {
				t.Fatalf("mail to the customer after the agent's reply = %v, want [agent_reply]", got)
			}
			reply := sent[0]
			if f := reply.Msg.From; len(f) != 1 || f[0].Name != "Alice Agent (Example Support)" || f[0].Addr != "support@example.com" {
				t.Errorf("relayed From = %v, want \"Alice Agent (Example Support)\" <support@example.com>", f)
			}
			if got := threading.CanonicalMessageID(reply.Msg.InReplyTo); got != "open@customer.example" {
				t.Errorf("relayed In-Reply-To = %q, want <open@customer.example>", reply.Msg.InReplyTo)
			}
			if !strings.Contains(reply.Msg.References, "<open@customer.example>") {
				t.Errorf("relayed References = %q, want it to hold <open@customer.example>", reply.Msg.References)
			}
			if tag := fmt.Sprintf("[Support #%d]", n); !strings.Contains(reply.Msg.Subject, tag) {
				t.Errorf("relayed Subject = %q, want the tag %s", reply.Msg.Subject, tag)
			}
			if got := agLF(reply.Msg.Text); !strings.Contains(got, tt.text+"\n") {
				t.Errorf("relayed text = %q, want it to hold the agent's text %q", got, tt.text)
			}
			for _, part := range []string{agLF(reply.Msg.Text), reply.Msg.HTML} {
				for _, quoted := range []string{"on fire again", "Reply above this line", "wrote:", "a écrit", "New ticket", "Email commands"} {
					if strings.Contains(part, quoted) {
						t.Errorf("relayed message holds quoted text %q:\n%s", quoted, part)
					}
				}
			}
			for _, secret := range []string{agAlice, aliceToken, "Alice Agent <"} {
				if bytes.Contains(bytes.ToLower(reply.Raw), bytes.ToLower([]byte(secret))) {
					t.Errorf("relayed bytes hold the agent's %q:\n%s", secret, reply.Raw)
				}
			}
			var wantFiles, gotFiles []string
			for _, f := range tt.files {
				if !strings.HasSuffix(f.Name, ".exe") {
					wantFiles = append(wantFiles, f.Name+":"+string(f.Data))
				}
			}
			for _, a := range reply.Msg.Attachments {
				gotFiles = append(gotFiles, a.Filename+":"+string(a.Data))
			}
			if !slices.Equal(gotFiles, wantFiles) {
				t.Errorf("relayed attachments = %q, want %q", gotFiles, wantFiles)
			}

			tk := s.ticket(t, n)
			if tk.Status != helpmail.StatusWaitingForCustomer || !tk.FirstResponseAt.Equal(answeredAt) {
				t.Errorf("ticket after the reply: status %s, first response %v; want waiting_for_customer, %v",
					tk.Status, tk.FirstResponseAt, answeredAt)
			}
			// The other agent sees what was said; Alice hears about refused files.
			copyToBob := agOnly(t, s.sentTo(t, agBob), "agent_copy")
			if !strings.Contains(copyToBob.Msg.Subject, "Reply by Alice Agent") {
				t.Errorf("copy to Bob subject = %q, want a reply by Alice Agent", copyToBob.Msg.Subject)
			}
			toAlice := s.sentTo(t, agAlice)
			if slices.ContainsFunc(tt.files, func(f agFile) bool { return strings.HasSuffix(f.Name, ".exe") }) {
				refused := agOnly(t, toAlice, "refused_attachment")
				if !strings.Contains(refused.Msg.Text, "setup.exe") {
					t.Errorf("refused_attachment to Alice does not name setup.exe:\n%s", refused.Msg.Text)
				}
			} else if slices.Contains(agTemplates(toAlice), "refused_attachment") {
				t.Errorf("Alice got refused_attachment for allowed files: %v", agTemplates(toAlice))
			}

			// The customer answers the relayed reply: the agents hear of it.
			s.clock.Advance(time.Hour)
			s.mustSend(t, ann.Addr, []string{"support@example.com"}, msg("From: "+ann.String(), "To: Example Support <support@example.com>",
				"Subject: Re: "+reply.Msg.Subject, "Message-ID: <answer@customer.example>", "In-Reply-To: "+reply.Msg.MessageID,
				"References: "+agReferences(reply.Msg),
				"body:"+agCRLF("It prints again, but the paper tray is jammed now.\n\nOn Mon, 2 Mar 2026 at 10:30, Alice Agent (Example Support) <support@example.com> wrote:\n"+agQuote(reply.Msg.Text))))
			if tk := s.ticket(t, n); tk.Status != helpmail.StatusWaitingForSupport {
				t.Errorf("status after the customer's answer = %s, want waiting_for_support", tk.Status)
			}
			for _, a := range []string{agAlice, agBob} {
				m := s.agNotified(t, a, n, "agent_customer_reply", "It prints again, but the paper tray is jammed now.", "Waiting for support")
				if strings.Contains(m.Msg.Text, "fuser") || strings.Contains(m.Msg.Text, "fusion") || strings.Contains(m.Msg.Text, "Fixed") {
					t.Errorf("agent_customer_reply to %s quotes the agent's own reply:\n%s", a, m.Msg.Text)
				}
			}
		})
	}
}

// agentAnswer sends agent's answer (written with client) to the latest
// notification they got about ticket n, to their own token address, and
// returns the stored inbound message.
func (s *agServer) agentAnswer(tb testing.TB, client agClient, agent string, n int64, messageID, text string, headers ...string) *helpmail.Message {
	tb.Helper()
	var last *mailbox.Message
	for _, m := range s.sentTo(tb, agent) {
		if header(m.Msg, "X-Helpmail-Ticket") == fmt.Sprint(n) && len(m.Msg.ReplyTo) == 1 {
			last = m.Msg
		}
	}
	if last == nil {
		tb.Fatalf("%s has no notification about #%d to answer", agent, n)
	}
	name := map[string]string{agAlice: "Alice Agent", agBob: "Bob Agent"}[agent]
	to := last.ReplyTo[0].Addr
	s.mustSend(tb, agent, []string{to}, client(agReply{From: mailbox.Address{Name: name, Addr: agent}, To: to, Notif: last,
		Text: text, MessageID: messageID, Headers: headers}))
	return s.decision(tb, messageID)
}

// TestAgentEmailCommands checks every email command of SPEC §5 sent from a
// mail client: what changes on the ticket (with history), what the
// customer receives, what the agents receive, and that command lines never
// reach the customer.
func TestAgentEmailCommands(t *testing.T) {
	s := agStartServer(t, nil)
	tests := []struct {
		name    string
		client  agClient
		text    string
		cc      string   // Cc of the customer's first message
		headers []string // extra header fields of the agent's answer
		// What the answer causes: the kind it is stored as, the history
		// entries it adds, and the templates sent to each address.
		kind     helpmail.Kind
		history  []string
		customer []string
		alice    []string
		bob      []string
		others   map[string][]string
		check    func(t *testing.T, tk *helpmail.Ticket, sent map[string][]agSent)
	}{
		{
			name: "status with text", client: agGmail, text: "#status resolved\n\nThe fix is deployed, please try again.",
			kind: helpmail.KindAgentReply, history: []string{"status waiting_for_support→resolved by " + agAlice, "first_response by " + agAlice},
			customer: []string{"agent_reply", "status_changed"}, bob: []string{"agent_copy"},
			check: func(t *testing.T, tk *helpmail.Ticket, sent map[string][]agSent) {
				if tk.Status != helpmail.StatusResolved || tk.ResolvedAt.IsZero() || tk.FirstResponseAt.IsZero() {
					t.Errorf("ticket = %s resolved %v first response %v, want resolved with both set", tk.Status, tk.ResolvedAt, tk.FirstResponseAt)
				}
				if got := agLF(sent["customer"][0].Msg.Text); !strings.HasPrefix(got, "The fix is deployed, please try again.\n") {
					t.Errorf("relayed text = %q, want the text without the command line", got)
				}
			},
		},
		{
			name: "status with text from outlook", client: agOutlook, text: "#status resolved\r\n\r\nFixed on our side.",
			kind: helpmail.KindAgentReply, history: []string{"status waiting_for_support→resolved by " + agAlice, "first_response by " + agAlice},
			customer: []string{"agent_reply", "status_changed"}, bob: []string{"agent_copy"},
		},
		{
			name: "priority", client: agGmail, text: "#priority high", kind: helpmail.KindCommand,
			history: []string{"priority medium→high by " + agAlice},
			check: func(t *testing.T, tk *helpmail.Ticket, _ map[string][]agSent) {
				if tk.Priority != helpmail.PriorityHigh || tk.Status != helpmail.StatusWaitingForSupport || !tk.FirstResponseAt.IsZero() {
					t.Errorf("ticket = %s %s first response %v, want high, waiting_for_support, no first response", tk.Priority, tk.Status, tk.FirstResponseAt)
				}
			},
		},
		{
			name: "commands and a signature only", client: agGmail, text: "#priority low\n\n-- \nAlice Agent\nExample Support, 2nd line\n\nSent from my iPhone",
			kind: helpmail.KindCommand, history: []string{"priority medium→low by " + agAlice},
		},
		{name: "type", client: agGmail, text: "#type bug", kind: helpmail.KindCommand, history: []string{"type question→bug by " + agAlice}},
		{name: "impact", client: agGmail, text: "#impact everyone", kind: helpmail.KindCommand, history: []string{"impact single_user→everyone by " + agAlice}},
		{
			name: "assign", client: agGmail, text: "#assign bob@example.com", kind: helpmail.KindCommand,
			history: []string{"assignee →bob@example.com by " + agAlice},
			check: func(t *testing.T, tk *helpmail.Ticket, _ map[string][]agSent) {
				if tk.Assignee != agBob {
					t.Errorf("assignee = %q, want %s", tk.Assignee, agBob)
				}
			},
		},
		{name: "take", client: agOutlook, text: "#take", kind: helpmail.KindCommand, history: []string{"assignee →alice@example.com by " + agAlice}},
		{
			name: "several commands, then text", client: agGmail, text: "#priority critical\n#type incident\n#impact end_users\n#take\n\nWe are on it.",
			kind: helpmail.KindAgentReply,
			history: []string{"priority medium→critical by " + agAlice, "type question→incident by " + agAlice, "impact single_user→end_users by " + agAlice,
				"assignee →alice@example.com by " + agAlice, "status waiting_for_support→waiting_for_customer by " + agAlice, "first_response by " + agAlice},
			customer: []string{"agent_reply"}, bob: []string{"agent_copy"},
		},
		{
			name: "status only", client: agGmail, text: "#status in_backlog", kind: helpmail.KindCommand,
			history: []string{"status waiting_for_support→in_backlog by " + agAlice}, customer: []string{"status_changed"},
		},
		{
			name: "note", client: agGmail, text: "#note\nCustomer is on the legacy plan; do not promise the upgrade.", kind: helpmail.KindNote,
			history: []string{"note → by " + agAlice}, bob: []string{"agent_copy"},
			check: func(t *testing.T, tk *helpmail.Ticket, sent map[string][]agSent) {
				c := sent[agBob][0].Msg
				if !strings.Contains(c.Subject, "Internal note by Alice Agent") || !strings.Contains(c.Text, "(not sent to the customer)") ||
					!strings.Contains(c.Text, "> Customer is on the legacy plan; do not promise the upgrade.") {
					t.Errorf("copy of the note to Bob: subject %q, text:\n%s\nwant it marked as an internal note, quoting it", c.Subject, c.Text)
				}
				if tk.Status != helpmail.StatusWaitingForSupport || !tk.FirstResponseAt.IsZero() {
					t.Errorf("ticket after a note = %s first response %v, want unchanged", tk.Status, tk.FirstResponseAt)
				}
				for _, m := range s.messages(t, tk.Number) {
					if m.Kind == helpmail.KindNote && m.Text != "Customer is on the legacy plan; do not promise the upgrade." {
						t.Errorf("stored note text = %q, want the note without #note", m.Text)
					}
				}
			},
		},
		{
			name: "cc add with text", client: agGmail, text: "#cc add Carol <carol@customer.example>\n\nCarol, you will get our answers too.",
			kind: helpmail.KindAgentReply, history: []string{"status waiting_for_support→waiting_for_customer by " + agAlice,
				"collaborator →carol@customer.example by " + agAlice, "first_response by " + agAlice},
			customer: []string{"agent_reply"}, bob: []string{"agent_copy"}, others: map[string][]string{"carol@customer.example": {"agent_reply"}},
		},
		{
			name: "reply with a Cc", client: agGmail, headers: []string{"Cc: Carol <carol@customer.example>, Bob Agent <bob@example.com>"},
			text: "Carol, I copied you as you asked.", kind: helpmail.KindAgentReply,
			history: []string{"status waiting_for_support→waiting_for_customer by " + agAlice,
				"collaborator →carol@customer.example by " + agAlice, "first_response by " + agAlice},
			customer: []string{"agent_reply"}, bob: []string{"agent_copy"}, others: map[string][]string{"carol@customer.example": {"agent_reply"}},
		},
		{
			name: "note with a Cc", client: agGmail, headers: []string{"Cc: carol@customer.example"},
			text: "#note\nAsk Carol, she knows the setup.", kind: helpmail.KindNote,
			history: []string{"note → by " + agAlice}, bob: []string{"agent_copy"}, others: map[string][]string{"carol@customer.example": nil},
		},
		{
			name: "cc remove", client: agGmail, cc: "Dave <dave@customer.example>", text: "#cc remove dave@customer.example", kind: helpmail.KindCommand,
			history: []string{"collaborator dave@customer.example→ by " + agAlice}, others: map[string][]string{"dave@customer.example": nil},
			check: func(t *testing.T, tk *helpmail.Ticket, _ map[string][]agSent) {
				if ps := s.participants(t, tk.Number); slices.Contains(ps, "dave@customer.example") {
					t.Errorf("participants after #cc remove = %v, want no dave", ps)
				}
			},
		},
		{
			name: "unknown command", client: agGmail, text: "#frobnicate now\n\nThis must not reach the customer.", kind: helpmail.KindCommand,
			alice: []string{"command_error"},
			check: func(t *testing.T, tk *helpmail.Ticket, sent map[string][]agSent) {
				if e := sent[agAlice][0].Msg.Text; !strings.Contains(e, "#frobnicate") {
					t.Errorf("command_error does not name #frobnicate:\n%s", e)
				}
			},
		},
		{
			name: "unknown value", client: agOutlook, text: "#priority high\n#status done\n\nFixed.", kind: helpmail.KindCommand,
			alice: []string{"command_error"},
			check: func(t *testing.T, tk *helpmail.Ticket, sent map[string][]agSent) {
				e := sent[agAlice][0]
				if !strings.Contains(e.Msg.Text, `unknown status "done"`) {
					t.Errorf("command_error does not name the value done:\n%s", e.Msg.Text)
				}
				if tk.Priority != helpmail.PriorityMedium || tk.Status != helpmail.StatusWaitingForSupport {
					t.Errorf("ticket after a refused command = %s %s, want nothing applied", tk.Priority, tk.Status)
				}
				// The error notice answers from Alice's own token.
				_, tok, _ := strings.Cut(strings.Split(e.Msg.ReplyTo[0].Addr, "@")[0], "+")
				if rt, ok := s.App.Signer.ParseReplyToken(tok); !ok || rt.AgentKey != s.App.Signer.AgentKey(agAlice) {
					t.Errorf("command_error Reply-To = %v, want Alice's token", e.Msg.ReplyTo)
				}
			},
		},
		{
			name: "assign to a stranger", client: agGmail, text: "#assign mallory@evil.example\n\nMallory will call you.", kind: helpmail.KindCommand,
			alice: []string{"command_error"},
			check: func(t *testing.T, tk *helpmail.Ticket, sent map[string][]agSent) {
				if e := sent[agAlice][0].Msg.Text; !strings.Contains(e, "mallory@evil.example") {
					t.Errorf("command_error does not name mallory@evil.example:\n%s", e)
				}
				if tk.Assignee != "" {
					t.Errorf("assignee = %q, want none", tk.Assignee)
				}
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			customer := fmt.Sprintf("c%d@customer.example", i)
			var extra []string
			if tt.cc != "" {
				extra = append(extra, "Cc: "+tt.cc)
			}
			n := s.open(t, mailbox.Address{Name: "Customer", Addr: customer}, fmt.Sprintf("open%d@customer.example", i), "VPN down", "The VPN is down since this morning.", extra...)
			watch := []string{customer, agAlice, agBob}
			for a := range tt.others {
				watch = append(watch, a)
			}
			before := map[string]int{}
			for _, a := range watch {
				before[a] = len(s.sentTo(t, a))
			}
			hist := len(s.history(t, n))
			s.clock.Advance(10 * time.Minute)

			in := s.agentAnswer(t, tt.client, agAlice, n, fmt.Sprintf("cmd%d@mail.example.com", i), tt.text, tt.headers...)
			if in.Ticket != n || in.Kind != tt.kind {
				t.Errorf("answer stored on #%d as %s, want #%d as %s (decision %+v)", in.Ticket, in.Kind, n, tt.kind, in.Decision)
			}
			var got []string
			for _, h := range s.history(t, n)[hist:] {
				got = append(got, agHistoryLine(h))
			}
			if !slices.Equal(got, tt.history) {
				t.Errorf("history = %q, want %q", got, tt.history)
			}
			sent := map[string][]agSent{}
			want := map[string][]string{customer: tt.customer, agAlice: tt.alice, agBob: tt.bob}
			for a, w := range tt.others {
				want[a] = w
			}
			for _, a := range watch {
				sent[a] = s.sentTo(t, a)[before[a]:]
				if got := agTemplates(sent[a]); !slices.Equal(got, append([]string{}, want[a]...)) {
					t.Errorf("mail to %s = %v, want %v", a, got, want[a])
				}
			}
			sent["customer"] = sent[customer]
			// Command lines never reach a customer.
			customers := []string{customer}
			for a := range tt.others {
				customers = append(customers, a)
			}
			for _, a := range customers {
				for _, m := range sent[a] {
					for _, l := range strings.Split(agLF(tt.text), "\n") {
						if strings.HasPrefix(l, "#") && (strings.Contains(m.Msg.Text, l) || strings.Contains(m.Msg.HTML, l)) {
							t.Errorf("%s to %s holds the command line %q:\n%s", m.Template, a, l, m.Msg.Text)
						}
					}
					if bytes.Contains(bytes.ToLower(m.Raw), []byte(agAlice)) {
						t.Errorf("%s to %s holds the agent's address", m.Template, a)
					}
				}
			}
			if tt.check != nil {
				tt.check(t, s.ticket(t, n), sent)
			}
		})
	}
}

// agExplain runs `helpmail messages explain` on the server's database and
// returns its output.
func (s *agServer) agExplain(tb testing.TB, messageID string) string {
	tb.Helper()
	cfgPath := filepath.Join(s.dir, "explain.toml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("[database]\npath = %q\n", filepath.Join(s.dir, "helpmail.db"))), 0o600); err != nil {
		tb.Fatal(err)
	}
	var out, errOut bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	if err := m.Run(context.Background(), []string{"--config", cfgPath, "messages", "explain", messageID}); err != nil {
		tb.Fatalf("helpmail messages explain %s = %v (%s)", messageID, err, errOut.String())
	}
	return out.String()
}

// TestAgentAuthentication: a message that only claims to come from an agent
// is a customer's (SPEC §5); a trusted Authentication-Results pass makes it
// the agent's.
func TestAgentAuthentication(t *testing.T) {
	s := agStartServer(t, func(c *Config) { c.Auth.TrustedAuthServIDs = []string{"mx.example.com"} })
	tests := []struct {
		name    string
		headers []string
		agent   bool
		note    string // in the decision
	}{
		{"no Authentication-Results", nil, false, "not authenticated"},
		{"trusted dkim pass", []string{"Authentication-Results: mx.example.com;\r\n\tdkim=pass (2048-bit key) header.d=example.com header.s=sel1 header.b=abcdEFGH;\r\n\tspf=none"},
			true, "agent authenticated by dkim pass from mx.example.com"},
		{"untrusted authserv-id", []string{"Authentication-Results: mx.evil.example; dkim=pass header.d=example.com"}, false, "not authenticated"},
		{"trusted dkim fail", []string{"Authentication-Results: mx.example.com; dkim=fail header.d=example.com; spf=softfail smtp.mailfrom=example.com"},
			false, "not authenticated"},
		{"trusted pass for another domain", []string{"Authentication-Results: mx.example.com; dkim=pass header.d=evil.example"}, false, "not authenticated"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			customer := fmt.Sprintf("auth%d@customer.example", i)
			n := s.open(t, mailbox.Address{Addr: customer}, fmt.Sprintf("authopen%d@customer.example", i), "Printer on fire", "It burns.")
			before := len(s.sentTo(t, customer))
			id := fmt.Sprintf("claim%d@example.com", i)
			s.mustSend(t, agAlice, []string{"support@example.com"}, msg(append(append([]string{}, tt.headers...),
				"From: Alice Agent <alice@example.com>", "To: support@example.com", fmt.Sprintf("Subject: Re: [Support #%d] Printer on fire", n),
				"Message-ID: <"+id+">", "body:"+agCRLF("#status resolved\n\nAll fixed, closing this."))...))
			d := s.decision(t, id)
			notes := strings.Join(d.Decision.Notes, "\n")
			if d.Ticket != n || d.Decision.Rule != string(threading.RuleTag) || !strings.Contains(notes, tt.note) {
				t.Errorf("claim → #%d by %q, notes %q; want #%d by tag with a note %q", d.Ticket, d.Decision.Rule, notes, n, tt.note)
			}
			explain := s.agExplain(t, id)
			if !strings.Contains(explain, tt.note) || !strings.Contains(explain, "rule:    tag") {
				t.Errorf("messages explain %s =\n%s\nwant the rule and %q", id, explain, tt.note)
			}
			tk := s.ticket(t, n)
			sent := agTemplates(s.sentTo(t, customer)[before:])
			refusal := regexp.MustCompile(`level=WARN msg="agent action refused: sender not authenticated" .*message_id=<?` + regexp.QuoteMeta(id))
			if tt.agent {
				if d.Kind != helpmail.KindAgentReply || tk.Status != helpmail.StatusResolved || !slices.Equal(sent, []string{"agent_reply", "status_changed"}) {
					t.Errorf("authenticated agent: kind %s, status %s, customer got %v; want agent_reply, resolved, [agent_reply status_changed]", d.Kind, tk.Status, sent)
				}
				if refusal.MatchString(s.Log()) {
					t.Errorf("log has a refusal for the authenticated agent's %s", id)
				}
				return
			}
			if d.Kind != helpmail.KindCustomer || tk.Status != helpmail.StatusWaitingForSupport || len(sent) != 0 {
				t.Errorf("claimed agent: kind %s, status %s, customer got %v; want customer, waiting_for_support, nothing", d.Kind, tk.Status, sent)
			}
			if !refusal.MatchString(s.Log()) {
				t.Errorf("log has no refusal for %s:\n%s", id, s.Log())
			}
		})
	}
}

// TestCustomerClose: "#close" as the first line of a participant's reply
// closes the ticket (SPEC §5); from anyone else it closes nothing.
func TestCustomerClose(t *testing.T) {
	s := agStartServer(t, nil)
	ann := mailbox.Address{Name: "Ann Customer", Addr: "ann@customer.example"}
	tests := []struct {
		name   string
		from   mailbox.Address
		byTag  bool // thread by subject tag instead of answering the acknowledgement
		closes bool
		note   string
	}{
		{name: "requester", from: ann, closes: true},
		{name: "stranger answering the acknowledgement", from: mailbox.Address{Addr: "mallory@evil.example"}, note: "not a participant"},
		{name: "stranger with the subject tag", from: mailbox.Address{Addr: "mallory@evil.example"}, byTag: true},
		{name: "unauthenticated agent address", from: mailbox.Address{Name: "Alice Agent", Addr: agAlice}, byTag: true, note: "not authenticated"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := s.open(t, ann, fmt.Sprintf("closeopen%d@customer.example", i), "Cannot log in", "My password does not work.")
			var ack *mailbox.Message
			for _, m := range s.sentTo(t, ann.Addr) {
				if m.Template == "ticket_opened" && header(m.Msg, "X-Helpmail-Ticket") == fmt.Sprint(n) {
					ack = m.Msg
				}
			}
			if ack == nil {
				t.Fatalf("no acknowledgement of #%d", n)
			}
			before := map[string]int{ann.Addr: len(s.sentTo(t, ann.Addr)), tt.from.Addr: len(s.sentTo(t, tt.from.Addr))}
			hist := len(s.history(t, n))
			id := fmt.Sprintf("close%d@customer.example", i)
			to := ack.ReplyTo[0].Addr // the customer's token address
			r := agReply{From: tt.from, To: to, Notif: ack, MessageID: id, Text: "#close\n\nSolved it myself, thanks."}
			if tt.byTag {
				r.To, r.Notif = "support@example.com", &mailbox.Message{Subject: ack.Subject, Text: ack.Text, HTML: ack.HTML, MessageID: "<unrelated@elsewhere.example>"}
			}
			s.mustSend(t, tt.from.Addr, []string{r.To}, agGmail(r))

			d := s.decision(t, id)
			tk := s.ticket(t, n)
			var hl []string
			for _, h := range s.history(t, n)[hist:] {
				hl = append(hl, agHistoryLine(h)+" ("+h.Reason+")")
			}
			closedBy := "status waiting_for_support→closed by " + tt.from.Addr + " (closed by the customer with #close)"
			if tt.closes {
				if tk.Status != helpmail.StatusClosed || tk.ClosedAt.IsZero() || !slices.Equal(hl, []string{closedBy}) {
					t.Errorf("after #close: status %s closed at %v history %q; want closed with history %q", tk.Status, tk.ClosedAt, hl, closedBy)
				}
				closed := agOnly(t, s.sentTo(t, ann.Addr)[before[ann.Addr]:], "ticket_closed")
				if !strings.Contains(closed.Msg.Subject, fmt.Sprintf("[Support #%d]", n)) {
					t.Errorf("ticket_closed subject = %q, want the tag", closed.Msg.Subject)
				}
				return
			}
			if tk.Status == helpmail.StatusClosed || slices.ContainsFunc(hl, func(h string) bool { return strings.Contains(h, "closed") }) {
				t.Errorf("#close from %s: status %s, history %q; want the ticket open", tt.from.Addr, tk.Status, hl)
			}
			for a, k := range before {
				if slices.Contains(agTemplates(s.sentTo(t, a)[k:]), "ticket_closed") {
					t.Errorf("%s got ticket_closed after #close from %s", a, tt.from.Addr)
				}
			}
			if notes := strings.Join(d.Decision.Notes, "\n"); tt.note != "" && !strings.Contains(notes, tt.note) {
				t.Errorf("decision notes = %q, want %q", notes, tt.note)
			}
		})
	}
}

// TestAgentOutOfOffice: an agent's auto-reply to their token address is
// stored on the ticket and relays nothing.
func TestAgentOutOfOffice(t *testing.T) {
	s := agStartServer(t, nil)
	ann := mailbox.Address{Addr: "ann@customer.example"}
	n := s.open(t, ann, "oooopen@customer.example", "Printer on fire", "It burns.")
	before := map[string]int{}
	for _, a := range []string{ann.Addr, agAlice, agBob} {
		before[a] = len(s.sentTo(t, a))
	}
	notif := s.agNotified(t, agAlice, n, "agent_new_ticket", "It burns.", "Waiting for support")
	token := notif.Msg.ReplyTo[0].Addr
	s.mustSend(t, agAlice, []string{token}, agOutlook(agReply{From: mailbox.Address{Name: "Alice Agent", Addr: agAlice}, To: token,
		Notif: notif.Msg, MessageID: "ooo@mail.example.com", Text: "I am out of the office until Monday 9 March.",
		Headers: []string{"Auto-Submitted: auto-replied", "X-Auto-Response-Suppress: All"}}))
	d := s.decision(t, "ooo@mail.example.com")
	if d.Ticket != n || d.Kind != helpmail.KindAutomatic || !strings.Contains(d.Decision.Outcome, "nothing relayed") {
		t.Errorf("out-of-office → #%d as %s (%q), want #%d, automatic, nothing relayed", d.Ticket, d.Kind, d.Decision.Outcome, n)
	}
	if tk := s.ticket(t, n); tk.Status != helpmail.StatusWaitingForSupport || !tk.FirstResponseAt.IsZero() {
		t.Errorf("ticket after the out-of-office: %s, first response %v; want unchanged", tk.Status, tk.FirstResponseAt)
	}
	for a, k := range before {
		if got := agTemplates(s.sentTo(t, a)[k:]); len(got) != 0 {
			t.Errorf("mail to %s after the agent's out-of-office = %v, want none", a, got)
		}
	}
}

// TestRequestsOverview: mail to support+requests@ is answered with the
// sender's tickets, only to the From address and never to automatic mail.
func TestRequestsOverview(t *testing.T) {
	s := agStartServer(t, nil)
	ann := mailbox.Address{Name: "Ann Customer", Addr: "ann@customer.example"}
	s.open(t, ann, "ov1@customer.example", "Printer on fire", "It burns.")
	s.open(t, ann, "ov2@customer.example", "VPN down", "No VPN.")
	s.open(t, mailbox.Address{Addr: "zoe@other.example"}, "ov3@other.example", "Someone else's secret", "Not for Ann.")
	tickets := s.ticketCount(t)
	before := len(s.sentTo(t, ann.Addr))

	s.mustSend(t, ann.Addr, []string{"support+requests@example.com"}, msg("From: "+ann.String(), "To: support+requests@example.com",
		"Reply-To: Eve <eve@evil.example>", "Cc: carol@customer.example", "Subject: my requests", "Message-ID: <ovask@customer.example>",
		"body:Which requests do I have open?\r\n"))
	sent := s.sentTo(t, ann.Addr)[before:]
	if got := agTemplates(sent); !slices.Equal(got, []string{"requests_overview"}) {
		t.Fatalf("mail to %s after asking = %v, want [requests_overview]", ann.Addr, got)
	}
	text := sent[0].Msg.Text
	for _, want := range []string{"#1  Printer on fire", "#2  VPN down"} {
		if !strings.Contains(text, want) {
			t.Errorf("overview does not list %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "secret") || strings.Contains(text, "#3") {
		t.Errorf("overview lists another customer's ticket:\n%s", text)
	}
	for _, other := range []string{"eve@evil.example", "carol@customer.example"} {
		if got := s.sentTo(t, other); len(got) != 0 {
			t.Errorf("mail to %s = %v, want none", other, agTemplates(got))
		}
	}
	if got := s.ticketCount(t); got != tickets {
		t.Errorf("tickets after asking for the overview = %d, want %d", got, tickets)
	}

	// Automatic mail to the overview address gets nothing.
	s.mustSend(t, ann.Addr, []string{"support+requests@example.com"}, msg("From: "+ann.String(), "To: support+requests@example.com",
		"Auto-Submitted: auto-replied", "Subject: Out of office", "Message-ID: <ovooo@customer.example>", "body:I am away.\r\n"))
	if got := agTemplates(s.sentTo(t, ann.Addr)[before+1:]); len(got) != 0 {
		t.Errorf("mail to %s after automatic mail to the overview address = %v, want none", ann.Addr, got)
	}
	if d := s.decision(t, "ovooo@customer.example"); d.Kind != helpmail.KindAutomatic || !strings.Contains(strings.Join(d.Decision.Actions, "\n"), "not sent: requests_overview") {
		t.Errorf("automatic mail to the overview address: kind %s, actions %q; want automatic, overview not sent", d.Kind, d.Decision.Actions)
	}
}
