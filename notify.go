package helpmail

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/templates"
	"github.com/helpmail/helpmail/threading"
)

// notice is one notification to one recipient.
type notice struct {
	template string
	ticket   *Ticket // nil for mail about no ticket (requests overview)
	to       mailbox.Address
	// agent is set when the recipient is an agent: Reply-To then carries
	// that agent's own token, so their answer authenticates them.
	agent *Agent
	// automatic notices (acknowledgements, status notices, reminders) are
	// never sent in answer to automatic mail, are rate-limited per address
	// and are not sent to suppressed addresses. Agent replies relayed to a
	// customer are not automatic.
	automatic bool
	// autoSubmitted is the Auto-Submitted value (RFC 3834):
	// "auto-replied" for answers to a message, "auto-generated" for
	// scheduled mail, "" for mail written by a person.
	autoSubmitted string
	fromName      string // "" = the helpdesk's name
	kind          Kind   // KindNotification unless relaying an agent reply
	data          templates.Data
	attachments   []mailbox.Attachment
	trigger       *delivery // the inbound message this answers, nil for scheduled mail
	lang          string    // "" = the ticket's language
}

// queue renders, composes and stores one notification and queues its
// delivery, in the caller's transaction. A notification that must not be
// sent (automatic mail, rate limit, suppressed or own address) is not
// queued; the reason is recorded on dec.
func (d *Desk) queue(ctx context.Context, tx Tx, n notice, dec *Decision, now time.Time) error {
	rcpt := NormalizeAddress(n.to.Addr)
	skip := func(why string) error {
		dec.Actions = append(dec.Actions, fmt.Sprintf("not sent: %s to %s: %s", n.template, orNone(rcpt), why))
		return nil
	}
	switch {
	case n.trigger != nil && n.trigger.quiet:
		return skip("imported mail sends nothing")
	case rcpt == "" || !strings.Contains(rcpt, "@"):
		return skip("no address")
	case d.Config.IsOwnAddress(rcpt):
		return skip("one of our own addresses")
	}
	if n.automatic {
		if n.trigger != nil && n.trigger.auto != "" {
			return skip("the message it would answer is automatic (" + n.trigger.auto + ")")
		}
		if why, err := tx.Suppressed(ctx, rcpt); err != nil {
			return err
		} else if why != "" {
			return skip("address suppressed: " + why)
		}
		if lim := d.Config.AutoReplyLimit; lim > 0 {
			count, err := tx.CountAutomaticSince(ctx, rcpt, now.Add(-d.Config.AutoReplyWindow))
			if err != nil {
				return err
			}
			if count >= lim {
				return skip(fmt.Sprintf("rate limit: %d automatic messages in %s", count, d.Config.AutoReplyWindow))
			}
		}
	}
	if n.agent != nil && n.trigger != nil && n.ticket != nil && d.Config.AgentNoticeLimit > 0 {
		// Agents' notifications answer mail too: an agent's naive
		// autoresponder answering them becomes a reply to the customer,
		// whose autoresponder answers that, and so on. However the loop
		// runs, it passes through notifications to an agent about one
		// ticket, so those are limited per agent and ticket (higher than
		// the customer limit: a busy ticket is not a loop).
		count, err := tx.CountQueuedSince(ctx, rcpt, n.ticket.Number, now.Add(-d.Config.AutoReplyWindow))
		if err != nil {
			return err
		}
		if count >= d.Config.AgentNoticeLimit {
			return skip(fmt.Sprintf("rate limit: %d notifications about #%d in %s (a mail loop?)", count, n.ticket.Number, d.Config.AutoReplyWindow))
		}
	}
	raw, msg, err := d.compose(n, now)
	if err != nil {
		// Composing does no I/O: an error is a template or input problem
		// (a header injection attempt, a broken override). It must not
		// block the mail that caused it; it is logged and recorded.
		d.logger().Error("notification not composed", "template", n.template, "ticket", numberOf(n.ticket), "err", err)
		return skip("not composed: " + err.Error())
	}
	msg.Raw = raw
	if err := tx.CreateMessage(ctx, msg); err != nil {
		return err
	}
	o := &OutboxItem{Message: msg.ID, Ticket: msg.Ticket, Rcpt: rcpt, Template: n.template,
		Automatic: n.automatic, Status: OutboxQueued, NextAttempt: now, CreatedAt: now}
	if err := tx.CreateOutbox(ctx, o); err != nil {
		return err
	}
	dec.Actions = append(dec.Actions, fmt.Sprintf("queued: %s to %s (outbox %d)", n.template, rcpt, o.ID))
	if n.trigger != nil {
		n.trigger.queued++
	}
	return nil
}

