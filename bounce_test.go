package helpmail_test

import (
	"context"
	"strings"
	"testing"

	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/mailbox"
)

// TestBounceOnlyFromAutomaticSenders: a person's message that merely
// looks like a report (a bounce-like subject, our message forwarded as an
// attachment) is the person's reply, not a bounce of our message; the same
// returned message in a real report from a mailer daemon is a bounce.
func TestBounceOnlyFromAutomaticSenders(t *testing.T) {
	tests := []struct {
		name      string
		mailFrom  string // "" = MAIL FROM:<>
		from      string
		wantKind  helpmail.Kind
		wantSuppr bool
	}{
		{"customer forwards our mail", "ann@customer.example", "Ann <ann@customer.example>", helpmail.KindCustomer, false},
		{"mailer daemon returns it", "", "Mail Delivery System <MAILER-DAEMON@mx.customer.example>", helpmail.KindBounce, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := MustOpenDesk(t, nil)
			const ann = "ann@customer.example"
			n := d.open(t, ann, "Parcel lost")
			w := &helpmail.OutboxWorker{Store: d.db, Signer: d.Signer, BounceAddress: "bounces@example.com", Now: d.clock.Now,
				Sender: obSender(func(context.Context, string, []string, []byte) error { return nil })}
			if _, err := w.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			var ack *helpmail.OutboxItem
			for _, o := range obRows(t, d) {
				if o.Rcpt == ann {
					ack = o
				}
			}
			raw := strings.ReplaceAll(`From: `+tt.from+`
To: support@example.com
Subject: Re: [Support #1] Delivery problem with my order
Message-ID: <fwd.`+tt.name[:4]+`@customer.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain

The parcel never arrived, see your message below. User unknown at the depot?

--b1
Content-Type: message/rfc822

From: support@example.com
To: ann@customer.example
Subject: [Support #1] We have received your request
Message-ID: <`+ack.MessageID+`>

We have received your request.

--b1--
`, "\n", "\r\n")
			env := mailbox.Envelope{Source: "test", MailFrom: tt.mailFrom, NullSender: tt.mailFrom == "", Rcpt: []string{"support@example.com"}}
			if err := d.Deliver(context.Background(), env, []byte(raw)); err != nil {
				t.Fatal(err)
			}
			var why string
			var ms []*helpmail.Message
			err := d.db.View(context.Background(), func(tx helpmail.Tx) (err error) {
				if why, err = tx.Suppressed(context.Background(), ann); err != nil {
					return err
				}
				ms, err = tx.FindMessages(context.Background(), n)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			var last *helpmail.Message
			for _, m := range ms {
				if m.Direction == helpmail.Inbound {
					last = m
				}
			}
			if last.Kind != tt.wantKind || (why != "") != tt.wantSuppr {
				t.Errorf("stored as %s, suppression %q; want %s, suppressed %v", last.Kind, why, tt.wantKind, tt.wantSuppr)
			}
		})
	}
}
