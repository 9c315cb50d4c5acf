package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/mailbox/imappoller"
	"github.com/helpmail/helpmail/mailbox/smtprelay"
)

// Config is helpmail's whole configuration: one TOML file decoded over
// DefaultConfig. Every key is documented in config.example.toml, and a test
// decodes that file so the two cannot drift.
type Config struct {
	Helpdesk      HelpdeskConfig       `toml:"helpdesk"`
	Database      DatabaseConfig       `toml:"database"`
	SMTP          SMTPConfig           `toml:"smtp"`
	Routes        []RouteConfig        `toml:"routes"`
	Agents        []AgentConfig        `toml:"agents"`
	Organizations []OrganizationConfig `toml:"organizations"`
	Outbound      OutboundConfig       `toml:"outbound"`
	IMAP          []IMAPConfig         `toml:"imap"`
	Attachments   AttachmentsConfig    `toml:"attachments"`
	Loop          LoopConfig           `toml:"loop"`
	Auth          AuthConfig           `toml:"auth"`
	SLA           SLAConfig            `toml:"sla"`
	HTTP          HTTPConfig           `toml:"http"`
	Log           LogConfig            `toml:"log"`

	// path is the file the configuration came from, "" for defaults.
	path string
	// now replaces the clock (tests); nil = time.Now.
	now func() time.Time
}

// HelpdeskConfig is [helpdesk]: who the helpdesk is and its ticket rules.
type HelpdeskConfig struct {
	Name                string            `toml:"name"`
	Tag                 string            `toml:"tag"`
	Secret              Secret            `toml:"secret"`
	Visibility          string            `toml:"visibility"`
	DefaultLanguage     string            `toml:"default_language"`
	DomainLanguages     map[string]string `toml:"domain_languages"`
	PublicDomains       []string          `toml:"public_domains"`
	ReopenWindow        Duration          `toml:"reopen_window"`
	ThanksKeepsResolved bool              `toml:"thanks_keeps_resolved"`
	StripSignatures     bool              `toml:"strip_signatures"`
	CopyAgents          bool              `toml:"copy_agents"`
	CCFromCollaborators bool              `toml:"cc_from_collaborators"`
	TemplatesDir        string            `toml:"templates_dir"`
	TimeZone            string            `toml:"time_zone"`
}

// DatabaseConfig is [database].
type DatabaseConfig struct {
	Path        string `toml:"path"`
	Synchronous string `toml:"synchronous"`
}

// SMTPConfig is [smtp]: the SMTP server that receives mail.
type SMTPConfig struct {
	Listen            string   `toml:"listen"`
	Hostname          string   `toml:"hostname"`
	MaxMessageBytes   int64    `toml:"max_message_bytes"`
	MaxRecipients     int      `toml:"max_recipients"`
	MaxConnections    int      `toml:"max_connections"`
	TLSCert           string   `toml:"tls_cert"`
	TLSKey            string   `toml:"tls_key"`
	ReadTimeout       Duration `toml:"read_timeout"`
	WriteTimeout      Duration `toml:"write_timeout"`
	Disabled          bool     `toml:"disabled"`
	AllowInsecureAuth bool     `toml:"allow_insecure_auth"`
}

// RouteConfig is one [[routes]] entry: a support address and the defaults
// of the tickets it opens.
type RouteConfig struct {
	Address  string `toml:"address"`
	Type     string `toml:"type"`
	Priority string `toml:"priority"`
	Impact   string `toml:"impact"`
}

// AgentConfig is one [[agents]] entry.
type AgentConfig struct {
	Name     string   `toml:"name"`
	Address  string   `toml:"address"`
	Groups   []string `toml:"groups"`
	Language string   `toml:"language"`
}

// OrganizationConfig is one [[organizations]] entry.
type OrganizationConfig struct {
	Name     string   `toml:"name"`
	Domains  []string `toml:"domains"`
	Admins   []string `toml:"admins"`
	Language string   `toml:"language"`
}

// OutboundConfig is [outbound]: how mail leaves.
type OutboundConfig struct {
	BounceAddress string      `toml:"bounce_address"`
	EmlDir        string      `toml:"eml_dir"`
	MaxAttempts   int         `toml:"max_attempts"`
	MinBackoff    Duration    `toml:"min_backoff"`
	MaxBackoff    Duration    `toml:"max_backoff"`
	Concurrency   int         `toml:"concurrency"`
	Relay         RelayConfig `toml:"relay"`
}

