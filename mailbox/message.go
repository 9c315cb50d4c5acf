package mailbox

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// Limits that keep Parse bounded on hostile input. A message that exceeds
// one is still parsed as far as the limit allows, and the cut is recorded in
// Message.Problems.
const (
	// MaxHeaderBytes is the largest header block (of the message or of one
	// MIME part) read into fields; the fields after it are skipped.
	MaxHeaderBytes = 1 << 20
	// MaxDepth is the deepest multipart nesting that is split into parts; a
	// deeper multipart is kept whole as an attachment.
	MaxDepth = 32
	// MaxParts is the largest number of MIME entities visited per message.
	MaxParts = 2000
	// maxProblems caps Message.Problems; further problems are counted only.
	maxProblems = 50
)

// ErrMalformed is wrapped by the error [Parse] returns when the message had
// problems; the message itself is still returned, filled as well as possible.
var ErrMalformed = errors.New("mailbox: malformed message")

// Address is one mailbox of an address header (From, To, Cc, …).
type Address struct {
	// Name is the display name decoded to UTF-8; "" when there is none.
	Name string
	// Addr is the addr-spec as written, trimmed and without angle brackets.
	// It is not case-folded: callers compare with strings.ToLower.
	Addr string
}

// String renders a for a header: "Name <addr>" with the name quoted or
// RFC 2047-encoded as needed, or "<addr>" without a name. Control
// characters (CR, LF, NUL, …) are dropped so the result can never break a
// header line; [Compose] refuses such values outright instead.
func (a Address) String() string {
	na := mail.Address{Name: dropControls(a.Name), Address: dropControls(a.Addr)}
	return na.String()
}

// Attachment is one MIME leaf of a message that is not its main text or
// HTML, or a file to attach to an [Outgoing] message.
type Attachment struct {
	// Filename is decoded to UTF-8 (RFC 2047, RFC 2231 with continuations
	// and charsets, raw 8-bit bytes guessed); control characters are
	// removed. "" when the part names no file. A message/rfc822 part without
	// a name gets its subject plus ".eml".
	Filename string
	// ContentType is the lower-case media type without parameters;
	// "application/octet-stream" when the part's Content-Type is broken.
	ContentType string
	// ContentID is the Content-ID without angle brackets; "" when absent.
	ContentID string
	// Inline is true for Content-Disposition: inline (e.g. images an HTML
	// body shows).
	Inline bool
	// Data is the content with its transfer encoding decoded; text is not
	// charset-converted.
	Data []byte
}

// Message is the parsed view of one inbound message: what helpmail needs
// to thread, store and show it. [Parse] fills it on a best-effort basis;
// zero values mean "absent or unreadable", and the reasons for the latter
// are in Problems.
type Message struct {
	// MessageID is the raw Message-ID value, trimmed; "" when absent. The
	// caller canonicalises it.
	MessageID string
	// From lists the authors; the first is the one to answer. May be empty.
	From []Address
	// Sender and ReplyTo are the Sender and Reply-To addresses.
	Sender, ReplyTo []Address
	// To and Cc are the visible recipients.
	To, Cc []Address
	// DeliveredTo holds every Delivered-To value, top (latest) first.
	DeliveredTo []string
	// ReturnPath is the first Return-Path without angle brackets; "" for
	// the null path "<>" or when absent (see HasReturnPath).
	ReturnPath string
	// HasReturnPath tells an absent Return-Path from the null path "<>".
	HasReturnPath bool
	// Subject is decoded to UTF-8, the charset guessed when unknown.
	Subject string
	// Date is the Date header; zero when missing or unparsable.
	Date time.Time
	// InReplyTo and References are the raw (unfolded) header values.
	InReplyTo, References string
	// ContentLanguage is the first language tag of Content-Language in
	// lower case ("fr", "nl-be"); "" when absent.
	ContentLanguage string
	// ThreadIndex is Outlook's Thread-Index header, raw; see [ThreadIndex].
	ThreadIndex string
	// ThreadTopic is Outlook's Thread-Topic header, decoded.
	ThreadTopic string
	// Text is the best plain text, in UTF-8 with LF line endings: the
	// text/plain body (the first one of the main multipart/alternative;
	// further inline text/plain parts without a file name, such as list
	// footers, are appended), else the HTML body converted by [HTMLToText].
	Text string
	// HTML is the text/html body in UTF-8; "" when there is none.
	HTML string
	// Attachments are the leaf parts that are not the main text or HTML,
	// in message order: files, inline images, message/rfc822 parts (as
	// .eml), delivery-status parts, TNEF winmail.dat. Parts of a
	// multipart/alternative that are other renditions of the same text
	// (a second text/plain or text/html, text/enriched) are dropped.
	Attachments []Attachment
	// Header holds every top-level header field in order, with values
	// unfolded and decoded to UTF-8 on a best-effort basis, for callers that
	// need other fields (Authentication-Results, Auto-Submitted, …).
	Header Header
	// Problems lists, for the record, what was wrong with the message, in
	// plain words; empty for a clean message.
	Problems []string
}

// Field is one header field: a name and its value.
type Field struct {
	Key, Value string
}

