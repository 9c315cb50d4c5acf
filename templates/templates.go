package templates

import (
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	texttemplate "text/template"
)

//go:embed en fr nl
var embedded embed.FS

// DefaultLanguage is used by [Set.Render] and [Set.Label] for a language
// that has no templates.
const DefaultLanguage = "en"

var (
	// ErrHeaderInjection is returned by [Set.Render] when the rendered
	// subject contains CR, LF or NUL: it would let a value from a mail (a
	// ticket subject, a display name) add header lines to the notification.
	ErrHeaderInjection = errors.New("templates: subject contains CR, LF or NUL")
	// ErrUnknownTemplate is returned by [Set.Render] for a name that is not
	// a template, and by [New] for an override file that replaces none of
	// the known files.
	ErrUnknownTemplate = errors.New("templates: unknown template")
)

// Set is every template in every language, parsed and checked. It is safe
// for concurrent use.
type Set struct {
	langs map[string]*language
}

// language is the parsed templates of one language.
type language struct {
	code   string
	labels *texttemplate.Template            // labels.txt: one definition per label
	text   map[string]*texttemplate.Template // by name: common.txt plus <name>.subject and <name>.txt
	html   map[string]*htmltemplate.Template // by name: layout.html with <name>.html as "content"
}

// source is the text of one template file and where it came from, for
// error messages.
type source struct {
	origin string // "embedded fr/ticket_opened.txt" or the override's path
	text   string
}

// languages returns the shipped languages.
func languages() []string { return []string{"en", "fr", "nl"} }

// files returns the files every language directory holds.
func files() []string {
	list := []string{"labels.txt", "common.txt", "layout.html"}
	for _, n := range names() {
		list = append(list, n+".subject", n+".txt", n+".html")
	}
	return list
}

// New parses the embedded templates, with each file found in overrideDir
// replacing the embedded file of the same path (overrideDir/fr/ticket_opened.html
// replaces fr/ticket_opened.html only). An empty overrideDir means the
// embedded templates only.
//
// New fails, naming the file, when a file does not parse, when a label file
// lacks a label for a known code, when an override file is not one of the
// known files (wrapping [ErrUnknownTemplate]), or when a template fails to
// render an empty Data: that trial run finds what text/template only finds
// when executing (an unknown field, a missing sub-template, an HTML context
// error), so that a bad override stops start-up instead of a notification.
func New(overrideDir string) (*Set, error) {
	srcs, err := load(overrideDir)
	if err != nil {
		return nil, err
	}
	s := &Set{langs: make(map[string]*language)}
	for _, lang := range languages() {
		l, err := parse(lang, srcs[lang])
		if err != nil {
			return nil, err
		}
		s.langs[lang] = l
	}
	for _, l := range s.langs {
		for _, name := range names() {
			if _, err := l.render(name, Data{}); err != nil {
				return nil, fmt.Errorf("templates: trial run of %w", err)
			}
		}
	}
	return s, nil
}

// load reads every file of every language: the embedded one, or its
// override.
func load(overrideDir string) (map[string]map[string]source, error) {
	srcs := make(map[string]map[string]source)
	for _, lang := range languages() {
		srcs[lang] = make(map[string]source)
		for _, f := range files() {
			p := lang + "/" + f
			b, err := embedded.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("templates: embedded %s: %w", p, err)
			}
			srcs[lang][f] = source{origin: "embedded " + p, text: string(b)}
		}
	}
	if overrideDir == "" {
		return srcs, nil
	}
	fsys := os.DirFS(overrideDir)
	err := fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		origin := filepath.Join(overrideDir, filepath.FromSlash(p))
		if err != nil {
			return fmt.Errorf("%s: %w", origin, err)
		}
		if e.IsDir() {
			return nil
		}
		lang, f, _ := strings.Cut(p, "/")
		if _, ok := srcs[lang][f]; !ok {
			return fmt.Errorf("%s: %w (want <lang>/<file> with lang one of %v and file one of the embedded files)", origin, ErrUnknownTemplate, languages())
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("%s: %w", origin, err)
		}
		// A byte order mark from a Windows editor would end up in the output.
		srcs[lang][f] = source{origin: origin, text: strings.TrimPrefix(string(b), "\ufeff")}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("templates: override %w", err)
	}
	return srcs, nil
}

