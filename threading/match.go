package threading

import (
	"fmt"
	"slices"
	"strings"
)

// Rule names the threading rule (SPEC §3) that decided a message's ticket.
type Rule string

// The rules, in the order Match tries them.
const (
	RuleToken     Rule = "token"     // a valid reply token in a recipient address
	RuleReference Rule = "reference" // In-Reply-To/References name a known message or a helpmail id
	RuleTag       Rule = "tag"       // a subject tag, from a participant of that ticket
	RuleNew       Rule = "new"       // nothing matched: open a new ticket
)

// maxUnknownNotes caps the per-id "unknown reference" notes of a Decision.
const maxUnknownNotes = 5

// Input is what Match needs to know about one inbound message.
type Input struct {
	// Recipients is every address the message was sent to: envelope RCPT
	// TO, To, Cc and Delivered-To. Case, surrounding space and a "Name <addr>"
	// form are normalised by Match.
	Recipients []string
	// References are the referenced ids, nearest ancestor first, as
	// ReferencedIDs returns them.
	References []string
	// Subject is the decoded subject.
	Subject string
	// From is the sender's address.
	From string
}

// Lookup is how Match asks the desk's store about tickets and messages.
// A nil function answers "unknown" (false) to every question.
type Lookup struct {
	// MessageTicket returns the ticket of a message helpmail stored or
	// sent, by canonical Message-ID.
	MessageTicket func(id string) (ticket int64, ok bool)
	// TicketExists reports whether a ticket with that number exists.
	TicketExists func(ticket int64) bool
	// IsParticipant reports whether the (lower-case) address takes part in
	// the ticket: requester, collaborator, organization colleague where
	// visibility allows, or agent.
	IsParticipant func(ticket int64, addr string) bool
}

func (l Lookup) messageTicket(id string) (int64, bool) {
	if l.MessageTicket == nil {
		return 0, false
	}
	return l.MessageTicket(id)
}

func (l Lookup) ticketExists(ticket int64) bool {
	return l.TicketExists != nil && l.TicketExists(ticket)
}

func (l Lookup) isParticipant(ticket int64, addr string) bool {
	return l.IsParticipant != nil && l.IsParticipant(ticket, addr)
}

// Matcher applies the threading rules of SPEC §3 for one helpdesk
// configuration. Its fields are read, never written, so one Matcher may be
// shared by concurrent deliveries.
type Matcher struct {
	// Signer verifies reply tokens and helpmail Message-IDs. Nil disables
	// both (rule 1 never matches; rule 2 uses MessageTicket only).
	Signer *Signer
	// Addresses are the configured support addresses, e.g.
	// "support@example.com", "incidents@example.com". Case is ignored.
	Addresses []string
	// Tag is the subject tag, e.g. "Support" for "[Support #1042]". Empty
	// disables rule 3.
	Tag string
}

// Decision is the outcome of Match.
type Decision struct {
	// Rule is the rule that decided.
	Rule Rule
	// Ticket is the ticket the message belongs to; 0 for RuleNew.
	Ticket int64
	// AgentKey is the agent key of the reply token when Rule is RuleToken
	// and the token was an agent's; "" otherwise.
	AgentKey string
	// Address is the configured support address (lower-case, without
	// +detail) the message was sent to: the one carrying the token for
	// RuleToken, else the first recipient that is a support address, else
	// the first configured address ("" when none is configured).
	Address string
	// Notes say why earlier rules did not apply, one short line each,
	// prefixed with the rule's name, for `helpmail messages explain`.
	Notes []string
}

// Match decides which ticket an inbound message belongs to. The first rule
// that applies decides:
//
//  1. token: a recipient is <support local>+<token>@<domain> of a
//     configured address, the token verifies and its ticket exists;
//  2. reference: the first reference (nearest first) that
//     Lookup.MessageTicket knows; else the first one that is a helpmail
//     Message-ID which verifies and whose ticket exists;
//  3. tag: the subject carries [<Tag> #<n>], ticket n exists and From is
//     one of its participants;
//  4. new.
//
// A +detail that is not a reply token ("support+requests@") is no token;
// ParseAddress returns it. Forged or damaged tokens and ids fall through,
// with a note.
func (m *Matcher) Match(in Input, look Lookup) Decision {
	recipients := normAddrs(in.Recipients)
	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }

	if d, ok := m.matchToken(recipients, look, note); ok {
		d.Notes = notes
		return d
	}
	d := Decision{Rule: RuleNew, Address: m.address(recipients)}
	if t, ok := m.matchReference(in.References, look, note); ok {
		d.Rule, d.Ticket = RuleReference, t
	} else if t, ok := m.matchTag(in.Subject, normAddr(in.From), look, note); ok {
		d.Rule, d.Ticket = RuleTag, t
	}
	d.Notes = notes
	return d
}

