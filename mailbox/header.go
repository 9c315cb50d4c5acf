package mailbox

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// rawField is one header field as read: the name as written and the value
// unfolded (line breaks removed, RFC 5322 section 2.2.3) and trimmed, still
// in raw bytes (possibly 8-bit, possibly RFC 2047-encoded).
type rawField struct {
	key, value string
}

// prepare returns the bytes Parse reads: raw without an mbox "From " first
// line, and with bare CR line endings read as LF when the message has no LF
// at all (classic Mac files). raw itself is never modified.
func prepare(raw []byte) []byte {
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexAny(raw, "\r\n"); i >= 0 {
			raw = raw[i:]
			if bytes.HasPrefix(raw, []byte("\r\n")) {
				raw = raw[2:]
			} else {
				raw = raw[1:]
			}
		}
	}
	if bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\r') >= 0 {
		return bytes.ReplaceAll(raw, []byte("\r"), []byte("\n"))
	}
	return raw
}

// splitHeader splits b into its header fields and the body after the first
// empty line. It is lenient: a first line that starts with white space is
// read as a field, a stray non-field line followed by more fields is
// skipped, and a non-field line that is not is taken as the start of a
// body that lacks its separating empty line. Fields beyond MaxHeaderBytes
// are skipped. Each deviation is recorded as a problem.
func (p *parser) splitHeader(b []byte) ([]rawField, []byte) {
	var fields []rawField
	var value []byte // the value of the field being read, unfolded
	flush := func() {
		if len(fields) > 0 {
			fields[len(fields)-1].value = string(bytes.TrimRight(value, " \t"))
		}
	}
	for i := 0; i < len(b); {
		line, next := nextLine(b, i)
		switch {
		case len(bytes.TrimRight(line, "\r")) == 0:
			flush()
			return fields, b[next:]
		case i >= MaxHeaderBytes:
			flush()
			p.problemf("header block larger than %d bytes: later fields ignored", MaxHeaderBytes)
			return fields, skipToBody(b, i)
		case line[0] == ' ' || line[0] == '\t':
			if len(fields) > 0 {
				value = append(value, bytes.TrimRight(line, "\r")...) // unfolding removes only the line break
				break
			}
			p.problemf("header starts with a continuation line")
			if k, v, ok := fieldLine(bytes.TrimLeft(line, " \t")); ok {
				fields = append(fields, rawField{key: k})
				value = append(value[:0], v...)
			}
		default:
			if k, v, ok := fieldLine(line); ok {
				flush()
				fields = append(fields, rawField{key: k})
				value = append(value[:0], v...)
				break
			}
			if nl, _ := nextLine(b, next); next < len(b) && isFieldLine(nl) {
				p.problemf("header line %q is not a field: skipped", clip(string(line)))
				break
			}
			flush()
			p.problemf("header not followed by an empty line")
			return fields, b[i:]
		}
		i = next
	}
	flush()
	return fields, nil
}

// nextLine returns the line of b starting at i, without its LF (a CR before
// it stays), and the index of the next line.
func nextLine(b []byte, i int) (line []byte, next int) {
	if j := bytes.IndexByte(b[i:], '\n'); j >= 0 {
		return b[i : i+j], i + j + 1
	}
	return b[i:], len(b)
}

// skipToBody returns what follows the first empty line at or after i.
func skipToBody(b []byte, i int) []byte {
	for i < len(b) {
		line, next := nextLine(b, i)
		if len(bytes.TrimRight(line, "\r")) == 0 {
			return b[next:]
		}
		i = next
	}
	return nil
}

// fieldLine splits a "Name: value" line. The name must be printable ASCII
// without a colon; white space before the colon is tolerated.
func fieldLine(line []byte) (key string, value []byte, ok bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return "", nil, false
	}
	k := bytes.TrimRight(line[:colon], " \t")
	if len(k) == 0 {
		return "", nil, false
	}
	for _, c := range k {
		if c < 33 || c > 126 {
			return "", nil, false
		}
	}
	return string(k), bytes.TrimLeft(bytes.TrimRight(line[colon+1:], "\r"), " \t"), true
}

// isFieldLine reports whether line is a "Name: value" line.
func isFieldLine(line []byte) bool {
	_, _, ok := fieldLine(line)
	return ok
}

