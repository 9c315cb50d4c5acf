package helpmail

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/templates"
	"github.com/helpmail/helpmail/threading"
)

// newTicket opens a ticket for the message of dl; prev is the closed ticket
// it follows up on, or nil.
func (d *Desk) newTicket(ctx context.Context, tx Tx, dl *delivery, prev *Ticket, now time.Time) error {
	m, p := dl.msg, dl.parsed
	route := d.Config.route(dl.match.Address)
	org, orgCfg := d.Config.organizationOf(m.From)
	t := &Ticket{
		Subject:       strings.TrimSpace(threading.TicketSubject(d.Config.Tag, oneLine(p.Subject))),
		Requester:     m.From,
		RequesterName: oneLine(m.FromName),
		Organization:  org,
		Status:        StatusWaitingForSupport,
		Priority:      route.Priority,
		Type:          route.Type,
		Impact:        route.Impact,
		Language:      d.Config.language(p.ContentLanguage, orgCfg, m.From),
		Address:       route.Address,
		RootMessageID: m.MessageID,
		LastMessageID: m.MessageID,
		ThreadIndex:   p.ThreadIndex,
		CreatedAt:     now,
		UpdatedAt:     now,
		StatusSince:   now,
	}
	if t.Subject == "" {
		t.Subject = "(no subject)"
	}
	if prev != nil {
		t.FollowUpOf = prev.Number
		t.Language, t.Type, t.Priority, t.Impact = prev.Language, prev.Type, prev.Priority, prev.Impact
		if d.Config.agent(prev.Assignee) != nil {
			t.Assignee = prev.Assignee
		}
	}
	d.SLA.Start(t, now)
	if err := tx.CreateTicket(ctx, t); err != nil {
		return err
	}
	m.Ticket = t.Number
	dl.outcome = "new ticket"
	reason := "opened by mail to " + route.Address
	if prev != nil {
		dl.outcome = fmt.Sprintf("new follow-up ticket of #%d", prev.Number)
		reason = fmt.Sprintf("follow-up of #%d, closed on %s (reopen window %s passed)",
			prev.Number, prev.ClosedAt.Format(time.DateOnly), d.Config.ReopenWindow)
	}
	if err := d.store(ctx, tx, dl); err != nil {
		return err
	}
	if m.From != "" {
		if _, err := tx.AddParticipant(ctx, Participant{Ticket: t.Number, Address: m.From, Name: m.FromName,
			Role: RoleRequester, AddedBy: m.From, AddedAt: now}); err != nil {
			return err
		}
	}
	if err := d.addCollaborators(ctx, tx, dl, t, now); err != nil {
		return err
	}
	if err := d.history(ctx, tx, t, now, actorOf(m), "created", "", string(t.Status), reason, m.ID); err != nil {
		return err
	}
	if prev != nil {
		if err := d.history(ctx, tx, prev, now, actorOf(m), "follow_up", "", fmt.Sprintf("#%d", t.Number),
			"a reply after the reopen window opened a follow-up ticket", m.ID); err != nil {
			return err
		}
	}
	if err := d.notifyCustomers(ctx, tx, dl, t, "ticket_opened", false, now); err != nil {
		return err
	}
	if d.Config.agent(m.From) != nil {
		// A ticket an agent's address opens tells no other agent: the team
		// member wrote it, and two agents' autoresponders would otherwise
		// open tickets for each other's notifications without end.
		m.Decision.Notes = append(m.Decision.Notes, "opened from an agent's address: no agent notification")
		if err := d.saveDecision(ctx, tx, dl); err != nil {
			return err
		}
	} else if err := d.notifyAgents(ctx, tx, dl, t, "agent_new_ticket", m.From, now); err != nil {
		return err
	}
	if err := d.page(ctx, tx, dl, t, now); err != nil {
		return err
	}
	return d.refusedFiles(ctx, tx, dl, t, now)
}

