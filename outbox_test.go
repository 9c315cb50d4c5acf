package helpmail_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/mailbox"
)

// obSender is a Sender that calls a function for each message.
type obSender func(ctx context.Context, from string, to []string, raw []byte) error

func (f obSender) Send(ctx context.Context, from string, to []string, raw []byte) error {
	return f(ctx, from, to, raw)
}

// obRows returns every outbox row.
func obRows(tb testing.TB, d *testDesk) []*helpmail.OutboxItem {
	tb.Helper()
	var rows []*helpmail.OutboxItem
	err := d.db.View(context.Background(), func(tx helpmail.Tx) (err error) {
		rows, err = tx.FindOutboxes(context.Background(), helpmail.OutboxFilter{})
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return rows
}

// obDSN is an RFC 3464 report on rcpt.
func obDSN(rcpt, action, status string) string {
	return strings.ReplaceAll(`From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>
To: bounces@example.com
Subject: Undelivered Mail Returned to Sender
Message-ID: <report.`+status+`.`+rcpt+`>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

The mail system could not deliver your message.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.customer.example

Final-Recipient: rfc822; `+rcpt+`
Action: `+action+`
Status: `+status+`
Diagnostic-Code: smtp; 550 5.1.1 <`+rcpt+`>: Recipient address rejected

--b1--
`, "\n", "\r\n")
}

// TestOutboxBounceDuringSend: a bounce for a message that comes back
// before the worker has recorded the send (a relay on the same host that
// takes the message and rejects it at once) is not overwritten by "sent".
func TestOutboxBounceDuringSend(t *testing.T) {
	d := MustOpenDesk(t, nil)
	const ann = "ann@customer.example"
	d.open(t, ann, "Printer on fire")
	sender := obSender(func(ctx context.Context, from string, to []string, raw []byte) error {
		if to[0] != ann {
			return nil
		}
		env := mailbox.Envelope{Source: "test", NullSender: true, Rcpt: []string{from}}
		return d.Deliver(ctx, env, []byte(obDSN(ann, "failed", "5.1.1")))
	})
	w := &helpmail.OutboxWorker{Store: d.db, Sender: sender, Signer: d.Signer, BounceAddress: "bounces@example.com", Now: d.clock.Now}
	if n, err := w.RunOnce(context.Background()); err != nil || n != 3 {
		t.Fatalf("RunOnce() = %d, %v; want 3 rows sent", n, err)
	}
	for _, o := range obRows(t, d) {
		want := helpmail.OutboxSent
		if o.Rcpt == ann {
			want = helpmail.OutboxBounced
		}
		if o.Status != want || o.Attempts != 1 {
			t.Errorf("row %d to %s = %s after %d attempts, want %s after 1", o.ID, o.Rcpt, o.Status, o.Attempts, want)
		}
		if o.Rcpt == ann && !strings.Contains(o.LastError, "5.1.1") {
			t.Errorf("bounced row's last error = %q, want the report's status", o.LastError)
		}
	}
}

// TestOutboxVERP: each row goes out from its own VERP address, which a
// report sent back to names the row; mail to that address that is no
// report (a vacation notice answering the return path) bounces nothing.
func TestOutboxVERP(t *testing.T) {
	tests := []struct {
		name       string
		report     func(rcpt string) string
		wantStatus helpmail.OutboxStatus
		suppressed bool
		kind       helpmail.Kind
	}{
		{"permanent failure", func(r string) string { return obDSN(r, "failed", "5.1.1") }, helpmail.OutboxBounced, true, helpmail.KindBounce},
		{"delay", func(r string) string { return obDSN(r, "delayed", "4.4.1") }, helpmail.OutboxSent, false, helpmail.KindBounce},
		{"vacation notice", func(r string) string {
			return "From: " + r + "\r\nTo: bounces@example.com\r\nSubject: Auto: out of the office\r\nAuto-Submitted: auto-replied\r\n" +
				"Message-ID: <vacation." + r + ">\r\n\r\nI am away until Monday.\r\n"
		}, helpmail.OutboxSent, false, helpmail.KindAutomatic},
		{"naive autoresponder", func(r string) string {
			return "From: " + r + "\r\nTo: bounces@example.com\r\nSubject: Re: your message\r\n" +
				"Message-ID: <naive." + r + ">\r\n\r\nThank you, we will get back to you.\r\n"
		}, helpmail.OutboxSent, false, helpmail.KindAutomatic},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := MustOpenDesk(t, nil)
			ann := fmt.Sprintf("ann%d@customer.example", i)
			n := d.open(t, ann, "Printer on fire")
			var verp string
			sender := obSender(func(ctx context.Context, from string, to []string, raw []byte) error {
				if to[0] == ann {
					verp = from
				}
				return nil
			})
			w := &helpmail.OutboxWorker{Store: d.db, Sender: sender, Signer: d.Signer, BounceAddress: "bounces@example.com", Now: d.clock.Now}
			if _, err := w.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(verp, "bounces+") || !strings.HasSuffix(verp, "@example.com") {
				t.Fatalf("envelope sender = %q, want bounces+<token>@example.com", verp)
			}
			env := mailbox.Envelope{Source: "test", NullSender: true, Rcpt: []string{verp}}
			if err := d.Deliver(context.Background(), env, []byte(tt.report(ann))); err != nil {
				t.Fatal(err)
			}
			var why string
			var ms []*helpmail.Message
			var tickets int
			err := d.db.View(context.Background(), func(tx helpmail.Tx) (err error) {
				if why, err = tx.Suppressed(context.Background(), ann); err != nil {
					return err
				}
				if _, tickets, err = tx.FindTickets(context.Background(), helpmail.TicketFilter{}); err != nil {
					return err
				}
				ms, err = tx.FindMessages(context.Background(), n)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range obRows(t, d) {
				if o.Rcpt == ann && o.Status != tt.wantStatus {
					t.Errorf("row to %s = %s, want %s", ann, o.Status, tt.wantStatus)
				}
			}
			if (why != "") != tt.suppressed {
				t.Errorf("suppression of %s = %q, want suppressed %v", ann, why, tt.suppressed)
			}
			last := ms[len(ms)-1]
			if last.Direction != helpmail.Inbound || last.Kind != tt.kind || tickets != 1 {
				t.Errorf("report stored as %s %s on #%d, %d tickets; want inbound %s on #%d, 1 ticket", last.Direction, last.Kind, last.Ticket, tickets, tt.kind, n)
			}
		})
	}
}
