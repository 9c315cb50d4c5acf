package main

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/store"
	"github.com/robfig/cron/v3"
)

// Validate checks every value that can be checked without the network and
// names the key of the first bad one.
func (c *Config) Validate() error {
	_, _, err := c.desk()
	return err
}

// desk converts the configuration into the desk's domain configuration
// and SLA rules.
func (c *Config) desk() (helpmail.Config, helpmail.SLA, error) {
	d := helpmail.DefaultConfig()
	fail := func(key, format string, args ...any) (helpmail.Config, helpmail.SLA, error) {
		return d, helpmail.SLA{}, c.errorf("%s: %s", key, fmt.Sprintf(format, args...))
	}
	h := c.Helpdesk
	if strings.TrimSpace(h.Name) == "" {
		return fail("helpdesk.name", "must not be empty")
	}
	if strings.ContainsAny(h.Name+h.Tag, "\r\n") {
		return fail("helpdesk.name", "must be one line")
	}
	if strings.TrimSpace(h.Tag) == "" || strings.ContainsAny(h.Tag, "[]#") {
		return fail("helpdesk.tag", "must be a word without [ ] or #, e.g. \"Support\"")
	}
	d.Name, d.Tag = h.Name, h.Tag
	switch h.Visibility {
	case "private", "organization":
		d.Visibility = h.Visibility
	default:
		return fail("helpdesk.visibility", "must be \"private\" or \"organization\", not %q", h.Visibility)
	}
	if !slices.Contains(d.Languages, h.DefaultLanguage) {
		return fail("helpdesk.default_language", "must be one of %s", strings.Join(d.Languages, ", "))
	}
	d.DefaultLanguage = h.DefaultLanguage
	d.DomainLanguages = map[string]string{}
	for dom, lang := range h.DomainLanguages {
		if !slices.Contains(d.Languages, lang) {
			return fail("helpdesk.domain_languages."+dom, "must be one of %s", strings.Join(d.Languages, ", "))
		}
		d.DomainLanguages[strings.ToLower(dom)] = lang
	}
	d.PublicDomains = lower(h.PublicDomains)
	d.ReopenWindow = time.Duration(h.ReopenWindow)
	d.ThanksKeepsResolved, d.StripSignatures, d.CopyAgents = h.ThanksKeepsResolved, h.StripSignatures, h.CopyAgents
	d.CCFromCollaborators = h.CCFromCollaborators
	zone, err := time.LoadLocation(h.TimeZone)
	if err != nil {
		return fail("helpdesk.time_zone", "%v", err)
	}
	d.Zone = zone

	switch strings.ToLower(c.Database.Synchronous) {
	case store.SyncFull, store.SyncNormal:
	default:
		return fail("database.synchronous", "must be \"full\" or \"normal\"")
	}
	if c.Database.Path == "" {
		return fail("database.path", "must not be empty")
	}

	routes := c.Routes
	if len(routes) == 0 {
		routes = []RouteConfig{{Address: "support@" + orStr(c.SMTP.Hostname, "localhost")}}
	}
	d.Routes = nil
	for i, r := range routes {
		key := fmt.Sprintf("routes[%d]", i)
		addr, err := parseAddr(r.Address)
		if err != nil {
			return fail(key+".address", "%v", err)
		}
		if strings.Contains(strings.Split(addr, "@")[0], "+") {
			return fail(key+".address", "a support address cannot contain \"+\" (it is used for reply tokens)")
		}
		route := helpmail.Route{Address: addr, Type: helpmail.TypeQuestion, Priority: helpmail.PriorityMedium, Impact: helpmail.ImpactSingleUser}
		if r.Type != "" {
			if route.Type, err = helpmail.ParseType(r.Type); err != nil {
				return fail(key+".type", "%s", helpmail.ErrorMessage(err))
			}
		}
		if r.Priority != "" {
			if route.Priority, err = helpmail.ParsePriority(r.Priority); err != nil {
				return fail(key+".priority", "%s", helpmail.ErrorMessage(err))
			}
		}
		if r.Impact != "" {
			if route.Impact, err = helpmail.ParseImpact(r.Impact); err != nil {
				return fail(key+".impact", "%s", helpmail.ErrorMessage(err))
			}
		}
		d.Routes = append(d.Routes, route)
	}
	for i, a := range c.Agents {
		key := fmt.Sprintf("agents[%d]", i)
		addr, err := parseAddr(a.Address)
		if err != nil {
			return fail(key+".address", "%v", err)
		}
		if a.Language != "" && !slices.Contains(d.Languages, a.Language) {
			return fail(key+".language", "must be one of %s", strings.Join(d.Languages, ", "))
		}
		name := a.Name
		if name == "" {
			name = strings.Split(addr, "@")[0]
		}
		if strings.ContainsAny(name, "\r\n") {
			return fail(key+".name", "must be one line")
		}
		d.Agents = append(d.Agents, helpmail.Agent{Name: name, Address: addr, Groups: a.Groups, Language: a.Language})
	}
	for i, o := range c.Organizations {
		key := fmt.Sprintf("organizations[%d]", i)
		if o.Name == "" {
			return fail(key+".name", "must not be empty")
		}
		if o.Language != "" && !slices.Contains(d.Languages, o.Language) {
			return fail(key+".language", "must be one of %s", strings.Join(d.Languages, ", "))
		}
		org := helpmail.Organization{Name: o.Name, Domains: lower(o.Domains), Language: o.Language}
		for j, a := range o.Admins {
			addr, err := parseAddr(a)
			if err != nil {
				return fail(fmt.Sprintf("%s.admins[%d]", key, j), "%v", err)
			}
			org.Admins = append(org.Admins, addr)
		}
		d.Organizations = append(d.Organizations, org)
	}
	if c.SMTP.MaxMessageBytes < 0 {
		return fail("smtp.max_message_bytes", "must not be negative")
	}
	d.MaxMessageBytes = c.SMTP.MaxMessageBytes
	if (c.SMTP.TLSCert == "") != (c.SMTP.TLSKey == "") {
		return fail("smtp.tls_cert", "tls_cert and tls_key go together")
	}
	d.Attachments = helpmail.AttachmentPolicy{MaxBytes: c.Attachments.MaxBytes, KeepInline: c.Attachments.KeepInline}
	for _, e := range c.Attachments.Extensions {
		e = strings.ToLower(strings.TrimSpace(e))
		if !strings.HasPrefix(e, ".") {
			e = "." + e
		}
		d.Attachments.Extensions = append(d.Attachments.Extensions, e)
	}
	d.AutoReplyLimit, d.AutoReplyWindow = c.Loop.AutoReplyLimit, time.Duration(c.Loop.AutoReplyWindow)
	d.AgentNoticeLimit = c.Loop.AgentNoticeLimit
	if c.Loop.AgentNoticeLimit < 0 || c.Loop.AutoReplyLimit < 0 {
		return fail("loop", "limits must not be negative")
	}
	if (d.AutoReplyLimit > 0 || d.AgentNoticeLimit > 0) && d.AutoReplyWindow <= 0 {
		return fail("loop.auto_reply_window", "must be positive when auto_reply_limit is set")
	}
	d.TrustedAuthServIDs = lower(c.Auth.TrustedAuthServIDs)

	if c.Outbound.BounceAddress != "" {
		addr, err := parseAddr(c.Outbound.BounceAddress)
		if err != nil {
			return fail("outbound.bounce_address", "%v", err)
		}
		local, domain, _ := strings.Cut(addr, "@")
		if !slices.ContainsFunc(d.Routes, func(r helpmail.Route) bool { return strings.HasSuffix(r.Address, "@"+domain) }) {
			return fail("outbound.bounce_address", "must be in the domain of a support address, so bounces come back to us")
		}
		d.BounceLocal = local
	}
	switch c.Outbound.Relay.Security {
	case "", "starttls", "starttls-optional", "tls", "none":
	default:
		return fail("outbound.relay.security", "must be starttls, starttls-optional, tls or none")
	}
	switch c.Outbound.Relay.AuthMechanism {
	case "", "plain", "login":
	default:
		return fail("outbound.relay.auth_mechanism", "must be plain or login")
	}
	// Checkpoints are kept per account name and mailbox: two accounts
	// sharing both would overwrite each other's.
	checkpointKeys := map[string]int{}
	for i, a := range c.IMAP {
		key := fmt.Sprintf("imap[%d]", i)
		if a.Host == "" {
			return fail(key+".host", "must not be empty")
		}
		name, mbox := a.accountName(), a.Mailbox
		if mbox == "" {
			mbox = "INBOX"
		}
		if j, dup := checkpointKeys[name+"\x00"+mbox]; dup {
			return fail(key+".name", "account %q with mailbox %q is already imap[%d]; give each account its own name", name, mbox, j)
		}
		checkpointKeys[name+"\x00"+mbox] = i
		if _, err := parseAddr(a.Address); err != nil {
			return fail(key+".address", "%v", err)
		}
		switch a.Security {
		case "", "tls", "starttls", "none":
		default:
			return fail(key+".security", "must be tls, starttls or none")
		}
		switch {
		case a.After == "", a.After == "seen", a.After == "delete", strings.HasPrefix(a.After, "move:") && len(a.After) > 5:
		default:
			return fail(key+".after", "must be seen, delete or move:<folder>")
		}
		switch a.InitialScan {
		case "", "unseen", "all":
		default:
			return fail(key+".initial_scan", "must be unseen or all")
		}
	}
	sla, err := c.sla()
	if err != nil {
		return d, sla, err
	}
	d.OnCall, d.Escalation = strings.ToLower(c.SLA.OnCall), strings.ToLower(c.SLA.Escalation)
	d.Schedule = helpmail.Schedule{WaitingReminderAfter: time.Duration(c.SLA.WaitingReminderAfter),
		WaitingCloseAfter: time.Duration(c.SLA.WaitingCloseAfter), AutoCloseAfter: time.Duration(c.SLA.AutoCloseAfter)}
	for key, spec := range map[string]string{"sla.schedule": c.SLA.Schedule, "sla.digest_schedule": c.SLA.DigestSchedule} {
		if _, err := cron.ParseStandard(spec); err != nil {
			return fail(key, "%v", err)
		}
	}
	for key, v := range map[string]string{"sla.on_call": d.OnCall, "sla.escalation": d.Escalation} {
		if v != "" {
			if _, err := parseAddr(v); err != nil {
				return fail(key, "%v", err)
			}
		}
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fail("log.format", "must be text or json")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fail("log.level", "must be debug, info, warn or error")
	}
	return d, sla, nil
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// sla builds the business calendar and the per-priority policies.
func (c *Config) sla() (helpmail.SLA, error) {
	s := helpmail.SLA{WarnAt: c.SLA.WarnAt, Policies: helpmail.DefaultPolicies()}
	loc, err := time.LoadLocation(c.SLA.TimeZone)
	if err != nil {
		return s, c.errorf("sla.time_zone: %v", err)
	}
	s.Calendar.Location = loc
	for day, spans := range c.SLA.Hours {
		wd, ok := weekdays[strings.ToLower(day)]
		if !ok {
			return s, c.errorf("sla.hours.%s: unknown day (mon, tue, wed, thu, fri, sat, sun)", day)
		}
		for _, sp := range spans {
			span, err := helpmail.ParseSpan(sp)
			if err != nil {
				return s, c.errorf("sla.hours.%s: %v", day, err)
			}
			s.Calendar.Week[wd] = append(s.Calendar.Week[wd], span)
		}
		slices.SortFunc(s.Calendar.Week[wd], func(a, b helpmail.Span) int { return a.Start - b.Start })
	}
	for _, h := range c.SLA.Holidays {
		d, err := helpmail.ParseDate(h)
		if err != nil {
			return s, c.errorf("sla.holidays: %v", err)
		}
		if s.Calendar.Holidays == nil {
			s.Calendar.Holidays = map[helpmail.Date]bool{}
		}
		s.Calendar.Holidays[d] = true
	}
	if err := s.Calendar.Validate(); err != nil {
		return s, c.errorf("sla.hours: %v", err)
	}
	if c.SLA.WarnAt < 0 || c.SLA.WarnAt >= 1 {
		return s, c.errorf("sla.warn_at: must be a fraction between 0 and 1, e.g. 0.75")
	}
	for name, p := range c.SLA.Policies {
		prio, err := helpmail.ParsePriority(name)
		if err != nil {
			return s, c.errorf("sla.policies.%s: %s", name, helpmail.ErrorMessage(err))
		}
		pol := helpmail.Policy{FirstResponse: time.Duration(p.FirstResponse), Resolution: time.Duration(p.Resolution)}
		switch p.Calendar {
		case "", "business":
		case "24x7":
			pol.AlwaysOpen = true
		default:
			return s, c.errorf("sla.policies.%s.calendar: must be business or 24x7", name)
		}
		s.Policies[prio] = pol
	}
	return s, nil
}

func parseAddr(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("%q is not an email address", s)
	}
	return strings.ToLower(a.Address), nil
}

func lower(list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, strings.ToLower(strings.TrimSpace(s)))
	}
	return out
}

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
