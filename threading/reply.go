package threading

import (
	"regexp"
	"strings"
	"unicode"
)

// Lines longer than this are never taken for a quote header or attribution.
const maxHeaderLine = 300

// maxLooseSigLines is how many lines may follow a bare "--" (without the
// trailing space RFC 3676 asks for) for it to count as a signature separator.
const maxLooseSigLines = 10

// sp matches the spaces clients put in headers, including the no-break
// spaces French typography puts before a colon.
const sp = `[\s\x{a0}\x{202f}]`

// The regular expressions below are compiled once and only read afterwards.
var (
	// attribution matches the line a client writes above a quote, on one
	// line or on two lines joined with a space (Gmail wraps long ones).
	// Only lines with a digit (the date) are tried, so that prose such as
	// "Op de website schreef ik het volgende:" is not cut.
	attribution = regexp.MustCompile(`(?i)^(?:` + strings.Join([]string{
		`(?:-+\s*)?on\s.{1,250}\swrote` + sp + `*:`, // Gmail, Apple Mail, Thunderbird, Yahoo "--- On"
		`(?:-+\s*)?le\s.{1,250}\sa` + sp + `+écrit` + sp + `*:`,
		`op\s.{1,250}\sschreef(?:\s.{0,250})?:`,
		`am\s.{1,250}\sschrieb(?:\s.{0,250})?:`,
		`el\s.{1,250}\sescribió` + sp + `*:`,
		`il\s.{1,250}\sha\s+scritto` + sp + `*:`,
		`em\s.{1,250}\sescreveu` + sp + `*:`,
		`den\s.{1,250}\sskrev(?:\s.{0,250})?:`,
		`w\s+dniu\s.{1,250}\snapisał(?:\(a\))?` + sp + `*:`,
	}, "|") + `)$`)
	// originalMessage matches "-----Original Message-----" and its
	// translations (also Yahoo's "----- Original Message -----").
	originalMessage = regexp.MustCompile(`(?i)^-{2,}` + sp + `*(?:original message|message d['’]origine|oorspronkelijk bericht|` +
		`ursprüngliche nachricht|originalnachricht|mensaje original|messaggio originale|mensagem original|oprindelig meddelelse|` +
		`opprinnelig melding|ursprungligt meddelande|alkuperäinen viesti|wiadomość oryginalna|původní zpráva|eredeti üzenet)` + sp + `*-{2,}$`)
	// outlookRule is the line Outlook puts above its header block.
	outlookRule = regexp.MustCompile(`^_{20,}$`)
	// fromField and sentField are the first and the date lines of an
	// Outlook-style header block ("From: … / Sent: …", "De : … / Envoyé : …").
	fromField = regexp.MustCompile(`(?i)^\*?(?:from|de|van|von|da|od|fra|från|lähettäjä|feladó)\*?` + sp + `*:\*?` + sp + `*\S`)
	sentField = regexp.MustCompile(`(?i)^\*?(?:sent|date|envoyé|verzonden|datum|gesendet|inviato|enviado|fecha|data|wysłano|skickat|sendt|lähetetty|elküldve)\*?` + sp + `*:`)
	// wroteSuffix recognises an attribution in a language without its own
	// pattern above, by how it ends.
	wroteSuffix = regexp.MustCompile(`(?i)(?:^|` + sp + `)(?:wrote|writes|a` + sp + `+écrit|schreef|schrieb|skrev|scritto|escribió|escreveu|napisał\S*|написал\S*)` + sp + `*:$`)
	// signOff matches the sign-offs mobile clients append.
	signOff = regexp.MustCompile(`(?i)^(?:sent from my\s.{1,60}|sent from (?:mail|outlook|yahoo mail|samsung|mobile)\b.{0,60}|sent with sparrow\b.{0,80}|` +
		`envoyé de mon\s.{1,60}|envoyé depuis (?:mon|l['’]application)\s.{1,60}|verzonden (?:vanaf|met|via) mijn\s.{1,60}|verstuurd (?:vanaf|met) mijn\s.{1,60}|` +
		`von meinem\s.{1,60}\sgesendet|gesendet von meinem\s.{1,60}|enviado desde mi\s.{1,60}|inviato da(?:l mio)?\s.{1,60}|` +
		`(?:get|obtenir|télécharger) outlook (?:for|pour) (?:ios|android)|outlook voor (?:ios|android) downloaden|outlook für (?:ios|android) herunterladen)` +
		`(?:\s*<\S*>)?\.?$`)
)

