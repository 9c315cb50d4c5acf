package helpmail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/templates"
)

// Refuse tells the sender of a message helpmail will not take (the IMAP
// poller found it larger than the limit and moves it aside, unprocessed)
// that it was refused and why, as an SMTP server's 552 would. header is
// the message's header block, size its full size, limit the size limit
// that refused it (an IMAP account has its own; 0 means the desk's
// MaxMessageBytes), which the answer quotes so that the sender knows what
// will fit. No automatic mail gets such an answer, and the same refusal is
// answered once however often it is reported (the poller may report it
// again after a crash).
func (d *Desk) Refuse(ctx context.Context, env mailbox.Envelope, header []byte, size, limit int64, reason string) error {
	now := d.now()
	p, _ := mailbox.Parse(header)
	from := sender(env, p)
	log := d.logger().With("source", env.Source, "account", env.Account, "message_id", p.MessageID, "size", size)
	sum := sha256.Sum256(append([]byte(env.Account+"\x00"), header...))
	dl := &delivery{env: env, parsed: p, msg: &Message{MessageID: p.MessageID, From: NormalizeAddress(from.Addr)}}
	if why, ok := mailbox.Automatic(env, p); ok {
		dl.auto = why
	}
	queued := 0
	err := d.Store.Update(ctx, func(tx Tx) error {
		first, err := tx.AddJobMark(ctx, "refused", hex.EncodeToString(sum[:]), now)
		if err != nil || !first {
			return err
		}
		if limit <= 0 {
			limit = d.Config.MaxMessageBytes
		}
		data := templates.Data{Reason: reason, Ticket: templates.Ticket{Subject: oneLine(p.Subject)}}
		if limit > 0 {
			data.MaxSize = humanBytes(limit)
		}
		n := notice{template: "message_too_large", to: mailbox.Address{Name: from.Name, Addr: from.Addr},
			automatic: true, autoSubmitted: "auto-replied", trigger: dl, data: data,
			lang: d.Config.language(p.ContentLanguage, nil, from.Addr)}
		if err := d.queue(ctx, tx, n, &dl.msg.Decision, now); err != nil {
			return err
		}
		queued = dl.queued
		return nil
	})
	if err != nil {
		return fmt.Errorf("refuse: %w", err)
	}
	log.Warn("message refused", "from", dl.msg.From, "reason", reason, "notified", queued > 0,
		"actions", dl.msg.Decision.Actions)
	if queued > 0 && d.Queued != nil {
		d.Queued()
	}
	return nil
}