// RelayConfig is [outbound.relay]: the SMTP relay; no host = .eml files.
type RelayConfig struct {
	Host           string   `toml:"host"`
	Port           int      `toml:"port"`
	Security       string   `toml:"security"`
	Username       string   `toml:"username"`
	Password       Secret   `toml:"password"`
	AuthMechanism  string   `toml:"auth_mechanism"`
	HeloName       string   `toml:"helo_name"`
	CAFile         string   `toml:"ca_file"`
	DialTimeout    Duration `toml:"dial_timeout"`
	CommandTimeout Duration `toml:"command_timeout"`
}

// IMAPConfig is one [[imap]] account.
type IMAPConfig struct {
	Name            string   `toml:"name"`
	Address         string   `toml:"address"`
	Host            string   `toml:"host"`
	Port            int      `toml:"port"`
	Security        string   `toml:"security"`
	CAFile          string   `toml:"ca_file"`
	Username        string   `toml:"username"`
	Password        Secret   `toml:"password"`
	Mailbox         string   `toml:"mailbox"`
	PollInterval    Duration `toml:"poll_interval"`
	After           string   `toml:"after"`
	RefusedFolder   string   `toml:"refused_folder"`
	InitialScan     string   `toml:"initial_scan"`
	MaxMessageBytes int64    `toml:"max_message_bytes"`
	BatchSize       int      `toml:"batch_size"`
}

// AttachmentsConfig is [attachments]: which files are kept on tickets.
type AttachmentsConfig struct {
	MaxBytes   int64    `toml:"max_bytes"`
	Extensions []string `toml:"extensions"`
	KeepInline bool     `toml:"keep_inline"`
}

// LoopConfig is [loop]: mail-loop and noise protection.
type LoopConfig struct {
	AutoReplyLimit   int      `toml:"auto_reply_limit"`
	AutoReplyWindow  Duration `toml:"auto_reply_window"`
	AgentNoticeLimit int      `toml:"agent_notice_limit"`
}

// AuthConfig is [auth]: how agents are recognised.
type AuthConfig struct {
	TrustedAuthServIDs []string `toml:"trusted_authserv_ids"`
}

// SLAConfig is [sla]: the business calendar, targets and scheduled jobs.
type SLAConfig struct {
	TimeZone             string                  `toml:"time_zone"`
	Hours                map[string][]string     `toml:"hours"`
	Holidays             []string                `toml:"holidays"`
	WarnAt               float64                 `toml:"warn_at"`
	Policies             map[string]PolicyConfig `toml:"policies"`
	OnCall               string                  `toml:"on_call"`
	Escalation           string                  `toml:"escalation"`
	WaitingReminderAfter Duration                `toml:"waiting_reminder_after"`
	WaitingCloseAfter    Duration                `toml:"waiting_close_after"`
	AutoCloseAfter       Duration                `toml:"auto_close_after"`
	Schedule             string                  `toml:"schedule"`
	DigestSchedule       string                  `toml:"digest_schedule"`
}

// PolicyConfig is one [sla.policies.<priority>] table.
type PolicyConfig struct {
	FirstResponse Duration `toml:"first_response"`
	Resolution    Duration `toml:"resolution"`
	Calendar      string   `toml:"calendar"` // "business" or "24x7"
}

// HTTPConfig is [http]: the admin listener for metrics and health.
type HTTPConfig struct {
	Listen string `toml:"listen"`
}

// LogConfig is [log].
type LogConfig struct {
	Format string `toml:"format"`
	Level  string `toml:"level"`
}

