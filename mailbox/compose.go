package mailbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
)

// Errors Compose returns, wrapped with the name of the offending field;
// check them with errors.Is.
var (
	// ErrHeaderInjection means a value that goes into a header line (a
	// subject, name, address, message id, extra field, file name, …)
	// contains CR, LF or NUL and could end the line or start a new field.
	ErrHeaderInjection = errors.New("mailbox: header value contains CR, LF or NUL")
	// ErrInvalidAddress means an address is empty or not an addr-spec.
	ErrInvalidAddress = errors.New("mailbox: invalid address")
	// ErrInvalidMessage means a required part is missing (From, a
	// recipient, Text, Date, MessageID) or a value is malformed (a message
	// id with spaces or brackets, an extra field that Compose writes itself
	// or whose name is not a field name, an unreadable content type).
	ErrInvalidMessage = errors.New("mailbox: invalid outgoing message")
)

// Outgoing is a message for [Compose] to write. All strings are UTF-8.
type Outgoing struct {
	// From is the author; required.
	From Address
	// To and Cc are the recipients; at least one is required.
	To, Cc []Address
	// ReplyTo, when set, is where replies go (helpmail's token address).
	ReplyTo []Address
	// Subject is the subject in UTF-8; Compose encodes it (RFC 2047).
	Subject string
	// MessageID is the canonical id without angle brackets; required
	// (helpmail mints it, so that a retry sends the same id).
	MessageID string
	// InReplyTo is the canonical id of the message answered; "" for none.
	InReplyTo string
	// References are canonical ids, oldest first.
	References []string
	// Date is the Date header; required.
	Date time.Time
	// Headers are extra fields written in order after the standard ones
	// (Auto-Submitted, X-Auto-Response-Suppress, Thread-Topic, Thread-Index,
	// Content-Language, Precedence, …). Non-ASCII values are RFC 2047
	// encoded. Fields Compose writes itself (From, To, Subject, Message-ID,
	// Content-Type, …) are refused.
	Headers []Field
	// Text is the plain-text body; required.
	Text string
	// HTML, when not empty, makes the body multipart/alternative with Text
	// first.
	HTML string
	// Attachments, when present, make the message multipart/mixed: the
	// body first, then each file (base64, Content-Disposition attachment or
	// inline, Content-ID when set).
	Attachments []Attachment
}

// Compose writes o as a MIME message: CRLF line endings, MIME-Version,
// RFC 2047-encoded non-ASCII header values, quoted-printable UTF-8 text
// and HTML, base64 attachments. The output is a pure function of o
// (multipart boundaries are derived from the Message-ID), so a retry
// writes the same bytes. It returns an error wrapping ErrHeaderInjection
// if any header value contains CR, LF or NUL, ErrInvalidAddress for an
// address that is not an addr-spec, and ErrInvalidMessage for a missing
// required field or a malformed value; nothing is written then.
func Compose(o Outgoing) ([]byte, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	fields := []Field{
		{"Date", o.Date.Format("Mon, 02 Jan 2006 15:04:05 -0700")},
		{"From", o.From.String()},
	}
	for _, l := range []struct {
		key  string
		list []Address
	}{{"To", o.To}, {"Cc", o.Cc}, {"Reply-To", o.ReplyTo}} {
		if len(l.list) > 0 {
			fields = append(fields, Field{l.key, joinAddresses(l.list)})
		}
	}
	fields = append(fields,
		Field{"Subject", encodeText("Subject", o.Subject)},
		Field{"Message-ID", "<" + o.MessageID + ">"})
	if o.InReplyTo != "" {
		fields = append(fields, Field{"In-Reply-To", "<" + o.InReplyTo + ">"})
	}
	if len(o.References) > 0 {
		fields = append(fields, Field{"References", "<" + strings.Join(o.References, "> <") + ">"})
	}
	for _, f := range o.Headers {
		fields = append(fields, Field{f.Key, encodeText(f.Key, f.Value)})
	}
	fields = append(fields, Field{"MIME-Version", "1.0"})

	var buf bytes.Buffer
	var err error
	switch {
	case len(o.Attachments) > 0:
		err = writeMixed(&buf, fields, o)
	case o.HTML != "":
		err = writeAlternative(&buf, nil, fields, o)
	default:
		err = writeText(&buf, nil, fields, "text/plain", o.Text)
	}
	if err != nil {
		return nil, fmt.Errorf("mailbox: compose: %w", err)
	}
	return buf.Bytes(), nil
}

