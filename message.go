package helpmail

import "time"

// Direction says whether a stored message came in or went out.
type Direction string

// The directions.
const (
	Inbound  Direction = "in"
	Outbound Direction = "out"
)

// Kind says what a stored message is to its ticket.
type Kind string

// The kinds of stored messages.
const (
	KindCustomer     Kind = "customer"     // from the requester, a collaborator or a stranger
	KindAgentReply   Kind = "agent_reply"  // an agent's public reply (inbound copy, and the outbound mail)
	KindNote         Kind = "note"         // an agent's internal note, never sent to the customer
	KindCommand      Kind = "command"      // an agent message carrying only email commands
	KindAutomatic    Kind = "automatic"    // out-of-office, list mail, reports: stored, no effect
	KindBounce       Kind = "bounce"       // a delivery status notification
	KindNotification Kind = "notification" // an outgoing templated notification
)

// Message is one stored mail, inbound or outbound, with what was derived
// from it. Raw holds the exact bytes; every other field can be derived again.
type Message struct {
	ID        int64     `json:"id"`
	Ticket    int64     `json:"ticket,omitempty"` // 0 when on no ticket
	Direction Direction `json:"direction"`
	Kind      Kind      `json:"kind"`
	// MessageID is the canonical Message-ID (no brackets, lower-case), ""
	// when the message had none.
	MessageID string `json:"message_id"`
	// RawSHA256 identifies the exact bytes; ContentSHA256 the message
	// without its trace header fields (Received, Return-Path, …), so the
	// same message relayed along another path is still recognised.
	RawSHA256     string `json:"raw_sha256"`
	ContentSHA256 string `json:"-"`
	Raw           []byte `json:"-"`

	Source       string   `json:"source,omitempty"` // smtp, imap, pipe, import, desk
	EnvelopeFrom string   `json:"envelope_from,omitempty"`
	EnvelopeTo   []string `json:"envelope_to,omitempty"`
	RemoteAddr   string   `json:"remote_addr,omitempty"`

	From     string    `json:"from"`
	FromName string    `json:"from_name,omitempty"`
	To       []string  `json:"to"`
	Cc       []string  `json:"cc,omitempty"`
	Subject  string    `json:"subject"`
	Date     time.Time `json:"date,omitzero"`
	// Text is the message's text as shown on the ticket: for agent replies
	// the extracted new text, for notes the note.
	Text        string       `json:"text"`
	Attachments []Attachment `json:"attachments"`

	// Decision explains what the desk did with the message and why.
	Decision Decision `json:"decision"`

	CreatedAt time.Time `json:"created_at"`
}

// Attachment is a file carried by a message. Files are stored once per
// content (by SHA-256); a refused file is listed with the reason and its
// bytes stay only in the raw message.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256,omitempty"`
	Inline      bool   `json:"inline,omitempty"`
	ContentID   string `json:"-"`
	Refused     string `json:"refused,omitempty"` // why the file is not available on the ticket
	Data        []byte `json:"-"`                 // set when storing and when relaying
}

// Decision records, for `helpmail messages explain`, which rule threaded a
// message, what it did to its ticket and which notifications it caused or
// why they were suppressed.
type Decision struct {
	Rule    string   `json:"rule,omitempty"`  // token, reference, tag, new (threading.Rule)
	Outcome string   `json:"outcome"`         // e.g. "new ticket", "reopened", "duplicate", "bounce matched"
	Notes   []string `json:"notes,omitempty"` // why earlier rules did not apply, refusals, …
	Actions []string `json:"actions,omitempty"`
}

// HistoryEntry is one recorded change of a ticket: who, when, what changed
// from what to what, and why.
type HistoryEntry struct {
	ID      int64     `json:"-"`
	Ticket  int64     `json:"-"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"` // an address, "system" or "scheduler"
	Field   string    `json:"field"` // status, priority, assignee, created, note, notification, …
	Old     string    `json:"old,omitempty"`
	New     string    `json:"new,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Message int64     `json:"message,omitempty"` // the stored message that caused it
}
