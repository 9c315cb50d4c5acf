package mailbox

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestParseCorpus checks what Parse makes of chosen corpus messages: the
// client and charset cases the brief lists and the "Hard cases" of the
// corpus README.
func TestParseCorpus(t *testing.T) {
	tests := []struct {
		file          string
		subject       string
		subjectPrefix bool     // subject is only a prefix
		from          string   // first From address, "" for none
		text          string   // prefix of Text
		attachments   []string // file names in order
		threadIndex   string
		problems      bool // Problems expected
		check         func(tb testing.TB, m *Message)
	}{
		{
			file: "php-mime-mail-parser/m0020.eml", subject: "1", from: "newsletter@finntack.com", text: "1",
			attachments: []string{""}, threadIndex: "Ac9KCuPnLOcaaAi8Tqy/TyHqajfZBgAAPJLA",
			check: func(tb testing.TB, m *Message) {
				if m.Attachments[0].ContentType != "text/calendar" || !strings.Contains(m.HTML, "<html") {
					tb.Errorf("Outlook invite: attachment %q, HTML %q; want text/calendar and the HTML body", m.Attachments[0].ContentType, clip(m.HTML))
				}
			},
		},
		{
			file: "talon/gmail.eml", subject: "Re: Test", from: "xxx@gmail.com",
			text: "Hello\n\nOn Mon, Apr 2, 2012 at 6:26 PM, Megan One <xxx@gmail.com> wrote:\n\n> Hi",
			check: func(tb testing.TB, m *Message) {
				if m.From[0].Name != "Megan One" || m.HTML == "" || m.MessageID != "<CAKsfaBW4hj0Gek6TwbR3erng4P1y0CZzJ0d=pXtCNnYnbe7PLg@mail.gmail.com>" {
					tb.Errorf("Gmail: From %+v, HTML %d bytes, MessageID %q", m.From[0], len(m.HTML), m.MessageID)
				}
				if want := time.Date(2012, 4, 2, 16, 21, 52, 0, time.UTC); !m.Date.Equal(want) {
					tb.Errorf("Date = %v, want %v", m.Date, want)
				}
			},
		},
		{
			file: "php-mime-mail-parser/m0018.eml", subject: "[Korea] Name", from: "name@company.com",
			text: "My traveling companions!\nMy friend, Le Pliage!", attachments: []string{"사진.JPG", "ATT00001.txt"},
			threadIndex: "Ac/sNZ9vB8OV+HYiT9e1JOdEtk0N6w==",
			check: func(tb testing.TB, m *Message) {
				if m.ContentLanguage != "ko-kr" || m.ThreadTopic != "[Korea] Name" {
					tb.Errorf("ContentLanguage, ThreadTopic = %q, %q; want ko-kr, [Korea] Name", m.ContentLanguage, m.ThreadTopic)
				}
			},
		},
		{file: "rt/emails/new-ticket-from-gb18030.eml", subject: "测试", from: "root@localhost", text: "测试"},
		{file: "rt/emails/russian-subject-no-content-type.eml", subject: "тест тест", from: "mitya@fling-wing.example.com", text: "ТЕСТ"},
		{
			file: "rt/emails/rfc2231-attachment-filename-continuations.eml", subject: "Client ? Japanese Attachment Name issue",
			from: "root@localhost", text: "Some data in a file", attachments: []string{"新しいテキスト ドキュメント.txt"},
		},
		{
			file: "sisimai/cr-only/lhost-postfix-01.eml", subject: "Undelivered Mail Returned to Sender",
			from: "MAILER-DAEMON@p351355.pool.example.ne.jp", text: "This is the mail system at host p351355.pool.example.ne.jp.\n\nI'm sorry",
			attachments: []string{"", "message.eml"}, problems: true,
		},
		{
			file: "enmime/mail/multipart-wo-boundary.eml", subject: "Delivery Status Notification (Failure)",
			from: "Mailer-Daemon@example.com", text: "I'm  multipart message without boundary", problems: true,
		},
		{
			file: "hunnysoft-zbateson/m4006.eml", subject: "Read: invitation", from: "sender@email.test",
			attachments: []string{"winmail.dat"}, threadIndex: "AdC0xOxFwE/tigzGSJa9glHhu/rfhwAAPsBAAAAKniAAALxy8AAFWj6wACl+OlAAAMOMIAAA+uBQAAAPpKA=",
			check: func(tb testing.TB, m *Message) {
				if m.Text != "" || m.Attachments[0].ContentType != "application/ms-tnef" || len(m.Attachments[0].Data) == 0 {
					tb.Errorf("TNEF: Text %q, attachment %q with %d bytes", m.Text, m.Attachments[0].ContentType, len(m.Attachments[0].Data))
				}
			},
		},
		{
			file: "enmime/mail/html-only-inline.eml", subject: "MIME test 1", from: "james@makita.skynet",
			text: "Test of HTML section", attachments: []string{"favicon.png"},
			check: func(tb testing.TB, m *Message) {
				a := m.Attachments[0]
				if !a.Inline || a.ContentID != "8B8481A2-25CA-4886-9B5A-8EB9115DD064@skynet" || !bytes.HasPrefix(a.Data, []byte("\x89PNG")) {
					tb.Errorf("inline image: Inline %v, ContentID %q, data %q", a.Inline, a.ContentID, a.Data[:min(8, len(a.Data))])
				}
			},
		},
		// The corpus README's hard cases, in its order.
		{
			file: "flanker/torture.eml", subject: "Multi-media mail demonstration", from: "mrc@CAC.Washington.EDU",
			text: "This is a demonstration of multi-part mail with encapsulated messages.",
			attachments: []string{"Re_ a MIME-Version misfeature.eml", "Re_ multipart mail.eml", "", "", "message.eml",
				"A cheap digitizer test.eml", "meta-mail.eml", "An image that went gif-_ppm-_ps.eml", "", "Audio in q-p.eml", "Here's some more.eml"},
		},
		{
			file: "flanker/long-header.eml", subject: "Die heiße Zypernsonne quälte Max und Victoria ja böse auf dem Weg bis zur Küste",
			subjectPrefix: true, from: "bob@example.com", text: "test",
			check: func(tb testing.TB, m *Message) {
				if n := strings.Count(m.Subject, "Zypernsonne"); n < 1000 {
					tb.Errorf("long Subject has %d repetitions, want the whole 210 KB field decoded", n)
				}
			},
		},
		{
			file: "rt/emails/nested-mime-sample.eml", subject: "Example MIME within MIME within MIME message",
			from: "Xxxxxx_Yyyyyyy@some.net", text: "\nMIME is fun at times.", attachments: []string{"first outer message.eml", "2nd outer message.eml"},
		},
		{
			file: "webklex-php-imap/four_nested_emails.eml", subject: "3-third-subject", from: "test@example.com",
			text: "3-third-content", attachments: []string{"2-second-email.eml"},
		},
		{
			file: "hunnysoft-zbateson/m4006.eml", subject: "Read: invitation", from: "sender@email.test",
			attachments: []string{"winmail.dat"}, threadIndex: "AdC0xOxFwE/tigzGSJa9glHhu/rfhwAAPsBAAAAKniAAALxy8AAFWj6wACl+OlAAAMOMIAAA+uBQAAAPpKA=",
		},
		{
			file: "sisimai/bounces/lhost-dragonfly-01.eml", subject: "Mail delivery failed",
			text: "This is the DragonFly Mail Agent v0.13 at df.example.jp.", problems: true,
		},
		{
			file: "flanker/mailformed-headers.eml", subject: "´!", from: "headers@gmail.com", text: "----fa**f__fawf", problems: true,
			check: func(tb testing.TB, m *Message) {
				if m.From[0].Name != "Юникод запрещен\uFFFD" {
					tb.Errorf("From name = %q, want the UTF-8 name with its broken last byte replaced", m.From[0].Name)
				}
			},
		},
		{file: "enmime/low-quality/bad-header-start.eml", subject: "plain text", from: "james@makita.skynet", text: "A text section", problems: true},
		{file: "enmime/mail/erroneous.eml", text: "// Not an RFC-822 Document", problems: true},
		{file: "cpython/msg_15.eml", subject: "XX", from: "xx@xx.dk", text: "Some removed test.", attachments: []string{"xx.gif"}, problems: true},
		{
			file: "hunnysoft-zbateson/m0009.eml", subject: "Die Hasen und die Frösche (Microsoft Outlook 00)", from: "doug@example.com",
			text: "Die Hasen und die Frösche",
			check: func(tb testing.TB, m *Message) {
				if len(m.To) != 1 || m.To[0].Name != "Heinz Müller" {
					tb.Errorf("To = %+v, want Heinz Müller from raw ISO-8859-1 bytes", m.To)
				}
			},
		},
		{
			file: "enmime/parts/missing-closing-param-quote.eml", problems: true,
			check: func(tb testing.TB, m *Message) {
				if m.Header.Get("Mime-Version") != "1.0" {
					tb.Errorf("MIME-Version = %q, want the field after the broken one", m.Header.Get("Mime-Version"))
				}
			},
		},
		{
			file: "sisimai/not-bounces/rb-issue-368-bug.eml", subject: "email bounce notification", from: "postmaster@yyyyyy.de",
			text: "########################################################################\n##       automatic bounce notification",
			check: func(tb testing.TB, m *Message) {
				if !m.HasReturnPath || m.ReturnPath != "" {
					tb.Errorf("ReturnPath = %q, %v; want the null path", m.ReturnPath, m.HasReturnPath)
				}
			},
		},
		{
			file: "php-mime-mail-parser/m0018.eml", subject: "[Korea] Name", from: "name@company.com",
			text: "My traveling companions!", attachments: []string{"사진.JPG", "ATT00001.txt"}, threadIndex: "Ac/sNZ9vB8OV+HYiT9e1JOdEtk0N6w==",
		},
		{
			file: "rt/emails/outlook-rfc822.eml", subject: "msg attachment", from: "root@localhost",
			text: "Could this look more spammy? “Check out the attached file.” 😊", attachments: []string{"Updates to our terms of use.eml"},
			threadIndex: "AdoBHLGUtaY+wvYtQv2Hq3qNQkYWnA==",
			check: func(tb testing.TB, m *Message) {
				inner := mustParse(tb, m.Attachments[0].Data)
				if inner.ThreadIndex == "" || inner.ThreadIndex == m.ThreadIndex {
					tb.Errorf("attached message Thread-Index = %q; want its own", inner.ThreadIndex)
				}
			},
		},
		{
			file: "sisimai/auto-replies/rfc3834-06.eml", subject: "AutoRespons :Nyaan?", from: "noreply@example.com",
			text: "This email inbox kijitora@example.com is no longer in use.",
		},
		{file: "bounceparser/polish-autoreply.eml", subject: "[Automatyczna odpowiedź] test", from: "example10@wp.pl", text: "the cat sat on the mat."},
		{
			file: "bounceparser/boxbe-cr.eml", subject: "Re: Dear Mr bloggs, get your Emerging Markets factsheet (Action Required)",
			from: "noreply@boxbe.com", text: "\nHello John Smith,", attachments: []string{"", "Dear Mr bloggs, get your foo.eml"},
		},
		{
			file: "sisimai/bounces/lhost-office365-04.eml", subject: "Undeliverable: ニャーン", from: "postmaster@outlook.com",
			text: "msmx.au.com rejected your message", attachments: []string{"", "ニャーン.eml"}, threadIndex: "AQHT8MGsDJq0pNzN8kqm6l56g9iVCqQ5ode4",
		},
		{
			file: "mox/dmarc-reports/google.eml", subject: "Report domain: ueber.net Submitter: google.com Report-ID: 13488712042596170873",
			from: "noreply-dmarc-support@google.com", attachments: []string{"google.com!ueber.net!1633996800!1634083199.zip"},
		},
		{
			file: "notmuch/duplicate/msg-3-1.eml", subject: "[Pkg-emacsen-addons] Bug#916805: Increase severity to 'serious'",
			from: "spwhitton@spwhitton.name", attachments: []string{"signature.asc"},
		},
		{
			file: "notmuch/duplicate/msg-3-5.eml", subject: "Bug#916867: Increase severity to 'serious'",
			from: "spwhitton@spwhitton.name", attachments: []string{"signature.asc"},
		},
		{
			file: "threading/notmuch/loop/loop-12.eml", subject: "referencing in-reply-to-loop-21", from: "alice@example.org",
			check: func(tb testing.TB, m *Message) {
				if m.MessageID != "<mid-loop-12@example.org>" || m.InReplyTo != "<mid-loop-21@example.org>" {
					tb.Errorf("MessageID, InReplyTo = %q, %q", m.MessageID, m.InReplyTo)
				}
			},
		},
		{
			file: "notmuch/mangling/mixed-up.eml", subject: "Here is the password", from: "test_suite@notmuchmail.org",
			attachments: []string{"", ""},
		},
		{
			file: "rt/emails/notes-uuencoded.eml", subject: "Test e-mail which exhibits problems with RT", from: "mhenrion@example.com",
			text: "I send you this mail from Lotus Notes",
		},
		{
			file: "mikel-mail/rfc6532/utf8_headers.eml", subject: "Säying Hello", from: "jdöe@mächine.example", text: "body",
			check: func(tb testing.TB, m *Message) {
				if m.From[0].Name != "Jöhn Doe" {
					tb.Errorf("From name = %q, want Jöhn Doe", m.From[0].Name)
				}
			},
		},
		{file: "nodemailer-mailparser/htmllargecallstack.eml", subject: "Kill the HTML parser", from: "test@example.com"},
		{file: "enmime/mail/mime-bad-8bit-filename.eml", subject: "Malformed test", from: "pavel.bazika@some.domain", text: "Text part", attachments: []string{"管理.doc"}},
		{
			file: "flanker/spam/broken-ctype.eml", subject: "its me A", from: "hello@example.com", text: "Hello Dear, How are you?",
			attachments: []string{"facejj.jpg"}, problems: true,
			check: func(tb testing.TB, m *Message) {
				if ct := m.Attachments[0].ContentType; ct != "application/octet-stream" {
					tb.Errorf("broken Content-Type read as %q, want application/octet-stream", ct)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m := mustParse(t, corpusFile(t, tt.file))
			from := ""
			if len(m.From) > 0 {
				from = m.From[0].Addr
			}
			if m.Subject != tt.subject && !(tt.subjectPrefix && strings.HasPrefix(m.Subject, tt.subject)) {
				t.Errorf("Parse(%s).Subject = %q, want %q", tt.file, clip(m.Subject), tt.subject)
			}
			if from != tt.from {
				t.Errorf("Parse(%s).From[0].Addr = %q, want %q", tt.file, from, tt.from)
			}
			if !strings.HasPrefix(m.Text, tt.text) {
				t.Errorf("Parse(%s).Text = %q, want prefix %q", tt.file, clip(m.Text), tt.text)
			}
			if got := filenames(m); !slices.Equal(got, tt.attachments) {
				t.Errorf("Parse(%s) attachments = %q, want %q", tt.file, got, tt.attachments)
			}
			if m.ThreadIndex != tt.threadIndex {
				t.Errorf("Parse(%s).ThreadIndex = %q, want %q", tt.file, m.ThreadIndex, tt.threadIndex)
			}
			if got := len(m.Problems) > 0; got != tt.problems {
				t.Errorf("Parse(%s).Problems = %q, want problems: %v", tt.file, m.Problems, tt.problems)
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

// TestParseSynthetic covers layouts built by hand: line endings, mbox
// lines, missing separators, encodings and charsets.
func TestParseSynthetic(t *testing.T) {
	tests := []struct {
		name, raw      string
		subject, text  string
		from           string
		attachments    []string
		wantProblems   bool
		wantAttachData string
	}{
		{name: "crlf", raw: "From: a@b.c\r\nSubject: hi\r\n\r\nline 1\r\nline 2\r\n", subject: "hi", from: "a@b.c", text: "line 1\nline 2\n"},
		{name: "bare cr", raw: "From: a@b.c\rSubject: hi\r\rline 1\rline 2\r", subject: "hi", from: "a@b.c", text: "line 1\nline 2\n"},
		{name: "mbox from line", raw: "From a@b.c Mon Jan  1 00:00:00 2024\nFrom: a@b.c\nSubject: hi\n\nbody\n", subject: "hi", from: "a@b.c", text: "body\n"},
		{name: "no separator", raw: "From: a@b.c\nSubject: hi\nHello there,\nbye\n", subject: "hi", from: "a@b.c", text: "Hello there,\nbye\n", wantProblems: true},
		{name: "header only", raw: "From: a@b.c\nSubject: hi", subject: "hi", from: "a@b.c"},
		{name: "empty", raw: "", wantProblems: true},
		{name: "stray line in header", raw: ">From x\nFrom: a@b.c\nSubject: hi\n\nbody", subject: "hi", from: "a@b.c", text: "body", wantProblems: true},
		{name: "folded subject", raw: "Subject: one\n two \n\tthree  \n\n", subject: "one two \tthree"},
		{name: "rfc 2047 split multibyte", raw: "Subject: =?utf-8?B?w6k=?= =?utf-8?B?w6g=?= x\n\n", subject: "éè x"},
		{name: "rfc 2047 shift_jis across words", raw: "Subject: =?shift_jis?B?gqA=?= =?shift_jis?B?gqI=?=\n\n", subject: "あい"},
		{name: "rfc 2047 unknown charset", raw: "Subject: =?x-nonsense?Q?caf=E9?=\n\n", subject: "café", wantProblems: true},
		{name: "raw latin-1 subject", raw: "Subject: caf\xe9\n\n", subject: "café"},
		{name: "8-bit header in body charset", raw: "Subject: \xa4\xa2\nContent-Type: text/plain; charset=euc-jp\n\n\xa4\xa2", subject: "あ", text: "あ"},
		{name: "8-bit body without charset", raw: "Subject: x\n\ncaf\xe9", subject: "x", text: "café"},
		{name: "utf-8 body without charset", raw: "Subject: x\n\ncafé", subject: "x", text: "café"},
		{name: "unknown body charset", raw: "Content-Type: text/plain; charset=x-nonsense\n\ncaf\xe9", text: "café", wantProblems: true},
		{name: "unknown encoding", raw: "Content-Transfer-Encoding: x-foo\n\nabc", text: "abc", wantProblems: true},
		{name: "bogus 7-bit encoding", raw: "Content-Transfer-Encoding: 7-bit\n\nabc", text: "abc"},
		{name: "bad base64 padding", raw: "Content-Transfer-Encoding: base64\n\nYWJj\nZA==ZWY=\n!!", text: "abcdef"},
		{name: "bad quoted-printable", raw: "Content-Transfer-Encoding: quoted-printable\n\na=3Db=ZZc=\nd", text: "a=b=ZZcd"},
		{
			name: "alternative picks first plain, drops enriched",
			raw: "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\nplain\n--b\nContent-Type: text/enriched\n\nrich\n" +
				"--b\nContent-Type: text/html\n\n<p>html</p>\n--b--\n",
			text: "plain",
		},
		{
			name: "alternative keeps a named file",
			raw: "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\nplain\n" +
				"--b\nContent-Type: text/plain; name=notes.txt\n\nnotes\n--b--\n",
			text: "plain", attachments: []string{"notes.txt"}, wantAttachData: "notes",
		},
		{
			name: "mixed appends footer, keeps files",
			raw: "Content-Type: multipart/mixed; boundary=\"b\"\n\npreamble\n--b\n\nmain\n--b\nContent-Type: application/pdf; name=a.pdf\n" +
				"Content-Transfer-Encoding: base64\n\nJVBERg==\n--b\nContent-Type: text/plain\n\nfooter\n--b--\nepilogue\n",
			text: "main\n\nfooter", attachments: []string{"a.pdf"}, wantAttachData: "%PDF",
		},
		{
			name: "missing closing boundary",
			raw:  "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nmain\n--b\nContent-Disposition: attachment; filename=x.txt\n\nfile",
			text: "main", attachments: []string{"x.txt"}, wantProblems: true, wantAttachData: "file",
		},
		{
			name: "rfc 2231 filename",
			raw: "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nmain\n--b\nContent-Type: application/octet-stream\n" +
				"Content-Disposition: attachment; filename*0*=utf-8''caf%C3; filename*1*=%A9.txt\n\nx\n--b--\n",
			text: "main", attachments: []string{"café.txt"},
		},
		{
			name: "control characters removed from file name",
			raw:  "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nmain\n--b\nContent-Type: application/octet-stream; name=\"=?utf-8?Q?a=0D=0Ab.txt?=\"\n\nx\n--b--\n",
			text: "main", attachments: []string{"ab.txt"},
		},
		{
			name: "message/rfc822 named after its subject",
			raw:  "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nsee below\n--b\nContent-Type: message/rfc822\n\nSubject: a/b: c\n\ninner\n--b--\n",
			text: "see below", attachments: []string{"a_b_ c.eml"}, wantAttachData: "Subject: a/b: c\n\ninner",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, []byte(tt.raw))
			from := ""
			if len(m.From) > 0 {
				from = m.From[0].Addr
			}
			if m.Subject != tt.subject || m.Text != tt.text || from != tt.from {
				t.Errorf("Parse(%q) = subject %q, text %q, from %q; want %q, %q, %q", tt.raw, m.Subject, m.Text, from, tt.subject, tt.text, tt.from)
			}
			if got := filenames(m); !slices.Equal(got, tt.attachments) {
				t.Errorf("Parse(%q) attachments = %q, want %q", tt.raw, got, tt.attachments)
			}
			if tt.wantAttachData != "" && (len(m.Attachments) == 0 || !strings.HasPrefix(string(m.Attachments[0].Data), tt.wantAttachData)) {
				t.Errorf("Parse(%q) first attachment data does not start with %q", tt.raw, tt.wantAttachData)
			}
			if got := len(m.Problems) > 0; got != tt.wantProblems {
				t.Errorf("Parse(%q).Problems = %q, want problems: %v", tt.raw, m.Problems, tt.wantProblems)
			}
		})
	}
}

// TestParseHeaderFields checks the header-derived fields of one message.
func TestParseHeaderFields(t *testing.T) {
	raw := "Return-Path: <>\r\n" +
		"Delivered-To: support@example.com\r\n" +
		"Delivered-To: <other@example.com>\r\n" +
		"From: =?iso-8859-1?Q?Andr=E9?= <andre@example.com>\r\n" +
		"Sender: list@example.com\r\n" +
		"Reply-To: \"Team, Sales\" <sales@example.com>, x@example.com\r\n" +
		"To: undisclosed-recipients:;\r\n" +
		"Cc: A <a@example.com>, broken <b@example.com\r\n" +
		"Subject: =?utf-8?Q?R=C3=A9ponse?=\r\n" +
		"Date: Wed, 18 Jun 2003 11:14:38 +0400 (MSD)\r\n" +
		"Message-ID:  <id@example.com> \r\n" +
		"In-Reply-To: <parent@example.com>\r\n" +
		"References: <root@example.com>\r\n <parent@example.com>\r\n" +
		"Content-Language: FR-be, en\r\n" +
		"Thread-Topic: =?utf-8?Q?R=C3=A9ponse?=\r\n" +
		"Authentication-Results: mx.example.com; dkim=pass\r\n" +
		"Authentication-Results: other.example.com; spf=fail\r\n" +
		"\r\nbody\r\n"
	m := mustParse(t, []byte(raw))
	list := func(as []Address) string {
		var s []string
		for _, a := range as {
			s = append(s, a.Name+"|"+a.Addr)
		}
		return strings.Join(s, ", ")
	}
	checks := []struct{ name, got, want string }{
		{"ReturnPath", fmt.Sprintf("%q %v", m.ReturnPath, m.HasReturnPath), `"" true`},
		{"DeliveredTo", strings.Join(m.DeliveredTo, ","), "support@example.com,other@example.com"},
		{"From", list(m.From), "André|andre@example.com"},
		{"Sender", list(m.Sender), "|list@example.com"},
		{"ReplyTo", list(m.ReplyTo), "Team, Sales|sales@example.com, |x@example.com"},
		{"To", list(m.To), ""},
		{"Cc", list(m.Cc), "A|a@example.com, broken|b@example.com"},
		{"Subject", m.Subject, "Réponse"},
		{"Date", m.Date.UTC().Format(time.RFC3339), "2003-06-18T07:14:38Z"},
		{"MessageID", m.MessageID, "<id@example.com>"},
		{"InReplyTo", m.InReplyTo, "<parent@example.com>"},
		{"References", m.References, "<root@example.com> <parent@example.com>"},
		{"ContentLanguage", m.ContentLanguage, "fr-be"},
		{"ThreadTopic", m.ThreadTopic, "Réponse"},
		{"Header.Values", strings.Join(m.Header.Values("authentication-results"), "|"), "mx.example.com; dkim=pass|other.example.com; spf=fail"},
		{"Header.Get", m.Header.Get("SUBJECT"), "Réponse"},
		{"Header.Get missing", m.Header.Get("X-None"), ""},
		{"Text", m.Text, "body\n"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("Parse().%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

// TestParseBounded feeds hostile structures and checks that Parse stays
// within its limits, reports the cut, and returns quickly.
func TestParseBounded(t *testing.T) {
	deep := strings.Builder{}
	for i := range 5000 {
		fmt.Fprintf(&deep, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i)
	}
	deep.WriteString("\ninnermost\n")

	many := strings.Builder{}
	many.WriteString("Content-Type: multipart/mixed; boundary=b\n\n")
	for range MaxParts * 3 {
		many.WriteString("--b\n\nx\n")
	}

	huge := "Subject: big\n" + strings.Repeat("X-Filler: "+strings.Repeat("a", 1000)+"\n", MaxHeaderBytes/1000+10) + "\nbody"

	tests := []struct {
		name, raw, problem string
	}{
		{"nesting", deep.String(), "nested deeper"},
		{"parts", many.String(), "more than"},
		{"header", huge, "header block larger"},
		{"unterminated encoded-words", "Subject: " + strings.Repeat("=?a?q?x", 200_000) + "\n\nx", ""},
		{"address list", "To: " + strings.Repeat("a@b, \"c\" <d@e>, (", 50_000) + "\n\nx", ""},
		{"parameters", "Content-Type: text/plain; " + strings.Repeat("a*1*=b; ", 100_000) + "\n\nx", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			m := mustParse(t, []byte(tt.raw))
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Parse(%s) took %v, want well under 2s", tt.name, d)
			}
			if tt.problem != "" && !slices.ContainsFunc(m.Problems, func(p string) bool { return strings.Contains(p, tt.problem) }) {
				t.Errorf("Parse(%s).Problems = %q, want one mentioning %q", tt.name, m.Problems, tt.problem)
			}
		})
	}
	if m := mustParse(t, []byte(huge)); m.Subject != "big" || m.Text != "body" {
		t.Errorf("Parse(huge header) = subject %q, text %q; want the fields before the limit and the body", m.Subject, m.Text)
	}
}

// TestParseError checks the error contract: ErrMalformed exactly when
// there are problems, and never a nil message.
func TestParseError(t *testing.T) {
	m, err := Parse([]byte("From: a@b.c\n\nclean"))
	if err != nil || len(m.Problems) != 0 {
		t.Errorf("Parse(clean) = %q, %v; want no problems", m.Problems, err)
	}
	m, err = Parse(nil)
	if m == nil || !errors.Is(err, ErrMalformed) {
		t.Errorf("Parse(nil) = %v, %v; want a message and ErrMalformed", m, err)
	}
}

func TestAddressString(t *testing.T) {
	tests := []struct {
		in   Address
		want string
	}{
		{Address{Addr: "a@b.c"}, "<a@b.c>"},
		{Address{Name: "Ann Lee", Addr: "a@b.c"}, `"Ann Lee" <a@b.c>`},
		{Address{Name: "Dupont, Jean", Addr: "a@b.c"}, `"Dupont, Jean" <a@b.c>`},
		{Address{Name: "Zoë", Addr: "a@b.c"}, "=?utf-8?q?Zo=C3=AB?= <a@b.c>"},
		{Address{Name: "Eve\r\nBcc: x@y.z", Addr: "a@b.c\r\n"}, `"EveBcc: x@y.z" <a@b.c>`},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Address%+v.String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}
