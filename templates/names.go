package templates

// Template names, the second argument of [Set.Render]. Each comment says who
// receives it and which [Data] fields it shows besides Helpdesk, Tag,
// SupportAddress, Zone and Ticket.
const (
	// TicketOpened acknowledges a new request to the requester: the number,
	// the first-response target (Ticket.FirstResponseDue), how to add
	// information and how to close; Recipient, Ticket.FollowUpOf.
	TicketOpened = "ticket_opened"
	// AgentReply carries an agent's public reply to the customer: Body,
	// Agent, Recipient.
	AgentReply = "agent_reply"
	// StatusChanged tells the customer the new status and what it means:
	// NewStatus, OldStatus, Agent, Recipient.
	StatusChanged = "status_changed"
	// TicketClosed confirms a closed ticket to the customer: Agent ("" when
	// the customer closed it), Reason, ReopenDays, Recipient.
	TicketClosed = "ticket_closed"
	// WaitingReminder reminds the customer that support waits for them:
	// Days, CloseOn, Recipient.
	WaitingReminder = "waiting_reminder"
	// AutoClosed tells the customer a ticket was closed automatically: Days,
	// ReopenDays, Recipient.
	AutoClosed = "auto_closed"
	// RefusedAttachment tells the sender which files were refused and why:
	// Files, MaxSize, Recipient.
	RefusedAttachment = "refused_attachment"
	// MessageTooLarge tells the sender their message was refused: MaxSize,
	// Recipient; Ticket.Number may be 0 when the message started no ticket.
	MessageTooLarge = "message_too_large"
	// RequestsOverview lists a customer's requests: Tickets, Recipient. Its
	// subject carries no ticket number.
	RequestsOverview = "requests_overview"

	// AgentNewTicket notifies agents of a new ticket: Body (quoted), Author,
	// the ticket state and the email commands.
	AgentNewTicket = "agent_new_ticket"
	// AgentCustomerReply notifies agents of a customer reply: Body (quoted),
	// Author, the ticket state and the email commands.
	AgentCustomerReply = "agent_customer_reply"
	// AgentTicketReopened tells agents a customer reply reopened a ticket:
	// Body (quoted), Author, OldStatus, the ticket state.
	AgentTicketReopened = "agent_ticket_reopened"
	// AgentCopy copies an agent's public reply or internal note to the
	// other agents: Agent, Body, Internal.
	AgentCopy = "agent_copy"
	// SLAWarning warns that an SLA target is near: SLAKind, Deadline.
	SLAWarning = "sla_warning"
	// SLABreach reports a missed SLA target: SLAKind, Deadline.
	SLABreach = "sla_breach"
	// OncallPage pages the on-call address for a system_down ticket: Body
	// (quoted), Author, the ticket state.
	OncallPage = "oncall_page"
	// DailyDigest summarises open tickets for agents: Digest. Its subject
	// carries no ticket number.
	DailyDigest = "digest"
	// CommandError tells an agent their email commands were not applied and
	// nothing was sent to the customer: Errors.
	CommandError = "command_error"
)

// names returns every template name, sorted.
func names() []string {
	return []string{
		AgentCopy, AgentCustomerReply, AgentNewTicket, AgentReply,
		AgentTicketReopened, AutoClosed, CommandError, DailyDigest,
		MessageTooLarge, OncallPage, RefusedAttachment, RequestsOverview,
		SLABreach, SLAWarning, StatusChanged, TicketClosed, TicketOpened,
		WaitingReminder,
	}
}

// Label kinds, the second argument of [Set.Label] and the argument of
// [Codes].
const (
	KindStatus        = "status"         // ticket status
	KindStatusMeaning = "status_meaning" // one or two sentences on what a status means for the customer
	KindPriority      = "priority"       // ticket priority
	KindType          = "type"           // ticket type
	KindImpact        = "impact"         // business impact
	KindSLA           = "sla"            // SLA target: first_response, resolution
	KindRefusal       = "refusal"        // why an attachment was refused
)

// Codes returns the codes of a label kind in display order (a new slice),
// or nil for an unknown kind. Every code has a label in every language:
// [New] refuses a label file that lacks one.
func Codes(kind string) []string {
	switch kind {
	case KindStatus, KindStatusMeaning:
		return []string{"waiting_for_support", "waiting_for_customer", "in_backlog", "planned", "resolved", "wont_do", "closed"}
	case KindPriority:
		return []string{"system_down", "critical", "high", "medium", "low"}
	case KindType:
		return []string{"question", "bug", "feature", "incident", "translation", "other"}
	case KindImpact:
		return []string{"single_user", "admin_users", "end_users", "everyone", "other"}
	case KindSLA:
		return []string{"first_response", "resolution"}
	case KindRefusal:
		return []string{"too_large", "type_not_allowed"}
	}
	return nil
}

// kinds returns every label kind.
func kinds() []string {
	return []string{KindStatus, KindStatusMeaning, KindPriority, KindType, KindImpact, KindSLA, KindRefusal}
}