// validate checks every value before anything is written.
func (o *Outgoing) validate() error {
	line := func(name, v string) error {
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("%w: %s", ErrHeaderInjection, name)
		}
		return nil
	}
	addr := func(name string, a Address) error {
		if err := errors.Join(line(name+" name", a.Name), line(name+" address", a.Addr)); err != nil {
			return err
		}
		if p, err := mail.ParseAddress("<" + a.Addr + ">"); err != nil || !strings.Contains(p.Address, "@") {
			return fmt.Errorf("%w: %s %q", ErrInvalidAddress, name, a.Addr)
		}
		return nil
	}
	id := func(name, v string) error {
		if err := line(name, v); err != nil {
			return err
		}
		if v == "" || len(v) > maxIDLen || strings.ContainsAny(v, "<> \t") {
			return fmt.Errorf("%w: %s %q is not a canonical message id", ErrInvalidMessage, name, clip(v))
		}
		return nil
	}
	if err := line("subject", o.Subject); err != nil {
		return err
	}
	if err := addr("From", o.From); err != nil {
		return err
	}
	if len(o.To)+len(o.Cc) == 0 {
		return fmt.Errorf("%w: no recipient", ErrInvalidMessage)
	}
	for _, l := range []struct {
		name string
		list []Address
	}{{"To", o.To}, {"Cc", o.Cc}, {"Reply-To", o.ReplyTo}} {
		for _, a := range l.list {
			if err := addr(l.name, a); err != nil {
				return err
			}
		}
	}
	if err := id("Message-ID", o.MessageID); err != nil {
		return err
	}
	if o.InReplyTo != "" {
		if err := id("In-Reply-To", o.InReplyTo); err != nil {
			return err
		}
	}
	for _, r := range o.References {
		if err := id("References", r); err != nil {
			return err
		}
	}
	for _, f := range o.Headers {
		if err := errors.Join(line("field name", f.Key), line(f.Key, f.Value)); err != nil {
			return err
		}
		if _, _, ok := fieldLine([]byte(f.Key + ":")); !ok || strings.ContainsAny(f.Key, ": ") {
			return fmt.Errorf("%w: %q is not a field name", ErrInvalidMessage, f.Key)
		}
		if reservedField(f.Key) {
			return fmt.Errorf("%w: field %q is written by Compose", ErrInvalidMessage, f.Key)
		}
	}
	for _, a := range o.Attachments {
		if err := errors.Join(line("attachment file name", a.Filename), line("attachment content type", a.ContentType),
			line("attachment content id", a.ContentID)); err != nil {
			return err
		}
		if a.ContentType != "" {
			if mt, _, err := mime.ParseMediaType(a.ContentType); err != nil || !strings.Contains(mt, "/") {
				return fmt.Errorf("%w: attachment content type %q", ErrInvalidMessage, a.ContentType)
			}
		}
	}
	if o.Text == "" {
		return fmt.Errorf("%w: no text", ErrInvalidMessage)
	}
	if o.Date.IsZero() {
		return fmt.Errorf("%w: no date", ErrInvalidMessage)
	}
	return nil
}

// maxIDLen is the longest message id Compose accepts, so that an id (and
// the References line holding it) fits the 998-byte line limit.
const maxIDLen = 900

// encodeText encodes an unstructured header value: RFC 2047 Q-encoding
// when it is not plain ASCII, and also when a word is too long to fit a
// header line (encoded-words can be folded, a long word cannot).
func encodeText(key, v string) string {
	enc := mime.QEncoding.Encode("utf-8", v)
	for _, w := range strings.Split(enc, " ") {
		if len(key)+2+len(w) > 998 {
			return forceEncode(v)
		}
	}
	return enc
}

// forceEncode writes s as Q encoded-words of at most 45 input bytes each,
// split at character boundaries.
func forceEncode(s string) string {
	var words []string
	for len(s) > 0 {
		n := min(len(s), 45)
		for n > 1 && n < len(s) && !utf8.RuneStart(s[n]) {
			n--
		}
		var b strings.Builder
		b.WriteString("=?utf-8?q?")
		for _, c := range []byte(s[:n]) {
			switch {
			case c == ' ':
				b.WriteByte('_')
			case c > ' ' && c < 0x7f && c != '=' && c != '?' && c != '_':
				b.WriteByte(c)
			default:
				fmt.Fprintf(&b, "=%02X", c)
			}
		}
		b.WriteString("?=")
		words = append(words, b.String())
		s = s[n:]
	}
	return strings.Join(words, " ")
}

// reservedField reports whether Compose writes the field itself.
func reservedField(key string) bool {
	switch strings.ToLower(key) {
	case "date", "from", "sender", "to", "cc", "bcc", "reply-to", "subject", "message-id",
		"in-reply-to", "references", "mime-version", "content-type", "content-transfer-encoding",
		"content-disposition", "content-id":
		return true
	}
	return false
}

