package mailbox

import (
	"testing"
)

// TestParseDSNCorpus reads real delivery reports: RFC 3464 ones from
// enmime and sisimai, and the non-standard layouts of the common MTAs.
func TestParseDSNCorpus(t *testing.T) {
	tests := []struct {
		file        string
		final       string // first recipient's Final
		status      string // first recipient's Status
		original    string // OriginalMessageID
		recipients  int
		permanent   bool
		reportedMTA string
	}{
		{"enmime/dsn/simple_dsn.eml", "louisl@larry.slip.umd.edu", "4.0.0", "", 1, true, "cs.utk.edu"},
		{"enmime/dsn/simple_dsn_with_html.eml", "louisl@larry.slip.umd.edu", "4.0.0", "", 1, true, "cs.utk.edu"},
		{"enmime/dsn/multi_recipient_dsn.eml", "arathib@vnet.ibm.com", "5.0.0", "", 3, true, "cs.utk.edu"},
		{"enmime/dsn/delayed_dsn.eml", "thomas@de-montfort.ac.uk", "4.0.0", "", 1, false, "sun2.nsfnet-relay.ac.uk"},
		{"enmime/dsn/dsn_with_multipart_alternative.eml", "non-existing@example.com", "5.1.10", "", 1, true, "1234.prod.outlook.com"},
		// Postfix (RFC 3464, bare CR and CRLF copies too).
		{"sisimai/bounces/lhost-postfix-01.eml", "r@p351355.pool.example.ne.jp", "5.1.1", "", 1, true, "p351355.pool.example.ne.jp"},
		{"sisimai/cr-only/lhost-postfix-01.eml", "r@p351355.pool.example.ne.jp", "5.1.1", "", 1, true, "p351355.pool.example.ne.jp"},
		{"sisimai/bounces/lhost-postfix-57.eml", "kijitora@cr.nyaan.jp", "5.2.1", "", 1, true, "rokujo.cr.nyaan.jp"},
		// Exim: plain text with X-Failed-Recipients, the original quoted.
		{"sisimai/bounces/lhost-exim-01.eml", "kijitora@example.ed.jp", "5.7.0", "<E1P1ce6-000Egt-GZ@e1.example.org>", 1, true, ""},
		{"sisimai/cr-only/lhost-exim-01.eml", "kijitora@example.ed.jp", "5.7.0", "<E1P1ce6-000Egt-GZ@e1.example.org>", 1, true, ""},
		// Gmail: plain text, the original as text.
		{"sisimai/bounces/lhost-gmail-01.eml", "userunknown@example.jp", "5.1.1", "<D992C2C3-F175-4C4D-97E2-53A90E4E5BF5@gmail.com>", 1, true, ""},
		// Office 365: a report without a delivery-status part, and one with.
		{"sisimai/bounces/lhost-office365-01.eml", "kijitora@example.com", "5.1.10", "<FFFFFFFF.EEEEEEEE@example.ed.jp>", 1, true, ""},
		{"sisimai/bounces/lhost-office365-04.eml", "otsu-sakaba-hunter-neko-nyaaaaaaan@ezweb.ne.jp", "5.1.351",
			"<SLXP216MB0381A8F03A83505296890D11A9950@SLXP216MB0381.KORP216.PROD.OUTLOOK.COM>", 1, true, "SG2APC01HT247.mail.protection.outlook.com"},
		// Exchange 2003 (text only) and 2007 (RFC 3464).
		{"sisimai/bounces/lhost-exchange2003-01.eml", "kijitora@example.jp", "5.0.0", "", 1, true, ""},
		{"sisimai/bounces/lhost-exchange2007-01.eml", "mikeneko@example.co.jp", "5.1.1", "", 1, true, "mx4.example.org"},
		{"sisimai/bounces/lhost-exchange2007-05.eml", "gwang1@student.mlcsyd.nsw.edu.au", "4.4.7",
			"<1472759554.gm4daljtga4dmljrgy2donjsha@newsletter.supersurprises-au.com>", 1, true, "mlc-exchange1.mlcsyd.school"},
		// qmail and a delayed-delivery report.
		{"sisimai/bounces/lhost-qmail-01.eml", "kijitora@example.ne.jp", "5.5.0", "<000000000.9999999999999.JavaMail.postmaster@mailhub>", 1, true, ""},
		{"sisimai/bounces/rfc3464-55.eml", "sotoneko@nora.nyaan.jp", "4.4.1",
			"<CAByYQsFyrGN=Aa73R9b-3-tiR7uFpUan+9CAWRmKP4z_GriF5Q@mail.gmail.example.com>", 1, false, "googlemail.com"},
		{"bounceparser/iis-multiple-bounce.eml", "bounced1@example.net", "5.0.0", "<CNISERVERTrpwACkWHZ00000098@smtp.example.com>", 4, true, "smtp.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d, ok := ParseDSN(corpusFile(t, tt.file))
			if !ok {
				t.Fatalf("ParseDSN(%s) = _, false; want a report", tt.file)
			}
			if len(d.Recipients) != tt.recipients {
				t.Fatalf("ParseDSN(%s) recipients = %+v, want %d", tt.file, d.Recipients, tt.recipients)
			}
			r := d.Recipients[0]
			if r.Final != tt.final || r.Status != tt.status {
				t.Errorf("ParseDSN(%s) first recipient = %q %q, want %q %q", tt.file, r.Final, r.Status, tt.final, tt.status)
			}
			if d.OriginalMessageID != tt.original || d.ReportingMTA != tt.reportedMTA {
				t.Errorf("ParseDSN(%s) = original %q, MTA %q; want %q, %q", tt.file, d.OriginalMessageID, d.ReportingMTA, tt.original, tt.reportedMTA)
			}
			if d.Permanent() != tt.permanent {
				t.Errorf("ParseDSN(%s).Permanent() = %v, want %v", tt.file, d.Permanent(), tt.permanent)
			}
		})
	}
}

