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
// failure, stores the report on the ticket and opens no ticket. A report
// that reaches a support address is matched by Message-ID only when it
// comes from a robot. Mail to a VERP address that is not a delivery
// report is an autoresponder answering the return path: it is stored on
// the row's ticket as automatic mail and bounces nothing. bounce reports
// whether it stored the message.
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
	if o != nil && !isDSN {
		return true, d.returnPathReply(ctx, tx, dl, o)
	}
	if o == nil && isDSN && dsn.OriginalMessageID != "" {
		// Without the VERP address, only mail from a robot (null return
		// path, a report, a mailer daemon) is taken for a report: a person
		// who forwards our message under a subject like "delivery
		// problem" is writing to us, not bouncing.
		if _, auto := mailbox.Automatic(dl.env, dl.parsed); !auto {
			m.Decision.Notes = append(m.Decision.Notes, "reads like a delivery report on "+dsn.OriginalMessageID+
				" but comes from a person: taken as their message")
			return false, nil
		}
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
	// One report may cover several recipients; what counts is what it
	// says about the row's own.
	report := reportOn(dsn, o.Rcpt)
	permanent, status := report.Permanent(), dsnSummary(report)
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
		dl.outcome = fmt.Sprintf("%s: outbox %d to %s (%s)", strings.ReplaceAll(reportKind(report), "_", " "), o.ID, o.Rcpt, status)
	}
	if err := d.store(ctx, tx, dl); err != nil {
		return false, err
	}
	if o.Ticket != 0 {
		field := "bounce"
		if !permanent {
			field = reportKind(report)
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

// reportOn narrows dsn to the recipients that name rcpt (as final or
// original recipient). A report that names rcpt nowhere (after a forward,
// or a bounce that names nobody) is taken as a whole.
func reportOn(dsn *mailbox.DSN, rcpt string) *mailbox.DSN {
	if dsn == nil {
		return &mailbox.DSN{}
	}
	var mine []mailbox.DSNRecipient
	for _, r := range dsn.Recipients {
		if strings.EqualFold(addrOf(r.Final), rcpt) || strings.EqualFold(addrOf(r.Original), rcpt) {
			mine = append(mine, r)
		}
	}
	if len(mine) == 0 {
		return dsn
	}
	out := *dsn
	out.Recipients = mine
	return &out
}

// reportKind names a report that is not a permanent failure, for the
// history: "delivery_delayed" when a recipient is still being tried, else
// "delivery_report" (delivered, relayed or expanded).
func reportKind(dsn *mailbox.DSN) string {
	for _, r := range dsn.Recipients {
		if r.Action == "delayed" || strings.HasPrefix(r.Status, "4") {
			return "delivery_delayed"
		}
	}
	if len(dsn.Recipients) == 0 {
		return "delivery_delayed"
	}
	return "delivery_report"
}

// dsnSummary describes a report for the record: the action, status and
// diagnostic of its first permanent failure, else of its first recipient.
func dsnSummary(dsn *mailbox.DSN) string {
	if len(dsn.Recipients) == 0 {
		return "delivery status notification"
	}
	r := dsn.Recipients[0]
	for _, x := range dsn.Recipients {
		if x.Action == "failed" || strings.HasPrefix(x.Status, "5") {
			r = x
			break
		}
	}
	s := strings.TrimSpace(r.Action + " " + r.Status)
	if r.Diagnostic != "" {
		s += ": " + r.Diagnostic
	}
	return s
}

// returnPathReply stores mail that came to the VERP address of row o but
// is no delivery report: a vacation notice or challenge that answered the
// return path (as RFC 3834 advises and Sieve's vacation does), or a naive
// autoresponder. It belongs to the row's ticket; it is automatic mail, so
// it answers nothing and changes no status; the address is not
// suppressed and the row stays as it is.
func (d *Desk) returnPathReply(ctx context.Context, tx Tx, dl *delivery, o *OutboxItem) error {
	m := dl.msg
	dl.auto = fmt.Sprintf("sent to the return path of outbox %d", o.ID)
	if reason, ok := mailbox.Automatic(dl.env, dl.parsed); ok {
		dl.auto = reason + ", " + dl.auto
	}
	m.Kind, m.Ticket = KindAutomatic, o.Ticket
	dl.match = threading.Decision{Rule: "return-path"}
	m.Decision.Rule = "return-path"
	m.Decision.Notes = append(m.Decision.Notes, "automatic mail: "+dl.auto)
	dl.outcome = fmt.Sprintf("automatic reply to outbox %d (%s to %s) stored; no bounce, status unchanged", o.ID, o.Template, o.Rcpt)
	return d.store(ctx, tx, dl)
}
