package helpmail

import (
	"slices"
	"strings"
	"time"
)

// Config is the desk's domain configuration: who the helpdesk is, where
// mail comes in, who the agents and organizations are, and the rules with
// numbers in them. cmd/helpmail builds it from the TOML file.
type Config struct {
	// Name is the helpdesk's display name, used as the From name.
	Name string
	// Tag is the subject tag: "[<Tag> #<number>]".
	Tag string
	// Routes are the support addresses; the first is the default one.
	Routes []Route
	// Agents are the support team.
	Agents []Agent
	// Organizations map domains to organizations, with their admins.
	Organizations []Organization
	// PublicDomains are mail providers whose users are not one
	// organization (gmail.com, outlook.com, …).
	PublicDomains []string
	// Visibility is "private" (requester and collaborators only) or
	// "organization" (colleagues follow tickets, admins are notified).
	Visibility string
	// DefaultLanguage is used when neither the message, the organization
	// nor the domain says otherwise; Languages are those templates exist for.
	DefaultLanguage string
	Languages       []string
	// DomainLanguages sets the language of tickets from a mail domain.
	DomainLanguages map[string]string
	// ReopenWindow: a reply to a ticket closed longer ago than this opens a
	// follow-up ticket instead of reopening it.
	ReopenWindow time.Duration
	// ThanksKeepsResolved: a reply that is only thanks does not reopen a
	// resolved ticket.
	ThanksKeepsResolved bool
	// MaxMessageBytes refuses bigger messages (0 = no limit here).
	MaxMessageBytes int64
	// Attachments is the attachment policy.
	Attachments AttachmentPolicy
	// AutoReplyLimit automatic messages per AutoReplyWindow per address.
	AutoReplyLimit  int
	AutoReplyWindow time.Duration
	// AgentNoticeLimit notifications per AutoReplyWindow to one agent about
	// one ticket: every loop between autoresponders passes through them.
	AgentNoticeLimit int
	// TrustedAuthServIDs are the authserv-ids whose Authentication-Results
	// are believed (they are added by our own receiving MTA).
	TrustedAuthServIDs []string
	// CCFromCollaborators: addresses CC'd by a collaborator become
	// collaborators too (off by default: the CC guard).
	CCFromCollaborators bool
	// Schedule is how long the reminder and auto-close jobs wait.
	Schedule Schedule
	// OnCall is paged when a system_down ticket opens; Escalation gets SLA
	// breaches.
	OnCall     string
	Escalation string
	// StripSignatures removes the agent's signature block ("-- ") from
	// public replies.
	StripSignatures bool
	// CopyAgents sends the other agents a copy of each agent reply and note.
	CopyAgents bool
	// BounceLocal is the local part of the VERP envelope sender
	// ("bounces" → bounces+<token>@domain).
	BounceLocal string
	// Zone is the time zone notifications show times in.
	Zone *time.Location
}

// Route is one support address and the defaults of the tickets it opens.
type Route struct {
	Address  string // lower-case, e.g. support@example.com
	Type     Type
	Priority Priority
	Impact   Impact
}

// AttachmentPolicy says which files are made available on a ticket.
type AttachmentPolicy struct {
	MaxBytes   int64    // per file; 0 = no limit
	Extensions []string // allowed, lower-case with dot; empty = all
	KeepInline bool     // inline images are kept whatever their extension
}

