package mailbox

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// fixedRandom returns the same byte forever.
type fixedRandom byte

func (f fixedRandom) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(f)
	}
	return len(p), nil
}

// failingRandom always fails.
type failingRandom struct{}

func (failingRandom) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func decode(tb testing.TB, v string) []byte {
	tb.Helper()
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		tb.Fatalf("Thread-Index %q is not base64: %v", v, err)
	}
	return b
}

// childTime decodes the time a child block records, relative to the
// parent header (the inverse of what ThreadIndex computes).
func childTime(tb testing.TB, index []byte, child int) time.Time {
	tb.Helper()
	block := index[threadHeaderLen+child*threadChildLen : threadHeaderLen+(child+1)*threadChildLen]
	var v uint64
	for _, c := range block {
		v = v<<8 | uint64(c)
	}
	delta := (v >> 8) & 0x7fffffff << 18
	if v>>39 == 1 {
		delta = (v >> 8) & 0x7fffffff << 23
	}
	ft := headerTime(index) + delta
	return time.Unix(int64(ft/10_000_000)+filetimeEpoch, int64(ft%10_000_000)*100)
}

func TestThreadIndexNew(t *testing.T) {
	now := time.Date(2024, 3, 5, 14, 7, 9, 0, time.UTC)
	for _, parent := range []string{"", "not base64!", "AQID", base64.StdEncoding.EncodeToString(make([]byte, 25))} {
		got := decode(t, ThreadIndex(parent, now, fixedRandom(0xab)))
		if len(got) != threadHeaderLen || got[0] != 0x01 || !bytes.Equal(got[6:], bytes.Repeat([]byte{0xab}, 16)) {
			t.Errorf("ThreadIndex(%q) = % x, want 22 bytes: 0x01, time, the random GUID", parent, got)
		}
		if d := time.Unix(int64(headerTime(got)/10_000_000)+filetimeEpoch, 0).Sub(now); d > 0 || d < -2*time.Second {
			t.Errorf("ThreadIndex(%q) header time is %v from now, want within the 1.7 s resolution", parent, d)
		}
	}
	a, b := ThreadIndex("", now, nil), ThreadIndex("", now, nil)
	if a == b {
		t.Errorf("ThreadIndex with crypto/rand twice = %q both times, want different GUIDs", a)
	}
	if got := decode(t, ThreadIndex("", now, failingRandom{})); len(got) != threadHeaderLen {
		t.Errorf("ThreadIndex with failing random = % x, want a 22-byte index anyway", got)
	}
}

func TestThreadIndexChild(t *testing.T) {
	start := time.Date(2024, 3, 5, 14, 7, 9, 0, time.UTC)
	parent := ThreadIndex("", start, fixedRandom(1))
	tests := []struct {
		name  string
		after time.Duration
	}{
		{"seconds later", 90 * time.Second},
		{"days later", 3 * 24 * time.Hour},
		{"years later (long form)", 3 * 365 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			child := ThreadIndex(parent, start.Add(tt.after), fixedRandom(7))
			got := decode(t, child)
			if !strings.HasPrefix(child, strings.TrimRight(parent, "=")[:28]) || !bytes.Equal(got[:threadHeaderLen], decode(t, parent)) {
				t.Fatalf("ThreadIndex(parent) = %q, want parent %q plus a block", child, parent)
			}
			if len(got) != threadHeaderLen+threadChildLen || got[len(got)-1] != 7 {
				t.Fatalf("ThreadIndex(parent) = % x, want 27 bytes ending in the random byte", got)
			}
			if d := childTime(t, got, 0).Sub(start.Add(tt.after)); d > 0 || d < -2*time.Second {
				t.Errorf("child block records %v, want %v (within its resolution)", childTime(t, got, 0), start.Add(tt.after))
			}
			grand := decode(t, ThreadIndex(child, start.Add(tt.after+time.Hour), fixedRandom(9)))
			if len(grand) != threadHeaderLen+2*threadChildLen || !bytes.Equal(grand[:len(got)], got) {
				t.Errorf("ThreadIndex(child) = % x, want child + one block", grand)
			}
		})
	}
	if got := decode(t, ThreadIndex(parent, start.Add(-time.Hour), fixedRandom(0))); len(got) != 27 || !bytes.Equal(got[22:], make([]byte, 5)) {
		t.Errorf("ThreadIndex(parent, earlier time) = % x, want a block with zero delay", got)
	}
}

// TestThreadIndexCorpus continues real Outlook indexes, in the classic
// layout and in the documented one, and checks the new block's time.
func TestThreadIndexCorpus(t *testing.T) {
	tests := []struct {
		file      string
		date      time.Time // the message's Date
		checkLast bool      // the last existing block records date
	}{
		{"php-mime-mail-parser/m0020.eml", time.Date(2014, 3, 27, 22, 28, 12, 0, time.UTC), true},
		{"php-mime-mail-parser/m0018.eml", time.Date(2014, 10, 20, 7, 15, 27, 0, time.UTC), false},
		// Exchange Online: documented header layout; its child blocks do not
		// hold times as [MS-OXOMSG] describes, so only ours is checked.
		{"sisimai/bounces/lhost-office365-04.eml", time.Date(2018, 5, 21, 5, 7, 55, 0, time.UTC), false},
		// A read receipt whose blocks are not in time order.
		{"hunnysoft-zbateson/m4006.eml", time.Date(2016, 7, 10, 15, 29, 52, 0, time.UTC), false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m := mustParse(t, corpusFile(t, tt.file))
			parent := decode(t, m.ThreadIndex)
			if n := (len(parent) - threadHeaderLen) / threadChildLen; tt.checkLast {
				last := childTime(t, parent, n-1)
				if d := last.Sub(tt.date); d < -10*time.Minute || d > 10*time.Minute {
					t.Errorf("existing last block of %s decodes to %v, want about %v (layout misread?)", tt.file, last, tt.date)
				}
			}
			reply := tt.date.Add(2 * time.Hour)
			got := decode(t, ThreadIndex(m.ThreadIndex, reply, fixedRandom(3)))
			if len(got) != len(parent)+threadChildLen || !bytes.Equal(got[:len(parent)], parent) {
				t.Fatalf("ThreadIndex(%q) = % x, want the parent plus 5 bytes", m.ThreadIndex, got)
			}
			if d := childTime(t, got, (len(got)-threadHeaderLen)/threadChildLen-1).Sub(reply); d > 0 || d < -2*time.Second {
				t.Errorf("new block of %s records %v, want %v", tt.file, childTime(t, got, (len(got)-threadHeaderLen)/threadChildLen-1), reply)
			}
		})
	}
}
