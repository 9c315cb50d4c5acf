package helpmail

import (
	"context"
	"strings"
	"time"

	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/templates"
	"github.com/helpmail/helpmail/threading"
)

// authenticateAgent returns the agent who sent dl's message, when the
// sender is a configured agent AND proves it (SPEC §5): the message came
// to that agent's own reply token, or a trusted receiving server's
// Authentication-Results says DKIM, SPF or DMARC passed aligned with the
// From domain. A message that only claims to be from an agent is treated
// as a customer message, and the refusal is logged and recorded.
func (d *Desk) authenticateAgent(dl *delivery) *Agent {
	a := d.Config.agent(dl.msg.From)
	if a == nil {
		return nil
	}
	if dl.match.Rule == threading.RuleToken && dl.match.AgentKey != "" {
		if dl.match.AgentKey == d.Signer.AgentKey(a.Address) {
			return a
		}
	}
	if how := authenticated(dl.parsed.Header.Values("Authentication-Results"), d.Config.TrustedAuthServIDs, Domain(a.Address)); how != "" {
		dl.msg.Decision.Notes = append(dl.msg.Decision.Notes, "agent authenticated by "+how)
		return a
	}
	dl.msg.Decision.Notes = append(dl.msg.Decision.Notes,
		"sender claims to be agent "+a.Address+" but is not authenticated (no agent token, no trusted Authentication-Results pass): treated as a customer")
	d.logger().Warn("agent action refused: sender not authenticated", "from", a.Address, "message_id", dl.msg.MessageID)
	return nil
}

// authenticated looks for a DKIM, SPF or DMARC pass aligned with domain in
// Authentication-Results header fields (RFC 8601) added by a trusted
// authserv-id, and says which one passed; "" if none. Fields from other
// authserv-ids are ignored: anyone can write such a header, only our own
// receiving server's (which removes forged copies) is believed.
func authenticated(fields, trusted []string, domain string) string {
	for _, f := range fields {
		parts := splitResinfo(f)
		if len(parts) == 0 {
			continue
		}
		id := strings.ToLower(strings.Fields(parts[0] + " x")[0])
		ok := false
		for _, t := range trusted {
			if strings.EqualFold(t, id) {
				ok = true
			}
		}
		if !ok {
			continue
		}
		for _, res := range parts[1:] {
			method, result, props := parseResinfo(res)
			if result != "pass" {
				continue
			}
			var d string
			switch method {
			case "dkim":
				d = props["header.d"]
				if d == "" {
					d = Domain(props["header.i"])
				}
			case "spf":
				d = Domain(props["smtp.mailfrom"])
				if d == "" {
					d = props["smtp.mailfrom"]
				}
			case "dmarc":
				d = props["header.from"]
			default:
				continue
			}
			if aligned(strings.ToLower(d), domain) {
				return method + " pass from " + id
			}
		}
	}
	return ""
}

// aligned is relaxed alignment: the same domain, or one a subdomain of the
// other.
func aligned(d, from string) bool {
	return d != "" && (d == from || strings.HasSuffix(from, "."+d) || strings.HasSuffix(d, "."+from))
}

// splitResinfo splits an Authentication-Results value at the semicolons
// that are not inside comments or quoted strings.
func splitResinfo(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"' && depth == 0:
			quoted = !quoted
		case c == '(' && !quoted:
			depth++
		case c == ')' && !quoted && depth > 0:
			depth--
		case c == ';' && !quoted && depth == 0:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(v[start:]))
}

// parseResinfo reads "dkim=pass (comment) header.d=example.com header.s=x".
func parseResinfo(s string) (method, result string, props map[string]string) {
	props = map[string]string{}
	s = stripComments(s)
	for i, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		k, v = strings.ToLower(k), strings.ToLower(strings.Trim(v, `"`))
		if i == 0 {
			method, result = k, v
			continue
		}
		props[k] = v
	}
	return method, result, props
}

