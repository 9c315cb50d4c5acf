package mailbox

import (
	"strings"
)

// DSN is what a delivery report says about a message helpmail sent: which
// recipients failed or were delayed, and which message it was.
type DSN struct {
	// Recipients has one entry per recipient the report covers; it may be
	// empty when a non-standard bounce names nobody recognisably.
	Recipients []DSNRecipient
	// OriginalMessageID is the raw Message-ID of the reported message, from
	// its returned copy (message/rfc822 or text/rfc822-headers) or, for
	// bounces that quote it as text, from the quoted header; "" when
	// absent.
	OriginalMessageID string
	// ReportingMTA is the host that wrote the report ("dns; " removed);
	// "" when unknown.
	ReportingMTA string
}

// DSNRecipient is the report on one recipient (RFC 3464 section 2.3).
type DSNRecipient struct {
	// Final and Original are the final and original recipient addresses,
	// without the address type ("rfc822; ") or angle brackets.
	Final, Original string
	// Action is "failed", "delayed", "delivered", "relayed" or "expanded",
	// lower case; derived from Status for non-standard bounces.
	Action string
	// Status is the enhanced status code, e.g. "5.1.1"; for non-standard
	// bounces it may be only a class ("5.0.0", "4.0.0").
	Status string
	// Diagnostic is the remote server's answer or the line that carried the
	// status, without the type ("smtp; ").
	Diagnostic string
}

// Permanent reports whether the report says delivery failed for good for
// any recipient: Action failed or a 5.x.x Status.
func (d *DSN) Permanent() bool {
	if d == nil {
		return false
	}
	for _, r := range d.Recipients {
		if r.Action == "failed" || strings.HasPrefix(r.Status, "5") {
			return true
		}
	}
	return false
}

// ParseDSN reads raw as a delivery status notification. It returns false
// when the message is not a delivery report. RFC 3464 reports
// (multipart/report with a message/delivery-status part) are read field by
// field; the common non-standard bounces (qmail, Exim, Domino, Exchange
// 2003, webmail providers, …) are recognised by their sender, subject or
// X-Failed-Recipients, and read best effort: the first enhanced status
// code (or SMTP reply code) in the text gives the status class, and
// X-Failed-Recipients or the addresses the text names give the
// recipients. The same reading fills a report whose delivery-status part
// is missing or names no recipient. Auto-replies are not delivery reports.
func ParseDSN(raw []byte) (*DSN, bool) {
	m, _ := Parse(raw)
	d := &DSN{}
	isReport := false
	p := &parser{m: &Message{}}
	if mt, params := p.mediaHeader(m.Header.Get("Content-Type")); mt == "multipart/report" &&
		strings.EqualFold(params["report-type"], "delivery-status") {
		isReport = true
	}
	for _, a := range m.Attachments {
		switch a.ContentType {
		case "message/delivery-status", "message/global-delivery-status":
			isReport = true
			d.readStatus(a.Data)
		case "message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers", "message/global-headers":
			if d.OriginalMessageID == "" {
				fields, _ := p.splitHeader(a.Data)
				d.OriginalMessageID = strings.TrimSpace(firstValue(fields, "Message-Id"))
			}
		}
	}
	if !isReport && !looksLikeBounce(m) {
		return nil, false
	}
	if len(d.Recipients) == 0 {
		d.readText(m)
	}
	if d.OriginalMessageID == "" {
		d.OriginalMessageID = quotedMessageID(m)
	}
	return d, true
}