// Header is a list of header fields in message order. Keys compare
// case-insensitively.
type Header []Field

// Get returns the value of the first field named key, or "" when there is
// none.
func (h Header) Get(key string) string {
	for _, f := range h {
		if strings.EqualFold(f.Key, key) {
			return f.Value
		}
	}
	return ""
}

// Values returns the values of every field named key, in order; nil when
// there is none.
func (h Header) Values(key string) []string {
	var out []string
	for _, f := range h {
		if strings.EqualFold(f.Key, key) {
			out = append(out, f.Value)
		}
	}
	return out
}

// Has reports whether a field named key is present, even with an empty
// value.
func (h Header) Has(key string) bool {
	for _, f := range h {
		if strings.EqualFold(f.Key, key) {
			return true
		}
	}
	return false
}

// Parse reads one raw RFC 5322 message. It never returns a nil *Message and
// never panics: the error is non-nil only to report problems (it wraps
// [ErrMalformed] and repeats Message.Problems), and the message comes back
// filled as far as it could be read. raw is neither modified nor retained:
// the Message shares no memory with it.
//
// It copes with CRLF, LF, bare-CR-only and mixed line endings, an mbox
// "From " first line, a missing header/body separator, raw 8-bit header
// bytes, unknown charsets and transfer encodings, missing or wrong
// multipart boundaries, and keeps time and memory bounded (see the limits
// [MaxHeaderBytes], [MaxDepth] and [MaxParts]).
func Parse(raw []byte) (*Message, error) {
	p := &parser{m: &Message{}}
	func() {
		defer func() {
			if r := recover(); r != nil {
				p.problemf("internal error while parsing: %v", r)
			}
		}()
		p.parse(raw)
	}()
	return p.m, p.err()
}

// parser holds the state of one Parse call.
type parser struct {
	m        *Message
	parts    int    // MIME entities visited so far
	hint     string // first declared non-ASCII charset, for raw 8-bit headers
	dropped  int    // problems beyond maxProblems
	problems map[string]bool
}

// problemf records a problem once; after maxProblems it only counts.
func (p *parser) problemf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if p.problems[s] {
		return
	}
	if len(p.m.Problems) >= maxProblems {
		p.dropped++
		return
	}
	if p.problems == nil {
		p.problems = make(map[string]bool)
	}
	p.problems[s] = true
	p.m.Problems = append(p.m.Problems, s)
}

// err summarises the problems as an error wrapping ErrMalformed.
func (p *parser) err() error {
	if p.dropped > 0 {
		p.m.Problems = append(p.m.Problems, fmt.Sprintf("%d more problems not listed", p.dropped))
		p.dropped = 0
	}
	if len(p.m.Problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrMalformed, strings.Join(p.m.Problems, "; "))
}

func (p *parser) parse(raw []byte) {
	data := prepare(raw)
	fields, body := p.splitHeader(data)
	if len(fields) == 0 {
		p.problemf("no header fields")
	}
	p.walk(fields, body, 0, nil)
	p.headers(fields)
	if p.m.Text == "" && p.m.HTML != "" {
		p.m.Text = HTMLToText(p.m.HTML)
	}
}

// headers fills the header-derived fields of the message.
func (p *parser) headers(fields []rawField) {
	m := p.m
	m.Header = make(Header, 0, len(fields))
	for _, f := range fields {
		m.Header = append(m.Header, Field{Key: f.key, Value: p.decodeText(f.value)})
	}
	raw := func(key string) string { return strings.TrimSpace(firstValue(fields, key)) }

	m.MessageID = raw("Message-Id")
	m.From = p.addressList(fields, "From")
	m.Sender = p.addressList(fields, "Sender")
	m.ReplyTo = p.addressList(fields, "Reply-To")
	m.To = p.addressList(fields, "To")
	m.Cc = p.addressList(fields, "Cc")
	for _, f := range fields {
		if f.key == "Delivered-To" {
			if v := strings.Trim(strings.TrimSpace(f.value), "<>"); v != "" {
				m.DeliveredTo = append(m.DeliveredTo, v)
			}
		}
	}
	if hasField(fields, "Return-Path") {
		m.HasReturnPath = true
		m.ReturnPath = strings.TrimSpace(strings.Trim(raw("Return-Path"), "<>"))
	}
	m.Subject = p.decodeText(firstValue(fields, "Subject"))
	if v := raw("Date"); v != "" {
		if d, ok := parseDate(v); ok {
			m.Date = d
		} else {
			p.problemf("unparsable Date %q", clip(v))
		}
	}
	m.InReplyTo = raw("In-Reply-To")
	m.References = raw("References")
	if v := raw("Content-Language"); v != "" {
		tag, _, _ := strings.Cut(v, ",")
		tag, _, _ = strings.Cut(tag, ";")
		m.ContentLanguage = strings.ToLower(strings.TrimSpace(tag))
	}
	m.ThreadIndex = raw("Thread-Index")
	m.ThreadTopic = p.decodeText(firstValue(fields, "Thread-Topic"))
}

// dropControls removes ASCII control characters (CR, LF, NUL, TAB, …).
func dropControls(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// clip shortens s for a problem description.
func clip(s string) string {
	const n = 60
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
