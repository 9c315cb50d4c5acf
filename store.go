package helpmail

import (
	"context"
	"time"
)

// Store is the desk's persistence. Update runs fn in one write transaction
// and commits when fn returns nil (rolls back otherwise, also on panic);
// View runs fn in a read-only transaction. The store package implements it
// on SQLite.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(Tx) error) error
}

// Tx is what the desk may do inside one transaction. Methods return an
// *Error with ENOTFOUND when a named row does not exist.
type Tx interface {
	// CreateMessage stores a message with its raw bytes and attachments
	// and sets m.ID.
	CreateMessage(ctx context.Context, m *Message) error
	// FindDuplicate returns the id of a stored inbound message with the
	// same raw bytes, or with the same Message-ID and the same content
	// (all but trace header fields); 0 if none.
	FindDuplicate(ctx context.Context, rawSHA256, messageID, contentSHA256 string) (int64, error)
	// FindMessage returns one stored message with its raw bytes.
	FindMessage(ctx context.Context, id int64) (*Message, error)
	// FindMessages returns the messages of a ticket in the order they were
	// stored, without raw bytes.
	FindMessages(ctx context.Context, ticket int64) ([]*Message, error)
	// FindMessagesByMessageID returns every stored message with that
	// canonical Message-ID, newest first, without raw bytes.
	FindMessagesByMessageID(ctx context.Context, messageID string) ([]*Message, error)
	// TicketByMessageID returns the ticket of the newest stored (inbound or
	// sent) message with that canonical Message-ID, 0 if none.
	TicketByMessageID(ctx context.Context, messageID string) (int64, error)
	// UpdateMessageDecision rewrites the recorded decision of a message.
	UpdateMessageDecision(ctx context.Context, id int64, d Decision) error

	// CreateTicket stores a new ticket and sets its Number.
	CreateTicket(ctx context.Context, t *Ticket) error
	// FindTicket returns a ticket by number.
	FindTicket(ctx context.Context, number int64) (*Ticket, error)
	// UpdateTicket writes every field of t.
	UpdateTicket(ctx context.Context, t *Ticket) error
	// FindTickets returns the tickets matching f and the total count
	// without paging.
	FindTickets(ctx context.Context, f TicketFilter) ([]*Ticket, int, error)

	// MoveTicketData moves the messages of ticket from to ticket to and
	// makes its participants collaborators of to (a merge).
	MoveTicketData(ctx context.Context, from, to int64) error

	// Participants returns the stored participants of a ticket.
	Participants(ctx context.Context, ticket int64) ([]Participant, error)
	// AddParticipant stores p unless that address is already a participant
	// of the ticket; it reports whether it added one.
	AddParticipant(ctx context.Context, p Participant) (bool, error)
	// RemoveParticipant removes a collaborator; it reports whether one was.
	RemoveParticipant(ctx context.Context, ticket int64, addr string) (bool, error)
	// TicketsOf returns the numbers of tickets where addr is a participant
	// or, when org is non-empty, which belong to that organization,
	// most recently updated first, at most limit.
	TicketsOf(ctx context.Context, addr, org string, limit int) ([]*Ticket, error)

	// AddHistory records one change.
	AddHistory(ctx context.Context, h *HistoryEntry) error
	// History returns a ticket's history, oldest first.
	History(ctx context.Context, ticket int64) ([]HistoryEntry, error)

	// CreateOutbox queues one delivery and sets o.ID.
	CreateOutbox(ctx context.Context, o *OutboxItem) error
	// CountAutomaticSince counts automatic mail queued for rcpt since t
	// (the per-address rate limit).
	CountAutomaticSince(ctx context.Context, rcpt string, since time.Time) (int, error)
	// CountQueuedSince counts the mail queued to rcpt about ticket since t
	// (the per-agent, per-ticket loop limit).
	CountQueuedSince(ctx context.Context, rcpt string, ticket int64, since time.Time) (int, error)
	// FindOutbox returns one outbox row (with the message's raw bytes).
	FindOutbox(ctx context.Context, id int64) (*OutboxItem, error)
	// FindOutboxes lists outbox rows, newest first.
	FindOutboxes(ctx context.Context, f OutboxFilter) ([]*OutboxItem, error)
	// UpdateOutbox writes the delivery state of o.
	UpdateOutbox(ctx context.Context, o *OutboxItem) error
	// ClaimOutbox marks up to limit due rows as sending until now+lease
	// and returns them with their bytes. Rows whose claim expired (the
	// process sending them died) are due again.
	ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*OutboxItem, error)
	// NextOutboxDue returns when the next row is due, zero if none waits.
	NextOutboxDue(ctx context.Context) (time.Time, error)

	// FindDue returns the tickets for which the job kind is due at now
	// (before is the status-age threshold of the reminder and auto-close
	// jobs) and has not yet run for the ticket's current deadline.
	FindDue(ctx context.Context, kind DueKind, now, before time.Time, limit int) ([]*Ticket, error)
	// AddMark records that job kind ran for ticket and deadline; false if
	// it already had (the UNIQUE key that makes reminders exactly once).
	AddMark(ctx context.Context, ticket int64, kind DueKind, deadline, at time.Time) (bool, error)
	// AddJobMark is AddMark for jobs about no ticket (the daily digest).
	AddJobMark(ctx context.Context, kind, key string, at time.Time) (bool, error)
	// CountOpen counts open tickets by "status" or "priority".
	CountOpen(ctx context.Context, by string) (map[string]int, error)

	// Suppressed reports why automatic mail to addr is suppressed, "" if
	// it is not.
	Suppressed(ctx context.Context, addr string) (string, error)
	// Suppress marks addr undeliverable (reason kept); Unsuppress clears it.
	Suppress(ctx context.Context, addr, reason string, at time.Time) error
	Unsuppress(ctx context.Context, addr string) (bool, error)
}

