package mailbox

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// altState remembers, for one multipart/alternative, which renditions of
// the text were taken: the first text/plain and the first text/html win.
type altState struct {
	plain, html bool
}

// walk visits one MIME entity and, recursing at most MaxDepth levels, its
// children, filling Text, HTML and Attachments.
func (p *parser) walk(fields []rawField, body []byte, depth int, alt *altState) {
	p.parts++
	if p.parts > MaxParts {
		p.problemf("more than %d MIME parts: the rest is not parsed", MaxParts)
		return
	}
	mt, params := p.contentType(fields)
	if !strings.HasPrefix(mt, "multipart/") {
		p.leaf(fields, mt, params, body, alt)
		return
	}
	if depth >= MaxDepth {
		p.problemf("multipart nested deeper than %d: kept whole", MaxDepth)
		p.m.Attachments = append(p.m.Attachments, Attachment{ContentType: mt, Data: bytes.Clone(body)})
		return
	}
	parts := p.splitMultipart(body, params["boundary"])
	if len(parts) == 0 {
		p.problemf("multipart without any part (no usable boundary): read as text")
		p.leaf(nil, "text/plain", nil, body, alt)
		return
	}
	if mt == "multipart/alternative" {
		alt = &altState{}
	}
	for _, part := range parts {
		f, b := p.splitHeader(part)
		p.walk(f, b, depth+1, alt)
	}
}

// contentType returns an entity's lower-case media type and parameters:
// text/plain when Content-Type is absent, application/octet-stream when it
// is unreadable.
func (p *parser) contentType(fields []rawField) (string, map[string]string) {
	v := firstValue(fields, "Content-Type")
	if strings.TrimSpace(v) == "" {
		return "text/plain", nil
	}
	mt, params := p.mediaHeader(v)
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || !isToken(typ) || !isToken(sub) {
		p.problemf("unreadable Content-Type %q", clip(v))
		return "application/octet-stream", params
	}
	return mt, params
}

// leaf handles a non-multipart entity: the main text or HTML, a rendition
// to drop, or an attachment.
func (p *parser) leaf(fields []rawField, mt string, params map[string]string, body []byte, alt *altState) {
	disp, dparams := p.mediaHeader(firstValue(fields, "Content-Disposition"))
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	name = strings.TrimSpace(dropControls(name))
	data := p.decodeTransfer(firstValue(fields, "Content-Transfer-Encoding"), body)

	if cs := params["charset"]; p.hint == "" && strings.HasPrefix(mt, "text/") && cs != "" {
		if l := strings.ToLower(cs); l != "us-ascii" && l != "utf-8" && l != "ascii" {
			p.hint = cs
		}
	}
	inline := disp != "attachment" && name == ""
	switch {
	case inline && (mt == "text/plain" || mt == "text/html"):
		text, err := decodeCharset(data, params["charset"])
		if err != nil {
			p.problemf("unknown charset %q: text guessed", clip(params["charset"]))
		}
		p.addBody(mt, normalizeNewlines(text), alt)
		return
	case inline && alt != nil && strings.HasPrefix(mt, "text/") && mt != "text/calendar":
		return // another rendition of the same text (text/enriched, …)
	case mt == "message/rfc822" || mt == "message/global":
		if name == "" {
			name = p.messageFilename(data)
		}
	}
	cid := strings.TrimSpace(dropControls(firstValue(fields, "Content-Id")))
	p.m.Attachments = append(p.m.Attachments, Attachment{
		Filename:    name,
		ContentType: mt,
		ContentID:   strings.TrimSuffix(strings.TrimPrefix(cid, "<"), ">"),
		Inline:      disp == "inline",
		Data:        data,
	})
}

// addBody sets or extends Text or HTML, taking only the first rendition of
// each kind inside one multipart/alternative.
func (p *parser) addBody(mt, text string, alt *altState) {
	target, seen := &p.m.Text, (*bool)(nil)
	if alt != nil {
		seen = &alt.plain
	}
	if mt == "text/html" {
		target = &p.m.HTML
		if alt != nil {
			seen = &alt.html
		}
	}
	if seen != nil {
		if *seen {
			return
		}
		*seen = true
	}
	if *target == "" {
		*target = text
		return
	}
	*target = strings.TrimRight(*target, "\n") + "\n\n" + text
}

// messageFilename names an attached message after its subject.
func (p *parser) messageFilename(data []byte) string {
	sub := &parser{m: &Message{}, hint: p.hint}
	fields, _ := sub.splitHeader(data)
	name := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`/\:*?"<>|`, r) {
			return '_'
		}
		return r
	}, strings.TrimSpace(sub.decodeText(firstValue(fields, "Subject"))))
	if r := []rune(name); len(r) > 100 {
		name = string(r[:100])
	}
	if name == "" {
		name = "message"
	}
	return name + ".eml"
}

