package templates

import "time"

// Rendered is one notification ready to be composed into a
// multipart/alternative message.
type Rendered struct {
	// Subject is trimmed and never contains CR, LF or NUL, so it can be put
	// into a header as is (after RFC 2047 encoding of non-ASCII text).
	Subject string
	// Text is the text/plain part: LF line endings, ending in exactly one
	// newline.
	Text string
	// HTML is the text/html part: a complete document with inline styles and
	// no external resources; every value from Data is HTML-escaped.
	HTML string
}

// Data is everything a template may show. Each template uses only the fields
// its name constant documents; the others are ignored, and zero values are
// rendered as "not stated" (a missing line, a neutral greeting), never as
// "0" or "0001-01-01".
type Data struct {
	Helpdesk       string         // name of the helpdesk, "Acme Support"
	Tag            string         // subject tag, "Support" gives "[Support #1042]"
	SupportAddress string         // "support@example.com"
	Zone           *time.Location // every time is shown in this zone; nil means UTC
	Recipient      string         // display name of the recipient; "" gives a neutral greeting
	Ticket         Ticket
	Agent          string        // agent's display name: author of a public reply or note, who changed or closed a ticket
	Author         string        // who wrote Body when it is a customer's text and not the requester's; "" means the requester
	Body           string        // the main text: an agent's public reply, a customer's new text, a note
	Internal       bool          // agent_copy: Body is an internal note (true) or a public reply (false)
	OldStatus      string        // status code before the change
	NewStatus      string        // status code after the change
	Reason         string        // free text: why something was refused or closed
	Files          []RefusedFile // refused attachments
	Errors         []string      // email-command errors, one per entry, already human-readable
	Tickets        []Ticket      // requests overview
	Digest         Digest        // daily digest
	Deadline       time.Time     // SLA due time for sla_warning and sla_breach
	SLAKind        string        // "first_response" or "resolution"
	Days           int           // waiting_reminder: days waited; auto_closed: days without activity before closing
	CloseOn        time.Time     // waiting_reminder: when the ticket closes without an answer; zero = not stated
	ReopenDays     int           // ticket_closed, auto_closed: days during which a reply reopens it; 0 = not stated
	MaxSize        string        // human-readable size limit, "25 MB"
}

// Ticket is the view of a ticket that templates show. Status, Priority, Type
// and Impact hold codes (see [Codes]); templates show them as labels in the
// recipient's language.
type Ticket struct {
	Number           int64
	Subject          string
	Status           string // waiting_for_support, waiting_for_customer, in_backlog, planned, resolved, wont_do, closed
	Priority         string // system_down, critical, high, medium, low
	Type             string // question, bug, feature, incident, translation, other
	Impact           string // single_user, admin_users, end_users, everyone, other
	Requester        string // display name, or the address when there is none
	Organization     string
	Assignee         string // agent's display name; "" = unassigned
	Created, Updated time.Time
	FirstResponseDue time.Time // zero = none or paused
	ResolutionDue    time.Time // zero = none or paused
	Breached         bool      // an SLA target of this ticket has been missed
	FollowUpOf       int64     // non-zero: this ticket follows up on that closed ticket
	Reference        string    // the customer's own internal reference, if any
}

// RefusedFile is an attachment that was not made available on a ticket.
type RefusedFile struct {
	Name string
	// Reason is a refusal code (see [Codes] with [KindRefusal]), shown as
	// its label, or any other text, shown as is.
	Reason string
}

// Digest holds the figures of the daily digest to agents.
type Digest struct {
	Date       time.Time // the day the digest is for
	Open       int       // open tickets (every status but closed)
	ByStatus   []Count   // in display order; zero counts may be left out
	ByPriority []Count   // in display order; zero counts may be left out
	Breached   []Ticket  // open tickets past an SLA target
	Oldest     []Ticket  // the oldest open tickets, oldest first
}

// Count is a number of tickets with one status or priority code.
type Count struct {
	Code string
	N    int
}

// inZone returns d with every time converted to d.Zone (UTC when nil), so
// that templates can format times without knowing the zone.
func inZone(d Data) Data {
	loc := d.Zone
	if loc == nil {
		loc = time.UTC
	}
	at := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.In(loc)
	}
	ticket := func(t Ticket) Ticket {
		t.Created, t.Updated = at(t.Created), at(t.Updated)
		t.FirstResponseDue, t.ResolutionDue = at(t.FirstResponseDue), at(t.ResolutionDue)
		return t
	}
	tickets := func(ts []Ticket) []Ticket {
		out := make([]Ticket, len(ts))
		for i, t := range ts {
			out[i] = ticket(t)
		}
		return out
	}
	d.Ticket = ticket(d.Ticket)
	d.Tickets = tickets(d.Tickets)
	d.Digest.Date = at(d.Digest.Date)
	d.Digest.Breached = tickets(d.Digest.Breached)
	d.Digest.Oldest = tickets(d.Digest.Oldest)
	d.Deadline = at(d.Deadline)
	d.CloseOn = at(d.CloseOn)
	return d
}
