package threading

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MinSecretLen is the shortest secret NewSigner accepts, in bytes.
const MinSecretLen = 16

// ErrShortSecret is returned (wrapped) by NewSigner when the secret is
// shorter than MinSecretLen bytes.
var ErrShortSecret = errors.New("threading: secret too short")

// Lengths of the encoded parts of tokens, in base32 characters.
const (
	macLen      = 16 // 10 bytes (80 bits) of HMAC-SHA256
	agentKeyLen = 8  // 5 bytes of HMAC-SHA256
	randLen     = 13 // 8 random bytes in a Message-ID
)

// MAC labels: one per token kind, so a token of one kind never verifies as
// another.
const (
	labelReply  = "helpmail reply token"
	labelAgent  = "helpmail agent key"
	labelMsgID  = "helpmail message-id"
	labelBounce = "helpmail bounce token"
)

// b32 is the token alphabet: lower-case RFC 4648 base32 without padding,
// which survives a case change once lower-cased again. It is never modified.
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Signer mints and verifies the HMAC-authenticated tokens helpmail hands
// out: reply tokens, ticket tokens inside Message-IDs and bounce tokens.
// Create it with NewSigner; the zero value has no secret and verifies
// nothing. A Signer is safe for concurrent use if Rand is.
type Signer struct {
	// Rand is the source of the random part of minted Message-IDs. Nil
	// means crypto/rand. Tests set a deterministic reader. Reading from it
	// must not fail: MessageID panics if it does.
	Rand io.Reader

	secret []byte
}

// NewSigner returns a Signer keyed with a copy of secret. The secret must be
// at least MinSecretLen bytes; otherwise the error wraps ErrShortSecret.
// Changing the secret invalidates every token handed out before.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("%w: %d bytes, want at least %d", ErrShortSecret, len(secret), MinSecretLen)
	}
	return &Signer{secret: bytes.Clone(secret)}, nil
}

// ReplyToken is what a verified reply token says.
type ReplyToken struct {
	// Ticket is the ticket number the token was minted for (> 0).
	Ticket int64
	// AgentKey is the keyed agent key (see Signer.AgentKey) of the agent the
	// token was minted for, or "" for a customer token.
	AgentKey string
}

// ReplyToken returns the token for the local-part detail of a Reply-To
// address, support+<token>@domain. With agent "" it is the customer token
// of the ticket; otherwise it is the token of the agent with that email
// address (compared case-insensitively). The token carries the agent's
// keyed AgentKey, never the address. Form: "<ticket>-<mac>" or
// "<ticket>-<agentkey>-<mac>". ticket must be positive: a token minted for
// any other number never verifies.
func (s *Signer) ReplyToken(ticket int64, agent string) string {
	t := strconv.FormatInt(ticket, 10)
	key := s.AgentKey(agent)
	if key == "" {
		return t + "-" + s.mac(labelReply, t, "")
	}
	return t + "-" + key + "-" + s.mac(labelReply, t, key)
}

// ParseReplyToken verifies a token made by ReplyToken and says what it
// names. It reports false for anything forged, damaged, minted under
// another secret or not a reply token at all. Case is ignored, since MTAs
// may change the case of the local part. It does not check that the ticket
// exists.
func (s *Signer) ParseReplyToken(tok string) (ReplyToken, bool) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(tok)), "-")
	if len(parts) != 2 && len(parts) != 3 {
		return ReplyToken{}, false
	}
	ticket, ok := parseTicket(parts[0])
	if !ok {
		return ReplyToken{}, false
	}
	key := ""
	if len(parts) == 3 {
		key = parts[1]
		if len(key) != agentKeyLen {
			return ReplyToken{}, false
		}
	}
	if !s.verify(parts[len(parts)-1], labelReply, parts[0], key) {
		return ReplyToken{}, false
	}
	return ReplyToken{Ticket: ticket, AgentKey: key}, true
}

// AgentKey returns the short keyed key a reply token carries for the agent
// with email address addr (case-insensitive; surrounding space and angle
// brackets are ignored). The desk compares AgentKey(From) with
// ReplyToken.AgentKey to see whether the token was handed to the sender.
// It returns "" for an empty address, which is also what a customer token
// carries.
func (s *Signer) AgentKey(addr string) string {
	a := normAddr(addr)
	if a == "" {
		return ""
	}
	return s.macN(agentKeyLen, labelAgent, a)
}