// splitMultipart returns the parts of a multipart body. A missing boundary
// parameter, or one that never occurs, is replaced by the first line that
// looks like a delimiter; with none at all it returns nil (the caller
// reads the body as text). A missing closing delimiter ends the last part
// at the end of the body; a boundary that opens again after its closing
// delimiter (a nested multipart reusing its parent's) keeps splitting.
func (p *parser) splitMultipart(body []byte, boundary string) [][]byte {
	if boundary == "" || !hasDelimiter(body, boundary) {
		guessed := guessBoundary(body)
		if guessed == "" {
			return nil
		}
		if boundary == "" {
			p.problemf("multipart without boundary parameter: guessed %q", clip(guessed))
		} else {
			p.problemf("multipart boundary %q not found: guessed %q", clip(boundary), clip(guessed))
		}
		boundary = guessed
	}
	var parts [][]byte
	start := -1 // start of the current part, -1 in the preamble
	for i := 0; i < len(body); {
		line, next := nextLine(body, i)
		if rest, ok := bytes.CutPrefix(line, []byte("--"+boundary)); ok {
			rest = bytes.TrimRight(rest, " \t\r")
			closing := bytes.HasPrefix(rest, []byte("--"))
			if len(rest) == 0 || closing {
				if start >= 0 {
					parts = append(parts, trimNewline(body[start:i]))
				}
				start = next
				if closing {
					if !hasDelimiter(body[next:], boundary) {
						return parts
					}
					p.problemf("multipart boundary %q reused after its closing delimiter", clip(boundary))
					start = -1
				}
			}
		}
		i = next
	}
	if start >= 0 {
		p.problemf("multipart without closing boundary")
		parts = append(parts, body[start:])
	}
	return parts
}

// hasDelimiter reports whether a line of body starts with "--"+boundary.
func hasDelimiter(body []byte, boundary string) bool {
	d := []byte("--" + boundary)
	for i := 0; ; {
		j := bytes.Index(body[i:], d)
		if j < 0 {
			return false
		}
		if i+j == 0 || body[i+j-1] == '\n' {
			return true
		}
		i += j + 1
	}
}

// guessBoundary returns the boundary of the first line that looks like a
// multipart delimiter ("--" and a word, optionally closing "--"), or "".
func guessBoundary(body []byte) string {
	for i := 0; i < len(body); {
		line, next := nextLine(body, i)
		line = bytes.TrimRight(line, " \t\r")
		if len(line) > 2 && len(line) <= 72 && bytes.HasPrefix(line, []byte("--")) && bytes.IndexAny(line, " \t") < 0 {
			return strings.TrimSuffix(string(line[2:]), "--")
		}
		i = next
	}
	return ""
}

// trimNewline removes the line break that belongs to the next delimiter.
func trimNewline(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// decodeTransfer undoes a Content-Transfer-Encoding leniently: base64
// ignores foreign characters and padding in the middle, quoted-printable
// keeps malformed escapes literally, and an unknown encoding keeps the
// bytes as they are (recorded as a problem). The result never aliases b.
func (p *parser) decodeTransfer(cte string, b []byte) []byte {
	enc := strings.ToLower(strings.Trim(strings.TrimSpace(cte), `"'; `))
	switch {
	case enc == "" || enc == "7bit" || enc == "8bit" || enc == "binary":
		return bytes.Clone(b)
	case strings.Contains(enc, "base64"):
		return decodeBase64(b)
	case strings.HasPrefix(enc, "quoted"):
		return decodeQP(b)
	case strings.Contains(enc, "7") || strings.Contains(enc, "8") || enc == "plain" || enc == "text" || enc == "none":
		return bytes.Clone(b) // "7-bit", "8bits", …
	}
	p.problemf("unknown Content-Transfer-Encoding %q: kept as is", clip(cte))
	return bytes.Clone(b)
}

// decodeBase64 decodes base64, skipping characters outside the alphabet
// and decoding chunk by chunk when padding appears in the middle.
func decodeBase64(b []byte) []byte {
	clean := make([]byte, 0, len(b))
	for _, c := range b {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' {
			clean = append(clean, c)
		}
	}
	out := make([]byte, 0, len(clean)*3/4+3)
	for len(clean) > 0 {
		chunk := clean
		if i := bytes.IndexByte(clean, '='); i >= 0 {
			chunk = clean[:i]
			for i < len(clean) && clean[i] == '=' {
				i++
			}
			clean = clean[i:]
		} else {
			clean = nil
		}
		if len(chunk)%4 == 1 {
			chunk = chunk[:len(chunk)-1] // a lone sextet carries no byte
		}
		dec, _ := base64.RawStdEncoding.AppendDecode(nil, chunk)
		out = append(out, dec...)
	}
	return out
}

