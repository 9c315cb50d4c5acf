package templates

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// renderAll renders every template in every language with sampleData and
// returns the results keyed by "lang/name".
func renderAll(tb testing.TB, s *Set) map[string]Rendered {
	tb.Helper()
	out := make(map[string]Rendered)
	for _, lang := range s.Languages() {
		for _, name := range s.Names() {
			r, err := s.Render(lang, name, sampleData(tb, name))
			if err != nil {
				tb.Fatalf("Render(%q, %q) error = %v", lang, name, err)
			}
			out[lang+"/"+name] = r
		}
	}
	return out
}

// writeFiles writes files (slash-separated path → content) under a new
// temporary directory and returns it.
func writeFiles(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	for p, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

func TestHeaderInjection(t *testing.T) {
	s := newSet(t, "")
	// notAboutOneTicket are the templates whose subject does not show the
	// ticket subject.
	notAboutOneTicket := []string{RequestsOverview, DailyDigest}
	tests := []struct {
		field   string
		set     func(*Data, string)
		refused func(name string) bool // templates that must refuse
	}{
		{"Ticket.Subject", func(d *Data, v string) { d.Ticket.Subject = v }, func(n string) bool { return !slices.Contains(notAboutOneTicket, n) }},
		{"Helpdesk", func(d *Data, v string) { d.Helpdesk = v }, func(n string) bool { return slices.Contains(notAboutOneTicket, n) }},
		{"Agent", func(d *Data, v string) { d.Agent = v }, func(n string) bool { return n == AgentCopy }},
		{"Tag", func(d *Data, v string) { d.Tag = v }, func(string) bool { return true }},
	}
	for _, evil := range []string{"VPN\r\nBcc: x@evil", "VPN\nBcc: x@evil", "VPN\rBcc: x@evil", "VPN\x00Bcc: x@evil"} {
		for _, tt := range tests {
			for _, lang := range s.Languages() {
				for _, name := range s.Names() {
					d := sampleData(t, name)
					tt.set(&d, evil)
					r, err := s.Render(lang, name, d)
					switch {
					case err != nil && !errors.Is(err, ErrHeaderInjection):
						t.Errorf("Render(%q, %q) with %s %q: error = %v, want ErrHeaderInjection", lang, name, tt.field, evil, err)
					case err == nil && tt.refused(name):
						t.Errorf("Render(%q, %q) with %s %q = subject %q, want ErrHeaderInjection", lang, name, tt.field, evil, r.Subject)
					case err == nil && strings.ContainsAny(r.Subject, "\r\n\x00"):
						t.Errorf("Render(%q, %q) with %s %q = subject %q, want no CR, LF or NUL", lang, name, tt.field, evil, r.Subject)
					case err != nil && r != (Rendered{}):
						t.Errorf("Render(%q, %q) with %s %q = %+v and an error, want nothing rendered", lang, name, tt.field, evil, r)
					}
				}
			}
		}
	}
}

func TestSubjectIsTrimmed(t *testing.T) {
	dir := writeFiles(t, map[string]string{"en/digest.subject": "\n  Digest for {{.Helpdesk}}  \n\n"})
	s := newSet(t, dir)
	r, err := s.Render("en", DailyDigest, sampleData(t, DailyDigest))
	if err != nil {
		t.Fatalf("Render(en, digest) error = %v", err)
	}
	if want := "Digest for Acme Support"; r.Subject != want {
		t.Errorf("Render(en, digest).Subject = %q, want %q", r.Subject, want)
	}
}

func TestHTMLEscaping(t *testing.T) {
	s := newSet(t, "")
	showsBody := []string{AgentReply, AgentNewTicket, AgentCustomerReply, AgentTicketReopened, AgentCopy, OncallPage}
	const script = "<script>alert(1)</script>"
	for _, lang := range s.Languages() {
		for _, name := range s.Names() {
			d := sampleData(t, name)
			d.Body = script + "\nsecond line"
			d.Ticket.Subject = `<img src=x onerror="alert(2)">`
			d.Agent = "<b>Eve</b>"
			d.Recipient = "<i>Mallory</i>"
			for i := range d.Tickets {
				d.Tickets[i].Subject = d.Ticket.Subject
			}
			r, err := s.Render(lang, name, d)
			if err != nil {
				t.Fatalf("Render(%q, %q) error = %v", lang, name, err)
			}
			for _, raw := range []string{"<script>", "<img", "<b>Eve", "<i>Mallory"} {
				if strings.Contains(r.HTML, raw) {
					t.Errorf("Render(%q, %q).HTML contains %q unescaped:\n%s", lang, name, raw, r.HTML)
				}
			}
			if !slices.Contains(showsBody, name) {
				continue
			}
			if !strings.Contains(r.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;<br>second line") {
				t.Errorf("Render(%q, %q).HTML does not show the escaped Body:\n%s", lang, name, r.HTML)
			}
			if !strings.Contains(r.Text, script) {
				t.Errorf("Render(%q, %q).Text = %q, want the Body as plain text", lang, name, r.Text)
			}
		}
	}
}

func TestOverrideReplacesOneFile(t *testing.T) {
	base := renderAll(t, newSet(t, ""))
	dir := writeFiles(t, map[string]string{"fr/ticket_opened.txt": "Demande {{.Ticket.Number}} reçue.\n"})
	got := renderAll(t, newSet(t, dir))
	for key, want := range base {
		if key == "fr/ticket_opened" {
			want.Text = "Demande 1042 reçue.\n"
		}
		if got[key] != want {
			t.Errorf("with override %s: Render(%s) = %+v, want %+v", dir, key, got[key], want)
		}
	}
}

func TestOverrideLabels(t *testing.T) {
	labels, err := embedded.ReadFile("fr/labels.txt")
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(labels), `{{define "status:resolved"}}Résolu{{end}}`, `{{define "status:resolved"}}Réglé{{end}}`, 1)
	if changed == string(labels) {
		t.Fatal("fr/labels.txt has no status:resolved definition to replace")
	}
	s := newSet(t, writeFiles(t, map[string]string{"fr/labels.txt": changed}))
	tests := []struct{ lang, want string }{{"fr", "Réglé"}, {"en", "Resolved"}, {"nl", "Opgelost"}}
	for _, tt := range tests {
		if got := s.Label(tt.lang, KindStatus, "resolved"); got != tt.want {
			t.Errorf("Label(%q, status, resolved) = %q, want %q", tt.lang, got, tt.want)
		}
	}
	d := sampleData(t, StatusChanged)
	d.NewStatus = "resolved"
	r, err := s.Render("fr", StatusChanged, d)
	if err != nil {
		t.Fatalf("Render(fr, status_changed) error = %v", err)
	}
	if !strings.Contains(r.Text, "Nouveau statut : Réglé") {
		t.Errorf("Render(fr, status_changed).Text = %q, want the overridden label", r.Text)
	}
}

