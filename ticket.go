package helpmail

import (
	"fmt"
	"time"
)

// Status is where a ticket stands (SPEC §4). The zero value is not a status.
type Status string

// The statuses, in the order a ticket usually moves through them.
const (
	StatusWaitingForSupport  Status = "waiting_for_support"  // in the support queue
	StatusWaitingForCustomer Status = "waiting_for_customer" // support needs input from the customer
	StatusInBacklog          Status = "in_backlog"           // a fix or feature is in the backlog, no timeline
	StatusPlanned            Status = "planned"              // planned for the current product cycle
	StatusResolved           Status = "resolved"             // fixed, released or answered
	StatusWontDo             Status = "wont_do"              // no further action will be taken
	StatusClosed             Status = "closed"               // done
)

// Statuses lists every status in display order.
var Statuses = []Status{
	StatusWaitingForSupport, StatusWaitingForCustomer, StatusInBacklog,
	StatusPlanned, StatusResolved, StatusWontDo, StatusClosed,
}

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool { return contains(Statuses, s) }

// Open reports whether the ticket still needs work from someone: every
// status except resolved, wont_do and closed.
func (s Status) Open() bool {
	return s.Valid() && s != StatusResolved && s != StatusWontDo && s != StatusClosed
}

// ClockPaused reports whether the resolution clock stands still in this
// status (SPEC §7): support is waiting on the customer or on the product.
// Done statuses stop the clock too.
func (s Status) ClockPaused() bool {
	switch s {
	case StatusWaitingForCustomer, StatusInBacklog, StatusPlanned:
		return true
	}
	return !s.Open()
}

// Event is something that happened to a ticket and may move its status.
type Event string

// The events of the transition table.
const (
	EventCustomerReply Event = "customer_reply" // the requester or a collaborator wrote
	EventAgentReply    Event = "agent_reply"    // an agent answered the customer publicly
	EventCustomerClose Event = "customer_close" // the customer closed it with #close
	EventAutoClose     Event = "auto_close"     // the scheduler closed it (aged out)
)

// transitions is the status machine of SPEC §4: for each status, where each
// event takes it. A missing entry means the event is not allowed there.
// Agents may also set any status directly (SetStatus).
var transitions = map[Status]map[Event]Status{
	StatusWaitingForSupport: {
		EventCustomerReply: StatusWaitingForSupport,
		EventAgentReply:    StatusWaitingForCustomer,
		EventCustomerClose: StatusClosed,
	},
	StatusWaitingForCustomer: {
		EventCustomerReply: StatusWaitingForSupport, // reopen on reply
		EventAgentReply:    StatusWaitingForCustomer,
		EventCustomerClose: StatusClosed,
		EventAutoClose:     StatusClosed,
	},
	StatusInBacklog: {
		EventCustomerReply: StatusWaitingForSupport,
		EventAgentReply:    StatusWaitingForCustomer,
		EventCustomerClose: StatusClosed,
	},
	StatusPlanned: {
		EventCustomerReply: StatusWaitingForSupport,
		EventAgentReply:    StatusWaitingForCustomer,
		EventCustomerClose: StatusClosed,
	},
	StatusResolved: {
		EventCustomerReply: StatusWaitingForSupport, // reopen on reply
		EventAgentReply:    StatusWaitingForCustomer,
		EventCustomerClose: StatusClosed,
		EventAutoClose:     StatusClosed,
	},
	StatusWontDo: {
		EventCustomerReply: StatusWaitingForSupport, // reopen on reply
		EventAgentReply:    StatusWaitingForCustomer,
		EventCustomerClose: StatusClosed,
	},
	StatusClosed: {
		EventCustomerReply: StatusWaitingForSupport, // reopen on reply (within the window)
		EventAgentReply:    StatusWaitingForCustomer,
		EventCustomerClose: StatusClosed,
	},
}

// Transition returns the status event e moves a ticket in status from to, or
// an EINVALID error when the table has no such move.
func Transition(from Status, e Event) (Status, error) {
	if to, ok := transitions[from][e]; ok {
		return to, nil
	}
	return from, Errorf(EINVALID, "%s is not possible in status %s", e, from)
}

// IsReopen reports whether a move from one status to another reopens a
// ticket: support had put it down as done (resolved, won't do, closed) and
// a customer reply picks it up again. A reply while support waits for the
// customer also sends the ticket back to the queue (SPEC §4), but that is
// the normal flow of a conversation, not a reopen, and agents hear of it
// as a customer reply.
func IsReopen(from, to Status) bool {
	return from.Valid() && !from.Open() && to == StatusWaitingForSupport
}

// Priority says how urgent a ticket is (SPEC §4), most urgent first.
type Priority string

// The priorities, from the seed's "Understanding Case Priority".
const (
	PrioritySystemDown Priority = "system_down" // nonfunctional; pages on-call at any hour
	PriorityCritical   Priority = "critical"
	PriorityHigh       Priority = "high"
	PriorityMedium     Priority = "medium"
	PriorityLow        Priority = "low"
)

// Priorities lists every priority, most urgent first.
var Priorities = []Priority{PrioritySystemDown, PriorityCritical, PriorityHigh, PriorityMedium, PriorityLow}

// Valid reports whether p is one of the priorities.
func (p Priority) Valid() bool { return contains(Priorities, p) }

// Rank orders priorities: 0 for system_down up to 4 for low, 5 if invalid.
func (p Priority) Rank() int {
	for i, q := range Priorities {
		if p == q {
			return i
		}
	}
	return len(Priorities)
}