// DefaultConfig returns the built-in defaults: `helpmail serve` with no
// file runs a working desk (SQLite file and outbox directory in the current
// directory, SMTP on 127.0.0.1:2525).
func DefaultConfig() Config {
	d := helpmail.DefaultConfig()
	return Config{
		Helpdesk: HelpdeskConfig{
			Name: d.Name, Tag: d.Tag, Visibility: d.Visibility, DefaultLanguage: d.DefaultLanguage, DomainLanguages: map[string]string{},
			PublicDomains: d.PublicDomains, ReopenWindow: Duration(d.ReopenWindow),
			ThanksKeepsResolved: d.ThanksKeepsResolved, CopyAgents: d.CopyAgents, TimeZone: "Europe/Brussels",
		},
		Database: DatabaseConfig{Path: "helpmail.db", Synchronous: "full"},
		SMTP: SMTPConfig{Listen: "127.0.0.1:2525", Hostname: "localhost", MaxMessageBytes: d.MaxMessageBytes,
			MaxRecipients: 100, MaxConnections: 100, ReadTimeout: Duration(5 * time.Minute), WriteTimeout: Duration(time.Minute)},
		Outbound: OutboundConfig{EmlDir: "outbox", MaxAttempts: 12, MinBackoff: Duration(time.Minute),
			MaxBackoff: Duration(6 * time.Hour), Concurrency: 4,
			Relay: RelayConfig{Security: "starttls", DialTimeout: Duration(smtprelay.DefaultDialTimeout),
				CommandTimeout: Duration(smtprelay.DefaultCommandTimeout)}},
		Attachments: AttachmentsConfig{MaxBytes: d.Attachments.MaxBytes, Extensions: d.Attachments.Extensions,
			KeepInline: d.Attachments.KeepInline},
		Loop: LoopConfig{AutoReplyLimit: d.AutoReplyLimit, AutoReplyWindow: Duration(d.AutoReplyWindow),
			AgentNoticeLimit: d.AgentNoticeLimit},
		SLA: SLAConfig{
			TimeZone: "Europe/Brussels",
			Hours: map[string][]string{"mon": {"09:00-17:00"}, "tue": {"09:00-17:00"}, "wed": {"09:00-17:00"},
				"thu": {"09:00-17:00"}, "fri": {"09:00-17:00"}},
			Holidays:             []string{},
			Policies:             defaultPolicies(),
			WarnAt:               0.75,
			WaitingReminderAfter: Duration(3 * 24 * time.Hour),
			WaitingCloseAfter:    Duration(4 * 24 * time.Hour),
			AutoCloseAfter:       Duration(7 * 24 * time.Hour),
			Schedule:             "*/5 * * * *",
			DigestSchedule:       "0 8 * * 1-5",
		},
		Auth: AuthConfig{TrustedAuthServIDs: []string{}},
		Log:  LogConfig{Format: "text", Level: "info"},
	}
}

// defaultPolicies returns the domain's default SLA policies as
// configuration, so that check-config shows them.
func defaultPolicies() map[string]PolicyConfig {
	out := map[string]PolicyConfig{}
	for prio, p := range helpmail.DefaultPolicies() {
		cal := "business"
		if p.AlwaysOpen {
			cal = "24x7"
		}
		out[string(prio)] = PolicyConfig{FirstResponse: Duration(p.FirstResponse), Resolution: Duration(p.Resolution), Calendar: cal}
	}
	return out
}

