package threading

import (
	"slices"
	"strings"
)

// MaxReferencedIDs caps how many ids ReferencedIDs returns, so that a
// message with an absurd References header cannot make the desk run
// thousands of lookups. Real threads stay far below it.
const MaxReferencedIDs = 100

// maxIDLen is the longest id accepted: a header line's limit (RFC 5322 §2.1.1).
const maxIDLen = 998

// CanonicalMessageID returns the canonical form of one Message-ID header
// value: comments and surrounding whitespace removed, angle brackets
// stripped, whitespace inside the brackets (from folding) removed,
// lower-cased. It is tolerant of ids that are not an RFC 5322 addr-spec
// ("<12345>" gives "12345"). When the value holds angle brackets, the first
// complete bracketed id is used; a bare value is accepted when it is a single
// word. It returns "" for an empty value or garbage (free text, an unclosed
// bracket, control characters).
func CanonicalMessageID(s string) string {
	var bare []string
	for id := range scanIDs(s) {
		if id.bracketed {
			return id.id
		}
		bare = append(bare, id.id)
	}
	if len(bare) == 1 {
		return bare[0]
	}
	return ""
}

// ReferencedIDs returns the canonical ids (see CanonicalMessageID) a reply
// names as its ancestors, nearest ancestor first: the ids of In-Reply-To in
// the order written, then those of References from last to first. Ids are
// deduplicated and at most MaxReferencedIDs are returned. It tolerates what
// real clients write: folding whitespace (also inside an id), commas between
// ids, comments, missing brackets (a bare word counts when it contains an
// '@'), and free text such as `Your message of "Fri, 06 Sep 2002"` around
// the ids. Truncated entries (an '<' without its '>') are dropped. It
// returns nil when there is no usable id.
func ReferencedIDs(references, inReplyTo string) []string {
	var ids []string
	add := func(id idToken) {
		if (id.bracketed || validBare(id.id)) && !slices.Contains(ids, id.id) && len(ids) < MaxReferencedIDs {
			ids = append(ids, id.id)
		}
	}
	for id := range scanIDs(inReplyTo) {
		add(id)
	}
	var refs []idToken
	for id := range scanIDs(references) {
		refs = append(refs, id)
	}
	for _, id := range slices.Backward(refs) {
		add(id)
	}
	return ids
}

// idToken is one candidate id found by scanIDs, in canonical form.
type idToken struct {
	id        string
	bracketed bool
}

// scanIDs yields the candidate ids of a header value: every complete
// <...> and every bare word outside brackets, comments and quoted strings.
// Candidates that cannot be ids (empty, too long, control characters) are
// skipped; bare words still need validBare to count as references.
func scanIDs(s string) func(yield func(idToken) bool) {
	return func(yield func(idToken) bool) {
		for i := 0; i < len(s); {
			switch c := s[i]; {
			case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',':
				i++
			case c == '(':
				i = skipComment(s, i)
			case c == '"':
				i = skipQuoted(s, i)
			case c == '<':
				j := strings.IndexAny(s[i+1:], "<>")
				if j < 0 {
					return // truncated at the end of the header
				}
				j += i + 1
				if s[j] == '<' {
					i = j // truncated entry: an id never closed before the next one
					continue
				}
				id := canonicalID(stripSpace(s[i+1 : j]))
				i = j + 1
				if id != "" && !yield(idToken{id: id, bracketed: true}) {
					return
				}
			case c == '>':
				i++
			default:
				j := i
				for j < len(s) && !strings.ContainsRune(" \t\r\n,<>(\"", rune(s[j])) {
					j++
				}
				id := canonicalID(s[i:j])
				i = j
				if id != "" && !yield(idToken{id: id}) {
					return
				}
			}
		}
	}
}

// canonicalID lower-cases a candidate id and returns "" if it cannot be one.
func canonicalID(s string) string {
	s = strings.ToLower(s)
	if s == "" || len(s) > maxIDLen {
		return ""
	}
	for _, r := range s {
		if r < 0x21 || r == 0x7f || r == '<' || r == '>' {
			return ""
		}
	}
	return s
}

// validBare reports whether a bare (unbracketed) word inside a list is
// taken as an id: it must look like local@domain.
func validBare(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1
}

// stripSpace removes folding whitespace some MUAs insert inside long ids.
func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// skipComment returns the index just past the (possibly nested) comment
// starting at s[i] == '(', or len(s) when it is never closed.
func skipComment(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}

// skipQuoted returns the index just past the quoted string starting at
// s[i] == '"', or len(s) when it is never closed.
func skipQuoted(s string, i int) int {
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(s)
}