// MessageID mints a new, unique Message-ID in canonical form (lower-case,
// no angle brackets) that embeds an authenticated ticket token:
// "hm.<ticket>.<random>.<mac>@<domain>". The random part comes from Rand
// (crypto/rand when nil). An empty domain is replaced by "invalid".
// TicketFromMessageID recovers the ticket, so a reply threads even when
// the message it answers is no longer in the database.
func (s *Signer) MessageID(ticket int64, domain string) string {
	r := s.Rand
	if r == nil {
		r = rand.Reader
	}
	var buf [8]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		panic(fmt.Sprintf("threading: read random bytes for message-id: %v", err))
	}
	domain = strings.ToLower(strings.TrimSpace(domain))
	if domain == "" {
		domain = "invalid"
	}
	t := strconv.FormatInt(ticket, 10)
	rnd := b32.EncodeToString(buf[:])
	return "hm." + t + "." + rnd + "." + s.mac(labelMsgID, t, rnd) + "@" + domain
}

// TicketFromMessageID verifies an id minted by MessageID, in canonical or
// bracketed form and in any case, whatever its domain, and returns the
// ticket it embeds. It reports false for every other id.
func (s *Signer) TicketFromMessageID(id string) (int64, bool) {
	c := CanonicalMessageID(id)
	at := strings.LastIndexByte(c, '@')
	if at < 0 {
		return 0, false
	}
	parts := strings.Split(c[:at], ".")
	if len(parts) != 4 || parts[0] != "hm" || len(parts[2]) != randLen {
		return 0, false
	}
	ticket, ok := parseTicket(parts[1])
	if !ok || !s.verify(parts[3], labelMsgID, parts[1], parts[2]) {
		return 0, false
	}
	return ticket, true
}

// BounceToken returns the VERP detail for the envelope sender of outbox
// message outboxID: bounces+<token>@domain, form "<outboxID>-<mac>".
// outboxID must be positive.
func (s *Signer) BounceToken(outboxID int64) string {
	id := strconv.FormatInt(outboxID, 10)
	return id + "-" + s.mac(labelBounce, id)
}

// ParseBounceToken verifies a token made by BounceToken (case-insensitive)
// and returns its outbox id; false for anything else, including reply
// tokens.
func (s *Signer) ParseBounceToken(tok string) (int64, bool) {
	id, mac, ok := strings.Cut(strings.ToLower(strings.TrimSpace(tok)), "-")
	if !ok {
		return 0, false
	}
	n, ok := parseTicket(id)
	if !ok || !s.verify(mac, labelBounce, id) {
		return 0, false
	}
	return n, true
}

// mac returns the encoded MAC of fields under label.
func (s *Signer) mac(label string, fields ...string) string {
	return s.macN(macLen, label, fields...)
}

// macN returns the first n base32 characters of HMAC-SHA256(secret, label,
// fields), each field length-prefixed so that no two field lists collide.
func (s *Signer) macN(n int, label string, fields ...string) string {
	h := hmac.New(sha256.New, s.secret)
	var msg []byte
	msg = binary.AppendUvarint(msg, uint64(len(label)))
	msg = append(msg, label...)
	for _, f := range fields {
		msg = binary.AppendUvarint(msg, uint64(len(f)))
		msg = append(msg, f...)
	}
	h.Write(msg)
	return b32.EncodeToString(h.Sum(nil))[:n]
}

// verify reports whether got is the MAC of fields under label. A Signer
// without a secret verifies nothing.
func (s *Signer) verify(got, label string, fields ...string) bool {
	if s == nil || len(s.secret) == 0 || len(got) != macLen {
		return false
	}
	return hmac.Equal([]byte(got), []byte(s.mac(label, fields...)))
}

// parseTicket parses a canonical positive decimal: digits only, no leading
// zero, fits in int64.
func parseTicket(s string) (int64, bool) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// normAddr returns an email address in the form used for comparisons:
// surrounding space removed, the part inside the last <...> taken when
// present, lower-cased.
func normAddr(addr string) string {
	a := strings.TrimSpace(addr)
	if strings.HasSuffix(a, ">") {
		if i := strings.LastIndexByte(a, '<'); i >= 0 {
			a = strings.TrimSpace(a[i+1 : len(a)-1])
		}
	}
	return strings.ToLower(a)
}