// LoadConfig reads path over the defaults. Unknown keys are an error that
// names the file and the key, so a typo never silently does nothing.
// Secrets (env:NAME, file:PATH) are resolved here.
func LoadConfig(path string, getenv func(string) string) (*Config, error) {
	cfg := DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		// Lists in the file replace the defaults rather than extend them.
		cfg.SLA.Hours = nil
		md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&cfg)
		if err != nil {
			var pe toml.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s:%d: %s", path, pe.Position.Line, pe.Message)
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			keys := make([]string, len(und))
			for i, k := range und {
				keys[i] = k.String()
			}
			sort.Strings(keys)
			return nil, fmt.Errorf("%s: unknown key %s", path, strings.Join(keys, ", "))
		}
		if !md.IsDefined("sla", "hours") {
			cfg.SLA.Hours = DefaultConfig().SLA.Hours
		}
		// A [sla.policies.<priority>] table replaces the default policy
		// of that priority as a whole when decoded; keys it leaves out keep
		// their defaults (system_down stays on 24x7 when only its
		// first_response is changed).
		defaults := defaultPolicies()
		for name, p := range cfg.SLA.Policies {
			def, ok := defaults[name]
			if !ok {
				continue // Validate names the unknown priority
			}
			if !md.IsDefined("sla", "policies", name, "first_response") {
				p.FirstResponse = def.FirstResponse
			}
			if !md.IsDefined("sla", "policies", name, "resolution") {
				p.Resolution = def.Resolution
			}
			if !md.IsDefined("sla", "policies", name, "calendar") {
				p.Calendar = def.Calendar
			}
			cfg.SLA.Policies[name] = p
		}
		cfg.path = path
	}
	cfg.fillDefaults()
	if err := cfg.resolveSecrets(getenv); err != nil {
		return nil, cfg.errorf("%w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// fillDefaults writes into the [[imap]] accounts the defaults their zero
// values stand for, so that check-config shows the configuration in effect
// rather than zeros. (Tables that are not lists get theirs from
// DefaultConfig.)
func (c *Config) fillDefaults() {
	for i := range c.IMAP {
		a := &c.IMAP[i]
		a.Name = a.accountName()
		a.Security = orStr(a.Security, "tls")
		a.Mailbox = orStr(a.Mailbox, "INBOX")
		a.After = orStr(a.After, "seen")
		a.RefusedFolder = orStr(a.RefusedFolder, imappoller.DefaultRefusedFolder)
		a.InitialScan = orStr(a.InitialScan, "unseen")
		if a.PollInterval == 0 {
			a.PollInterval = Duration(imappoller.DefaultPollInterval)
		}
		if a.MaxMessageBytes == 0 {
			a.MaxMessageBytes = imappoller.DefaultMaxMessageBytes
		}
		if a.BatchSize == 0 {
			a.BatchSize = imappoller.DefaultBatchSize
		}
	}
}

func (c *Config) errorf(format string, args ...any) error {
	where := c.path
	if where == "" {
		where = "built-in configuration"
	}
	return fmt.Errorf("%s: "+format, append([]any{where}, args...)...)
}

func (c *Config) resolveSecrets(getenv func(string) string) error {
	secrets := map[string]*Secret{"helpdesk.secret": &c.Helpdesk.Secret, "outbound.relay.password": &c.Outbound.Relay.Password}
	for i := range c.IMAP {
		secrets[fmt.Sprintf("imap[%d].password", i)] = &c.IMAP[i].Password
	}
	for key, s := range secrets {
		if err := s.resolve(getenv); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

// Duration is a TOML duration: Go syntax ("90m", "1h30m") plus days ("30d").
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(FormatDuration(time.Duration(d))), nil }

// ParseDuration parses Go durations and a leading number of days ("7d",
// "1d12h").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (examples: 90m, 8h, 3d)", s)
	}
	return days + v, nil
}

// FormatDuration prints whole days as "3d", anything else Go's way
// without trailing zero units ("5m", "6h", "1h30m", not "6h0m0s"), as
// config.example.toml writes them.
func FormatDuration(d time.Duration) string {
	if d != 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Secret is a configuration value that must not be shown or logged: a
// literal, or "env:NAME" (an environment variable) or "file:PATH" (the
// file's content, trailing newline removed), resolved at load time.
type Secret struct {
	ref   string
	value string
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Secret) UnmarshalText(b []byte) error { s.ref = string(b); return nil }

// MarshalText masks the value: only the reference kind is shown.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// String masks the secret.
func (s Secret) String() string {
	switch {
	case s.ref == "":
		return ""
	case strings.HasPrefix(s.ref, "env:"), strings.HasPrefix(s.ref, "file:"):
		return s.ref + " (set)"
	}
	return "********"
}

// Value returns the resolved secret.
func (s Secret) Value() string { return s.value }

func (s *Secret) resolve(getenv func(string) string) error {
	switch {
	case strings.HasPrefix(s.ref, "env:"):
		name := strings.TrimPrefix(s.ref, "env:")
		s.value = getenv(name)
		if s.value == "" {
			return fmt.Errorf("environment variable %s is empty or not set", name)
		}
	case strings.HasPrefix(s.ref, "file:"):
		b, err := os.ReadFile(strings.TrimPrefix(s.ref, "file:"))
		if err != nil {
			return fmt.Errorf("read secret file: %w", err)
		}
		s.value = strings.TrimRight(string(b), "\r\n")
	default:
		s.value = s.ref
	}
	return nil
}

func (d Duration) std() time.Duration { return time.Duration(d) }
