package threading

import (
	"slices"
	"strings"
	"testing"
)

// fakeDesk is an in-memory answer to the Lookup questions.
type fakeDesk struct {
	messages     map[string]int64          // canonical Message-ID -> ticket
	tickets      map[int64]bool            // existing tickets
	participants map[int64]map[string]bool // ticket -> lower-case addresses
}

func (f fakeDesk) lookup() Lookup {
	return Lookup{
		MessageTicket: func(id string) (int64, bool) { t, ok := f.messages[id]; return t, ok },
		TicketExists:  func(t int64) bool { return f.tickets[t] },
		IsParticipant: func(t int64, addr string) bool { return f.participants[t][addr] },
	}
}

func newTestMatcher(tb testing.TB) *Matcher {
	tb.Helper()
	return &Matcher{
		Signer:    newTestSigner(tb, testSecret),
		Addresses: []string{"support@example.com", "Incidents@Example.com"},
		Tag:       "Support",
	}
}

func TestMatch(t *testing.T) {
	m := newTestMatcher(t)
	s := m.Signer
	other := newTestSigner(t, []byte("another-secret-of-enough-bytes"))
	desk := fakeDesk{
		messages: map[string]int64{"known-7@client.example": 7, "known-8@client.example": 8},
		tickets:  map[int64]bool{7: true, 8: true, 1042: true},
		participants: map[int64]map[string]bool{
			1042: {"carol@customer.example": true},
		},
	}
	custTok := s.ReplyToken(1042, "")
	agentTok := s.ReplyToken(1042, "alice@example.com")
	hmID := s.MessageID(1042, "example.com")
	hmGone := s.MessageID(555, "example.com")
	forgedTok := custTok[:len(custTok)-2] + "zz"

	tests := []struct {
		name      string
		in        Input
		nilLookup bool     // use Lookup{} instead of the fake desk
		want      Decision // Notes compared separately
		wantNotes []string // each must be a substring of one note
	}{
		{
			name: "customer token",
			in:   Input{Recipients: []string{"support+" + custTok + "@example.com"}, From: "carol@customer.example"},
			want: Decision{Rule: RuleToken, Ticket: 1042, Address: "support@example.com"},
		},
		{
			name: "agent token",
			in:   Input{Recipients: []string{"support+" + agentTok + "@example.com"}, From: "alice@example.com"},
			want: Decision{Rule: RuleToken, Ticket: 1042, AgentKey: s.AgentKey("alice@example.com"), Address: "support@example.com"},
		},
		{
			name: "token upper-cased by an MTA, display-name form",
			in:   Input{Recipients: []string{"Support <SUPPORT+" + strings.ToUpper(custTok) + "@EXAMPLE.COM>"}},
			want: Decision{Rule: RuleToken, Ticket: 1042, Address: "support@example.com"},
		},
		{
			name: "token on the second support address",
			in:   Input{Recipients: []string{"someone@else.example", "incidents+" + custTok + "@example.com"}},
			want: Decision{Rule: RuleToken, Ticket: 1042, Address: "incidents@example.com"},
		},
		{
			name: "token beats reference and tag",
			in: Input{Recipients: []string{"support+" + custTok + "@example.com"}, References: []string{"known-7@client.example"},
				Subject: "[Support #8] x", From: "carol@customer.example"},
			want: Decision{Rule: RuleToken, Ticket: 1042, Address: "support@example.com"},
		},
		{
			name:      "forged token falls through to reference",
			in:        Input{Recipients: []string{"support+" + forgedTok + "@example.com"}, References: []string{"known-7@client.example"}},
			want:      Decision{Rule: RuleReference, Ticket: 7, Address: "support@example.com"},
			wantNotes: []string{"token: reply token on support+" + forgedTok + "@example.com failed verification"},
		},
		{
			name:      "token under another secret",
			in:        Input{Recipients: []string{"support+" + other.ReplyToken(1042, "") + "@example.com"}},
			want:      Decision{Rule: RuleNew, Address: "support@example.com"},
			wantNotes: []string{"failed verification", "reference: message has no In-Reply-To or References", "tag: subject has no [Support #n] tag"},
		},
		{
			name:      "token for a ticket that does not exist",
			in:        Input{Recipients: []string{"support+" + s.ReplyToken(999, "") + "@example.com"}},
			want:      Decision{Rule: RuleNew, Address: "support@example.com"},
			wantNotes: []string{"names ticket #999, which does not exist"},
		},
		{
			name:      "token on a foreign domain is ignored",
			in:        Input{Recipients: []string{"support+" + custTok + "@evil.example"}},
			want:      Decision{Rule: RuleNew, Address: "support@example.com"},
			wantNotes: []string{"token: no recipient is a +token sub-address"},
		},
		{
			name:      "requests detail is not a token",
			in:        Input{Recipients: []string{"support+requests@example.com"}, From: "carol@customer.example"},
			want:      Decision{Rule: RuleNew, Address: "support@example.com"},
			wantNotes: []string{`token: support+requests@example.com: detail "requests" is not a reply token`},
		},
		{
			name: "first known reference wins, nearest first",
			in:   Input{References: []string{"unknown@x", "known-8@client.example", "known-7@client.example"}},
			want: Decision{Rule: RuleReference, Ticket: 8, Address: "support@example.com"},
		},
		{
			name: "a stored message beats a nearer helpmail id",
			in:   Input{References: []string{hmID, "known-7@client.example"}},
			want: Decision{Rule: RuleReference, Ticket: 7, Address: "support@example.com"},
		},
		{
			name: "helpmail id not in the database (restore)",
			in:   Input{Recipients: []string{"incidents@example.com"}, References: []string{"unknown@x", "<" + strings.ToUpper(hmID) + ">"}},
			want: Decision{Rule: RuleReference, Ticket: 1042, Address: "incidents@example.com"},
		},
		{
			name:      "helpmail id of a ticket that does not exist",
			in:        Input{References: []string{hmGone}},
			want:      Decision{Rule: RuleNew, Address: "support@example.com"},
			wantNotes: []string{"reference: <" + hmGone + "> names ticket #555, which does not exist"},
		},
		{
			name:      "forged helpmail id",
			in:        Input{References: []string{strings.Replace(hmID, "hm.1042.", "hm.1043.", 1)}},
			want:      Decision{Rule: RuleNew, Address: "support@example.com"},
			wantNotes: []string{"looks like a helpmail id but failed verification"},
		},
		{
			name:      "helpmail id under another secret",
			in:        Input{References: []string{other.MessageID(1042, "example.com")}},
			want:      Decision{Rule: RuleNew, Address: "support@example.com"},
			wantNotes: []string{"failed verification"},
		},
		{
			name:      "unknown references fall through to tag",
			in:        Input{References: []string{"a@x", "b@x"}, Subject: "Re: [Support #1042] VPN", From: "Carol@Customer.example"},
			want:      Decision{Rule: RuleTag, Ticket: 1042, Address: "support@example.com"},
			wantNotes: []string{"reference: <a@x> unknown", "reference: <b@x> unknown"},
		},
		{
			name:      "many unknown references are summarised",
			in:        Input{References: []string{"a@x", "b@x", "c@x", "d@x", "e@x", "f@x", "g@x"}},
			want:      Decision{Rule: RuleNew, Address: "support@example.com"},
			wantNotes: []string{"reference: <e@x> unknown", "reference: 2 more unknown ids"},
		},
		{
			name:      "tag from a non-participant opens a new ticket",
			in:        Input{Subject: "[Support #1042] VPN", From: "mallory@evil.example"},
			want:      Decision{Rule: RuleNew, Address: "support@example.com"},
			wantNotes: []string{`tag: subject tag #1042 ignored: sender "mallory@evil.example" is not a participant`},
		},
		{
			name:      "tag without a sender",
			in:        Input{Subject: "[Support #1042] VPN"},
			want:      Decision{Rule: RuleNew, Address: "support@example.com"},
			wantNotes: []string{"is not a participant"},
		},
		{
			name:      "tag of a ticket that does not exist",
			in:        Input{Subject: "[Support #4242] VPN", From: "carol@customer.example"},
			want:      Decision{Rule: RuleNew, Address: "support@example.com"},
			wantNotes: []string{"tag: subject tag #4242 ignored: no such ticket"},
		},
		{
			name: "new ticket on the incidents address",
			in:   Input{Recipients: []string{"INCIDENTS@example.com", "support@example.com"}, Subject: "Server down", From: "carol@customer.example"},
			want: Decision{Rule: RuleNew, Address: "incidents@example.com"},
		},
		{
			name: "no support recipient: first configured address",
			in:   Input{Recipients: []string{"list@lists.example"}},
			want: Decision{Rule: RuleNew, Address: "support@example.com"},
		},
		{
			name:      "nil lookups answer unknown",
			in:        Input{Recipients: []string{"support+" + custTok + "@example.com"}, References: []string{"known-7@client.example"}, Subject: "[Support #1042]", From: "carol@customer.example"},
			nilLookup: true,
			want:      Decision{Rule: RuleNew, Address: "support@example.com"},
			wantNotes: []string{"names ticket #1042, which does not exist", "no such ticket"},
		},
	}
	for _, tt := range tests {
		look := desk.lookup()
		if tt.nilLookup {
			look = Lookup{}
		}
		got := m.Match(tt.in, look)
		notes := got.Notes
		got.Notes = nil
		if !equalDecision(got, tt.want) {
			t.Errorf("%s: Match(%+v) = %+v, want %+v (notes %q)", tt.name, tt.in, got, tt.want, notes)
		}
		for _, w := range tt.wantNotes {
			if !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, w) }) {
				t.Errorf("%s: Match(%+v).Notes = %q, want a note containing %q", tt.name, tt.in, notes, w)
			}
		}
		if got.Rule == RuleToken && len(notes) != 0 {
			t.Errorf("%s: Match(%+v).Notes = %q, want none for the first rule", tt.name, tt.in, notes)
		}
	}
}