func numberOf(t *Ticket) int64 {
	if t == nil {
		return 0
	}
	return t.Number
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// compose renders n and builds the MIME message and its stored form.
func (d *Desk) compose(n notice, now time.Time) ([]byte, *Message, error) {
	t := n.ticket
	lang := n.lang
	if lang == "" && n.agent != nil {
		lang = n.agent.Language
	}
	if lang == "" && t != nil {
		lang = t.Language
	}
	if lang == "" {
		lang = d.Config.DefaultLanguage
	}
	data := n.data
	data.Helpdesk, data.Tag, data.Zone = d.Config.Name, d.Config.Tag, d.Config.Zone
	from := d.Config.Routes[0].Address
	var number int64
	if t != nil {
		from, number = t.Address, t.Number
		data.Ticket = ticketData(t)
	}
	data.SupportAddress = from
	if data.Recipient == "" {
		data.Recipient = n.to.Name
	}
	r, err := d.Templates.Render(lang, n.template, data)
	if err != nil {
		return nil, nil, fmt.Errorf("render %s/%s: %w", lang, n.template, err)
	}
	local, domain, _ := strings.Cut(from, "@")
	agentAddr := ""
	if n.agent != nil {
		agentAddr = n.agent.Address
	}
	replyTo := from
	if t != nil {
		replyTo = local + "+" + d.Signer.ReplyToken(number, agentAddr) + "@" + domain
	}
	fromName := n.fromName
	if fromName == "" {
		fromName = d.Config.Name
	}
	out := mailbox.Outgoing{
		From:        mailbox.Address{Name: fromName, Addr: from},
		To:          []mailbox.Address{n.to},
		ReplyTo:     []mailbox.Address{{Name: d.Config.Name, Addr: replyTo}},
		Subject:     r.Subject,
		MessageID:   d.Signer.MessageID(number, domain),
		Date:        now,
		Text:        r.Text,
		HTML:        r.HTML,
		Attachments: n.attachments,
		Headers:     []mailbox.Field{{Key: "Content-Language", Value: lang}},
	}
	if t != nil {
		parentID, parentIndex := t.LastMessageID, t.ThreadIndex
		// Answer the message that caused this, unless that is an agent's
		// message relayed to customers, who never saw it.
		if n.trigger != nil && n.trigger.msg.MessageID != "" && (n.trigger.agent == nil || n.agent != nil) {
			parentID = n.trigger.msg.MessageID
			if ti := n.trigger.parsed.ThreadIndex; ti != "" {
				parentIndex = ti
			}
		}
		out.InReplyTo = parentID
		for _, id := range []string{t.RootMessageID, parentID} {
			if id != "" && (len(out.References) == 0 || out.References[len(out.References)-1] != id) {
				out.References = append(out.References, id)
			}
		}
		out.Headers = append(out.Headers,
			mailbox.Field{Key: "Thread-Topic", Value: t.Subject},
			mailbox.Field{Key: "Thread-Index", Value: mailbox.ThreadIndex(parentIndex, now, d.rand())},
			mailbox.Field{Key: "X-Helpmail-Ticket", Value: strconv.FormatInt(number, 10)})
	}
	autoSubmitted := n.autoSubmitted
	if n.agent != nil && autoSubmitted == "" {
		// Notifications to agents are written by helpmail, not by a
		// person (RFC 3834; Jira and GitLab mark theirs the same way), so
		// that agents' vacation responders leave them alone.
		autoSubmitted = "auto-generated"
	}
	if autoSubmitted != "" {
		out.Headers = append(out.Headers, mailbox.Field{Key: "Auto-Submitted", Value: autoSubmitted})
	}
	if n.automatic || n.agent != nil {
		out.Headers = append(out.Headers, mailbox.Field{Key: "X-Auto-Response-Suppress", Value: "All"})
	}
	raw, err := mailbox.Compose(out)
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(raw)
	kind := n.kind
	if kind == "" {
		kind = KindNotification
	}
	msg := &Message{
		Ticket: number, Direction: Outbound, Kind: kind, MessageID: out.MessageID,
		RawSHA256: hex.EncodeToString(sum[:]), Source: "desk", From: from, FromName: fromName,
		To: []string{NormalizeAddress(n.to.Addr)}, Subject: r.Subject, Date: now, Text: r.Text, CreatedAt: now,
		Decision: Decision{Outcome: "notification " + n.template},
	}
	for _, a := range n.attachments {
		sum := sha256.Sum256(a.Data)
		msg.Attachments = append(msg.Attachments, Attachment{Filename: a.Filename, ContentType: a.ContentType,
			Size: int64(len(a.Data)), SHA256: hex.EncodeToString(sum[:]), Inline: a.Inline, Data: a.Data})
	}
	return raw, msg, nil
}

func (d *Desk) rand() interface{ Read([]byte) (int, error) } {
	if d.Rand != nil {
		return d.Rand
	}
	return rand.Reader
}

// ticketData is the template view of a ticket.
func ticketData(t *Ticket) templates.Ticket {
	return templates.Ticket{
		Number: t.Number, Subject: t.Subject, Status: string(t.Status), Priority: string(t.Priority),
		Type: string(t.Type), Impact: string(t.Impact), Requester: t.Requester, Organization: t.Organization,
		Assignee: t.Assignee, Created: t.CreatedAt, Updated: t.UpdatedAt,
		FirstResponseDue: t.FirstResponseDue, ResolutionDue: t.ResolutionDue, FollowUpOf: t.FollowUpOf,
		Reference: t.Reference,
	}
}

// customerRecipients returns who hears about t: the requester, the
// collaborators when withCollaborators, and the organization's admins when
// visibility is "organization".
func (d *Desk) customerRecipients(ctx context.Context, tx Tx, t *Ticket, withCollaborators bool) ([]mailbox.Address, error) {
	var out []mailbox.Address
	seen := map[string]bool{}
	add := func(addr, name string) {
		addr = NormalizeAddress(addr)
		if addr != "" && !seen[addr] && d.Config.agent(addr) == nil {
			seen[addr] = true
			out = append(out, mailbox.Address{Name: name, Addr: addr})
		}
	}
	add(t.Requester, t.RequesterName)
	if withCollaborators {
		ps, err := tx.Participants(ctx, t.Number)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if p.Role == RoleCollaborator {
				add(p.Address, p.Name)
			}
		}
	}
	if d.Config.Visibility == "organization" {
		if _, org := d.Config.organizationOf(t.Requester); org != nil {
			for _, a := range org.Admins {
				add(a, "")
			}
		}
	}
	return out, nil
}

