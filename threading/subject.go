package threading

import (
	"regexp"
	"strconv"
	"strings"
)

// The regular expressions below are compiled once and only read afterwards.
var (
	// replyPrefix matches one reply or forward marker at the start of a
	// subject, in the many forms clients write: "Re:", "RE[2]:", "Antw.:",
	// "Réf. :", "AW:", "SV:", "回复：" ... Unicode case folding applies.
	replyPrefix = regexp.MustCompile(`(?i)^(?:re|aw|sv|vs|antw|antwort|r|rif|ref|réf|odp|ynt|vá|wg|fw|fwd|tr|rv|enc|res|doorst|pd|vl|ats|atb|απ|σχετ|προθ|回复|回覆|答复|转发|轉寄)` +
		`\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*\.?[\s\x{a0}]*[:：]`)
	// ticketBlob matches a whole "[<words> #<number>]" ticket tag, ours or
	// another helpdesk's; BaseSubject keeps these, unlike list tags.
	ticketBlob = regexp.MustCompile(`^\[[^\[\]]*#\s*[0-9]+\s*\]$`)
)

// FindTag finds the first "[<tag> #<n>]" in subject and returns n. The tag
// is compared case-insensitively and spacing is tolerated ("[Support#1042]",
// "[ support # 1042 ]"; whitespace inside a multi-word tag may vary). A
// match whose number is 0 or does not fit in int64 is skipped. It reports
// false when there is no such tag or tag is blank.
func FindTag(subject, tag string) (int64, bool) {
	re := tagRegexp(tag)
	if re == nil {
		return 0, false
	}
	for _, m := range re.FindAllStringSubmatch(subject, -1) {
		if n, err := strconv.ParseInt(m[1], 10, 64); err == nil && n > 0 {
			return n, true
		}
	}
	return 0, false
}

// TagSubject returns the subject helpmail uses for ticket n:
// "[<tag> #<n>] " followed by the ticket subject (see TicketSubject), so
// tagging an already tagged reply gives the same subject again: no double
// tag, no "Re:" chains. With an empty base it returns just the tag.
func TagSubject(tag string, n int64, subject string) string {
	head := "[" + strings.TrimSpace(tag) + " #" + strconv.FormatInt(n, 10) + "]"
	if base := TicketSubject(tag, subject); base != "" {
		return head + " " + base
	}
	return head
}

// TicketSubject returns subject without any of our own "[<tag> #...]" tags
// and without reply/forward prefixes (see BaseSubject): what a ticket opened
// by this message is called. A stranger's "AW: [Support #12] VPN down"
// opens a ticket called "VPN down".
func TicketSubject(tag, subject string) string {
	if re := tagRegexp(tag); re != nil {
		subject = re.ReplaceAllString(subject, " ")
	}
	return BaseSubject(subject)
}

// BaseSubject returns subject without what replies and forwards add, for
// comparing subjects (compare with strings.EqualFold; case is kept for
// display). It follows the base-subject algorithm of RFC 5256 §2.1 with
// many more languages: whitespace runs become one space; trailing "(fwd)"
// goes; leading reply/forward markers go (Re RE re Fwd FW Fw AW WG SV VS
// Antw Antw. TR RE[2] Réf Ref RIF R Odp Vá YNT ..., also repeated and
// mixed); leading "[list]" blobs go unless nothing would remain; a
// "[fwd: ...]" wrapper is unwrapped. Ticket tags of the form
// "[<words> #<n>]" are not list blobs: they are kept, moved in front of
// the rest.
func BaseSubject(subject string) string {
	s := strings.Join(strings.Fields(subject), " ")
	var tags []string
	for {
		prev := s
		s = trimTrailers(s)
		s, tags = trimLeaders(s, tags)
		if len(s) >= len("[fwd:]") && strings.EqualFold(s[:len("[fwd:")], "[fwd:") && s[len(s)-1] == ']' {
			s = strings.TrimSpace(s[len("[fwd:") : len(s)-1])
		}
		if s == prev {
			break
		}
	}
	if s != "" {
		tags = append(tags, s)
	}
	return strings.Join(tags, " ")
}

// trimTrailers removes trailing "(fwd)" markers and spaces.
func trimTrailers(s string) string {
	for {
		s = strings.TrimRight(s, " ")
		if len(s) < len("(fwd)") || !strings.EqualFold(s[len(s)-len("(fwd)"):], "(fwd)") {
			return s
		}
		s = s[:len(s)-len("(fwd)")]
	}
}

// trimLeaders removes leading reply markers and list blobs, appending the
// ticket tags it passes to tags.
func trimLeaders(s string, tags []string) (string, []string) {
	for {
		s = strings.TrimLeft(s, " ")
		if m := replyPrefix.FindStringIndex(s); m != nil {
			s = s[m[1]:]
			continue
		}
		if !strings.HasPrefix(s, "[") {
			return s, tags
		}
		end := strings.IndexAny(s[1:], "[]")
		if end < 0 || s[1+end] != ']' {
			return s, tags // not a simple blob (nested or unclosed)
		}
		blob, rest := s[:end+2], strings.TrimLeft(s[end+2:], " ")
		switch {
		case ticketBlob.MatchString(blob):
			tags = append(tags, blob)
		case rest == "":
			return s, tags // RFC 5256: keep a blob that is the whole subject
		}
		s = rest
	}
}

// tagRegexp returns the pattern of "[<tag> #<n>]" for tag, or nil for a
// blank tag.
func tagRegexp(tag string) *regexp.Regexp {
	words := strings.Fields(tag)
	if len(words) == 0 {
		return nil
	}
	for i, w := range words {
		words[i] = regexp.QuoteMeta(w)
	}
	return regexp.MustCompile(`(?i)\[\s*` + strings.Join(words, `\s+`) + `\s*#\s*([0-9]+)\s*\]`)
}
