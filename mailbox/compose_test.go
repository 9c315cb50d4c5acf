package mailbox

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// sampleOutgoing is a notification with everything: non-ASCII names and
// subject, threading fields, extra fields, HTML and two attachments.
func sampleOutgoing() Outgoing {
	return Outgoing{
		From:       Address{Name: "Zoë Martin (Support Ünlimited)", Addr: "support@example.com"},
		To:         []Address{{Name: "Jean Dupont", Addr: "jean@example.org"}},
		Cc:         []Address{{Addr: "boss@example.org"}, {Name: "Ann, Lee", Addr: "ann@example.org"}},
		ReplyTo:    []Address{{Name: "Support", Addr: "support+t0k3n@example.com"}},
		Subject:    "[Support #1042] Réponse : l'imprimante ne répond plus — très urgent, merci de vérifier rapidement",
		MessageID:  "t0k3n.1042@example.com",
		InReplyTo:  "CAKsfaBW4hj0@mail.gmail.com",
		References: []string{"root@example.org", "CAKsfaBW4hj0@mail.gmail.com"},
		Date:       time.Date(2024, 3, 5, 14, 7, 9, 0, time.FixedZone("CET", 3600)),
		Headers: []Field{
			{Key: "Auto-Submitted", Value: "auto-replied"},
			{Key: "X-Auto-Response-Suppress", Value: "All"},
			{Key: "Thread-Topic", Value: "l'imprimante ne répond plus"},
			{Key: "Thread-Index", Value: "AQHT8MGsDJq0pNzN8kqm6l56g9iVCg=="},
			{Key: "Content-Language", Value: "fr"},
		},
		Text: "Bonjour Jean,\n\nVotre ticket est à jour. " + strings.Repeat("Une très longue ligne ", 10) + "\n\n-- \nL'équipe\n",
		HTML: "<p>Bonjour Jean,</p><p>Votre ticket est <b>à jour</b>.</p>",
		Attachments: []Attachment{
			{Filename: "logo.png", ContentType: "image/png", ContentID: "logo@example.com", Inline: true, Data: []byte("\x89PNG\r\n\x1a\nfake")},
			{Filename: "facture n°12 – mars.pdf", ContentType: "application/pdf", Data: bytes.Repeat([]byte("%PDF-1.4 binary \x00\xff "), 20)},
		},
	}
}

// TestComposeGolden writes the sample, compares it byte for byte with
// testdata/compose.golden (go test -update rewrites it), and reads it
// back with go-message: headers, structure and every body.
func TestComposeGolden(t *testing.T) {
	o := sampleOutgoing()
	raw, err := Compose(o)
	if err != nil {
		t.Fatalf("Compose(sample) error = %v", err)
	}
	golden := filepath.Join("testdata", "compose.golden")
	if *update {
		if err := os.WriteFile(golden, raw, 0o644); err != nil {
			t.Fatalf("write golden: %v", err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run go test -update once): %v", err)
	}
	if !bytes.Equal(raw, want) {
		t.Errorf("Compose(sample) differs from %s; run go test -update and review the diff", golden)
	}
	again, _ := Compose(o)
	if !bytes.Equal(raw, again) {
		t.Errorf("Compose(sample) is not deterministic")
	}
	checkWireFormat(t, raw)

	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("mail.CreateReader(Compose(sample)) error = %v", err)
	}
	h := r.Header
	if s, _ := h.Subject(); s != o.Subject {
		t.Errorf("Subject read back = %q, want %q", s, o.Subject)
	}
	if from, _ := h.AddressList("From"); len(from) != 1 || from[0].Name != o.From.Name || from[0].Address != o.From.Addr {
		t.Errorf("From read back = %v, want %v", from, o.From)
	}
	if cc, _ := h.AddressList("Cc"); len(cc) != 2 || cc[1].Name != "Ann, Lee" {
		t.Errorf("Cc read back = %v, want two addresses, the second named \"Ann, Lee\"", cc)
	}
	if id, _ := h.MessageID(); id != o.MessageID {
		t.Errorf("Message-ID read back = %q, want %q", id, o.MessageID)
	}
	if refs, _ := h.MsgIDList("References"); !slices.Equal(refs, o.References) {
		t.Errorf("References read back = %q, want %q", refs, o.References)
	}
	if irt, _ := h.MsgIDList("In-Reply-To"); !slices.Equal(irt, []string{o.InReplyTo}) {
		t.Errorf("In-Reply-To read back = %q, want %q", irt, o.InReplyTo)
	}
	if d, _ := h.Date(); !d.Equal(o.Date) {
		t.Errorf("Date read back = %v, want %v", d, o.Date)
	}
	if v, _ := h.Text("Thread-Topic"); v != "l'imprimante ne répond plus" {
		t.Errorf("Thread-Topic read back = %q", v)
	}
	if mt, _, _ := h.ContentType(); mt != "multipart/mixed" || h.Get("Mime-Version") != "1.0" {
		t.Errorf("top Content-Type = %q, MIME-Version %q; want multipart/mixed, 1.0", mt, h.Get("Mime-Version"))
	}

	var got []string // "type body-or-filename"
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("NextPart() error = %v", err)
		}
		body, _ := io.ReadAll(p.Body)
		switch ph := p.Header.(type) {
		case *mail.InlineHeader:
			mt, _, _ := ph.ContentType()
			switch {
			case mt == "text/plain" && string(body) != strings.ReplaceAll(o.Text, "\n", "\r\n"):
				t.Errorf("text part read back = %q, want %q", body, o.Text)
			case mt == "text/html" && string(body) != o.HTML:
				t.Errorf("html part read back = %q, want %q", body, o.HTML)
			case mt == "image/png" && !bytes.Equal(body, o.Attachments[0].Data):
				t.Errorf("inline image read back = %q", body)
			}
			got = append(got, "inline "+mt)
		case *mail.AttachmentHeader:
			name, _ := ph.Filename()
			if !bytes.Equal(body, o.Attachments[1].Data) {
				t.Errorf("attachment %q data differs after the round trip", name)
			}
			got = append(got, "attachment "+name)
		}
	}
	want2 := []string{"inline text/plain", "inline text/html", "inline image/png", "attachment facture n°12 – mars.pdf"}
	if !slices.Equal(got, want2) {
		t.Errorf("parts read back = %q, want %q", got, want2)
	}

	m := mustParse(t, raw)
	if m.Subject != o.Subject || m.Text != o.Text || m.HTML != o.HTML || m.ThreadIndex != o.Headers[3].Value {
		t.Errorf("Parse(Compose(sample)) = subject %q, text %q, html %q, thread index %q", m.Subject, m.Text, m.HTML, m.ThreadIndex)
	}
	if names := filenames(m); !slices.Equal(names, []string{"logo.png", "facture n°12 – mars.pdf"}) || m.Attachments[0].ContentID != "logo@example.com" {
		t.Errorf("Parse(Compose(sample)) attachments = %q", names)
	}
}