// Type says what kind of request a ticket is.
type Type string

// The ticket types.
const (
	TypeQuestion    Type = "question"
	TypeBug         Type = "bug"
	TypeFeature     Type = "feature"
	TypeIncident    Type = "incident"
	TypeTranslation Type = "translation"
	TypeOther       Type = "other"
)

// Types lists every ticket type.
var Types = []Type{TypeQuestion, TypeBug, TypeFeature, TypeIncident, TypeTranslation, TypeOther}

// Valid reports whether t is one of the types.
func (t Type) Valid() bool { return contains(Types, t) }

// Impact says who is affected by the issue and how widely.
type Impact string

// The business impacts, from the seed's "Understanding Business Impact".
const (
	ImpactSingleUser Impact = "single_user"
	ImpactAdminUsers Impact = "admin_users"
	ImpactEndUsers   Impact = "end_users"
	ImpactEveryone   Impact = "everyone"
	ImpactOther      Impact = "other"
)

// Impacts lists every business impact.
var Impacts = []Impact{ImpactSingleUser, ImpactAdminUsers, ImpactEndUsers, ImpactEveryone, ImpactOther}

// Valid reports whether i is one of the impacts.
func (i Impact) Valid() bool { return contains(Impacts, i) }

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// ParseStatus, ParsePriority, ParseType and ParseImpact turn user input (an
// email command, a CLI flag) into a value, accepting the label's spelling
// with spaces or dashes ("waiting for customer", "system-down").
func ParseStatus(s string) (Status, error) { return parseEnum(Statuses, "status", s) }

// ParsePriority: see ParseStatus.
func ParsePriority(s string) (Priority, error) { return parseEnum(Priorities, "priority", s) }

// ParseType: see ParseStatus.
func ParseType(s string) (Type, error) { return parseEnum(Types, "type", s) }

// ParseImpact: see ParseStatus.
func ParseImpact(s string) (Impact, error) { return parseEnum(Impacts, "impact", s) }

func parseEnum[T ~string](all []T, what, s string) (T, error) {
	key := normalizeCode(s)
	for _, v := range all {
		if string(v) == key {
			return v, nil
		}
	}
	names := make([]string, len(all))
	for i, v := range all {
		names[i] = string(v)
	}
	return "", Errorf(EINVALID, "unknown %s %q (one of: %s)", what, s, joinList(names))
}

func normalizeCode(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		case c == ' ' || c == '-':
			b = append(b, '_')
		case c == '\'':
			// "won't do" → "wont_do"
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func joinList(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

// Ticket is one customer request and everything known about its state.
// Participants, messages and history are stored beside it.
type Ticket struct {
	// Number is the ticket's public number, "#1042"; sequential, never reused.
	Number int64 `json:"number"`
	// Subject is the base subject of the first message (no Re:, no tag).
	Subject string `json:"subject"`
	// Requester is the lower-case address of the person who opened it.
	Requester     string `json:"requester"`
	RequesterName string `json:"requester_name,omitempty"`
	// Organization is derived from the requester's domain unless that is a
	// public mail provider; config may map domains to organizations.
	Organization string `json:"organization,omitempty"`
	// Assignee is the address of the agent who owns the ticket, "" for none.
	Assignee string   `json:"assignee"`
	Status   Status   `json:"status"`
	Priority Priority `json:"priority"`
	Type     Type     `json:"type"`
	Impact   Impact   `json:"impact"`
	// Language is the language of every notification about the ticket
	// ("en", "fr", "nl"), fixed when it is opened.
	Language string `json:"language"`
	// Reference is the customer's own internal reference, if they gave one.
	Reference string `json:"reference,omitempty"`
	// Address is the support address the ticket came in through; replies
	// go out from it.
	Address string `json:"address"`
	// FollowUpOf is the closed ticket this one follows up on, 0 for none.
	FollowUpOf int64 `json:"follow_up_of,omitempty"`
	// MergedInto is the ticket this one was merged into, 0 for none.
	MergedInto int64 `json:"merged_into,omitempty"`
	// ThreadIndex is the Outlook conversation index outgoing mail continues.
	ThreadIndex string `json:"-"`
	// RootMessageID and LastMessageID are the canonical ids of the first
	// message and of the customer's latest one: replies reference them.
	RootMessageID string `json:"-"`
	LastMessageID string `json:"-"`

	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	FirstResponseAt time.Time `json:"first_response_at,omitzero"`
	ResolvedAt      time.Time `json:"resolved_at,omitzero"`
	ClosedAt        time.Time `json:"closed_at,omitzero"`
	// StatusSince is when the ticket entered its current status; the
	// reminders and auto-close count from it.
	StatusSince time.Time `json:"status_since,omitzero"`

	// SLA: due times and warning times (zero while none applies or the
	// clock is paused), the business time the resolution clock has run,
	// and since when it runs.
	FirstResponseDue       time.Time     `json:"first_response_due,omitzero"`
	FirstResponseWarn      time.Time     `json:"-"`
	ResolutionDue          time.Time     `json:"resolution_due,omitzero"`
	ResolutionWarn         time.Time     `json:"-"`
	ResolutionElapsed      time.Duration `json:"-"`
	ResolutionRunningSince time.Time     `json:"-"`
}

// Tag renders the ticket's subject tag, "[Support #1042]".
func (t *Ticket) Tag(tag string) string { return fmt.Sprintf("[%s #%d]", tag, t.Number) }