// customerMessage files a message from anyone who is not an authenticated
// agent on its existing ticket t.
func (d *Desk) customerMessage(ctx context.Context, tx Tx, dl *delivery, t *Ticket, now time.Time) error {
	m := dl.msg
	m.Ticket = t.Number
	actor := actorOf(m)
	if dl.auto != "" {
		// Out-of-office, bounces, list mail: kept, but they move nothing
		// (an out-of-office answering "resolved" must not reopen).
		dl.outcome = "automatic mail stored on the ticket; status unchanged"
		return d.store(ctx, tx, dl)
	}
	if t.Status == StatusClosed && d.Config.ReopenWindow > 0 && !t.ClosedAt.IsZero() &&
		now.Sub(t.ClosedAt) > d.Config.ReopenWindow {
		return d.newTicket(ctx, tx, dl, t, now)
	}
	participant, err := d.isParticipant(ctx, tx, t.Number, m.From)
	if err != nil {
		return err
	}
	reply := threading.ExtractReply(m.Text)
	if firstLine(reply) == "#close" {
		switch {
		case !participant:
			m.Decision.Notes = append(m.Decision.Notes, "#close ignored: the sender is not a participant of the ticket")
		case d.Config.agent(m.From) != nil:
			// isParticipant counts every agent address, but this sender
			// only claims to be one (an authenticated agent never gets
			// here): an agent's address must not close a ticket unproven.
			m.Decision.Notes = append(m.Decision.Notes, "#close ignored: the sender claims an agent's address but is not authenticated")
		default:
			return d.customerClose(ctx, tx, dl, t, now)
		}
	}
	if t.Status == StatusResolved && d.Config.ThanksKeepsResolved && IsThanks(reply) {
		dl.outcome = "thanks only: stored, ticket stays resolved"
		t.UpdatedAt = now
		if err := d.store(ctx, tx, dl); err != nil {
			return err
		}
		if err := tx.UpdateTicket(ctx, t); err != nil {
			return err
		}
		return d.history(ctx, tx, t, now, actor, "message", "", "", "reply is only thanks: not reopened", m.ID)
	}
	old := t.Status
	to, err := Transition(old, EventCustomerReply)
	if err != nil {
		return err
	}
	reopen := IsReopen(old, to)
	dl.outcome = "customer reply"
	if reopen {
		dl.outcome = "reopened by customer reply"
	}
	d.setStatus(t, to, now)
	if m.MessageID != "" {
		t.LastMessageID = m.MessageID
	}
	if p := dl.parsed.ThreadIndex; p != "" && t.ThreadIndex == "" {
		t.ThreadIndex = p
	}
	t.UpdatedAt = now
	if err := d.store(ctx, tx, dl); err != nil {
		return err
	}
	if err := tx.UpdateTicket(ctx, t); err != nil {
		return err
	}
	if old != to {
		why := "customer reply"
		if reopen {
			why = "reopened by a customer reply"
		}
		if err := d.history(ctx, tx, t, now, actor, "status", string(old), string(to), why, m.ID); err != nil {
			return err
		}
	}
	if err := d.addCollaborators(ctx, tx, dl, t, now); err != nil {
		return err
	}
	tmpl := "agent_customer_reply"
	if reopen {
		tmpl = "agent_ticket_reopened"
	}
	if err := d.notifyAgents(ctx, tx, dl, t, tmpl, m.From, now); err != nil {
		return err
	}
	return d.refusedFiles(ctx, tx, dl, t, now)
}

// customerClose closes t because its customer wrote #close.
func (d *Desk) customerClose(ctx context.Context, tx Tx, dl *delivery, t *Ticket, now time.Time) error {
	m := dl.msg
	old := t.Status
	to, err := Transition(old, EventCustomerClose)
	if err != nil {
		return err
	}
	dl.outcome = "closed by the customer (#close)"
	d.setStatus(t, to, now)
	t.UpdatedAt = now
	if err := d.store(ctx, tx, dl); err != nil {
		return err
	}
	if err := tx.UpdateTicket(ctx, t); err != nil {
		return err
	}
	if err := d.history(ctx, tx, t, now, actorOf(m), "status", string(old), string(to), "closed by the customer with #close", m.ID); err != nil {
		return err
	}
	if old == to {
		return nil
	}
	if err := d.notifyCustomers(ctx, tx, dl, t, "ticket_closed", true, now); err != nil {
		return err
	}
	return d.notifyAgents(ctx, tx, dl, t, "agent_customer_reply", m.From, now)
}

// setStatus moves t to status to at now and keeps the timestamps and the
// SLA clocks that depend on the status in step.
func (d *Desk) setStatus(t *Ticket, to Status, now time.Time) {
	from := t.Status
	if from == to {
		return
	}
	t.Status = to
	t.StatusSince = now
	switch to {
	case StatusResolved:
		t.ResolvedAt = now
	case StatusClosed:
		t.ClosedAt = now
		if t.ResolvedAt.IsZero() {
			t.ResolvedAt = now
		}
	}
	if to.Open() {
		t.ResolvedAt, t.ClosedAt = time.Time{}, time.Time{}
	}
	d.SLA.StatusChanged(t, from, now)
}