// checkWireFormat checks that raw uses CRLF only, has no line over 998
// bytes, and has a pure-ASCII header block.
func checkWireFormat(tb testing.TB, raw []byte) {
	tb.Helper()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) ||
		bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\r")) {
		tb.Errorf("output has a bare CR or LF")
	}
	for _, l := range bytes.Split(raw, []byte("\r\n")) {
		if len(l) > 998 {
			tb.Errorf("output line of %d bytes, want at most 998", len(l))
		}
	}
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, c := range head {
		if c >= 0x80 {
			tb.Errorf("header has a non-ASCII byte: %q", head)
			break
		}
	}
}

// TestComposeShapes checks the structure for text only, text and HTML,
// and text with attachments.
func TestComposeShapes(t *testing.T) {
	base := func() Outgoing {
		return Outgoing{From: Address{Addr: "s@example.com"}, To: []Address{{Addr: "c@example.org"}},
			Subject: "Hi", MessageID: "a@b", Date: time.Unix(0, 0), Text: "plain"}
	}
	withHTML := base()
	withHTML.HTML = "<p>x</p>"
	withFile := base()
	withFile.Attachments = []Attachment{{Filename: "a.txt", Data: []byte("file")}}
	tests := []struct {
		name, wantType string
		o              Outgoing
	}{
		{"text", "text/plain", base()},
		{"alternative", "multipart/alternative", withHTML},
		{"mixed", "multipart/mixed", withFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := Compose(tt.o)
			if err != nil {
				t.Fatalf("Compose(%s) error = %v", tt.name, err)
			}
			checkWireFormat(t, raw)
			m := mustParse(t, raw)
			if mt, _ := (&parser{m: &Message{}}).mediaHeader(m.Header.Get("Content-Type")); mt != tt.wantType {
				t.Errorf("Compose(%s) Content-Type = %q, want %q", tt.name, mt, tt.wantType)
			}
			if m.Text != "plain" || m.Header.Get("Mime-Version") != "1.0" {
				t.Errorf("Compose(%s) read back: text %q, MIME-Version %q", tt.name, m.Text, m.Header.Get("Mime-Version"))
			}
		})
	}
	long := base()
	long.Subject = "x" + strings.Repeat("é", 10) + strings.Repeat("y", 3000)
	long.Headers = []Field{{Key: "X-Long", Value: strings.Repeat("z", 2000)}}
	raw, err := Compose(long)
	if err != nil {
		t.Fatalf("Compose(long words) error = %v", err)
	}
	checkWireFormat(t, raw)
	if m := mustParse(t, raw); m.Subject != long.Subject || m.Header.Get("X-Long") != long.Headers[0].Value {
		t.Errorf("Compose(long words) read back: subject %q…, X-Long %q…", clip(m.Subject), clip(m.Header.Get("X-Long")))
	}
	if raw, _ := Compose(withFile); !strings.Contains(string(raw), "Content-Type: application/octet-stream; name=a.txt") {
		t.Errorf("Compose(attachment without type) does not default to application/octet-stream:\n%s", raw)
	}
}

