package threading

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// corpusSeeds is how many corpus messages seed each fuzz target.
const corpusSeeds = 120

// countingRand is a deterministic Signer.Rand for fuzzing: every read
// yields r, r+1, r+2, ...
type countingRand byte

func (r countingRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r) + byte(i)
	}
	return len(p), nil
}

func FuzzMatch(f *testing.F) {
	for _, raw := range corpusMessages(f, corpusSeeds) {
		f.Add(rawHeader(raw, "To"), rawHeader(raw, "References"), rawHeader(raw, "In-Reply-To"), rawHeader(raw, "Subject"), rawHeader(raw, "From"), int64(len(raw)))
	}
	s := newTestSigner(f, testSecret)
	s.Rand = countingRand(1)
	f.Add("support+"+s.ReplyToken(1042, "")+"@example.com", "", "", "", "", int64(1042))
	f.Add("Support <SUPPORT+"+strings.ToUpper(s.ReplyToken(1, "alice@example.com"))+"@example.com>", "", "", "", "alice@example.com", int64(1))
	f.Add("support+requests@example.com", "<"+s.MessageID(2, "example.com")+">", "", "Re: [Support #1042] x", "carol@customer.example", int64(2))
	f.Add("", "<known@x> <a@b>", "<c@d>", "AW: [support#1042]", "Carol <carol@customer.example>", int64(-1))

	f.Fuzz(func(t *testing.T, to, references, inReplyTo, subject, from string, n int64) {
		m := newTestMatcher(t)
		other := newTestSigner(t, []byte("another-secret-of-enough-bytes"))
		other.Rand = countingRand(2)
		desk := fakeDesk{
			messages:     map[string]int64{"known@x": 2},
			tickets:      map[int64]bool{1: true, 2: true, 1042: true},
			participants: map[int64]map[string]bool{1042: {"carol@customer.example": true}},
		}
		// Tokens and ids minted under another secret never verify.
		if got, ok := m.Signer.ParseReplyToken(other.ReplyToken(n, from)); ok {
			t.Fatalf("ParseReplyToken(other.ReplyToken(%d, %q)) = %+v, true, want false", n, from, got)
		}
		if got, ok := m.Signer.TicketFromMessageID(other.MessageID(n, "example.com")); ok {
			t.Fatalf("TicketFromMessageID(other.MessageID(%d)) = %d, true, want false", n, got)
		}
		if got, ok := m.Signer.ParseBounceToken(other.BounceToken(n)); ok {
			t.Fatalf("ParseBounceToken(other.BounceToken(%d)) = %d, true, want false", n, got)
		}

		in := Input{
			Recipients: append(strings.Split(to, ","), "support+"+other.ReplyToken(n, "")+"@example.com"),
			References: append(ReferencedIDs(references, inReplyTo), other.MessageID(n, "example.com")),
			Subject:    subject,
			From:       from,
		}
		look := desk.lookup()
		d := m.Match(in, look)
		if !slices.Contains([]string{"support@example.com", "incidents@example.com"}, d.Address) {
			t.Errorf("Match(%+v).Address = %q, want a configured address", in, d.Address)
		}
		if (d.Ticket == 0) != (d.Rule == RuleNew) {
			t.Errorf("Match(%+v) = %+v, want Ticket 0 exactly for rule new", in, d)
		}
		switch d.Rule {
		case RuleToken:
			if !desk.tickets[d.Ticket] {
				t.Errorf("Match(%+v) = %+v, want an existing ticket", in, d)
			}
		case RuleReference:
			if !desk.tickets[d.Ticket] {
				t.Errorf("Match(%+v) = %+v, want an existing ticket", in, d)
			}
		case RuleTag:
			if tag, _ := FindTag(subject, m.Tag); tag != d.Ticket || !look.IsParticipant(d.Ticket, normAddr(from)) {
				t.Errorf("Match(%+v) = %+v, want the subject's tag and a participant sender", in, d)
			}
		case RuleNew:
		default:
			t.Errorf("Match(%+v).Rule = %q, want one of the four rules", in, d.Rule)
		}
	})
}