// decodeQP decodes quoted-printable; malformed escapes are kept as written.
func decodeQP(b []byte) []byte {
	if out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b))); err == nil {
		return out
	}
	return unescapeQP(b)
}

// unescapeQP decodes "=XX" escapes and removes soft line breaks, keeping
// anything malformed as written.
func unescapeQP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		rest := b[i+1:]
		switch {
		case bytes.HasPrefix(rest, []byte("\r\n")):
			i += 2
		case bytes.HasPrefix(rest, []byte("\n")):
			i++
		case len(rest) >= 2 && isHex(rest[0]) && isHex(rest[1]):
			v, _ := strconv.ParseUint(string(rest[:2]), 16, 8)
			out = append(out, byte(v))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// isToken reports whether s is a non-empty MIME token (RFC 2045).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// normalizeNewlines turns CRLF and bare CR into LF.
func normalizeNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// mediaHeader parses a Content-Type or Content-Disposition value leniently:
// the lower-case value before the first ";" and its parameters with
// lower-case names. It handles quoted strings (also unterminated ones),
// RFC 2231 extended values and continuations in any charset, RFC 2047
// encoded-words inside values, and raw 8-bit bytes.
func (p *parser) mediaHeader(v string) (string, map[string]string) {
	value, rest, _ := strings.Cut(v, ";")
	value = strings.ToLower(strings.TrimSpace(value))
	if i := strings.IndexAny(value, " \t("); i >= 0 {
		value = value[:i] // "text/plain (comment)"
	}
	params := make(map[string]string)
	type section struct {
		text     string
		extended bool
	}
	sections := make(map[string]map[int]section) // RFC 2231 name*N sections
	for rest != "" {
		var name, val string
		name, val, rest = nextParam(rest)
		if name == "" {
			continue
		}
		base, num, extended := name, 0, false
		if strings.HasSuffix(base, "*") {
			base, extended = strings.TrimSuffix(base, "*"), true
		}
		if b, n, ok := strings.Cut(base, "*"); ok {
			k, err := strconv.Atoi(n)
			if err != nil || k < 0 || k > 999 {
				continue
			}
			base, num = b, k
		} else if !extended {
			if _, dup := params[base]; !dup {
				params[base] = val
			}
			continue
		}
		if sections[base] == nil {
			sections[base] = make(map[int]section)
		}
		sections[base][num] = section{text: val, extended: extended}
	}
	for name, secs := range sections {
		nums := make([]int, 0, len(secs))
		for n := range secs {
			nums = append(nums, n)
		}
		sort.Ints(nums)
		var charset string
		var raw []byte
		for i, n := range nums {
			s := secs[n]
			if s.extended {
				text := s.text
				if i == 0 {
					if cs, after, ok := strings.Cut(text, "'"); ok {
						if _, t, ok := strings.Cut(after, "'"); ok {
							charset, text = cs, t
						}
					}
				}
				raw = append(raw, percentDecode(text)...)
			} else {
				raw = append(raw, s.text...)
			}
		}
		if charset != "" {
			params[name], _ = decodeCharset(raw, charset)
		} else {
			params[name] = string(raw)
		}
	}
	for k, val := range params {
		params[k] = p.decodeText(val)
	}
	return value, params
}

// nextParam reads one "name=value" parameter from s (after a ";"),
// returning the lower-case name, the unquoted value and the rest of s.
// A parameter without "=" yields an empty name.
func nextParam(s string) (name, value, rest string) {
	s = strings.TrimLeft(s, " \t;")
	eq := strings.IndexAny(s, "=;")
	if eq < 0 || s[eq] == ';' {
		if eq < 0 {
			return "", "", ""
		}
		return "", "", s[eq+1:]
	}
	name = strings.ToLower(strings.TrimSpace(s[:eq]))
	s = strings.TrimLeft(s[eq+1:], " \t")
	if !strings.HasPrefix(s, `"`) {
		value, rest, _ = strings.Cut(s, ";")
		return name, strings.TrimSpace(value), rest
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == '"':
			_, rest, _ = strings.Cut(s[i+1:], ";")
			return name, b.String(), rest
		default:
			b.WriteByte(c)
		}
	}
	return name, strings.TrimSpace(b.String()), "" // unterminated quote
}

// percentDecode decodes RFC 2231 %XX escapes, keeping malformed ones.
func percentDecode(s string) []byte {
	if out, err := url.PathUnescape(s); err == nil {
		return []byte(out)
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			out = append(out, byte(v))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}