// addCollaborators makes the people the sender CC'd collaborators, subject
// to the CC guard: only the requester and agents add people, unless
// CCFromCollaborators lets collaborators add them too.
func (d *Desk) addCollaborators(ctx context.Context, tx Tx, dl *delivery, t *Ticket, now time.Time) error {
	m := dl.msg
	allowed := m.From != "" && (m.From == t.Requester || dl.agent != nil)
	if !allowed && d.Config.CCFromCollaborators {
		ps, err := tx.Participants(ctx, t.Number)
		if err != nil {
			return err
		}
		allowed = slices.ContainsFunc(ps, func(p Participant) bool { return p.Address == m.From })
	}
	var skipped []string
	for _, list := range [][]string{m.To, m.Cc} {
		for _, a := range list {
			if a == "" || a == m.From || a == t.Requester || d.Config.IsOwnAddress(a) || d.Config.agent(a) != nil ||
				!strings.Contains(a, "@") {
				continue
			}
			if !allowed {
				skipped = append(skipped, a)
				continue
			}
			added, err := tx.AddParticipant(ctx, Participant{Ticket: t.Number, Address: a, Name: nameOf(dl, a),
				Role: RoleCollaborator, AddedBy: m.From, AddedAt: now})
			if err != nil {
				return err
			}
			if added {
				if err := d.history(ctx, tx, t, now, actorOf(m), "collaborator", "", a, "CC'd by "+m.From, m.ID); err != nil {
					return err
				}
			}
		}
	}
	if len(skipped) > 0 {
		m.Decision.Notes = append(m.Decision.Notes, "CC guard: not made collaborators: "+strings.Join(skipped, ", "))
		return tx.UpdateMessageDecision(ctx, m.ID, m.Decision)
	}
	return nil
}

// nameOf finds the display name the message gave an address.
func nameOf(dl *delivery, addr string) string {
	for _, list := range [][]mailbox.Address{dl.parsed.To, dl.parsed.Cc} {
		for _, a := range list {
			if NormalizeAddress(a.Addr) == addr {
				return a.Name
			}
		}
	}
	return ""
}

// history records one change of t.
func (d *Desk) history(ctx context.Context, tx Tx, t *Ticket, at time.Time, actor, field, old, new, reason string, msg int64) error {
	return tx.AddHistory(ctx, &HistoryEntry{Ticket: t.Number, At: at, Actor: actor, Field: field,
		Old: old, New: new, Reason: reason, Message: msg})
}

func actorOf(m *Message) string {
	if m.From != "" {
		return m.From
	}
	return "unknown sender"
}

// firstLine returns the first non-empty line of text, trimmed and
// lower-cased.
func firstLine(text string) string {
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return strings.ToLower(l)
		}
	}
	return ""
}

// requestsOverview answers a message to support+requests@domain with the
// list of the sender's open and recently closed tickets (and, with
// visibility "organization", their colleagues'). The list goes only to the
// From address, so a forged From shows it to its true owner and nobody
// else; it is automatic mail, so it is rate-limited and never sent to
// automatic mail.
func (d *Desk) requestsOverview(ctx context.Context, tx Tx, dl *delivery, now time.Time) error {
	m := dl.msg
	dl.outcome = "requests overview"
	if err := d.store(ctx, tx, dl); err != nil {
		return err
	}
	org := ""
	if d.Config.Visibility == "organization" {
		org, _ = d.Config.organizationOf(m.From)
	}
	all, err := tx.TicketsOf(ctx, m.From, org, 100)
	if err != nil {
		return err
	}
	var list []templates.Ticket
	for _, t := range all {
		if t.Status.Open() || now.Sub(t.UpdatedAt) <= 30*24*time.Hour {
			list = append(list, ticketData(t))
		}
	}
	lang := d.Config.language(dl.parsed.ContentLanguage, nil, m.From)
	n := notice{template: "requests_overview", to: mailbox.Address{Name: m.FromName, Addr: m.From},
		automatic: true, autoSubmitted: "auto-replied", trigger: dl, lang: lang,
		data: templates.Data{Tickets: list}}
	if err := d.queue(ctx, tx, n, &m.Decision, now); err != nil {
		return err
	}
	return d.saveDecision(ctx, tx, dl)
}
