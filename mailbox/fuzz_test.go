package mailbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParse checks Parse's contract on any input: a message, an error
// exactly when there are problems, no recovered panic, valid UTF-8 text,
// and file names without control characters. The other readers of parsed
// mail (Automatic, ParseDSN, HTMLToText) must not panic either. Seeds are
// every corpus message, when the corpus is there.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "From: a@b\n\nx", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--", "\r\r\r"} {
		f.Add([]byte(s))
	}
	_ = filepath.WalkDir(corpusDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".eml") {
			if raw, err := os.ReadFile(path); err == nil {
				f.Add(raw)
			}
		}
		return nil
	})
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := mustParse(t, raw)
		for _, s := range []string{m.Subject, m.Text, m.HTML, m.ThreadTopic} {
			if !utf8.ValidString(s) {
				t.Errorf("Parse() produced invalid UTF-8 %q", clip(s))
			}
		}
		for _, a := range m.Attachments {
			if dropControls(a.Filename) != a.Filename || dropControls(a.ContentID) != a.ContentID {
				t.Errorf("Parse() attachment name %q or id %q has control characters", a.Filename, a.ContentID)
			}
		}
		Automatic(Envelope{}, m)
		ParseDSN(raw)
		HTMLToText(string(raw))
	})
}

// FuzzCompose checks that no value can break a header line: Compose either
// refuses (ErrHeaderInjection whenever a value holds CR, LF or NUL) or
// writes a header whose every line is a known field or a continuation,
// and whose subject reads back unchanged.
func FuzzCompose(f *testing.F) {
	f.Add("Hello", "Ann", "ann@example.com", "x", "a.txt")
	f.Add("Hi\r\nBcc: victim@example.net", "Eve", "eve@example.com", "v", "f")
	f.Add("Réponse", "Zoë\n", "z@example.com", "y\x00", "b\r.pdf")
	f.Add(strings.Repeat("long subject ", 20), "N", "n@example.com", "=?utf-8?q?x?=", "")
	f.Fuzz(func(t *testing.T, subject, name, addr, extra, filename string) {
		o := Outgoing{
			From:        Address{Name: name, Addr: addr},
			To:          []Address{{Name: name, Addr: "to@example.org"}},
			Subject:     subject,
			MessageID:   "id@example.com",
			Date:        time.Unix(1700000000, 0).UTC(),
			Headers:     []Field{{Key: "X-Fuzz", Value: extra}},
			Text:        "body",
			Attachments: []Attachment{{Filename: filename, Data: []byte("data")}},
		}
		raw, err := Compose(o)
		injected := strings.ContainsAny(subject+name+addr+extra+filename, "\r\n\x00")
		if injected && err == nil {
			t.Fatalf("Compose(subject %q, name %q, addr %q, extra %q, file %q) succeeded; want ErrHeaderInjection", subject, name, addr, extra, filename)
		}
		if errors.Is(err, ErrHeaderInjection) != (injected && err != nil && !errors.Is(err, ErrInvalidAddress)) {
			t.Fatalf("Compose() error = %v for injected=%v", err, injected)
		}
		if err != nil {
			return
		}
		head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
		allowed := map[string]bool{"Date": true, "From": true, "To": true, "Subject": true, "Message-ID": true,
			"X-Fuzz": true, "MIME-Version": true, "Content-Type": true}
		for _, line := range strings.Split(string(head), "\r\n") {
			if strings.ContainsAny(line, "\r\n\x00") {
				t.Fatalf("header line %q holds a line break or NUL", line)
			}
			if line != "" && (line[0] == ' ' || line[0] == '\t') {
				continue
			}
			key, _, ok := strings.Cut(line, ":")
			if !ok || !allowed[key] {
				t.Fatalf("header line %q is not one Compose writes; header:\n%s", line, head)
			}
		}
		m := mustParse(t, raw)
		if utf8.ValidString(subject) && strings.TrimSpace(m.Subject) != strings.TrimSpace(subject) && !strings.Contains(subject, "=?") {
			t.Errorf("Subject read back = %q, want %q", m.Subject, subject)
		}
	})
}