// TicketFilter selects tickets for FindTickets. Zero fields do not filter.
type TicketFilter struct {
	Status       []Status
	Priority     []Priority
	Type         []Type
	Requester    string
	Organization string
	Assignee     string // "none" for unassigned
	Open         bool   // only open statuses
	Breached     bool   // only tickets past a due time at Now
	Now          time.Time
	// Sort is "updated" (default, newest first), "created", "priority" or
	// "due" (earliest due first).
	Sort   string
	Offset int
	Limit  int // 0 = no limit
}

// OutboxStatus is the delivery state of an outbox row.
type OutboxStatus string

// The outbox states. A row moves queued → sending → sent, or back to queued
// with a later NextAttempt on a temporary failure, or to failed on a
// permanent one; bounced when a DSN reports it failed after sending.
const (
	OutboxQueued  OutboxStatus = "queued"
	OutboxSending OutboxStatus = "sending"
	OutboxSent    OutboxStatus = "sent"
	OutboxFailed  OutboxStatus = "failed"
	OutboxBounced OutboxStatus = "bounced"
)

// OutboxItem is one delivery of one stored outbound message to one
// recipient. The bytes live in the message row, so a retry sends the same
// bytes and the same Message-ID.
type OutboxItem struct {
	ID        int64        `json:"id"`
	Message   int64        `json:"message"`
	Ticket    int64        `json:"ticket,omitempty"`
	Rcpt      string       `json:"rcpt"`
	Template  string       `json:"template"`  // the notification it carries
	Automatic bool         `json:"automatic"` // an automatic message (rate-limited, never to automatic mail)
	Status    OutboxStatus `json:"status"`
	Attempts  int          `json:"attempts"`
	// NextAttempt is when the row is due; while sending, ClaimedUntil is
	// when a claim by a process that died expires.
	NextAttempt  time.Time `json:"next_attempt,omitzero"`
	ClaimedUntil time.Time `json:"-"`
	LastError    string    `json:"last_error,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	SentAt       time.Time `json:"sent_at,omitzero"`

	MessageID string `json:"message_id"` // of the stored message
	Subject   string `json:"subject"`
	Raw       []byte `json:"-"` // loaded by FindOutbox and ClaimOutbox
}

// OutboxFilter selects outbox rows.
type OutboxFilter struct {
	Status  []OutboxStatus
	Ticket  int64
	Message int64
	Limit   int
}