// joinAddresses renders an address list for a header.
func joinAddresses(list []Address) string {
	s := make([]string, len(list))
	for i, a := range list {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// create starts an entity with the given header fields: the whole message
// when parent is nil, else the next part of parent. go-message encodes
// what is written to it as its Content-Transfer-Encoding says.
func create(buf *bytes.Buffer, parent *message.Writer, fields []Field) (*message.Writer, error) {
	var h message.Header
	for i := len(fields) - 1; i >= 0; i-- { // AddRaw prepends
		h.AddRaw(foldField(fields[i].Key, fields[i].Value))
	}
	if parent == nil {
		return message.CreateWriter(buf, h)
	}
	return parent.CreatePart(h)
}

// foldField formats "Key: value" with CRLF, folding before spaces so
// that lines stay within 78 characters wherever the value has a space to
// fold at (RFC 5322 section 2.2.3). The value is validated already.
func foldField(key, value string) []byte {
	var b bytes.Buffer
	b.WriteString(key + ":")
	n := len(key) + 1
	for i, word := range strings.Split(value, " ") {
		if i > 0 && n+1+len(word) > 78 {
			b.WriteString("\r\n")
			n = 0
		}
		b.WriteString(" " + word)
		n += 1 + len(word)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// multipartType returns a multipart Content-Type with a boundary derived
// from the message id: stable across retries, and impossible in the
// quoted-printable and base64 parts Compose writes, which cannot contain
// "=_".
func multipartType(sub, messageID string) Field {
	sum := sha256.Sum256([]byte(sub + "\x00" + messageID))
	return Field{"Content-Type", mime.FormatMediaType("multipart/"+sub,
		map[string]string{"boundary": "=_" + sub + "_" + hex.EncodeToString(sum[:12])})}
}

// writeText writes a quoted-printable UTF-8 text entity.
func writeText(buf *bytes.Buffer, parent *message.Writer, fields []Field, mediaType, text string) error {
	w, err := create(buf, parent, append(fields,
		Field{"Content-Type", mediaType + "; charset=utf-8"},
		Field{"Content-Transfer-Encoding", "quoted-printable"}))
	if err != nil {
		return fmt.Errorf("%s: %w", mediaType, err)
	}
	if _, err := w.Write([]byte(normalizeNewlines(text))); err != nil {
		return fmt.Errorf("%s: %w", mediaType, err)
	}
	return w.Close()
}

// writeAlternative writes a multipart/alternative of Text and HTML.
func writeAlternative(buf *bytes.Buffer, parent *message.Writer, fields []Field, o Outgoing) error {
	w, err := create(buf, parent, append(fields, multipartType("alternative", o.MessageID)))
	if err != nil {
		return fmt.Errorf("alternative: %w", err)
	}
	if err := writeText(buf, w, nil, "text/plain", o.Text); err != nil {
		return err
	}
	if err := writeText(buf, w, nil, "text/html", o.HTML); err != nil {
		return err
	}
	return w.Close()
}

// writeMixed writes a multipart/mixed: the body (text, or the alternative
// of text and HTML), then each attachment in base64.
func writeMixed(buf *bytes.Buffer, fields []Field, o Outgoing) error {
	w, err := create(buf, nil, append(fields, multipartType("mixed", o.MessageID)))
	if err != nil {
		return fmt.Errorf("mixed: %w", err)
	}
	if o.HTML != "" {
		err = writeAlternative(buf, w, nil, o)
	} else {
		err = writeText(buf, w, nil, "text/plain", o.Text)
	}
	if err != nil {
		return err
	}
	for _, a := range o.Attachments {
		if err := writeAttachment(buf, w, a); err != nil {
			return err
		}
	}
	return w.Close()
}

// writeAttachment writes one file: its type with an RFC 2047 name (for old
// clients), an RFC 2231 filename in Content-Disposition, base64 content.
func writeAttachment(buf *bytes.Buffer, parent *message.Writer, a Attachment) error {
	mt, typeParams := "application/octet-stream", map[string]string{}
	if a.ContentType != "" {
		mt, typeParams, _ = mime.ParseMediaType(a.ContentType)
	}
	disp := "attachment"
	if a.Inline {
		disp = "inline"
	}
	var dispParams map[string]string
	if a.Filename != "" {
		typeParams["name"] = mime.QEncoding.Encode("utf-8", a.Filename)
		dispParams = map[string]string{"filename": a.Filename}
	}
	fields := []Field{
		{"Content-Type", mime.FormatMediaType(mt, typeParams)},
		{"Content-Disposition", mime.FormatMediaType(disp, dispParams)},
		{"Content-Transfer-Encoding", "base64"},
	}
	if a.ContentID != "" {
		fields = append(fields, Field{"Content-ID", "<" + a.ContentID + ">"})
	}
	w, err := create(buf, parent, fields)
	if err != nil {
		return fmt.Errorf("attachment %q: %w", a.Filename, err)
	}
	if _, err := w.Write(a.Data); err != nil {
		return fmt.Errorf("attachment %q: %w", a.Filename, err)
	}
	return w.Close()
}