func equalDecision(a, b Decision) bool {
	return a.Rule == b.Rule && a.Ticket == b.Ticket && a.AgentKey == b.AgentKey && a.Address == b.Address
}

func TestMatchWithoutSigner(t *testing.T) {
	m := &Matcher{Addresses: []string{"support@example.com"}, Tag: "Support"}
	signer := newTestSigner(t, testSecret)
	desk := fakeDesk{tickets: map[int64]bool{1042: true}}
	in := Input{
		Recipients: []string{"support+" + signer.ReplyToken(1042, "") + "@example.com"},
		References: []string{signer.MessageID(1042, "example.com")},
	}
	got := m.Match(in, desk.lookup())
	if got.Rule != RuleNew || got.Ticket != 0 {
		t.Errorf("Match(%+v) without Signer = %+v, want rule new", in, got)
	}
	if !slices.ContainsFunc(got.Notes, func(n string) bool { return strings.Contains(n, "no signer configured") }) {
		t.Errorf("Match(%+v) without Signer notes = %q, want one saying no signer is configured", in, got.Notes)
	}
}

func TestParseAddress(t *testing.T) {
	m := &Matcher{Addresses: []string{"support@example.com", "Incidents@Example.com", "help+desk@example.org", "help@example.org"}}
	tests := []struct {
		addr, base, detail string
		ok                 bool
	}{
		{"support@example.com", "support@example.com", "", true},
		{"SUPPORT@EXAMPLE.COM", "support@example.com", "", true},
		{" <support@example.com> ", "support@example.com", "", true},
		{"Support Desk <support+Requests@example.com>", "support@example.com", "requests", true},
		{"support+billing@example.com", "support@example.com", "billing", true},
		{"support+1042-abc@example.com", "support@example.com", "1042-abc", true},
		{"support+a+b@example.com", "support@example.com", "a+b", true},
		{"incidents+x@EXAMPLE.com", "incidents@example.com", "x", true},
		{"help+desk@example.org", "help+desk@example.org", "", true},
		{"help+desk+tok@example.org", "help+desk@example.org", "tok", true},
		{"help+other@example.org", "help@example.org", "other", true},
		{"support@example.org", "", "", false},
		{"supportx@example.com", "", "", false},
		{"support+x@evil.example", "", "", false},
		{"xsupport+x@example.com", "", "", false},
		{"support", "", "", false},
		{"@example.com", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		base, detail, ok := m.ParseAddress(tt.addr)
		if base != tt.base || detail != tt.detail || ok != tt.ok {
			t.Errorf("ParseAddress(%q) = %q, %q, %v, want %q, %q, %v", tt.addr, base, detail, ok, tt.base, tt.detail, tt.ok)
		}
	}
}
