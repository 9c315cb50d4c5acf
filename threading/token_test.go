package threading

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestNewSigner(t *testing.T) {
	tests := []struct {
		secret  []byte
		wantErr error
	}{
		{nil, ErrShortSecret},
		{[]byte(""), ErrShortSecret},
		{[]byte("fifteen-bytes!!"), ErrShortSecret},
		{[]byte("sixteen-bytes!!!"), nil},
		{testSecret, nil},
	}
	for _, tt := range tests {
		s, err := NewSigner(tt.secret)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("NewSigner(%q) error = %v, want %v", tt.secret, err, tt.wantErr)
		}
		if (s == nil) != (tt.wantErr != nil) {
			t.Errorf("NewSigner(%q) = %v, want a Signer only without error", tt.secret, s)
		}
	}
}

func TestNewSignerCopiesSecret(t *testing.T) {
	secret := bytes.Clone(testSecret)
	s := newTestSigner(t, secret)
	tok := s.ReplyToken(7, "")
	secret[0] ^= 0xff
	if _, ok := s.ParseReplyToken(tok); !ok {
		t.Errorf("ParseReplyToken(%q) after the caller changed its secret slice = false, want true", tok)
	}
}

func TestReplyTokenRoundTrip(t *testing.T) {
	s := newTestSigner(t, testSecret)
	tests := []struct {
		ticket int64
		agent  string
	}{
		{1, ""},
		{1042, ""},
		{math.MaxInt64, ""},
		{1042, "alice@example.com"},
		{1042, "  <Alice@Example.COM> "},
		{99, "bob@example.org"},
	}
	for _, tt := range tests {
		tok := s.ReplyToken(tt.ticket, tt.agent)
		if tok != strings.ToLower(tok) || strings.ContainsAny(tok, "+@. ") {
			t.Errorf("ReplyToken(%d, %q) = %q, want lower-case letters, digits and '-' only", tt.ticket, tt.agent, tok)
		}
		wantKey := s.AgentKey(tt.agent)
		for _, variant := range []string{tok, strings.ToUpper(tok), " " + tok + " "} {
			got, ok := s.ParseReplyToken(variant)
			want := ReplyToken{Ticket: tt.ticket, AgentKey: wantKey}
			if !ok || got != want {
				t.Errorf("ParseReplyToken(%q) = %+v, %v, want %+v, true", variant, got, ok, want)
			}
		}
	}
}

func TestReplyTokenAgentVsCustomer(t *testing.T) {
	s := newTestSigner(t, testSecret)
	customer := s.ReplyToken(1042, "")
	alice := s.ReplyToken(1042, "alice@example.com")
	if customer == alice {
		t.Fatalf("ReplyToken(1042, \"\") = ReplyToken(1042, alice) = %q, want different tokens", customer)
	}
	if strings.Contains(alice, "alice") {
		t.Errorf("ReplyToken(1042, alice) = %q, want no trace of the address", alice)
	}
	if got, want := s.AgentKey("ALICE@example.com"), s.AgentKey("alice@example.com"); got != want || len(got) != agentKeyLen {
		t.Errorf("AgentKey(ALICE@example.com) = %q, want %q (%d chars)", got, want, agentKeyLen)
	}
	if got := s.AgentKey("bob@example.com"); got == s.AgentKey("alice@example.com") {
		t.Errorf("AgentKey(bob) = AgentKey(alice) = %q, want different keys", got)
	}
	if got := s.AgentKey(" "); got != "" {
		t.Errorf("AgentKey(\" \") = %q, want \"\"", got)
	}
	// Grafting an agent key onto a customer token must not verify.
	num, mac, _ := strings.Cut(customer, "-")
	grafted := num + "-" + s.AgentKey("alice@example.com") + "-" + mac
	if got, ok := s.ParseReplyToken(grafted); ok {
		t.Errorf("ParseReplyToken(%q) = %+v, true, want false", grafted, got)
	}
}

func TestParseReplyTokenRejects(t *testing.T) {
	s := newTestSigner(t, testSecret)
	other := newTestSigner(t, []byte("another-secret-of-enough-bytes"))
	good := s.ReplyToken(1042, "")
	agent := s.ReplyToken(1042, "alice@example.com")
	num, mac, _ := strings.Cut(good, "-")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	tests := []struct {
		name, tok string
	}{
		{"empty", ""},
		{"ticket only", "1042"},
		{"forged mac", num + "-" + flip(mac, 3)},
		{"forged agent mac", flip(agent, len(agent)-1)},
		{"other ticket, same mac", "1043-" + mac},
		{"leading zero", "0" + good},
		{"plus sign", "+" + good},
		{"negative", "-" + good},
		{"truncated", good[:len(good)-1]},
		{"extra char", good + "a"},
		{"extra part", good + "-x"},
		{"wrong secret", other.ReplyToken(1042, "")},
		{"wrong secret agent", other.ReplyToken(1042, "alice@example.com")},
		{"bounce token", s.BounceToken(1042)},
		{"zero ticket", s.ReplyToken(0, "")},
		{"negative ticket", s.ReplyToken(-5, "")},
		{"detail word", "requests"},
		{"short agent key", num + "-abc-" + mac},
	}
	for _, tt := range tests {
		if got, ok := s.ParseReplyToken(tt.tok); ok {
			t.Errorf("%s: ParseReplyToken(%q) = %+v, true, want false", tt.name, tt.tok, got)
		}
	}
	var zero Signer
	if got, ok := zero.ParseReplyToken(good); ok {
		t.Errorf("zero Signer: ParseReplyToken(%q) = %+v, true, want false", good, got)
	}
}

