package helpmail

import (
	"strings"
	"time"
)

// Role is how a person takes part in a ticket.
type Role string

// The roles stored on a ticket. Agents and organization colleagues are not
// stored: they follow from the configuration.
const (
	RoleRequester    Role = "requester"    // opened the ticket
	RoleCollaborator Role = "collaborator" // CC'd by the requester or an agent
)

// Participant is a person stored on a ticket.
type Participant struct {
	Ticket  int64     `json:"-"`
	Address string    `json:"address"` // lower-case
	Name    string    `json:"name,omitempty"`
	Role    Role      `json:"role"`
	AddedBy string    `json:"added_by,omitempty"` // who made them a participant
	AddedAt time.Time `json:"added_at"`
}

// Agent is a support team member, from the configuration.
type Agent struct {
	Name    string
	Address string // lower-case
	Groups  []string
	// Language of the notifications the agent gets; "" = the desk default.
	Language string
}

// Organization groups the customers of one company, from the
// configuration or derived from a mail domain.
type Organization struct {
	Name     string
	Domains  []string // lower-case mail domains
	Admins   []string // addresses notified like the requester when visibility = organization
	Language string   // default language of its tickets, "" for the desk default
}

// NormalizeAddress lower-cases and trims an address so it can be compared.
func NormalizeAddress(addr string) string {
	return strings.ToLower(strings.TrimSpace(addr))
}

// Domain returns the domain part of an address, lower-case, or "".
func Domain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}