func FuzzReferencedIDs(f *testing.F) {
	for _, raw := range corpusMessages(f, corpusSeeds) {
		f.Add(rawHeader(raw, "References"), rawHeader(raw, "In-Reply-To"))
	}
	f.Add("<a@x>,<b@x>\r\n <c@\r\n x>", "Your message of \"Fri\" <d@x> (comment")
	f.Add("<a@x> <trunc@", "mumble")

	f.Fuzz(func(t *testing.T, references, inReplyTo string) {
		ids := ReferencedIDs(references, inReplyTo)
		if len(ids) > MaxReferencedIDs {
			t.Fatalf("ReferencedIDs(%q, %q) returned %d ids, want at most %d", references, inReplyTo, len(ids), MaxReferencedIDs)
		}
		for i, id := range ids {
			if id == "" || strings.ContainsAny(id, "<> \t\r\n") || id != strings.ToLower(id) {
				t.Errorf("ReferencedIDs(%q, %q)[%d] = %q, want a canonical id", references, inReplyTo, i, id)
			}
			if got := CanonicalMessageID("<" + id + ">"); got != id {
				t.Errorf("CanonicalMessageID(<%s>) = %q, want %q", id, got, id)
			}
			if slices.Index(ids, id) != i {
				t.Errorf("ReferencedIDs(%q, %q) = %q, want no duplicates", references, inReplyTo, ids)
			}
		}
	})
}

func FuzzFindTag(f *testing.F) {
	for _, raw := range corpusMessages(f, corpusSeeds) {
		f.Add(rawHeader(raw, "Subject"), int64(len(raw)))
	}
	f.Add("Re: [Support #1042] VPN down", int64(1042))
	f.Add("AW: [support#7] [list] Fwd: x (fwd)", int64(7))
	f.Add("[fwd: [Support #1] Re: y]", int64(-3))

	f.Fuzz(func(t *testing.T, subject string, n int64) {
		const tag = "Support"
		if got, ok := FindTag(subject, tag); ok && got <= 0 {
			t.Errorf("FindTag(%q) = %d, true, want a positive number", subject, got)
		}
		base := BaseSubject(subject)
		if again := BaseSubject(base); again != base {
			t.Errorf("BaseSubject(%q) = %q, but BaseSubject(%q) = %q: want idempotent", subject, base, base, again)
		}
		if base != strings.TrimSpace(base) {
			t.Errorf("BaseSubject(%q) = %q, want no surrounding space", subject, base)
		}
		if n <= 0 {
			return
		}
		tagged := TagSubject(tag, n, subject)
		if got, ok := FindTag(tagged, tag); !ok || got != n {
			t.Errorf("FindTag(TagSubject(%q, %d, %q) = %q) = %d, %v, want %d, true", tag, n, subject, tagged, got, ok, n)
		}
		if again := TagSubject(tag, n, tagged); again != tagged {
			t.Errorf("TagSubject(%q, %d, %q) = %q, want it unchanged", tag, n, tagged, again)
		}
	})
}

func FuzzExtractReply(f *testing.F) {
	for _, raw := range corpusMessages(f, corpusSeeds) {
		if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
			f.Add(string(raw[i+2:]))
		}
	}
	for _, s := range []string{
		"Hello\n\nOn Mon, Apr 2, 2012 at 6:26 PM, Bob <\nbob@example.com> wrote:\n\n> Hi\n",
		"Hi\r\n\r\nDe\u00a0: Jean\r\nEnvoyé\u00a0: lundi\r\n",
		"> q\na\n> q2\n",
		"On Mon, 3 Apr 2023, Bob wrote:\n> Hi\nHello\n-- \nAlice\nSent from my iPhone\n",
		"\r\r>\r--\r",
	} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, text string) {
		r := ExtractReply(text)
		if len(r) > len(text) || !strings.Contains(text, r) {
			t.Errorf("ExtractReply(%q) = %q, want a substring of the input", text, r)
		}
		if r == "" && strings.TrimSpace(text) != "" {
			t.Errorf("ExtractReply(%q) = \"\", want non-empty for a non-blank text", text)
		}
		if s := StripSignature(text); !strings.HasPrefix(text, s) {
			t.Errorf("StripSignature(%q) = %q, want a prefix of the input", text, s)
		}
	})
}