// parse builds the templates of one language from its files.
func parse(lang string, srcs map[string]source) (*language, error) {
	l := &language{
		code: lang,
		text: make(map[string]*texttemplate.Template),
		html: make(map[string]*htmltemplate.Template),
	}
	labels := srcs["labels.txt"]
	var err error
	if l.labels, err = texttemplate.New("labels.txt").Parse(labels.text); err != nil {
		return nil, fmt.Errorf("templates: %s: %w", labels.origin, err)
	}
	for _, n := range requiredLabels() {
		if l.labels.Lookup(n) == nil {
			return nil, fmt.Errorf("templates: %s: no label %q", labels.origin, n)
		}
	}
	funcs := l.funcs()
	common, layout := srcs["common.txt"], srcs["layout.html"]
	text, err := texttemplate.New("common.txt").Funcs(funcs).Parse(common.text)
	if err != nil {
		return nil, fmt.Errorf("templates: %s: %w", common.origin, err)
	}
	html, err := htmltemplate.New("layout.html").Funcs(funcs).Parse(layout.text)
	if err != nil {
		return nil, fmt.Errorf("templates: %s: %w", layout.origin, err)
	}
	for _, name := range names() {
		t, err := text.Clone()
		if err != nil {
			return nil, fmt.Errorf("templates: clone %s: %w", common.origin, err)
		}
		for _, f := range []string{name + ".subject", name + ".txt"} {
			if _, err := t.New(f).Parse(srcs[f].text); err != nil {
				return nil, fmt.Errorf("templates: %s: %w", srcs[f].origin, err)
			}
		}
		h, err := html.Clone()
		if err != nil {
			return nil, fmt.Errorf("templates: clone %s: %w", layout.origin, err)
		}
		content := srcs[name+".html"]
		if _, err := h.New("content").Parse(content.text); err != nil {
			return nil, fmt.Errorf("templates: %s: %w", content.origin, err)
		}
		l.text[name], l.html[name] = t, h
	}
	return l, nil
}

// requiredLabels returns the definitions every labels.txt must have.
func requiredLabels() []string {
	var ls []string
	for _, k := range kinds() {
		for _, c := range Codes(k) {
			ls = append(ls, k+":"+c)
		}
	}
	for d := range 7 {
		ls = append(ls, "weekday:"+strconv.Itoa(d))
	}
	for m := 1; m <= 12; m++ {
		ls = append(ls, "month:"+strconv.Itoa(m))
	}
	return append(ls, "format:datetime", "format:date")
}

// Render renders template name in language lang with d. A lang without
// templates falls back to [DefaultLanguage]; a regional variant ("fr-BE",
// "nl_BE") uses its base language. An unknown name gives an error wrapping
// [ErrUnknownTemplate]; a subject that contains CR, LF or NUL once trimmed
// gives an error wrapping [ErrHeaderInjection], and nothing is rendered.
func (s *Set) Render(lang, name string, d Data) (Rendered, error) {
	r, err := s.language(lang).render(name, d)
	if err != nil {
		return Rendered{}, fmt.Errorf("templates: render %w", err)
	}
	return r, nil
}

// render renders template name; its errors start with the file, "fr/name.txt".
func (l *language) render(name string, d Data) (Rendered, error) {
	text, ok := l.text[name]
	if !ok {
		return Rendered{}, fmt.Errorf("%q: %w", name, ErrUnknownTemplate)
	}
	d = inZone(d)
	subject, err := execute(text, name+".subject", d)
	if err != nil {
		return Rendered{}, fmt.Errorf("%s/%s.subject: %w", l.code, name, err)
	}
	subject = strings.TrimSpace(subject)
	if strings.ContainsAny(subject, "\r\n\x00") {
		return Rendered{}, fmt.Errorf("%s/%s.subject: %w", l.code, name, ErrHeaderInjection)
	}
	body, err := execute(text, name+".txt", d)
	if err != nil {
		return Rendered{}, fmt.Errorf("%s/%s.txt: %w", l.code, name, err)
	}
	html, err := execute(l.html[name], "layout.html", d)
	if err != nil {
		return Rendered{}, fmt.Errorf("%s/%s.html: %w", l.code, name, err)
	}
	body = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(body)
	body = strings.TrimRight(strings.TrimLeft(body, "\n"), " \t\n") + "\n"
	return Rendered{Subject: subject, Text: body, HTML: html}, nil
}

// execute runs the template called name in t's set and returns its output.
func execute(t interface {
	ExecuteTemplate(io.Writer, string, any) error
}, name string, d any) (string, error) {
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, name, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

// language returns the templates for lang, falling back to the default.
func (s *Set) language(lang string) *language {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if i := strings.IndexAny(lang, "-_"); i >= 0 {
		lang = lang[:i]
	}
	if l, ok := s.langs[lang]; ok {
		return l
	}
	return s.langs[DefaultLanguage]
}

// Languages returns the languages templates exist for, "en", "fr" and "nl".
func (s *Set) Languages() []string { return languages() }

// Names returns every template name, sorted; see the name constants.
func (s *Set) Names() []string { return names() }

// Label returns the label of a code in lang (falling back as [Set.Render]
// does), e.g. Label("fr", KindStatus, "resolved") is "Résolu". An empty code
// gives "", and a code without a label is returned as is.
func (s *Set) Label(lang, kind, code string) string {
	label, err := s.language(lang).label(kind, code)
	if err != nil {
		return code
	}
	return label
}