// DefaultConfig returns the built-in defaults, which make a desk usable
// with no configuration file at all.
func DefaultConfig() Config {
	return Config{
		Name:   "Support",
		Tag:    "Support",
		Routes: []Route{{Address: "support@localhost", Type: TypeQuestion, Priority: PriorityMedium, Impact: ImpactSingleUser}},
		PublicDomains: []string{
			"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
			"yahoo.com", "yahoo.fr", "icloud.com", "me.com", "mac.com", "aol.com", "gmx.com",
			"gmx.de", "gmx.net", "web.de", "proton.me", "protonmail.com", "orange.fr", "free.fr",
			"laposte.net", "telenet.be", "skynet.be", "proximus.be", "ziggo.nl", "kpnmail.nl",
			"hotmail.fr", "hotmail.be", "outlook.be", "outlook.fr", "yandex.ru", "mail.ru", "zoho.com",
		},
		Visibility:          "private",
		DefaultLanguage:     "en",
		Languages:           []string{"en", "fr", "nl"},
		ReopenWindow:        30 * 24 * time.Hour,
		ThanksKeepsResolved: true,
		MaxMessageBytes:     25 << 20,
		Attachments: AttachmentPolicy{
			MaxBytes: 15 << 20,
			Extensions: []string{".doc", ".docx", ".xls", ".xlsx", ".csv", ".txt", ".pdf", ".bmp",
				".jpg", ".jpeg", ".png", ".tar", ".zip"},
			KeepInline: true,
		},
		AutoReplyLimit:   5,
		AutoReplyWindow:  time.Hour,
		AgentNoticeLimit: 10,
		BounceLocal:      "bounces",
		CopyAgents:       true,
		Schedule: Schedule{WaitingReminderAfter: 3 * 24 * time.Hour, WaitingCloseAfter: 4 * 24 * time.Hour,
			AutoCloseAfter: 7 * 24 * time.Hour},
		Zone: time.UTC,
	}
}

// route returns the route of a support address, or the default route.
func (c *Config) route(addr string) Route {
	for _, r := range c.Routes {
		if r.Address == addr {
			return r
		}
	}
	return c.Routes[0]
}

// agent returns the configured agent with that address, or nil.
func (c *Config) agent(addr string) *Agent {
	addr = NormalizeAddress(addr)
	for i := range c.Agents {
		if c.Agents[i].Address == addr {
			return &c.Agents[i]
		}
	}
	return nil
}

// organizationOf returns the organization name of an address: a configured
// organization owning its domain, else the domain itself unless it is a
// public mail provider.
func (c *Config) organizationOf(addr string) (string, *Organization) {
	d := Domain(addr)
	if d == "" {
		return "", nil
	}
	for i := range c.Organizations {
		if slices.Contains(c.Organizations[i].Domains, d) {
			return c.Organizations[i].Name, &c.Organizations[i]
		}
	}
	if slices.Contains(c.PublicDomains, d) {
		return "", nil
	}
	return d, nil
}

// IsOwnAddress reports whether addr is one of the desk's own addresses: a
// support address, one of its sub-addresses, or the bounce address. The
// SMTP server accepts mail for these and nothing else.
func (c *Config) IsOwnAddress(addr string) bool {
	addr = NormalizeAddress(addr)
	local, domain, ok := strings.Cut(addr, "@")
	if !ok {
		return false
	}
	base, _, _ := strings.Cut(local, "+")
	for _, r := range c.Routes {
		rl, rd, _ := strings.Cut(r.Address, "@")
		if rd == domain && (rl == base || base == c.BounceLocal) {
			return true
		}
	}
	return false
}

// language picks the language of a new ticket: the message's
// Content-Language, the organization's, the domain's, or the default.
func (c *Config) language(contentLanguage string, org *Organization, addr string) string {
	if l := c.supported(contentLanguage); l != "" {
		return l
	}
	if org != nil {
		if l := c.supported(org.Language); l != "" {
			return l
		}
	}
	if l := c.supported(c.DomainLanguages[Domain(addr)]); l != "" {
		return l
	}
	return c.DefaultLanguage
}

// supported maps a language tag ("fr-BE", "nl") to a shipped language, or "".
func (c *Config) supported(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(tag, "-_,; "); i >= 0 {
		tag = tag[:i]
	}
	if tag != "" && slices.Contains(c.Languages, tag) {
		return tag
	}
	return ""
}