func TestNewRejectsBadOverrides(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		wantIn  string // the error must contain this, after replacing DIR with the directory
		wantErr error  // and wrap this, if not nil
	}{
		{"syntax error", map[string]string{"fr/ticket_opened.txt": "{{if .Ticket.Number}}open"}, "DIR/fr/ticket_opened.txt", nil},
		{"unknown template", map[string]string{"fr/ticket_openned.txt": "x"}, "DIR/fr/ticket_openned.txt", ErrUnknownTemplate},
		{"unknown language", map[string]string{"de/ticket_opened.txt": "x"}, "DIR/de/ticket_opened.txt", ErrUnknownTemplate},
		{"file outside a language", map[string]string{"ticket_opened.txt": "x"}, "DIR/ticket_opened.txt", ErrUnknownTemplate},
		{"label missing", map[string]string{"nl/labels.txt": `{{define "status:resolved"}}Opgelost{{end}}`}, "DIR/nl/labels.txt: no label", nil},
		{"unknown field", map[string]string{"en/agent_copy.html": "<p>{{.Ticket.Nope}}</p>"}, "en/agent_copy.html", nil},
		{"missing sub-template", map[string]string{"nl/digest.txt": `{{template "nope" .}}`}, "nl/digest.txt", nil},
		{"HTML context error", map[string]string{"fr/digest.html": `{{if .Tag}}<a {{end}}x`}, "fr/digest.html", nil},
		{"subject on two lines", map[string]string{"en/digest.subject": "Digest\nBcc: x@evil"}, "en/digest.subject", ErrHeaderInjection},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			_, err := New(dir)
			if err == nil {
				t.Fatalf("New(%q) error = nil, want an error naming %s", dir, tt.wantIn)
			}
			want := strings.ReplaceAll(tt.wantIn, "DIR/", filepath.ToSlash(dir)+"/")
			if !strings.Contains(filepath.ToSlash(err.Error()), want) {
				t.Errorf("New(%q) error = %v, want it to contain %q", dir, err, want)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("New(%q) error = %v, want errors.Is %v", dir, err, tt.wantErr)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := New(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("New(%q) error = %v, want fs.ErrNotExist", missing, err)
	}
}

func TestEmbeddedFilesAreComplete(t *testing.T) {
	want := files()
	slices.Sort(want)
	for _, lang := range languages() {
		entries, err := embedded.ReadDir(lang)
		if err != nil {
			t.Fatalf("embedded.ReadDir(%q) error = %v", lang, err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
		}
		if !slices.Equal(got, want) {
			t.Errorf("embedded.ReadDir(%q) = %v, want %v", lang, got, want)
		}
	}
}

func TestEveryCodeHasALabel(t *testing.T) {
	s := newSet(t, "")
	for _, lang := range s.Languages() {
		seen := make(map[string]string) // label → code, per kind
		for _, kind := range kinds() {
			clear(seen)
			for _, code := range Codes(kind) {
				if s.language(lang).labels.Lookup(kind+":"+code) == nil {
					t.Errorf("%s/labels.txt has no definition %q", lang, kind+":"+code)
				}
				label := s.Label(lang, kind, code)
				if label == "" {
					t.Errorf("Label(%q, %q, %q) = %q, want a label", lang, kind, code, label)
				}
				if other, dup := seen[label]; dup {
					t.Errorf("Label(%q, %q, %q) = %q, the same as for %q", lang, kind, code, label, other)
				}
				seen[label] = code
			}
		}
	}
}

func TestTranslationsDifferFromEnglish(t *testing.T) {
	all := renderAll(t, newSet(t, ""))
	for _, name := range names() {
		en := all["en/"+name]
		for _, lang := range []string{"fr", "nl"} {
			r := all[lang+"/"+name]
			if r.Text == en.Text {
				t.Errorf("Render(%q, %q).Text is the English text", lang, name)
			}
			if r.HTML == en.HTML {
				t.Errorf("Render(%q, %q).HTML is the English HTML", lang, name)
			}
			// agent_reply's subject is only the tag and the ticket's subject.
			if r.Subject == en.Subject && name != AgentReply {
				t.Errorf("Render(%q, %q).Subject = %q, the English subject", lang, name, r.Subject)
			}
		}
		if all["fr/"+name].Text == all["nl/"+name].Text {
			t.Errorf("Render(fr, %q).Text = Render(nl, %q).Text", name, name)
		}
	}
}

func TestRenderedShape(t *testing.T) {
	// The sample data must read well; the zero Data must still render
	// without leaking zero values.
	s := newSet(t, "")
	for _, lang := range s.Languages() {
		for _, name := range s.Names() {
			for i, d := range []Data{sampleData(t, name), {}} {
				r, err := s.Render(lang, name, d)
				if err != nil {
					t.Fatalf("Render(%q, %q) error = %v", lang, name, err)
				}
				if r.Subject == "" || r.Subject != strings.TrimSpace(r.Subject) {
					t.Errorf("Render(%q, %q).Subject = %q, want non-empty and trimmed", lang, name, r.Subject)
				}
				if !strings.HasSuffix(r.Text, "\n") || strings.HasSuffix(r.Text, "\n\n") || strings.Contains(r.Text, "\r") {
					t.Errorf("Render(%q, %q).Text = %q, want LF endings and exactly one final newline", lang, name, r.Text)
				}
				if i == 0 && strings.Contains(r.Text, "\n\n\n") {
					t.Errorf("Render(%q, %q).Text = %q, want at most one blank line in a row", lang, name, r.Text)
				}
				if !strings.HasPrefix(r.HTML, "<!DOCTYPE html>\n<html lang=\""+lang+"\">") {
					t.Errorf("Render(%q, %q).HTML starts %q, want a document in %s", lang, name, r.HTML[:min(len(r.HTML), 40)], lang)
				}
				for _, bad := range []string{"<no value>", "0001", "%!"} {
					if strings.Contains(r.Subject+r.Text+r.HTML, bad) {
						t.Errorf("Render(%q, %q) shows %q:\n%s\n%s", lang, name, bad, r.Subject, r.Text)
					}
				}
			}
		}
	}
}

func TestRenderLanguageFallback(t *testing.T) {
	s := newSet(t, "")
	tests := []struct{ lang, want string }{
		{"", "en"}, {"de", "en"}, {"EN", "en"}, {"fr-BE", "fr"}, {"nl_BE", "nl"}, {" NL-be ", "nl"}, {"frisian", "en"},
	}
	d := sampleData(t, TicketOpened)
	for _, tt := range tests {
		got, err := s.Render(tt.lang, TicketOpened, d)
		if err != nil {
			t.Fatalf("Render(%q, ticket_opened) error = %v", tt.lang, err)
		}
		want, err := s.Render(tt.want, TicketOpened, d)
		if err != nil {
			t.Fatalf("Render(%q, ticket_opened) error = %v", tt.want, err)
		}
		if got != want {
			t.Errorf("Render(%q, ticket_opened).Subject = %q, want the %s rendering %q", tt.lang, got.Subject, tt.want, want.Subject)
		}
	}
}

func TestRenderUnknownTemplate(t *testing.T) {
	s := newSet(t, "")
	for _, name := range []string{"", "ticket-opened", "common", "labels", "layout", "TicketOpened"} {
		if _, err := s.Render("en", name, Data{}); !errors.Is(err, ErrUnknownTemplate) {
			t.Errorf("Render(en, %q) error = %v, want ErrUnknownTemplate", name, err)
		}
	}
}

func TestNamesAndLanguages(t *testing.T) {
	s := newSet(t, "")
	if got, want := s.Languages(), []string{"en", "fr", "nl"}; !slices.Equal(got, want) {
		t.Errorf("Languages() = %v, want %v", got, want)
	}
	got := s.Names()
	if len(got) != 18 || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("Names() = %v, want 18 sorted distinct names", got)
	}
	got[0] = "changed"
	if s.Names()[0] == "changed" {
		t.Error("Names() returns a slice the caller can change")
	}
}

func TestDate(t *testing.T) {
	brussels, err := time.LoadLocation("Europe/Brussels")
	if err != nil {
		t.Fatal(err)
	}
	winter := utc(time.March, 2, 13, 5) // Monday, 14:05 CET
	summer := utc(time.July, 1, 7, 30)  // Wednesday, 09:30 CEST
	tests := []struct {
		lang, format string
		zone         *time.Location
		t            time.Time
		want         string
	}{
		{"en", "datetime", brussels, winter, "Monday 2 March 2026 14:05 CET"},
		{"fr", "datetime", brussels, winter, "lundi 2 mars 2026 à 14 h 05 (CET)"},
		{"nl", "datetime", brussels, winter, "maandag 2 maart 2026 om 14:05 uur (CET)"},
		{"en", "datetime", brussels, summer, "Wednesday 1 July 2026 09:30 CEST"},
		{"fr", "datetime", brussels, summer, "mercredi 1er juillet 2026 à 9 h 30 (CEST)"},
		{"nl", "datetime", brussels, summer, "woensdag 1 juli 2026 om 09:30 uur (CEST)"},
		{"en", "datetime", nil, winter.In(brussels), "Monday 2 March 2026 13:05 UTC"},
		{"fr", "date", brussels, summer, "1er juillet 2026"},
		{"nl", "date", brussels, winter, "2 maart 2026"},
		{"en", "date", brussels, time.Time{}, ""},
	}
	s := newSet(t, "")
	for _, tt := range tests {
		at := inZone(Data{Zone: tt.zone, Deadline: tt.t}).Deadline
		got, err := s.language(tt.lang).date(tt.format, at)
		if err != nil || got != tt.want {
			t.Errorf("date(%s, %s, %v in %v) = %q, %v, want %q", tt.lang, tt.format, tt.t, tt.zone, got, err, tt.want)
		}
	}
}

func TestInZoneConvertsEveryTime(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	at := utc(time.March, 2, 13, 5)
	tk := Ticket{Created: at, Updated: at, FirstResponseDue: at, ResolutionDue: at}
	d := inZone(Data{Zone: tokyo, Ticket: tk, Tickets: []Ticket{tk}, Deadline: at, CloseOn: at,
		Digest: Digest{Date: at, Breached: []Ticket{tk}, Oldest: []Ticket{tk}}})
	got := []time.Time{d.Deadline, d.CloseOn, d.Digest.Date}
	for _, t := range []Ticket{d.Ticket, d.Tickets[0], d.Digest.Breached[0], d.Digest.Oldest[0]} {
		got = append(got, t.Created, t.Updated, t.FirstResponseDue, t.ResolutionDue)
	}
	for i, g := range got {
		if g.Location() != tokyo || !g.Equal(at) {
			t.Errorf("inZone(Data{Zone: JST}) time %d = %v, want %v in JST", i, g, at)
		}
	}
}

func TestQuoteAndLines(t *testing.T) {
	tests := []struct {
		in        string
		wantQuote string
		wantLines []string
	}{
		{"", "", nil},
		{"one", "> one", []string{"one"}},
		{"a\r\nb\n\nc\rd", "> a\n> b\n>\n> c\n> d", []string{"a", "b", "", "c", "d"}},
		{"trailing  \r\n\r\n\r\n", "> trailing", []string{"trailing"}},
		{"> quoted\n>> deeper\nnew", ">> quoted\n>>> deeper\n> new", []string{"> quoted", ">> deeper", "new"}},
	}
	for _, tt := range tests {
		if got := quote(tt.in); got != tt.wantQuote {
			t.Errorf("quote(%q) = %q, want %q", tt.in, got, tt.wantQuote)
		}
		if got := lines(tt.in); !slices.Equal(got, tt.wantLines) {
			t.Errorf("lines(%q) = %q, want %q", tt.in, got, tt.wantLines)
		}
	}
}

func TestLabel(t *testing.T) {
	s := newSet(t, "")
	tests := []struct{ lang, kind, code, want string }{
		{"en", KindStatus, "planned", "Planned for current product cycle"},
		{"fr", KindStatus, "wont_do", "Ne sera pas traité"},
		{"nl", KindPriority, "system_down", "Systeem buiten werking"},
		{"fr-BE", KindImpact, "admin_users", "Tous les administrateurs"},
		{"de", KindType, "feature", "Feature request"},
		{"nl", KindStatus, "", ""},
		{"nl", KindStatus, "no_such_status", "no_such_status"},
		{"en", "no_such_kind", "high", "high"},
		{"en", KindRefusal, "a virus was found", "a virus was found"},
	}
	for _, tt := range tests {
		if got := s.Label(tt.lang, tt.kind, tt.code); got != tt.want {
			t.Errorf("Label(%q, %q, %q) = %q, want %q", tt.lang, tt.kind, tt.code, got, tt.want)
		}
	}
	if got := Codes("no_such_kind"); got != nil {
		t.Errorf("Codes(no_such_kind) = %v, want nil", got)
	}
}

func TestOverrideWithByteOrderMarkAndCRLF(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"nl/ticket_closed.subject": "\ufeffGesloten: {{.Ticket.Number}}\r\n",
		"nl/ticket_closed.txt":     "\ufeffRegel een\r\nRegel twee\r\n\r\n",
	})
	r, err := newSet(t, dir).Render("nl", TicketClosed, sampleData(t, TicketClosed))
	if err != nil {
		t.Fatalf("Render(nl, ticket_closed) error = %v", err)
	}
	if want := (Rendered{Subject: "Gesloten: 1042", Text: "Regel een\nRegel twee\n", HTML: r.HTML}); r != want {
		t.Errorf("Render(nl, ticket_closed) = %+v, want %+v", r, want)
	}
}