// firstValue returns the raw value of the first field named key.
func firstValue(fields []rawField, key string) string {
	for _, f := range fields {
		if strings.EqualFold(f.key, key) {
			return f.value
		}
	}
	return ""
}

// hasField reports whether a field named key is present.
func hasField(fields []rawField, key string) bool {
	for _, f := range fields {
		if strings.EqualFold(f.key, key) {
			return true
		}
	}
	return false
}

// decodeText decodes an unstructured header value to UTF-8: raw 8-bit
// bytes are read in the message's declared charset or guessed, then
// RFC 2047 encoded-words are decoded.
func (p *parser) decodeText(v string) string {
	if !utf8.ValidString(v) {
		v = p.guessHeader([]byte(v))
	}
	if !strings.Contains(v, "=?") {
		return v
	}
	return p.decodeWords(v)
}

// decodeWords decodes the RFC 2047 encoded-words of v. It is more lenient
// than mime.WordDecoder: bad base64 padding and malformed Q escapes are
// decoded as far as possible, unknown charsets are guessed (and recorded),
// and the bytes of adjacent words in the same charset are converted
// together, so a multi-byte character split across two words survives.
// Anything that is not a well-formed encoded-word is kept as written. It
// runs in linear time: the position of the next "?=" is searched once and
// reused until passed.
func (p *parser) decodeWords(v string) string {
	var out strings.Builder
	var pending []byte // decoded bytes of adjacent words in pendingCharset
	var pendingCharset string
	flush := func() {
		if pending != nil {
			s, err := decodeCharset(pending, pendingCharset)
			if err != nil {
				p.problemf("unknown charset %q in a header: guessed", clip(pendingCharset))
			}
			out.WriteString(s)
			pending = nil
		}
	}
	pos, copied := 0, 0 // next index to search from; v[:copied] is handled
	nextEnd := -1       // index of the next "?=" at or after some point
	lastWord := false   // the previous token was an encoded-word
	for {
		start := strings.Index(v[pos:], "=?")
		if start < 0 {
			break
		}
		start += pos
		pos = start + 2
		q := strings.IndexByte(v[pos:], '?')
		if q <= 0 || pos+q+2 >= len(v) || v[pos+q+2] != '?' || strings.ContainsAny(v[pos:pos+q], " \t\"") ||
			!strings.ContainsRune("bBqQ", rune(v[pos+q+1])) {
			continue
		}
		charset, enc, textStart := v[pos:pos+q], v[pos+q+1], pos+q+3
		if nextEnd < textStart {
			i := strings.Index(v[textStart:], "?=")
			if i < 0 {
				break // no word can end any more
			}
			nextEnd = textStart + i
		}
		text := v[textStart:nextEnd]
		if strings.ContainsAny(text, " \t") {
			continue
		}
		between := v[copied:start]
		if lastWord && strings.TrimSpace(between) == "" {
			between = "" // white space between encoded-words is dropped
		}
		if between != "" || !strings.EqualFold(charset, pendingCharset) {
			flush()
		}
		out.WriteString(between)
		var b []byte
		if enc == 'b' || enc == 'B' {
			b = decodeBase64([]byte(text))
		} else {
			b = unescapeQP([]byte(strings.ReplaceAll(text, "_", " ")))
		}
		if pending == nil {
			pending = []byte{}
		}
		pending, pendingCharset = append(pending, b...), charset
		pos, copied, lastWord = nextEnd+2, nextEnd+2, true
	}
	flush()
	out.WriteString(v[copied:])
	return strings.ToValidUTF8(out.String(), "\uFFFD")
}

// guessHeader decodes raw 8-bit header bytes: in the charset the message's
// text declares when there is one (mailers that put raw bytes in headers
// usually use their body charset), else by guessing.
func (p *parser) guessHeader(b []byte) string {
	if p.hint != "" {
		if s, err := decodeCharset(b, p.hint); err == nil {
			return s
		}
	}
	return guessCharset(b)
}

// wordDecoder returns an RFC 2047 decoder whose unknown charsets are
// guessed (and recorded) instead of failing the whole value.
func (p *parser) wordDecoder() *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: func(label string, in io.Reader) (io.Reader, error) {
		b, err := io.ReadAll(in)
		if err != nil {
			return nil, err
		}
		s, err := decodeCharset(b, label)
		if err != nil {
			p.problemf("unknown charset %q in a header: guessed", clip(label))
		}
		return strings.NewReader(s), nil
	}}
}