// ExtractReply returns the new text of a reply: what the sender wrote above
// the quoted message. It cuts at the first quote header line:
//
//   - "On <date>, <name> wrote:" (Gmail, Apple Mail, Thunderbird; also
//     wrapped over two lines), "Le … a écrit :", "Op … schreef …:",
//     "Am … schrieb …:" and a few more languages, when the line has a
//     digit of its date;
//   - an Outlook "From: … / Sent: …" block, also "De : … / Envoyé : …",
//     "Van: … / Verzonden: …", "Von: … / Gesendet: …" and others;
//   - "-----Original Message-----" and its translations, and Outlook's
//     "________" rule before a From: line;
//
// or at a block of ">" lines that runs to the end (blank lines and a
// signature after it do not count), together with an attribution line
// just above it ("<name> <addr> wrote:", also in other languages).
//
// A bottom-posted reply (header and quote first, new text after) gives the
// text after the quote. When nothing new stands above the quote (an inline
// reply) it returns the whole text minus the trailing quote, or the whole
// text when the sender wrote nothing of their own: it never returns "" for
// a text that has a non-blank line. Leading blank lines and trailing
// whitespace are trimmed. The result is always a substring of text; CRLF,
// LF and bare CR line endings are kept as they are.
func ExtractReply(text string) string {
	lines := splitLines(text)
	if start, ok := bottomPost(lines); ok {
		return trimBlank(text[lines[start].start:])
	}
	cut, fromQuote := len(lines), false
	for i := range lines {
		if quoteHeader(lines, i) > 0 {
			cut = i
			break
		}
	}
	tail := trailingQuote(lines)
	if tail < cut {
		cut, fromQuote = tail, true
	}
	if cut == len(lines) {
		return trimBlank(text)
	}
	end := cut
	if fromQuote {
		end = attributionAbove(lines, cut)
	}
	if top := trimBlank(text[:lines[end].start]); top != "" {
		return top
	}
	if tail < len(lines) && hasOwnText(lines, tail) {
		return trimBlank(text[:lines[tail].start]) // an inline reply
	}
	return trimBlank(text)
}

// StripSignature removes the signature from the end of text: a block that
// starts at the last "-- " line (RFC 3676 §4.3; a bare "--" counts when at
// most 10 lines follow it), and the sign-offs mobile clients append ("Sent
// from my iPhone", "Envoyé de mon iPhone", "Verzonden vanaf mijn iPhone",
// "Von meinem iPhone gesendet", "Get Outlook for iOS/Android", …), before
// or after such a block. Trailing whitespace is trimmed. The result is a
// prefix of text; it is "" when text is only a signature.
func StripSignature(text string) string {
	lines := splitLines(text)
	end := stripSignOffs(lines, len(lines))
	if k := signatureStart(lines, end); k >= 0 {
		end = stripSignOffs(lines, k)
	}
	off := len(text)
	if end < len(lines) {
		off = lines[end].start
	}
	return strings.TrimRightFunc(text[:off], unicode.IsSpace)
}

// line is one line of a text, without its line ending.
type line struct {
	start int // byte offset in the text
	text  string
}

// splitLines splits s at CRLF, LF and bare CR.
func splitLines(s string) []line {
	var lines []line
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n':
			lines = append(lines, line{start, s[start:i]})
			start = i + 1
		case '\r':
			lines = append(lines, line{start, s[start:i]})
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(s) {
		lines = append(lines, line{start, s[start:]})
	}
	return lines
}

func (l line) blank() bool { return strings.TrimSpace(l.text) == "" }

func (l line) quoted() bool { return strings.HasPrefix(strings.TrimLeft(l.text, " \t"), ">") }

// quoteHeader returns how many lines (1 or 2) starting at lines[i] form a
// quote header, or 0.
func quoteHeader(lines []line, i int) int {
	t := strings.TrimSpace(lines[i].text)
	if t == "" || len(t) > maxHeaderLine {
		return 0
	}
	dated := strings.ContainsAny(t, "0123456789") // attributions carry a date
	switch {
	case originalMessage.MatchString(t), dated && attribution.MatchString(t):
		return 1
	case outlookRule.MatchString(t):
		if k := nextNonBlank(lines, i+1); k < len(lines) && k <= i+3 && fromField.MatchString(strings.TrimSpace(lines[k].text)) {
			return 1
		}
	case fromField.MatchString(t):
		for k := i + 1; k < len(lines) && k <= i+4; k++ {
			if sentField.MatchString(strings.TrimSpace(lines[k].text)) {
				return 1
			}
		}
	}
	if i+1 < len(lines) && dated {
		next := strings.TrimSpace(lines[i+1].text)
		if joined := t + " " + next; next != "" && len(joined) <= maxHeaderLine && attribution.MatchString(joined) {
			return 2
		}
	}
	return 0
}

