package mailbox

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxQuotePrefix caps the "> " prefix of nested blockquotes, so hostile
// nesting cannot make every output line huge.
const maxQuotePrefix = 8

// HTMLToText converts an HTML body to plain text for display, search and
// reply extraction: block elements and <br> become line breaks, list items
// start with "- ", blockquotes are prefixed with "> ", links keep their
// text followed by " <url>", <pre> keeps its spacing, and head, script,
// style and title are dropped. Entities are decoded; other white space is
// collapsed. The result uses LF line endings and has no blank line runs
// longer than one.
//
// It uses the golang.org/x/net/html tokenizer only, not its tree builder:
// a single pass that is linear in the input whatever its nesting (the tree
// builder is quadratic on thousands of unclosed inline elements, and
// recursive converters overflow on such input), so it needs no size cap.
func HTMLToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var w textWriter
	skip := 0       // depth inside head, script, style, title, …
	var href string // link target of the open <a>
	linkStart := -1 // output length when the open <a> began
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return w.String()
		case html.TextToken:
			if skip == 0 {
				w.text(string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			switch a {
			case atom.Head, atom.Script, atom.Style, atom.Title, atom.Noscript, atom.Template:
				if tt == html.StartTagToken {
					skip++
				}
			case atom.Body:
				skip = 0
			case atom.A:
				href, linkStart = "", w.b.Len()
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					if string(k) == "href" {
						href = strings.TrimSpace(string(v))
					}
				}
			}
			w.start(a)
		case html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			switch a {
			case atom.Head, atom.Script, atom.Style, atom.Title, atom.Noscript, atom.Template:
				if skip > 0 {
					skip--
				}
			case atom.A:
				if linkStart >= 0 {
					w.link(href, w.b.String()[linkStart:])
				}
				href, linkStart = "", -1
			}
			w.end(a)
		}
	}
}

// textWriter accumulates the text of HTMLToText, collapsing white space and
// tracking line starts, quote depth and <pre>.
type textWriter struct {
	b       strings.Builder
	quote   int  // blockquote depth
	pre     int  // <pre> depth
	space   bool // a space is due before the next word
	midLine bool // the current line has content
}

func (w *textWriter) start(a atom.Atom) {
	switch a {
	case atom.Br:
		w.newline()
	case atom.Li:
		w.block()
		w.write("- ")
	case atom.Td, atom.Th:
		w.space = w.midLine
	case atom.Blockquote:
		w.block()
		w.quote++
	case atom.Pre:
		w.block()
		w.pre++
	default:
		if isBlock(a) {
			w.block()
		}
	}
}

func (w *textWriter) end(a atom.Atom) {
	switch a {
	case atom.Blockquote:
		w.block()
		w.quote = max(w.quote-1, 0)
	case atom.Pre:
		w.block()
		w.pre = max(w.pre-1, 0)
	default:
		if isBlock(a) || a == atom.Li {
			w.block()
		}
	}
}

// isBlock reports whether an element starts and ends a line.
func isBlock(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
		atom.Ul, atom.Ol, atom.Dl, atom.Dt, atom.Dd, atom.Table, atom.Tr, atom.Hr,
		atom.Section, atom.Article, atom.Header, atom.Footer, atom.Address,
		atom.Center, atom.Form, atom.Fieldset, atom.Figure, atom.Nav, atom.Main,
		atom.Aside, atom.Caption:
		return true
	}
	return false
}

// text writes character data: verbatim inside <pre>, else with runs of
// ASCII white space collapsed to one space (a no-break space is kept, so an
// Outlook "<p>&nbsp;</p>" still makes an empty line).
func (w *textWriter) text(s string) {
	if w.pre > 0 {
		for i, line := range strings.Split(normalizeNewlines(s), "\n") {
			if i > 0 {
				w.newline()
			}
			if line != "" {
				w.write(line)
			}
		}
		return
	}
	if s != "" && isASCIISpace(rune(s[0])) {
		w.space = w.midLine
	}
	for _, word := range strings.FieldsFunc(s, isASCIISpace) {
		if w.space {
			w.b.WriteByte(' ')
		}
		w.write(strings.ReplaceAll(word, "\u00a0", " "))
		w.space = true
	}
	if s == "" || !isASCIISpace(rune(s[len(s)-1])) {
		w.space = false
	}
}

// write adds s to the current line, starting it with the quote prefix.
func (w *textWriter) write(s string) {
	if !w.midLine {
		w.b.WriteString(strings.Repeat("> ", min(w.quote, maxQuotePrefix)))
		w.midLine = true
	}
	w.b.WriteString(s)
}

// link appends " <url>" after a link's text when the text does not show
// the target already; only web and mail links are shown.
func (w *textWriter) link(href, text string) {
	target := strings.TrimPrefix(href, "mailto:")
	lower := strings.ToLower(href)
	if strings.TrimSpace(text) == "" || strings.Contains(text, target) ||
		!(strings.HasPrefix(lower, "http:") || strings.HasPrefix(lower, "https:") || strings.HasPrefix(lower, "mailto:")) {
		return
	}
	w.b.WriteString(" <" + target + ">")
}

// newline ends the current line (an empty one too).
func (w *textWriter) newline() {
	w.b.WriteByte('\n')
	w.midLine, w.space = false, false
}

// block ends the current line if it has content.
func (w *textWriter) block() {
	if w.midLine {
		w.newline()
	}
	w.space = false
}

// String returns the text with trailing spaces removed from every line,
// runs of blank lines shortened to one, and no leading or trailing blank
// lines.
func (w *textWriter) String() string {
	lines := strings.Split(w.b.String(), "\n")
	out := make([]string, 0, len(lines))
	blank := false
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			if !blank && len(out) > 0 {
				out = append(out, "")
			}
			blank = true
			continue
		}
		out = append(out, l)
		blank = false
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n")
}

func isASCIISpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f'
}