// addressList parses every field named key into addresses, best effort:
// net/mail first, then a lenient split for lists it rejects.
func (p *parser) addressList(fields []rawField, key string) []Address {
	var out []Address
	for _, f := range fields {
		if !strings.EqualFold(f.key, key) {
			continue
		}
		v := f.value
		if !utf8.ValidString(v) {
			v = p.guessHeader([]byte(v))
		}
		if strings.TrimSpace(v) == "" {
			continue
		}
		ap := mail.AddressParser{WordDecoder: p.wordDecoder()}
		if list, err := ap.ParseList(v); err == nil {
			for _, a := range list {
				out = append(out, Address{Name: a.Name, Addr: strings.TrimSpace(a.Address)})
			}
			continue
		}
		for _, piece := range splitAddresses(v) {
			if a, ok := p.lenientAddress(piece); ok {
				out = append(out, a)
			} else if strings.TrimSpace(piece) != "" {
				p.problemf("unreadable address %q in %s", clip(piece), key)
			}
		}
	}
	return out
}

// splitAddresses splits an address list at commas outside quotes, angle
// brackets and comments.
func splitAddresses(v string) []string {
	var out []string
	var quoted, escaped bool
	angle, comment, start := 0, 0, 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"' && comment == 0:
			quoted = !quoted
		case quoted:
		case c == '(':
			comment++
		case c == ')' && comment > 0:
			comment--
		case c == '<':
			angle++
		case c == '>' && angle > 0:
			angle--
		case (c == ',' || c == ';') && angle == 0 && comment == 0:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

// lenientAddress reads one address that net/mail rejected: the part in
// angle brackets (or the word with an "@") is the address, what precedes
// it the name.
func (p *parser) lenientAddress(s string) (Address, bool) {
	if a, err := (&mail.AddressParser{WordDecoder: p.wordDecoder()}).Parse(s); err == nil {
		return Address{Name: a.Name, Addr: strings.TrimSpace(a.Address)}, true
	}
	s = strings.TrimSpace(s)
	if _, rest, ok := strings.Cut(s, ":"); ok && !strings.ContainsAny(s[:len(s)-len(rest)], "<\"@") {
		s = strings.TrimSpace(rest) // drop a group name ("undisclosed-recipients:")
	}
	if lt := strings.LastIndexByte(s, '<'); lt >= 0 {
		addr, _, _ := strings.Cut(s[lt+1:], ">")
		name := strings.Trim(strings.TrimSpace(s[:lt]), `"' `)
		addr = strings.TrimSpace(addr)
		if addr == "" {
			return Address{}, false
		}
		return Address{Name: p.decodeText(name), Addr: addr}, true
	}
	for _, w := range strings.Fields(s) {
		if strings.Contains(w, "@") {
			return Address{Addr: strings.Trim(w, `"'<>(),;`)}, true
		}
	}
	return Address{}, false
}

// parseDate reads a Date value: RFC 5322 (via net/mail), then a few
// layouts seen in the wild, with trailing comments and extra spaces
// removed.
func parseDate(v string) (time.Time, bool) {
	if t, err := mail.ParseDate(v); err == nil {
		return t, true
	}
	if i := strings.IndexByte(v, '('); i > 0 {
		v = v[:i]
	}
	v = strings.Join(strings.Fields(strings.ReplaceAll(v, ",", ", ")), " ")
	v = strings.ReplaceAll(v, " ,", ",")
	for _, layout := range [...]string{
		"Mon, 2 Jan 2006 15:04:05 -0700",
		"Mon, 2 Jan 2006 15:04:05 MST",
		"Mon, 2 Jan 2006 15:04 -0700",
		"2 Jan 2006 15:04:05 -0700",
		"Mon, 2 Jan 06 15:04:05 -0700",
		"Mon, 2 Jan 2006 15:04:05",
		"Mon, 2 Jan 2006 15:04:05 -0700 MST",
		"Mon Jan 2 15:04:05 2006",
		"Mon Jan 2 15:04:05 MST 2006",
		"Mon, Jan 2 2006 15:04:05 -0700",
		"2006-01-02 15:04:05 -0700",
		time.RFC3339,
	} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
