package mailbox

import (
	"strings"
	"testing"
)

// TestAutomaticCorpus classifies corpus messages: every bounce,
// auto-reply, feedback and DMARC/TLS report is automatic; replies written
// by people (talon's client samples) and ordinary customer mail are not.
// A directory entry covers every .eml under it.
func TestAutomaticCorpus(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"sisimai/auto-replies", true},
		{"sisimai/bounces", true},
		{"sisimai/crlf", true},
		{"sisimai/cr-only", true},
		{"sisimai/feedback-reports", true},
		{"sisimai/hard-to-classify", true},
		{"sisimai/not-bounces/rb-issue-368-bug.eml", true}, // a bounce in all but format
		{"bounceparser/aol-senderblock.eml", true},
		{"bounceparser/aol-vacation.eml", true},
		{"bounceparser/aol.attachment.eml", true},
		{"bounceparser/autoreply.eml", true},
		{"bounceparser/bluebottle.eml", true},
		{"bounceparser/boxbe-cr.eml", true},
		{"bounceparser/boxbe-cr2.eml", true},
		{"bounceparser/deactivated-mailbox.eml", true},
		{"bounceparser/domino.unknown.eml", true},
		{"bounceparser/exchange.unknown.eml", true},
		{"bounceparser/iis-multiple-bounce.eml", true},
		{"bounceparser/junkemailfilter.eml", true},
		{"bounceparser/long-smtp.eml", true},
		{"bounceparser/malformed-dns.eml", true},
		{"bounceparser/message-too-large.eml", true},
		{"bounceparser/misidentified-recipient.eml", true},
		{"bounceparser/no-message-collected.eml", true},
		{"bounceparser/non-autoreply.eml", true},
		{"bounceparser/novell-with-rhs.eml", true},
		{"bounceparser/polish-autoreply.eml", true},
		{"bounceparser/postfix-malformed.eml", true},
		{"bounceparser/qmail.unknown.eml", true},
		{"bounceparser/quota.eml", true},
		{"bounceparser/spam-rejection.eml", true},
		{"bounceparser/surfcontrol-extra-newline.eml", true},
		{"bounceparser/user-unknown-polish.eml", true},
		{"bounceparser/warning-1.eml", true},
		{"bounceparser/warning-5.eml", true},
		{"bounceparser/warning-7.eml", true},
		{"bounceparser/whitelist.eml", true},
		{"bounceparser/yahoo-user-unknown.eml", true},
		{"bounceparser/spam-bogus-email-in-report.eml", false}, // spam, written to look personal
		{"bounceparser/spam-with-badly-parsed-email.eml", false},
		{"bounceparser/spam-with-image.eml", false},
		{"mox/dmarc-reports", true},
		{"mox/tlsreports", true},
		{"enmime/dsn", true},
		{"talon", false},
		{"sisimai/not-bounces/is-not-bounce-01.eml", false},
		{"sisimai/not-bounces/is-not-bounce-02.eml", false},
		{"rt/emails/new-ticket-from-iso-8859-1.eml", false},
		{"rt/emails/outlook-rfc822.eml", false},
		{"php-mime-mail-parser/m0018.eml", false},
		{"hunnysoft-zbateson/m0009.eml", false},
		{"enmime/mail/html-only-inline.eml", false},
		{"mikel-mail/rfc6532/utf8_headers.eml", false},
	}
	for _, tt := range tests {
		files := []string{tt.path}
		if !strings.HasSuffix(tt.path, ".eml") {
			files = corpusFiles(t, tt.path)
		}
		for _, f := range files {
			m := mustParse(t, corpusFile(t, f))
			if reason, got := Automatic(Envelope{}, m); got != tt.want {
				t.Errorf("Automatic(%s) = %q, %v; want %v", f, reason, got, tt.want)
			}
		}
	}
}

// TestAutomaticSigns checks each sign on its own, and that a plain
// message has none.
func TestAutomaticSigns(t *testing.T) {
	tests := []struct {
		name   string
		env    Envelope
		header string
		reason string // "" for not automatic
	}{
		{"person", Envelope{}, "From: Ann <ann@example.com>\nSubject: Printer broken\n", ""},
		{"auto-submitted no", Envelope{}, "Auto-Submitted: no\nFrom: ann@example.com\n", ""},
		{"auto-submitted", Envelope{}, "Auto-Submitted: Auto-Replied (vacation)\n", "auto-submitted: auto-replied"},
		{"precedence bulk", Envelope{}, "Precedence: bulk\n", "precedence: bulk"},
		{"precedence first-class", Envelope{}, "Precedence: first-class\n", ""},
		{"list-id", Envelope{}, "List-Id: <users.example.com>\n", "list mail: list-id"},
		{"list-unsubscribe", Envelope{}, "List-Unsubscribe: <mailto:u@example.com>\n", "list mail: list-unsubscribe"},
		{"envelope null sender", Envelope{NullSender: true}, "From: ann@example.com\n", "null return path"},
		{"return-path null", Envelope{}, "Return-Path: <>\n", "null return path"},
		{"return-path set", Envelope{}, "Return-Path: <ann@example.com>\n", ""},
		{"x-autoreply", Envelope{}, "X-Autoreply: yes\n", "x-autoreply present"},
		{"x-autorespond", Envelope{}, "X-Autorespond: yes\n", "x-autorespond present"},
		{"x-auto-response-suppress", Envelope{}, "X-Auto-Response-Suppress: DR, OOF\n", "x-auto-response-suppress: oof"},
		{"x-auto-response-suppress rn", Envelope{}, "X-Auto-Response-Suppress: RN\n", ""},
		{"report", Envelope{}, "Content-Type: multipart/report; report-type=disposition-notification; boundary=x\n", "report: disposition-notification"},
		{"exim failure", Envelope{}, "X-Failed-Recipients: a@example.com\n", "delivery failure report"},
		{"mailer-daemon", Envelope{}, "From: Mail Delivery System <MAILER-DAEMON@example.com>\n", "automatic sender: mailer-daemon"},
		{"no-reply", Envelope{}, "From: Shop <no-reply@shop.example>\n", "automatic sender: no-reply"},
		{"do_not_reply", Envelope{}, "From: do_not_reply@bank.example\n", "automatic sender: do_not_reply"},
		{"out of office", Envelope{}, "Subject: Automatic reply: your ticket\n", "auto-reply subject: automatic reply:"},
		{"réponse automatique", Envelope{}, "Subject: =?utf-8?Q?R=C3=A9ponse_automatique?= : absent\n", "auto-reply subject: réponse automatique"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, []byte(tt.header+"\nbody\n"))
			reason, ok := Automatic(tt.env, m)
			if reason != tt.reason || ok != (tt.reason != "") {
				t.Errorf("Automatic(%q) = %q, %v; want %q, %v", tt.header, reason, ok, tt.reason, tt.reason != "")
			}
		})
	}
	if reason, ok := Automatic(Envelope{}, nil); ok {
		t.Errorf("Automatic(nil) = %q, true; want false", reason)
	}
}
