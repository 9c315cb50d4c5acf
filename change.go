package helpmail

import (
	"context"
	"fmt"
	"time"

	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/templates"
)

// Change is an agent's change to a ticket's fields, from an email command
// or the CLI. Nil fields are left as they are.
type Change struct {
	Status   *Status
	Priority *Priority
	Type     *Type
	Impact   *Impact
	Assignee *string // agent address, "" to unassign
	// Reason is recorded in the history ("email command", "cli").
	Reason string
}

// UpdateTicket applies an agent's change to ticket number, with the same
// rules and notifications as email commands: history for each field, the
// status notice to the customers, the SLA recomputed on a priority change,
// an on-call page when the priority becomes system_down. actor is who made
// the change (an agent address, or "operator" for the CLI).
func (d *Desk) UpdateTicket(ctx context.Context, number int64, actor string, ch Change) (*Ticket, error) {
	var out *Ticket
	queued := 0
	err := d.Store.Update(ctx, func(tx Tx) error {
		t, err := tx.FindTicket(ctx, number)
		if err != nil {
			return err
		}
		var dec Decision
		res, err := d.change(ctx, tx, t, actor, ch, nil, &dec, d.now())
		if err != nil {
			return err
		}
		if res.statusChanged {
			if err := d.statusNotice(ctx, tx, t, res.oldStatus, nil, &dec, d.now()); err != nil {
				return err
			}
		}
		queued = countQueued(dec)
		out = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.logger().Info("ticket changed", "ticket", number, "actor", actor, "reason", ch.Reason, "queued", queued)
	if queued > 0 && d.Queued != nil {
		d.Queued()
	}
	return out, nil
}

func countQueued(dec Decision) int {
	n := 0
	for _, a := range dec.Actions {
		if len(a) > 7 && a[:7] == "queued:" {
			n++
		}
	}
	return n
}

type changeResult struct {
	statusChanged bool
	oldStatus     Status
}

// change applies ch to t and records it; the caller sends the status
// notice. It validates every value first, so a bad one changes nothing.
func (d *Desk) change(ctx context.Context, tx Tx, t *Ticket, actor string, ch Change, dl *delivery, dec *Decision, now time.Time) (changeResult, error) {
	res := changeResult{oldStatus: t.Status}
	switch {
	case ch.Status != nil && !ch.Status.Valid():
		return res, Errorf(EINVALID, "unknown status %q", *ch.Status)
	case ch.Priority != nil && !ch.Priority.Valid():
		return res, Errorf(EINVALID, "unknown priority %q", *ch.Priority)
	case ch.Type != nil && !ch.Type.Valid():
		return res, Errorf(EINVALID, "unknown type %q", *ch.Type)
	case ch.Impact != nil && !ch.Impact.Valid():
		return res, Errorf(EINVALID, "unknown impact %q", *ch.Impact)
	case ch.Assignee != nil && *ch.Assignee != "" && d.Config.agent(*ch.Assignee) == nil:
		return res, Errorf(EINVALID, "%s is not an agent", *ch.Assignee)
	}
	var msgID int64
	if dl != nil {
		msgID = dl.msg.ID
	}
	record := func(field, old, new string) error {
		if old == new {
			return nil
		}
		t.UpdatedAt = now
		return d.history(ctx, tx, t, now, actor, field, old, new, ch.Reason, msgID)
	}
	if ch.Priority != nil && *ch.Priority != t.Priority {
		old := t.Priority
		t.Priority = *ch.Priority
		d.SLA.Recompute(t, now)
		if err := record("priority", string(old), string(t.Priority)); err != nil {
			return res, err
		}
		if t.Priority == PrioritySystemDown {
			if err := d.page(ctx, tx, dl, t, now); err != nil {
				return res, err
			}
		}
	}
	if ch.Type != nil {
		old := t.Type
		t.Type = *ch.Type
		if err := record("type", string(old), string(t.Type)); err != nil {
			return res, err
		}
	}
	if ch.Impact != nil {
		old := t.Impact
		t.Impact = *ch.Impact
		if err := record("impact", string(old), string(t.Impact)); err != nil {
			return res, err
		}
	}
	if ch.Assignee != nil {
		old := t.Assignee
		t.Assignee = NormalizeAddress(*ch.Assignee)
		if err := record("assignee", old, t.Assignee); err != nil {
			return res, err
		}
	}
	if ch.Status != nil && *ch.Status != t.Status {
		old := t.Status
		d.setStatus(t, *ch.Status, now)
		res.statusChanged = true
		if err := record("status", string(old), string(t.Status)); err != nil {
			return res, err
		}
	}
	return res, tx.UpdateTicket(ctx, t)
}

// statusNotice tells the requester and collaborators that an agent changed
// the status of t (SPEC §6).
func (d *Desk) statusNotice(ctx context.Context, tx Tx, t *Ticket, old Status, dl *delivery, dec *Decision, now time.Time) error {
	rcpts, err := d.customerRecipients(ctx, tx, t, true)
	if err != nil {
		return err
	}
	for _, to := range rcpts {
		n := notice{template: "status_changed", ticket: t, to: to, automatic: true, autoSubmitted: "auto-generated",
			data: templates.Data{OldStatus: string(old), NewStatus: string(t.Status)}, trigger: dl}
		if err := d.queue(ctx, tx, n, dec, now); err != nil {
			return err
		}
	}
	return nil
}

// page tells the on-call address at once that a system_down ticket needs
// someone, at any hour.
func (d *Desk) page(ctx context.Context, tx Tx, dl *delivery, t *Ticket, now time.Time) error {
	if t.Priority != PrioritySystemDown || d.Config.OnCall == "" {
		return nil
	}
	n := notice{template: "oncall_page", ticket: t, to: mailbox.Address{Addr: d.Config.OnCall},
		autoSubmitted: "auto-generated", lang: d.Config.DefaultLanguage}
	dec := &Decision{}
	if dl != nil {
		n.trigger = dl
		n.data.Body = dl.msg.Text
		dec = &dl.msg.Decision
	}
	if err := d.queue(ctx, tx, n, dec, now); err != nil {
		return err
	}
	return d.history(ctx, tx, t, now, "system", "page", "", d.Config.OnCall, fmt.Sprintf("priority %s", t.Priority), 0)
}

// Merge merges ticket src into ticket dst: src's messages move to dst, its
// people become collaborators of dst, and src is closed with a pointer to
// dst, so mail that still threads to src (its reply tokens, references and
// tag) lands on dst. Both histories record it.
func (d *Desk) Merge(ctx context.Context, src, dst int64, actor string) (*Ticket, error) {
	if src == dst {
		return nil, Errorf(EINVALID, "cannot merge ticket #%d into itself", src)
	}
	now := d.now()
	var out *Ticket
	err := d.Store.Update(ctx, func(tx Tx) error {
		from, err := tx.FindTicket(ctx, src)
		if err != nil {
			return err
		}
		to, err := d.followMerged(ctx, tx, dst)
		if err != nil {
			return err
		}
		if from.MergedInto != 0 {
			return Errorf(ECONFLICT, "ticket #%d is already merged into #%d", src, from.MergedInto)
		}
		if to.Number == from.Number {
			return Errorf(ECONFLICT, "ticket #%d is merged into #%d already", dst, src)
		}
		if err := tx.MoveTicketData(ctx, from.Number, to.Number); err != nil {
			return err
		}
		old := from.Status
		d.setStatus(from, StatusClosed, now)
		from.MergedInto, from.UpdatedAt = to.Number, now
		if err := tx.UpdateTicket(ctx, from); err != nil {
			return err
		}
		to.UpdatedAt = now
		if err := tx.UpdateTicket(ctx, to); err != nil {
			return err
		}
		if err := d.history(ctx, tx, from, now, actor, "merged_into", string(old), fmt.Sprintf("#%d", to.Number), "merged", 0); err != nil {
			return err
		}
		out = to
		return d.history(ctx, tx, to, now, actor, "merged", "", fmt.Sprintf("#%d", from.Number),
			fmt.Sprintf("messages and participants of #%d moved here", from.Number), 0)
	})
	if err != nil {
		return nil, err
	}
	d.logger().Info("tickets merged", "from", src, "into", out.Number, "actor", actor)
	return out, nil
}