// TestParseDSNNotReports checks that people's mail and auto-replies are
// not taken for delivery reports.
func TestParseDSNNotReports(t *testing.T) {
	var files []string
	for _, dir := range []string{"talon", "sisimai/auto-replies"} {
		files = append(files, corpusFiles(t, dir)...)
	}
	files = append(files, "sisimai/not-bounces/is-not-bounce-01.eml", "sisimai/not-bounces/is-not-bounce-02.eml",
		"bounceparser/polish-autoreply.eml", "bounceparser/aol-vacation.eml", "mox/dmarc-reports/google.eml")
	for _, f := range files {
		if d, ok := ParseDSN(corpusFile(t, f)); ok {
			t.Errorf("ParseDSN(%s) = %+v, true; want false", f, d)
		}
	}
}

// TestParseDSNSynthetic covers the RFC 3464 fields one by one.
func TestParseDSNSynthetic(t *testing.T) {
	raw := "From: MAILER-DAEMON@mx.example.com\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n" +
		"--b\r\nContent-Type: message/delivery-status\r\n\r\n" +
		"Reporting-MTA: dns; mx.example.com\r\n\r\n" +
		"Final-Recipient: rfc822; <gone@example.org>\r\nOriginal-Recipient: rfc822;Gone@Example.org\r\n" +
		"Action: Failed\r\nStatus: 5.1.1 (user unknown)\r\nDiagnostic-Code: smtp; 550 5.1.1 no such\r\n user\r\n\r\n" +
		"Final-Recipient: rfc822; slow@example.org\r\nAction: delayed\r\nStatus: 4.4.7\r\n\r\n" +
		"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <orig@helpmail.example>\r\nSubject: x\r\n\r\n" +
		"--b--\r\n"
	d, ok := ParseDSN([]byte(raw))
	if !ok {
		t.Fatalf("ParseDSN(synthetic) = _, false; want a report")
	}
	want := []DSNRecipient{
		{Final: "gone@example.org", Original: "Gone@Example.org", Action: "failed", Status: "5.1.1", Diagnostic: "550 5.1.1 no such user"},
		{Final: "slow@example.org", Action: "delayed", Status: "4.4.7"},
	}
	if len(d.Recipients) != len(want) {
		t.Fatalf("ParseDSN(synthetic).Recipients = %+v, want %+v", d.Recipients, want)
	}
	for i := range want {
		if d.Recipients[i] != want[i] {
			t.Errorf("ParseDSN(synthetic).Recipients[%d] = %+v, want %+v", i, d.Recipients[i], want[i])
		}
	}
	if d.ReportingMTA != "mx.example.com" || d.OriginalMessageID != "<orig@helpmail.example>" || !d.Permanent() {
		t.Errorf("ParseDSN(synthetic) = MTA %q, original %q, permanent %v", d.ReportingMTA, d.OriginalMessageID, d.Permanent())
	}
	delayed := &DSN{Recipients: []DSNRecipient{{Action: "delayed", Status: "4.4.7"}}}
	if delayed.Permanent() || (*DSN)(nil).Permanent() {
		t.Errorf("Permanent() = true for a delay or a nil report, want false")
	}
}