func TestBounceToken(t *testing.T) {
	s := newTestSigner(t, testSecret)
	other := newTestSigner(t, []byte("another-secret-of-enough-bytes"))
	for _, id := range []int64{1, 77, math.MaxInt64} {
		tok := s.BounceToken(id)
		for _, variant := range []string{tok, strings.ToUpper(tok)} {
			if got, ok := s.ParseBounceToken(variant); !ok || got != id {
				t.Errorf("ParseBounceToken(%q) = %d, %v, want %d, true", variant, got, ok, id)
			}
		}
		if got, ok := other.ParseBounceToken(tok); ok {
			t.Errorf("other secret: ParseBounceToken(%q) = %d, true, want false", tok, got)
		}
	}
	for _, tok := range []string{"", "77", "77-", s.ReplyToken(77, ""), "078-" + strings.SplitN(s.BounceToken(78), "-", 2)[1]} {
		if got, ok := s.ParseBounceToken(tok); ok {
			t.Errorf("ParseBounceToken(%q) = %d, true, want false", tok, got)
		}
	}
}

func TestMessageID(t *testing.T) {
	s := newTestSigner(t, testSecret)
	s.Rand = bytes.NewReader([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	id := s.MessageID(1042, "Example.COM")
	const want = "hm.1042.aaaqeayeaudao." // base32 of bytes 0..7
	if !strings.HasPrefix(id, want) || !strings.HasSuffix(id, "@example.com") {
		t.Errorf("MessageID(1042, Example.COM) = %q, want prefix %q and suffix @example.com", id, want)
	}
	if id != CanonicalMessageID(id) {
		t.Errorf("MessageID(1042, Example.COM) = %q, not canonical (%q)", id, CanonicalMessageID(id))
	}
	if again := s.MessageID(1042, "example.com"); again == id {
		t.Errorf("MessageID twice = %q both times, want different ids", id)
	}
	s.Rand = nil
	a, b := s.MessageID(5, "example.com"), s.MessageID(5, "example.com")
	if a == b {
		t.Errorf("MessageID(5) twice with crypto/rand = %q both times", a)
	}
	if got := s.MessageID(5, ""); !strings.HasSuffix(got, "@invalid") {
		t.Errorf("MessageID(5, \"\") = %q, want domain invalid", got)
	}
}

func TestMessageIDPanicsOnFailingRand(t *testing.T) {
	s := newTestSigner(t, testSecret)
	s.Rand = bytes.NewReader([]byte{1, 2, 3})
	defer func() {
		if recover() == nil {
			t.Errorf("MessageID with a 3-byte Rand did not panic")
		}
	}()
	s.MessageID(1, "example.com")
}

func TestTicketFromMessageID(t *testing.T) {
	s := newTestSigner(t, testSecret)
	other := newTestSigner(t, []byte("another-secret-of-enough-bytes"))
	id := s.MessageID(1042, "example.com")
	local, _, _ := strings.Cut(id, "@")
	parts := strings.Split(local, ".")
	tests := []struct {
		id   string
		want int64
		ok   bool
	}{
		{id, 1042, true},
		{"<" + id + ">", 1042, true},
		{" <" + strings.ToUpper(id) + "> ", 1042, true},
		{local + "@other.example", 1042, true},
		{"hm.1043." + parts[2] + "." + parts[3] + "@example.com", 0, false},
		{"hm.1042." + parts[2] + "." + strings.Repeat("a", macLen) + "@example.com", 0, false},
		{"hm.01042." + parts[2] + "." + parts[3] + "@example.com", 0, false},
		{local, 0, false},
		{other.MessageID(1042, "example.com"), 0, false},
		{"CAKsfaBW4hj0Gek6TwbR3erng4P1y0CZzJ0d=pXtCNnYnbe7PLg@mail.gmail.com", 0, false},
		{"", 0, false},
		{"<hm.1042@example.com>", 0, false},
	}
	for _, tt := range tests {
		got, ok := s.TicketFromMessageID(tt.id)
		if got != tt.want || ok != tt.ok {
			t.Errorf("TicketFromMessageID(%q) = %d, %v, want %d, %v", tt.id, got, ok, tt.want, tt.ok)
		}
	}
}