// TestComposeRefuses checks that no header value can break a line and
// that invalid messages are refused.
func TestComposeRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(o *Outgoing)
		want   error
	}{
		{"subject CRLF", func(o *Outgoing) { o.Subject = "Hi\r\nBcc: victim@example.net" }, ErrHeaderInjection},
		{"subject LF", func(o *Outgoing) { o.Subject = "Hi\nX: y" }, ErrHeaderInjection},
		{"subject CR", func(o *Outgoing) { o.Subject = "Hi\rX: y" }, ErrHeaderInjection},
		{"subject NUL", func(o *Outgoing) { o.Subject = "Hi\x00" }, ErrHeaderInjection},
		{"from name", func(o *Outgoing) { o.From.Name = "Eve\nBcc: x@y.z" }, ErrHeaderInjection},
		{"from address", func(o *Outgoing) { o.From.Addr = "s@example.com\r\nBcc: x@y.z" }, ErrHeaderInjection},
		{"to name", func(o *Outgoing) { o.To[0].Name = "A\r\n" }, ErrHeaderInjection},
		{"cc address", func(o *Outgoing) { o.Cc = []Address{{Addr: "c@example.org\n"}} }, ErrHeaderInjection},
		{"reply-to", func(o *Outgoing) { o.ReplyTo = []Address{{Name: "\x00", Addr: "r@example.com"}} }, ErrHeaderInjection},
		{"message id", func(o *Outgoing) { o.MessageID = "a@b\r\nBcc: x@y.z" }, ErrHeaderInjection},
		{"in-reply-to", func(o *Outgoing) { o.InReplyTo = "a@b\n" }, ErrHeaderInjection},
		{"references", func(o *Outgoing) { o.References = []string{"ok@b", "bad@b\r"} }, ErrHeaderInjection},
		{"extra value", func(o *Outgoing) { o.Headers = []Field{{Key: "Thread-Topic", Value: "x\r\nBcc: y@z"}} }, ErrHeaderInjection},
		{"extra name", func(o *Outgoing) { o.Headers = []Field{{Key: "X-A\r\nBcc", Value: "y@z"}} }, ErrHeaderInjection},
		{"attachment name", func(o *Outgoing) { o.Attachments = []Attachment{{Filename: "a\r\n.txt"}} }, ErrHeaderInjection},
		{"attachment content id", func(o *Outgoing) { o.Attachments = []Attachment{{ContentID: "x\n"}} }, ErrHeaderInjection},
		{"attachment type", func(o *Outgoing) { o.Attachments = []Attachment{{ContentType: "text/plain\r\nX: y"}} }, ErrHeaderInjection},
		{"no from", func(o *Outgoing) { o.From = Address{} }, ErrInvalidAddress},
		{"bad address", func(o *Outgoing) { o.To = []Address{{Addr: "not an address"}} }, ErrInvalidAddress},
		{"address without domain", func(o *Outgoing) { o.To = []Address{{Addr: "local"}} }, ErrInvalidAddress},
		{"no recipient", func(o *Outgoing) { o.To, o.Cc = nil, nil }, ErrInvalidMessage},
		{"no message id", func(o *Outgoing) { o.MessageID = "" }, ErrInvalidMessage},
		{"bracketed message id", func(o *Outgoing) { o.MessageID = "<a@b>" }, ErrInvalidMessage},
		{"overlong reference", func(o *Outgoing) { o.References = []string{strings.Repeat("r", 1000) + "@b"} }, ErrInvalidMessage},
		{"reserved field", func(o *Outgoing) { o.Headers = []Field{{Key: "bcc", Value: "x@y.z"}} }, ErrInvalidMessage},
		{"field name with colon", func(o *Outgoing) { o.Headers = []Field{{Key: "X-A: b", Value: "c"}} }, ErrInvalidMessage},
		{"empty field name", func(o *Outgoing) { o.Headers = []Field{{Key: "", Value: "c"}} }, ErrInvalidMessage},
		{"bad attachment type", func(o *Outgoing) { o.Attachments = []Attachment{{ContentType: "nonsense"}} }, ErrInvalidMessage},
		{"no text", func(o *Outgoing) { o.Text = "" }, ErrInvalidMessage},
		{"no date", func(o *Outgoing) { o.Date = time.Time{} }, ErrInvalidMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := sampleOutgoing()
			tt.change(&o)
			raw, err := Compose(o)
			if !errors.Is(err, tt.want) || raw != nil {
				t.Errorf("Compose(%s) = %d bytes, %v; want nil, %v", tt.name, len(raw), err, tt.want)
			}
		})
	}
}