// matchToken is rule 1.
func (m *Matcher) matchToken(recipients []string, look Lookup, note func(string, ...any)) (Decision, bool) {
	seen := false
	for _, r := range recipients {
		base, detail, ok := m.ParseAddress(r)
		if !ok || detail == "" {
			continue
		}
		seen = true
		if m.Signer == nil {
			note("token: %s not checked: no signer configured", r)
			continue
		}
		tok, ok := m.Signer.ParseReplyToken(detail)
		switch {
		case !ok && looksLikeToken(detail):
			note("token: reply token on %s failed verification", r)
		case !ok:
			note("token: %s: detail %q is not a reply token", r, detail)
		case !look.ticketExists(tok.Ticket):
			note("token: reply token on %s names ticket #%d, which does not exist", r, tok.Ticket)
		default:
			return Decision{Rule: RuleToken, Ticket: tok.Ticket, AgentKey: tok.AgentKey, Address: base}, true
		}
	}
	if !seen {
		note("token: no recipient is a +token sub-address of a support address")
	}
	return Decision{}, false
}

// matchReference is rule 2.
func (m *Matcher) matchReference(refs []string, look Lookup, note func(string, ...any)) (int64, bool) {
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		if id := CanonicalMessageID(r); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		note("reference: message has no In-Reply-To or References")
		return 0, false
	}
	for _, id := range ids {
		if t, ok := look.messageTicket(id); ok {
			return t, true
		}
	}
	unknown := 0
	for _, id := range ids {
		t, ok := m.Signer.ticketFromMessageID(id)
		switch {
		case ok && look.ticketExists(t):
			return t, true
		case ok:
			note("reference: <%s> names ticket #%d, which does not exist", id, t)
		case strings.HasPrefix(id, "hm."):
			note("reference: <%s> looks like a helpmail id but failed verification", id)
		default:
			if unknown++; unknown <= maxUnknownNotes {
				note("reference: <%s> unknown", id)
			}
		}
	}
	if unknown > maxUnknownNotes {
		note("reference: %d more unknown ids", unknown-maxUnknownNotes)
	}
	return 0, false
}

// matchTag is rule 3.
func (m *Matcher) matchTag(subject, from string, look Lookup, note func(string, ...any)) (int64, bool) {
	if strings.TrimSpace(m.Tag) == "" {
		note("tag: no subject tag configured")
		return 0, false
	}
	n, ok := FindTag(subject, m.Tag)
	switch {
	case !ok:
		note("tag: subject has no [%s #n] tag", strings.TrimSpace(m.Tag))
	case !look.ticketExists(n):
		note("tag: subject tag #%d ignored: no such ticket", n)
	case from == "" || !look.isParticipant(n, from):
		note("tag: subject tag #%d ignored: sender %q is not a participant", n, from)
	default:
		return n, true
	}
	return 0, false
}

// ticketFromMessageID is TicketFromMessageID that answers false on a nil
// Signer.
func (s *Signer) ticketFromMessageID(id string) (int64, bool) {
	if s == nil {
		return 0, false
	}
	return s.TicketFromMessageID(id)
}

// ParseAddress reports whether addr is one of the configured Addresses or a
// +detail sub-address of one (local part and domain compared
// case-insensitively; "Name <addr>" and surrounding space are accepted).
// base is the configured address in lower case; detail is the lower-cased
// part after the '+' ("" for the address itself). When several configured
// addresses fit, an exact match wins, then the longest local part.
func (m *Matcher) ParseAddress(addr string) (base, detail string, ok bool) {
	a := normAddr(addr)
	local, domain, found := cutAt(a)
	if !found {
		return "", "", false
	}
	best := -1
	for _, c := range m.Addresses {
		c = normAddr(c)
		clocal, cdomain, found := cutAt(c)
		if !found || cdomain != domain {
			continue
		}
		if local == clocal {
			return c, "", true
		}
		if strings.HasPrefix(local, clocal+"+") && len(clocal) > best {
			base, detail, best = c, local[len(clocal)+1:], len(clocal)
		}
	}
	return base, detail, best >= 0
}

// address picks Decision.Address for rules other than token.
func (m *Matcher) address(recipients []string) string {
	for _, r := range recipients {
		if base, _, ok := m.ParseAddress(r); ok {
			return base
		}
	}
	if len(m.Addresses) > 0 {
		return normAddr(m.Addresses[0])
	}
	return ""
}

// cutAt splits an address at its last '@'; both parts must be non-empty.
func cutAt(a string) (local, domain string, ok bool) {
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return "", "", false
	}
	return a[:at], a[at+1:], true
}

// looksLikeToken tells a damaged reply token ("1042-x7...") from a plain
// sub-address detail ("requests"), for the notes only.
func looksLikeToken(detail string) bool {
	return detail != "" && detail[0] >= '0' && detail[0] <= '9' && strings.Contains(detail, "-")
}

// normAddrs normalises and deduplicates addresses, keeping their order.
func normAddrs(addrs []string) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		a = normAddr(a)
		if a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}
