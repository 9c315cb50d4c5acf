package helpmail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/templates"
	"github.com/helpmail/helpmail/threading"
)

// Renderer renders a notification template; *templates.Set implements it.
type Renderer interface {
	Render(lang, name string, d templates.Data) (templates.Rendered, error)
}

// Desk is the helpdesk: it takes every inbound message through one
// transaction (store it, thread it, update its ticket, record history and
// queue the notifications it causes) and makes the agents' changes.
//
// A Desk is safe for concurrent use; the store serialises writers.
type Desk struct {
	Store     Store
	Templates Renderer
	Signer    *threading.Signer
	Config    Config
	// SLA computes due times; the zero value sets none.
	SLA SLA
	// Now returns the current time; nil = time.Now. Tests set it.
	Now func() time.Time
	// Rand is the randomness for Thread-Index values; nil = crypto/rand.
	Rand io.Reader
	// Logger receives one line per message; nil = discard.
	Logger *slog.Logger
	// Queued is called after a commit that queued outgoing mail, to wake
	// the outbox worker; nil = nobody to wake.
	Queued func()
	// Observe is called once per Deliver with the message's source, a
	// coarse result (new_ticket, update, duplicate, automatic, bounce,
	// overview, rejected, failed) and how long it took; for metrics.
	Observe func(source, result string, took time.Duration)
}

// Clock returns the desk's current time (Now, or the real time).
func (d *Desk) Clock() time.Time { return d.now() }

func (d *Desk) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Desk) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (d *Desk) matcher() *threading.Matcher {
	addrs := make([]string, len(d.Config.Routes))
	for i, r := range d.Config.Routes {
		addrs[i] = r.Address
	}
	return &threading.Matcher{Signer: d.Signer, Addresses: addrs, Tag: d.Config.Tag}
}

// delivery is what one Deliver call found and did; it is logged and
// recorded on the message.
type delivery struct {
	env     mailbox.Envelope
	parsed  *mailbox.Message
	msg     *Message // the inbound message as stored
	auto    string   // why the message is automatic, "" if it is not
	agent   *Agent   // the authenticated agent who sent it, if any
	match   threading.Decision
	queued  int
	outcome string
	// quiet deliveries (imports) queue no mail.
	quiet bool
}

// Deliver takes one inbound message, as received, and commits it with all
// its consequences in one transaction. It returns nil only after the commit,
// so a transport may acknowledge the message then. A *mailbox.Rejection
// means the message can never be accepted (it is empty or too large); any
// other error is temporary and the message must be offered again.
//
// Deliver never fails because of malformed content: whatever parses is
// used and the raw bytes are always kept.
func (d *Desk) Deliver(ctx context.Context, env mailbox.Envelope, raw []byte) error {
	_, err := d.deliverRaw(ctx, env, raw, time.Time{}, false)
	return err
}

// Import stores a message from an existing mailbox being migrated (an mbox
// or a Maildir), as of its own date at: it is threaded and filed like any
// message, with the same duplicate detection (so a re-run imports nothing
// twice), but it sends nothing, and messages from configured agents count
// as theirs (the operator vouches for the archive). It returns the ticket
// the message went to (0 for none) and whether it was new to the store.
func (d *Desk) Import(ctx context.Context, env mailbox.Envelope, raw []byte, at time.Time) (ticket int64, stored bool, err error) {
	dl, err := d.deliverRaw(ctx, env, raw, at, true)
	if err != nil || dl == nil {
		return 0, false, err
	}
	return dl.msg.Ticket, dl.msg.ID != 0, nil
}