// bottomPost recognises a reply written below the quote: an optional quote
// header, a ">" block, then new text with no further quote. It returns the
// index of the first line of the new text.
func bottomPost(lines []line) (int, bool) {
	i := nextNonBlank(lines, 0)
	if i == len(lines) {
		return 0, false
	}
	i += quoteHeader(lines, i)
	j := i
	for j < len(lines) && (lines[j].blank() || lines[j].quoted()) {
		j++
	}
	if j == len(lines) || !hasQuoted(lines[i:j]) {
		return 0, false
	}
	for k := j; k < len(lines); k++ {
		if lines[k].quoted() || quoteHeader(lines, k) > 0 {
			return 0, false
		}
	}
	return j, true
}

// trailingQuote returns the index of the first line of the block of ">"
// lines that runs to the end of the text (ignoring blank lines and a
// signature after it), or len(lines) when the text does not end in one.
func trailingQuote(lines []line) int {
	j := prevNonBlank(lines, len(lines))
	for k := j; k >= 0 && !lines[k].quoted(); k-- {
		if isSigSeparator(lines[k].text) {
			j = prevNonBlank(lines, k)
			break
		}
	}
	if j < 0 || !lines[j].quoted() {
		return len(lines)
	}
	start := j
	for k := j; k >= 0; k-- {
		if lines[k].quoted() {
			start = k
		} else if !lines[k].blank() {
			break
		}
	}
	return start
}

// attributionAbove returns where the cut before the trailing quote starting
// at q moves to when the line just above it is an attribution in a form
// quoteHeader does not know ("<name> <addr> wrote:", other languages),
// possibly wrapped over two lines; q otherwise.
func attributionAbove(lines []line, q int) int {
	k := prevNonBlank(lines, q)
	if k < 0 {
		return q
	}
	t := strings.TrimSpace(lines[k].text)
	if !strings.HasSuffix(t, ":") || len(t) > maxHeaderLine || !(strings.Contains(t, "@") || wroteSuffix.MatchString(t)) {
		return q
	}
	if k > 0 {
		if p := lines[k-1].text; !lines[k-1].blank() && strings.Count(p, "<") > strings.Count(p, ">") {
			return k - 1 // "... <" wrapped before "addr> wrote:"
		}
	}
	return k
}

// signatureStart returns the index of the last signature separator above
// lines[end], or -1.
func signatureStart(lines []line, end int) int {
	for k := end - 1; k >= 0; k-- {
		if !isSigSeparator(lines[k].text) {
			continue
		}
		if lines[k].text == "-- " || end-k-1 <= maxLooseSigLines {
			return k
		}
		return -1
	}
	return -1
}

// stripSignOffs returns the end (exclusive) of lines[:end] without trailing
// blank lines and mobile sign-offs.
func stripSignOffs(lines []line, end int) int {
	for {
		k := prevNonBlank(lines, end)
		if k < 0 || !signOff.MatchString(strings.TrimSpace(lines[k].text)) {
			return k + 1
		}
		end = k
	}
}

// hasOwnText reports whether lines[:end] hold a line that is not blank,
// not quoted and not part of a quote header.
func hasOwnText(lines []line, end int) bool {
	for i := 0; i < end; i++ {
		if n := quoteHeader(lines, i); n > 0 {
			i += n - 1
			continue
		}
		if !lines[i].blank() && !lines[i].quoted() {
			return true
		}
	}
	return false
}

func isSigSeparator(s string) bool { return strings.TrimRight(s, " \t") == "--" }

func hasQuoted(lines []line) bool {
	for _, l := range lines {
		if l.quoted() {
			return true
		}
	}
	return false
}

// nextNonBlank returns the index of the first non-blank line at or after i,
// or len(lines).
func nextNonBlank(lines []line, i int) int {
	for i < len(lines) && lines[i].blank() {
		i++
	}
	return i
}

// prevNonBlank returns the index of the last non-blank line before end, or -1.
func prevNonBlank(lines []line, end int) int {
	k := end - 1
	for k >= 0 && lines[k].blank() {
		k--
	}
	return k
}

// trimBlank removes leading blank lines and trailing whitespace.
func trimBlank(s string) string {
	s = strings.TrimRightFunc(s, unicode.IsSpace)
	for {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 || strings.TrimSpace(s[:i]) != "" {
			return s
		}
		s = strings.TrimLeft(s[i:], "\r\n")
	}
}