// readStatus reads the fields of a message/delivery-status part: one
// per-message block, then one block per recipient.
func (d *DSN) readStatus(data []byte) {
	p := &parser{m: &Message{}}
	for len(data) > 0 {
		fields, rest := p.splitHeader(data)
		if len(rest) >= len(data) {
			break
		}
		data = rest
		if v := firstValue(fields, "Reporting-Mta"); v != "" && d.ReportingMTA == "" {
			d.ReportingMTA = afterType(v)
		}
		final, original := firstValue(fields, "Final-Recipient"), firstValue(fields, "Original-Recipient")
		if final == "" && original == "" {
			continue
		}
		r := DSNRecipient{
			Final:      strings.Trim(afterType(final), "<>"),
			Original:   strings.Trim(afterType(original), "<>"),
			Action:     firstToken(firstValue(fields, "Action")),
			Status:     firstToken(firstValue(fields, "Status")),
			Diagnostic: afterType(firstValue(fields, "Diagnostic-Code")),
		}
		if r.Final == "" {
			r.Final = r.Original
		}
		if r.Status == "" {
			r.Status, _ = findStatus(r.Diagnostic)
		}
		d.Recipients = append(d.Recipients, r)
	}
}

// readText fills a non-standard bounce from its text: the status from the
// first status code, the recipients from X-Failed-Recipients or from the
// addresses the notice names.
func (d *DSN) readText(m *Message) {
	text := noticeText(m)
	status, line := findStatus(text)
	if status == "" {
		status = "5.0.0"
		if strings.Contains(strings.ToLower(m.Subject+" "+text), "delay") {
			status = "4.0.0"
		}
	}
	action := "failed"
	switch status[0] {
	case '4':
		action = "delayed"
	case '2':
		action = "delivered"
	}
	var addrs []string
	for _, a := range strings.Split(m.Header.Get("X-Failed-Recipients"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		addrs = namedAddresses(text, m)
	}
	for _, a := range addrs {
		d.Recipients = append(d.Recipients, DSNRecipient{Final: a, Action: action, Status: status, Diagnostic: line})
	}
	if len(d.Recipients) == 0 {
		d.Recipients = append(d.Recipients, DSNRecipient{Action: action, Status: status, Diagnostic: line})
	}
}

// looksLikeBounce reports whether a message without an RFC 3464 part is a
// bounce: sent by a mailer daemon or postmaster, carrying
// X-Failed-Recipients, titled like one, or sent by a robot or with a null
// return path and saying that delivery failed.
func looksLikeBounce(m *Message) bool {
	if m.Header.Has("X-Failed-Recipients") {
		return true
	}
	if strings.Contains(strings.ToLower(m.Header.Get("From")), "mailer-daemon") {
		return true
	}
	robot := m.HasReturnPath && m.ReturnPath == ""
	for _, a := range m.From {
		switch r := robotSender(a.Addr); r {
		case "mailer-daemon", "postmaster", "post_master":
			return true
		case "":
		default:
			robot = true
		}
	}
	if robot {
		text := strings.ToLower(noticeText(m))
		for _, s := range [...]string{
			"could not be delivered", "couldn't be delivered", "undeliverable", "delivery failed",
			"delivery has failed", "not a valid user", "user unknown", "unknown user", "no such user",
			"mailbox is full", "mailbox full", "does not exist", "permanent error",
		} {
			if strings.Contains(text, s) {
				return true
			}
		}
	}
	subject := strings.ToLower(m.Subject)
	for _, s := range [...]string{
		"undeliver", "delivery status notification", "delivery failure", "failure notice",
		"returned mail", "mail delivery failed", "delivery has failed", "could not be delivered",
		"delivery notification", "nondeliverable", "non-deliverable", "delivery problem",
		"mail delivery system", "warning: could not send", "delayed mail", "non remis",
		"nicht zustellbar", "onbestelbaar", "message not delivered",
	} {
		if strings.Contains(subject, s) {
			return true
		}
	}
	return false
}

// noticeText returns the part of a bounce written by the reporting MTA:
// its text up to where the returned message is quoted.
func noticeText(m *Message) string {
	text := m.Text
	lower := strings.ToLower(text)
	cut := len(text)
	for _, marker := range [...]string{
		"\nreturn-path:", "\nreceived:", "----- original message", "original message follows",
		"--- below this line is a copy", "this is a copy of the message", "message headers follow",
		"\nfrom: ",
	} {
		if i := strings.Index(lower, marker); i > 0 && i < cut {
			cut = i
		}
	}
	return text[:cut]
}

// findStatus returns the first enhanced status code in s ("5.1.1"), else
// the class of the first SMTP reply code that starts a line or follows
// "said:" ("5.0.0"), together with the line it was found on.
func findStatus(s string) (status, line string) {
	for _, l := range strings.Split(s, "\n") {
		for i := 0; i+5 <= len(l); i++ {
			c := l[i]
			if (c != '2' && c != '4' && c != '5') || l[i+1] != '.' || (i > 0 && isDigitOrDot(l[i-1])) {
				continue
			}
			j := i + 2
			for j < len(l) && j < i+5 && l[j] >= '0' && l[j] <= '9' {
				j++
			}
			if j == i+2 || j >= len(l) || l[j] != '.' {
				continue
			}
			k := j + 1
			for k < len(l) && k < j+4 && l[k] >= '0' && l[k] <= '9' {
				k++
			}
			if k == j+1 || (k < len(l) && isDigitOrDot(l[k])) {
				continue
			}
			return l[i:k], clip(strings.TrimSpace(l))
		}
	}
	for _, l := range strings.Split(s, "\n") {
		t := strings.TrimSpace(l)
		if _, after, ok := strings.Cut(strings.ToLower(t), "said:"); ok {
			t = strings.TrimSpace(after)
		}
		if len(t) >= 4 && (t[0] == '4' || t[0] == '5') && isDigit(t[1]) && isDigit(t[2]) && (t[3] == ' ' || t[3] == '-') {
			return t[:1] + ".0.0", clip(strings.TrimSpace(l))
		}
	}
	return "", ""
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isDigitOrDot(c byte) bool { return isDigit(c) || c == '.' }

// namedAddresses returns the addresses a bounce notice names (in angle
// brackets or as bare words with an "@"), leaving out the bounce's own
// sender and recipients and robot addresses; at most ten.
func namedAddresses(text string, m *Message) []string {
	skip := make(map[string]bool)
	for _, list := range [][]Address{m.From, m.To, m.Cc, m.Sender, m.ReplyTo} {
		for _, a := range list {
			skip[strings.ToLower(a.Addr)] = true
		}
	}
	var out []string
	for _, w := range strings.FieldsFunc(text, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '<' || r == '>' || r == '(' || r == ')' || r == '"' || r == ',' || r == '[' || r == ']'
	}) {
		w = strings.Trim(w, ".:;'")
		w = strings.TrimPrefix(w, "mailto:")
		at := strings.IndexByte(w, '@')
		if at <= 0 || at == len(w)-1 || !strings.Contains(w[at:], ".") || skip[strings.ToLower(w)] || robotSender(w) != "" {
			continue
		}
		skip[strings.ToLower(w)] = true
		out = append(out, w)
		if len(out) == 10 {
			break
		}
	}
	return out
}

// quotedMessageID finds the Message-ID of a returned message that a bounce
// quotes as text (or attaches as text): the first "Message-ID:" line in
// the text or in a text attachment.
func quotedMessageID(m *Message) string {
	texts := []string{m.Text}
	for _, a := range m.Attachments {
		if strings.HasPrefix(a.ContentType, "text/") {
			texts = append(texts, string(a.Data))
		}
	}
	for _, t := range texts {
		for _, l := range strings.Split(t, "\n") {
			l = strings.TrimSpace(l)
			if len(l) > 11 && strings.EqualFold(l[:11], "message-id:") {
				if v := strings.TrimSpace(l[11:]); strings.HasPrefix(v, "<") {
					return v
				}
			}
		}
	}
	return ""
}

// afterType removes a DSN address or diagnostic type: "rfc822; a@b" → "a@b".
func afterType(v string) string {
	if _, after, ok := strings.Cut(v, ";"); ok {
		return strings.TrimSpace(after)
	}
	return strings.TrimSpace(v)
}