func (d *Desk) deliverRaw(ctx context.Context, env mailbox.Envelope, raw []byte, at time.Time, quiet bool) (*delivery, error) {
	start := time.Now()
	observe := func(result string) {
		if d.Observe != nil {
			d.Observe(env.Source, result, time.Since(start))
		}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		observe("rejected")
		return nil, &mailbox.Rejection{Reason: "empty message"}
	}
	if max := d.Config.MaxMessageBytes; max > 0 && int64(len(raw)) > max && !quiet {
		observe("rejected")
		return nil, &mailbox.Rejection{Reason: fmt.Sprintf("message size %d exceeds the limit of %d bytes", len(raw), max)}
	}
	now := d.now()
	if !at.IsZero() {
		now = at.UTC()
	}
	parsed, perr := mailbox.Parse(raw)
	var dl *delivery
	err := d.Store.Update(ctx, func(tx Tx) error {
		dl = &delivery{env: env, parsed: parsed, quiet: quiet}
		dl.msg = d.inbound(env, raw, parsed, now)
		return d.deliver(ctx, tx, dl, now)
	})
	log := d.logger().With("source", env.Source, "message_id", parsed.MessageID, "size", len(raw))
	if err != nil {
		observe("failed")
		log.Error("message not stored", "err", err, "remote", env.RemoteAddr)
		return nil, fmt.Errorf("deliver: %w", err)
	}
	observe(dl.result())
	attrs := []any{"ticket", dl.msg.Ticket, "rule", dl.match.Rule, "outcome", dl.outcome,
		"queued", dl.queued, "duration", time.Since(start).Round(time.Microsecond)}
	if dl.auto != "" {
		attrs = append(attrs, "automatic", dl.auto)
	}
	if perr != nil {
		attrs = append(attrs, "parse_problem", perr.Error())
	}
	log.Info("message received", attrs...)
	if dl.queued > 0 && d.Queued != nil {
		d.Queued()
	}
	return dl, nil
}

// result classifies the delivery for metrics.
func (dl *delivery) result() string {
	switch {
	case dl.msg.ID == 0:
		return "duplicate"
	case dl.msg.Kind == KindBounce:
		return "bounce"
	case dl.outcome == "requests overview":
		return "overview"
	case dl.auto != "":
		return "automatic"
	case dl.match.Rule == threading.RuleNew || strings.HasPrefix(dl.outcome, "new"):
		return "new_ticket"
	}
	return "update"
}

// inbound builds the stored form of an inbound message.
func (d *Desk) inbound(env mailbox.Envelope, raw []byte, p *mailbox.Message, now time.Time) *Message {
	sum := sha256.Sum256(raw)
	m := &Message{
		Direction:     Inbound,
		Kind:          KindCustomer,
		MessageID:     threading.CanonicalMessageID(p.MessageID),
		RawSHA256:     hex.EncodeToString(sum[:]),
		ContentSHA256: contentHash(raw),
		Raw:           raw,
		Source:        env.Source,
		EnvelopeFrom:  NormalizeAddress(env.MailFrom),
		EnvelopeTo:    normalizeAll(env.Rcpt),
		RemoteAddr:    env.RemoteAddr,
		Subject:       oneLine(p.Subject),
		Date:          p.Date,
		Text:          p.Text,
		CreatedAt:     now,
	}
	if from := sender(env, p); from.Addr != "" {
		m.From, m.FromName = NormalizeAddress(from.Addr), from.Name
	}
	m.To = addrList(p.To)
	m.Cc = addrList(p.Cc)
	m.Attachments = d.attachments(p.Attachments)
	if len(p.Problems) > 0 {
		m.Decision.Notes = append(m.Decision.Notes, "parse: "+strings.Join(p.Problems, "; "))
	}
	return m
}

// sender returns the author of a message: From, else Sender, else the
// return path.
func sender(env mailbox.Envelope, p *mailbox.Message) mailbox.Address {
	for _, list := range [][]mailbox.Address{p.From, p.Sender} {
		for _, a := range list {
			if strings.Contains(a.Addr, "@") {
				return a
			}
		}
	}
	if p.ReturnPath != "" {
		return mailbox.Address{Addr: p.ReturnPath}
	}
	return mailbox.Address{Addr: env.MailFrom}
}

// Why an attachment was refused (Attachment.Refused); the templates show
// each as a translated sentence.
const (
	RefusedTooLarge = "too_large"        // above the size limit
	RefusedType     = "type_not_allowed" // extension not in the allowed list
)

// attachments applies the attachment policy (SPEC §8): files outside it
// are listed with the reason and their bytes are not stored separately.
func (d *Desk) attachments(in []mailbox.Attachment) []Attachment {
	pol := d.Config.Attachments
	out := make([]Attachment, 0, len(in))
	for _, a := range in {
		sum := sha256.Sum256(a.Data)
		at := Attachment{
			Filename: a.Filename, ContentType: a.ContentType, Size: int64(len(a.Data)),
			SHA256: hex.EncodeToString(sum[:]), Inline: a.Inline, ContentID: a.ContentID, Data: a.Data,
		}
		inlineImage := a.Inline && strings.HasPrefix(a.ContentType, "image/") && pol.KeepInline
		switch {
		case pol.MaxBytes > 0 && at.Size > pol.MaxBytes:
			at.Refused = RefusedTooLarge
		case !inlineImage && len(pol.Extensions) > 0 && !allowedExtension(a.Filename, pol.Extensions):
			if a.ContentType == "message/rfc822" && a.Filename == "" {
				break // forwarded messages are part of the conversation
			}
			at.Refused = RefusedType
		}
		if at.Refused != "" {
			at.Data, at.SHA256 = nil, ""
		}
		out = append(out, at)
	}
	return out
}