func stripComments(s string) string {
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// agentMessage handles a message from an authenticated agent on ticket t:
// email commands, then an internal note, a public reply relayed to the
// customers, or nothing more when it held only commands.
func (d *Desk) agentMessage(ctx context.Context, tx Tx, dl *delivery, t *Ticket, now time.Time) error {
	m, a := dl.msg, dl.agent
	m.Ticket = t.Number
	if dl.auto != "" {
		// An agent's out-of-office answering a notification arrives at
		// their token: it must not become a reply to the customer.
		dl.outcome = "automatic mail from an agent stored; nothing relayed"
		return d.store(ctx, tx, dl)
	}
	text := threading.ExtractReply(m.Text)
	if d.Config.StripSignatures {
		text = threading.StripSignature(text)
	}
	cmds, body := ParseCommands(text, func(addr string) bool { return d.Config.agent(addr) != nil })
	body = strings.TrimSpace(body)
	if len(cmds.Errors) > 0 {
		m.Kind = KindCommand
		dl.outcome = "email commands refused; nothing applied or sent to the customer"
		m.Decision.Notes = append(m.Decision.Notes, cmds.Errors...)
		if err := d.store(ctx, tx, dl); err != nil {
			return err
		}
		n := notice{template: "command_error", ticket: t, to: mailbox.Address{Name: a.Name, Addr: a.Address}, agent: a,
			autoSubmitted: "auto-replied", trigger: dl, data: templates.Data{Errors: cmds.Errors, Body: body, Agent: a.Name}}
		if err := d.queue(ctx, tx, n, &m.Decision, now); err != nil {
			return err
		}
		return d.saveDecision(ctx, tx, dl)
	}
	ch := Change{Status: cmds.Status, Priority: cmds.Priority, Type: cmds.Type, Impact: cmds.Impact,
		Assignee: cmds.Assign, Reason: "email command"}
	if cmds.Take {
		ch.Assignee = &a.Address
	}
	// A client that appends a signature (or "Sent from my iPhone") to a
	// message of commands only must not turn it into a public reply.
	public := !cmds.Note && threading.StripSignature(body) != ""
	switch {
	case cmds.Note:
		m.Kind, m.Text = KindNote, body
		dl.outcome = "internal note"
	case public:
		m.Kind, m.Text = KindAgentReply, body
		dl.outcome = "public reply relayed to the customer"
		if ch.Status == nil {
			to, err := Transition(t.Status, EventAgentReply)
			if err != nil {
				return err
			}
			ch.Status = &to
		}
	default:
		m.Kind, m.Text = KindCommand, text
		dl.outcome = "email commands applied"
	}
	if err := d.store(ctx, tx, dl); err != nil {
		return err
	}
	explicitStatus := cmds.Status != nil
	res, err := d.change(ctx, tx, t, a.Address, ch, dl, &m.Decision, now)
	if err != nil {
		return err
	}
	if err := d.ccChanges(ctx, tx, dl, t, cmds.CC, now); err != nil {
		return err
	}
	if !cmds.Note {
		// People the agent CC'd become collaborators (SPEC §6), and so
		// hear the reply from the support address too. An internal
		// note's CCs never do.
		if err := d.addCollaborators(ctx, tx, dl, t, now); err != nil {
			return err
		}
	}
	if public {
		if t.FirstResponseAt.IsZero() {
			t.FirstResponseAt = now
			if err := d.history(ctx, tx, t, now, a.Address, "first_response", "", now.Format(time.RFC3339), "first public agent reply", m.ID); err != nil {
				return err
			}
		}
		t.UpdatedAt = now
		if err := tx.UpdateTicket(ctx, t); err != nil {
			return err
		}
		if err := d.relay(ctx, tx, dl, t, body, now); err != nil {
			return err
		}
	} else if cmds.Note {
		if err := d.history(ctx, tx, t, now, a.Address, "note", "", "", "internal note", m.ID); err != nil {
			return err
		}
	}
	if res.statusChanged && (explicitStatus || !public) {
		if err := d.statusNotice(ctx, tx, t, res.oldStatus, dl, &m.Decision, now); err != nil {
			return err
		}
	}
	if public || cmds.Note {
		if err := d.copyAgents(ctx, tx, dl, t, body, cmds.Note, now); err != nil {
			return err
		}
	}
	// Files outside the policy were not relayed: the agent is told, as
	// any sender is (SPEC §8).
	if err := d.refusedFiles(ctx, tx, dl, t, now); err != nil {
		return err
	}
	return d.saveDecision(ctx, tx, dl)
}

// relay sends an agent's public reply to the customers: from the support
// address under "<Agent> (<helpdesk>)", threaded to the customer's last
// message, with the agent's attachments. The agent's own address appears
// nowhere in it.
func (d *Desk) relay(ctx context.Context, tx Tx, dl *delivery, t *Ticket, body string, now time.Time) error {
	rcpts, err := d.customerRecipients(ctx, tx, t, true)
	if err != nil {
		return err
	}
	var files []mailbox.Attachment
	for i, at := range dl.msg.Attachments {
		if at.Refused == "" && i < len(dl.parsed.Attachments) {
			files = append(files, dl.parsed.Attachments[i])
		}
	}
	for _, to := range rcpts {
		n := notice{template: "agent_reply", ticket: t, to: to, kind: KindAgentReply,
			fromName:    dl.agent.Name + " (" + d.Config.Name + ")",
			data:        templates.Data{Body: body, Agent: dl.agent.Name},
			attachments: files, trigger: dl}
		if err := d.queue(ctx, tx, n, &dl.msg.Decision, now); err != nil {
			return err
		}
	}
	return nil
}

// copyAgents sends the other agents a copy of an agent's reply or note, so
// the team sees what was said (when CopyAgents is on).
func (d *Desk) copyAgents(ctx context.Context, tx Tx, dl *delivery, t *Ticket, body string, note bool, now time.Time) error {
	if !d.Config.CopyAgents {
		return nil
	}
	for i := range d.Config.Agents {
		a := &d.Config.Agents[i]
		if a.Address == dl.agent.Address {
			continue
		}
		reason := "public reply"
		if note {
			reason = "internal note"
		}
		n := notice{template: "agent_copy", ticket: t, to: mailbox.Address{Name: a.Name, Addr: a.Address}, agent: a,
			trigger: dl, data: templates.Data{Body: body, Agent: dl.agent.Name, Reason: reason, Internal: note}}
		if err := d.queue(ctx, tx, n, &dl.msg.Decision, now); err != nil {
			return err
		}
	}
	return nil
}

// ccChanges applies #cc add/remove.
func (d *Desk) ccChanges(ctx context.Context, tx Tx, dl *delivery, t *Ticket, ccs []CCChange, now time.Time) error {
	for _, c := range ccs {
		if c.Add {
			added, err := tx.AddParticipant(ctx, Participant{Ticket: t.Number, Address: c.Address, Role: RoleCollaborator,
				AddedBy: dl.agent.Address, AddedAt: now})
			if err != nil {
				return err
			}
			if added {
				if err := d.history(ctx, tx, t, now, dl.agent.Address, "collaborator", "", c.Address, "#cc add", dl.msg.ID); err != nil {
					return err
				}
			}
			continue
		}
		removed, err := tx.RemoveParticipant(ctx, t.Number, c.Address)
		if err != nil {
			return err
		}
		if removed {
			if err := d.history(ctx, tx, t, now, dl.agent.Address, "collaborator", c.Address, "", "#cc remove", dl.msg.ID); err != nil {
				return err
			}
		}
	}
	return nil
}