// notifyCustomers sends an automatic notification about t to its customers.
func (d *Desk) notifyCustomers(ctx context.Context, tx Tx, dl *delivery, t *Ticket, tmpl string, withCollaborators bool, now time.Time) error {
	rcpts, err := d.customerRecipients(ctx, tx, t, withCollaborators)
	if err != nil {
		return err
	}
	for _, to := range rcpts {
		n := notice{template: tmpl, ticket: t, to: to, automatic: true, autoSubmitted: "auto-replied", trigger: dl}
		if err := d.queue(ctx, tx, n, &dl.msg.Decision, now); err != nil {
			return err
		}
	}
	return d.saveDecision(ctx, tx, dl)
}

// agentsFor returns who on the team hears about t: its assignee, or every
// agent when there is none; except the agent who caused the event.
func (d *Desk) agentsFor(t *Ticket, except string) []*Agent {
	if a := d.Config.agent(t.Assignee); a != nil {
		if a.Address == except {
			return nil
		}
		return []*Agent{a}
	}
	var out []*Agent
	for i := range d.Config.Agents {
		if a := &d.Config.Agents[i]; a.Address != except {
			out = append(out, a)
		}
	}
	return out
}

// notifyAgents tells the agents about the message of dl on t, quoting its
// new text; never the agent at address except, who wrote it (an agent
// writing to support@ as a customer would does not need to hear of it, and
// an agent's naive autoresponder opening a ticket per notification would
// otherwise feed itself). Automatic mail notifies nobody.
func (d *Desk) notifyAgents(ctx context.Context, tx Tx, dl *delivery, t *Ticket, tmpl, except string, now time.Time) error {
	if dl.auto != "" {
		return nil
	}
	body := threading.ExtractReply(dl.msg.Text)
	for _, a := range d.agentsFor(t, except) {
		n := notice{template: tmpl, ticket: t, to: mailbox.Address{Name: a.Name, Addr: a.Address}, agent: a,
			trigger: dl, data: templates.Data{Body: body, Agent: a.Name}}
		n.data.Recipient = a.Name
		if err := d.queue(ctx, tx, n, &dl.msg.Decision, now); err != nil {
			return err
		}
	}
	return d.saveDecision(ctx, tx, dl)
}

// refusedFiles tells the sender which attachments were not accepted.
func (d *Desk) refusedFiles(ctx context.Context, tx Tx, dl *delivery, t *Ticket, now time.Time) error {
	var files []templates.RefusedFile
	for _, a := range dl.msg.Attachments {
		if a.Refused != "" {
			name := a.Filename
			if name == "" {
				name = "(" + a.ContentType + ")"
			}
			files = append(files, templates.RefusedFile{Name: name, Reason: a.Refused})
		}
	}
	if len(files) == 0 || dl.msg.From == "" {
		return nil
	}
	n := notice{template: "refused_attachment", ticket: t, to: mailbox.Address{Name: dl.msg.FromName, Addr: dl.msg.From},
		automatic: true, autoSubmitted: "auto-replied", trigger: dl, data: templates.Data{Files: files}}
	if dl.agent != nil {
		n.agent = dl.agent // the agent's own token, so an answer to it is theirs
	}
	if err := d.queue(ctx, tx, n, &dl.msg.Decision, now); err != nil {
		return err
	}
	return d.saveDecision(ctx, tx, dl)
}

// saveDecision rewrites the stored decision of the inbound message after
// notifications added their actions.
func (d *Desk) saveDecision(ctx context.Context, tx Tx, dl *delivery) error {
	if dl.msg.ID == 0 {
		return nil
	}
	return tx.UpdateMessageDecision(ctx, dl.msg.ID, dl.msg.Decision)
}