func allowedExtension(name string, exts []string) bool {
	name = strings.ToLower(name)
	for _, e := range exts {
		if strings.HasSuffix(name, e) {
			return true
		}
	}
	return false
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// traceFields are header fields relays add on the way; two copies of a
// message that differ only in them are the same message.
var traceFields = map[string]bool{
	"received": true, "return-path": true, "delivered-to": true, "x-original-to": true, "envelope-to": true,
	"x-envelope-from": true, "x-envelope-to": true, "authentication-results": true, "received-spf": true,
	"arc-seal": true, "arc-message-signature": true, "arc-authentication-results": true,
}

var tracePrefixes = []string{"x-spam", "x-virus", "x-rspamd", "x-ms-exchange-organization-", "x-forefront-"}

// contentHash hashes a message without its trace header fields: header
// fields in order and the body, byte for byte. The same message relayed
// twice (with other Received lines) has the same content hash; copies
// that differ in anything else (line endings, a header a fixture changed,
// another body) do not. It is "" when no header/body separator is found.
func contentHash(raw []byte) string {
	h := sha256.New()
	rest := raw
	for len(rest) > 0 {
		end := bytes.IndexAny(rest, "\r\n")
		if end < 0 {
			return "" // no separator
		}
		nl := 1
		if rest[end] == '\r' && end+1 < len(rest) && rest[end+1] == '\n' {
			nl = 2
		}
		if end == 0 { // the empty line: the body follows
			h.Write(rest)
			return hex.EncodeToString(h.Sum(nil))
		}
		// One field: the line and its continuation lines.
		field := end + nl
		for field < len(rest) && (rest[field] == ' ' || rest[field] == '\t') {
			e := bytes.IndexAny(rest[field:], "\r\n")
			if e < 0 {
				return ""
			}
			field += e + 1
			if rest[field-1] == '\r' && field < len(rest) && rest[field] == '\n' {
				field++
			}
		}
		name, _, _ := bytes.Cut(rest[:end], []byte(":"))
		if !isTrace(strings.ToLower(string(bytes.TrimSpace(name)))) {
			h.Write(rest[:field])
		}
		rest = rest[field:]
	}
	return ""
}

func isTrace(name string) bool {
	if traceFields[name] {
		return true
	}
	for _, p := range tracePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// oneLine replaces control characters (CR and LF decoded from an encoded
// word, say) with spaces, so a subject can be shown and reused in headers.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func normalizeAll(list []string) []string {
	out := make([]string, 0, len(list))
	for _, a := range list {
		if a = NormalizeAddress(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func addrList(list []mailbox.Address) []string {
	out := make([]string, 0, len(list))
	for _, a := range list {
		if a.Addr != "" {
			out = append(out, NormalizeAddress(a.Addr))
		}
	}
	return out
}

// deliver is Deliver inside the transaction.
func (d *Desk) deliver(ctx context.Context, tx Tx, dl *delivery, now time.Time) error {
	m := dl.msg
	if id, err := tx.FindDuplicate(ctx, m.RawSHA256, m.MessageID, m.ContentSHA256); err != nil {
		return err
	} else if id != 0 {
		dl.outcome = fmt.Sprintf("duplicate of stored message %d", id)
		return nil
	}
	if done, err := d.bounce(ctx, tx, dl, now); err != nil || done {
		return err
	}
	if reason, ok := mailbox.Automatic(dl.env, dl.parsed); ok {
		dl.auto = reason
	} else if d.Config.IsOwnAddress(m.From) {
		dl.auto = "sent from one of our own addresses"
	}
	if dl.auto == "" && m.From != "" {
		// A person writing again from a suppressed address shows it works.
		if cleared, err := tx.Unsuppress(ctx, m.From); err != nil {
			return err
		} else if cleared {
			m.Decision.Notes = append(m.Decision.Notes, "address removed from the suppression list: it wrote to us")
		}
	}
	if err := d.thread(ctx, tx, dl); err != nil {
		return err
	}
	m.Decision.Rule = string(dl.match.Rule)
	m.Decision.Notes = append(m.Decision.Notes, dl.match.Notes...)
	if dl.auto != "" {
		m.Kind = KindAutomatic
		m.Decision.Notes = append(m.Decision.Notes, "automatic mail: "+dl.auto)
	}
	if dl.match.Rule == threading.RuleNew && d.toRequestsAddress(dl) {
		return d.requestsOverview(ctx, tx, dl, now)
	}
	if dl.match.Rule == threading.RuleNew {
		if dl.auto != "" {
			// Automatic mail that belongs to no ticket (a DMARC report, a
			// vacation notice to a mailing) is stored but opens nothing.
			dl.outcome = "stored without a ticket: automatic mail"
			return d.store(ctx, tx, dl)
		}
		return d.newTicket(ctx, tx, dl, nil, now)
	}
	t, err := d.followMerged(ctx, tx, dl.match.Ticket)
	if err != nil {
		return err
	}
	if dl.agent != nil {
		return d.agentMessage(ctx, tx, dl, t, now)
	}
	return d.customerMessage(ctx, tx, dl, t, now)
}

// store writes the inbound message with its decision.
func (d *Desk) store(ctx context.Context, tx Tx, dl *delivery) error {
	dl.msg.Decision.Outcome = dl.outcome
	return tx.CreateMessage(ctx, dl.msg)
}

// followMerged returns the ticket, following merges to the surviving one.
func (d *Desk) followMerged(ctx context.Context, tx Tx, number int64) (*Ticket, error) {
	t, err := tx.FindTicket(ctx, number)
	for i := 0; err == nil && t.MergedInto != 0 && i < 16; i++ {
		t, err = tx.FindTicket(ctx, t.MergedInto)
	}
	return t, err
}

// thread applies the threading rules with lookups into the store, and
// decides whether the sender is an authenticated agent.
func (d *Desk) thread(ctx context.Context, tx Tx, dl *delivery) error {
	m, p := dl.msg, dl.parsed
	var lookupErr error
	keep := func(err error) {
		if err != nil && lookupErr == nil {
			lookupErr = err
		}
	}
	recipients := append(append(append(append([]string{}, dl.env.Rcpt...), m.To...), m.Cc...), p.DeliveredTo...)
	in := threading.Input{
		Recipients: recipients,
		References: threading.ReferencedIDs(p.References, p.InReplyTo),
		Subject:    p.Subject,
		From:       m.From,
	}
	look := threading.Lookup{
		MessageTicket: func(id string) (int64, bool) {
			n, err := tx.TicketByMessageID(ctx, id)
			keep(err)
			return n, n != 0
		},
		TicketExists: func(n int64) bool {
			_, err := tx.FindTicket(ctx, n)
			if ErrorCode(err) != ENOTFOUND {
				keep(err)
			}
			return err == nil
		},
		IsParticipant: func(n int64, addr string) bool {
			ok, err := d.isParticipant(ctx, tx, n, addr)
			keep(err)
			return ok
		},
	}
	dl.match = d.matcher().Match(in, look)
	if lookupErr != nil {
		return lookupErr
	}
	if dl.quiet && d.Config.agent(m.From) != nil {
		dl.agent = d.Config.agent(m.From)
		m.Decision.Notes = append(m.Decision.Notes, "imported: the sender is a configured agent")
	} else {
		dl.agent = d.authenticateAgent(dl)
	}
	return nil
}

// isParticipant reports whether addr may follow ticket n: a stored
// participant, an agent, or — with visibility "organization" — a colleague
// from the ticket's organization.
func (d *Desk) isParticipant(ctx context.Context, tx Tx, n int64, addr string) (bool, error) {
	addr = NormalizeAddress(addr)
	if addr == "" {
		return false, nil
	}
	if d.Config.agent(addr) != nil {
		return true, nil
	}
	ps, err := tx.Participants(ctx, n)
	if err != nil {
		return false, err
	}
	for _, p := range ps {
		if p.Address == addr {
			return true, nil
		}
	}
	if d.Config.Visibility == "organization" {
		t, err := tx.FindTicket(ctx, n)
		if err != nil {
			return false, err
		}
		if org, _ := d.Config.organizationOf(addr); org != "" && org == t.Organization {
			return true, nil
		}
	}
	return false, nil
}

// toRequestsAddress reports whether the message was sent to the requests
// overview address, support+requests@domain.
func (d *Desk) toRequestsAddress(dl *delivery) bool {
	mt := d.matcher()
	for _, list := range [][]string{dl.env.Rcpt, dl.msg.To, dl.msg.Cc} {
		for _, a := range list {
			if _, detail, ok := mt.ParseAddress(a); ok && strings.EqualFold(detail, "requests") {
				return true
			}
		}
	}
	return false
}
