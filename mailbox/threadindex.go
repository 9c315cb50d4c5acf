package mailbox

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"io"
	"strings"
	"time"
)

// Thread-Index layout ([MS-OXOMSG] 2.2.1.3, PidTagConversationIndex).
const (
	threadHeaderLen = 22  // reserved byte, 5 time bytes, 16-byte GUID
	threadChildLen  = 5   // one response level
	maxThreadIndex  = 700 // a longer parent is not continued (keeps the header line under 998)
	// filetimeEpoch is 1601-01-01 UTC in Unix seconds: FILETIME counts 100 ns
	// intervals from there.
	filetimeEpoch = -11644473600
)

// ThreadIndex returns the Thread-Index header value (base64) for a message
// helpmail sends, so that Outlook groups it with its conversation.
//
// When parent (the Thread-Index of the message answered) is a valid index
// — base64 of a 22-byte header block followed by 5-byte child blocks — the
// result is parent plus one child block: a flag bit, 31 bits of the time
// elapsed since the time in the parent's header block (bits 18–48 of the
// FILETIME difference, or bits 23–53 with the flag set when that is too
// long), and 8 random bits. Otherwise it is a new 22-byte header block:
// 0x01, the 40 high bits of now as a FILETIME (bits 24–63, big-endian) and
// a 16-byte GUID from random. A nil random means crypto/rand; if random
// fails, the GUID is derived from now. Parents in the older Outlook layout
// (6 bytes of FILETIME>>16 with no reserved byte) are read correctly.
func ThreadIndex(parent string, now time.Time, random io.Reader) string {
	if random == nil {
		random = rand.Reader
	}
	if p, ok := decodeThreadIndex(parent); ok {
		var r [1]byte
		if _, err := io.ReadFull(random, r[:]); err != nil {
			r[0] = byte(now.UnixNano())
		}
		delta := uint64(0)
		if ft := filetime(now); ft > headerTime(p) {
			delta = ft - headerTime(p)
		}
		var code uint64
		if delta < 1<<49 {
			code = (delta >> 18) & 0x7fffffff
		} else {
			code = 1<<31 | min(delta>>23, 0x7fffffff)
		}
		child := code<<8 | uint64(r[0])
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], child)
		return base64.StdEncoding.EncodeToString(append(p, b[3:]...))
	}
	h := make([]byte, threadHeaderLen)
	var ft [8]byte
	binary.BigEndian.PutUint64(ft[:], filetime(now))
	h[0] = 0x01
	copy(h[1:6], ft[:5])
	if _, err := io.ReadFull(random, h[6:]); err != nil {
		sum := sha256.Sum256([]byte(now.String()))
		copy(h[6:], sum[:])
	}
	return base64.StdEncoding.EncodeToString(h)
}

// decodeThreadIndex decodes a Thread-Index value and checks its shape.
func decodeThreadIndex(v string) ([]byte, bool) {
	v = strings.Join(strings.Fields(v), "")
	if v == "" || len(v) > maxThreadIndex*4/3+4 {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(v, "=")); err != nil {
			return nil, false
		}
	}
	if len(b) < threadHeaderLen || (len(b)-threadHeaderLen)%threadChildLen != 0 {
		return nil, false
	}
	return b, true
}

// headerTime returns the FILETIME stored in an index's header block. The
// documented layout is 0x01 then FILETIME bits 24–63; classic Outlook
// writes FILETIME bits 16–63 in the first six bytes, whose first byte is
// also 0x01 for current dates, so the second byte tells them apart (it is
// FILETIME's top byte, 0x01, only in the documented layout).
func headerTime(p []byte) uint64 {
	var b [8]byte
	if p[1] == 0x01 {
		copy(b[:5], p[1:6])
	} else {
		copy(b[:6], p[:6])
	}
	return binary.BigEndian.Uint64(b[:])
}

// filetime converts t to a Windows FILETIME (100 ns since 1601 UTC).
func filetime(t time.Time) uint64 {
	return uint64(t.Unix()-filetimeEpoch)*10_000_000 + uint64(t.Nanosecond()/100)
}
