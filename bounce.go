package helpmail

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/threading"
)

// bounce recognises a delivery status notification about helpmail's own
// mail: sent to the VERP address of an outbox row (bounces+<token>@domain),
// or a DSN whose returned Message-ID is one we sent. It records the result
// on the outbox row and the ticket, suppresses the address on a permanent
// failure, stores the report on the ticket and opens no ticket. It reports
// whether the message was such a bounce.
func (d *Desk) bounce(ctx context.Context, tx Tx, dl *delivery, now time.Time) (bool, error) {
	m := dl.msg
	var id int64
	for _, list := range [][]string{m.EnvelopeTo, m.To} {
		for _, rcpt := range list {
			local, _, _ := strings.Cut(rcpt, "@")
			base, detail, ok := strings.Cut(local, "+")
			if ok && base == d.Config.BounceLocal && d.Config.IsOwnAddress(rcpt) {
				if n, ok := d.Signer.ParseBounceToken(detail); ok {
					id = n
				}
			}
		}
	}
	dsn, isDSN := mailbox.ParseDSN(m.Raw)
	var o *OutboxItem
	if id != 0 {
		var err error
		if o, err = tx.FindOutbox(ctx, id); err != nil && ErrorCode(err) != ENOTFOUND {
			return false, err
		}
	}
	if o == nil && isDSN && dsn.OriginalMessageID != "" {
		var err error
		if o, err = d.outboxOf(ctx, tx, threading.CanonicalMessageID(dsn.OriginalMessageID), dsn); err != nil {
			return false, err
		}
	}
	if o == nil {
		if id != 0 {
			m.Decision.Notes = append(m.Decision.Notes, fmt.Sprintf("bounce address names outbox row %d, which does not exist", id))
		}
		return false, nil
	}
	permanent, status := true, "undeliverable"
	if isDSN {
		permanent = dsn.Permanent()
		status = dsnSummary(dsn, o.Rcpt)
	}
	m.Kind, m.Ticket = KindBounce, o.Ticket
	dl.auto = "delivery status notification"
	dl.match = threading.Decision{Rule: "bounce"}
	m.Decision.Rule = "bounce"
	if permanent {
		dl.outcome = fmt.Sprintf("bounce: outbox %d to %s failed permanently", o.ID, o.Rcpt)
		o.Status = OutboxBounced
		o.LastError = status
		if err := tx.UpdateOutbox(ctx, o); err != nil {
			return false, err
		}
		if err := tx.Suppress(ctx, o.Rcpt, fmt.Sprintf("bounced (outbox %d): %s", o.ID, status), now); err != nil {
			return false, err
		}
	} else {
		dl.outcome = fmt.Sprintf("delivery delayed: outbox %d to %s (%s)", o.ID, o.Rcpt, status)
	}
	if err := d.store(ctx, tx, dl); err != nil {
		return false, err
	}
	if o.Ticket != 0 {
		field := "bounce"
		if !permanent {
			field = "delivery_delayed"
		}
		if err := tx.AddHistory(ctx, &HistoryEntry{Ticket: o.Ticket, At: now, Actor: "system", Field: field,
			Old: o.Template, New: o.Rcpt, Reason: status, Message: m.ID}); err != nil {
			return false, err
		}
	}
	return true, nil
}

// outboxOf finds the outbox row of a sent message, preferring the
// recipient the report names.
func (d *Desk) outboxOf(ctx context.Context, tx Tx, messageID string, dsn *mailbox.DSN) (*OutboxItem, error) {
	msgs, err := tx.FindMessagesByMessageID(ctx, messageID)
	if err != nil {
		return nil, err
	}
	for _, msg := range msgs {
		if msg.Direction != Outbound {
			continue
		}
		rows, err := tx.FindOutboxes(ctx, OutboxFilter{Message: msg.ID})
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			for _, rc := range dsn.Recipients {
				if strings.EqualFold(addrOf(rc.Final), r.Rcpt) || strings.EqualFold(addrOf(rc.Original), r.Rcpt) {
					return r, nil
				}
			}
		}
		if len(rows) > 0 {
			return rows[0], nil
		}
	}
	return nil, nil
}

// addrOf strips an RFC 3464 address type ("rfc822; a@b").
func addrOf(s string) string {
	if _, a, ok := strings.Cut(s, ";"); ok {
		s = a
	}
	return strings.Trim(strings.TrimSpace(s), "<>")
}

func dsnSummary(dsn *mailbox.DSN, rcpt string) string {
	for _, r := range dsn.Recipients {
		if r.Final == "" || strings.EqualFold(addrOf(r.Final), rcpt) || len(dsn.Recipients) == 1 {
			s := strings.TrimSpace(r.Action + " " + r.Status)
			if r.Diagnostic != "" {
				s += ": " + r.Diagnostic
			}
			return s
		}
	}
	return "delivery status notification"
}
