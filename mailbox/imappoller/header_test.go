package imappoller

import (
	"bytes"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHeaderOf(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"crlf", "A: 1\r\nB: 2\r\n\r\nbody\r\n", "A: 1\r\nB: 2\r\n\r\n"},
		{"lf", "A: 1\nB: 2\n\nbody\n", "A: 1\nB: 2\n\n"},
		{"cr", "A: 1\rB: 2\r\rbody\r", "A: 1\rB: 2\r\r"},
		{"mixed", "A: 1\r\nB: 2\n\r\nbody", "A: 1\r\nB: 2\n\r\n"},
		{"folded", "A: 1\r\n 2\r\n\r\nbody", "A: 1\r\n 2\r\n\r\n"},
		{"no body", "A: 1\r\nB: 2\r\n", "A: 1\r\nB: 2\r\n"},
		{"no line break", "A: 1", "A: 1"},
		{"empty header", "\r\nbody", "\r\n"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(headerOf([]byte(tt.raw))); got != tt.want {
				t.Errorf("headerOf(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

func TestReturnPath(t *testing.T) {
	tests := []struct {
		name, header string
		addr         string
		null, ok     bool
	}{
		{"angle", "Return-Path: <bounce@example.org>\r\n", "bounce@example.org", false, true},
		{"null", "Return-Path: <>\r\n", "", true, true},
		{"null with spaces", "Return-Path: < >\r\n", "", true, true},
		{"bare", "Return-Path: bounce@example.org\r\n", "bounce@example.org", false, true},
		{"case and space before colon", "RETURN-PATH : <a@b>\n", "a@b", false, true},
		{"folded", "Return-Path:\r\n <a@b>\r\nFrom: x\r\n", "a@b", false, true},
		{"cr only", "From: x\rReturn-Path: <a@b>\r\r", "a@b", false, true},
		{"first wins", "Return-Path: <new@b>\nReturn-Path: <old@b>\n", "new@b", false, true},
		{"unclosed", "Return-Path: <a@b\n", "a@b", false, true},
		{"empty value", "Return-Path:\r\n", "", false, false},
		{"missing", "From: <a@b>\r\n\r\n", "", false, false},
		{"in the body", "From: x\r\n\r\nReturn-Path: <a@b>\r\n", "", false, false},
		{"other field", "X-Return-Path: <a@b>\r\n", "", false, false},
		{"continuation is not a field", "Subject: x\r\n Return-Path: <a@b>\r\n", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, null, ok := returnPath([]byte(tt.header))
			if addr != tt.addr || null != tt.null || ok != tt.ok {
				t.Errorf("returnPath(%q) = %q, %v, %v, want %q, %v, %v", tt.header, addr, null, ok, tt.addr, tt.null, tt.ok)
			}
		})
	}
}

// TestHeaderCorpus runs the header helpers over the shared corpus: the
// header is always a prefix of the message, and where net/mail can read the
// message, the Return-Path found agrees with the field net/mail sees.
func TestHeaderCorpus(t *testing.T) {
	dir := os.Getenv("HELPMAIL_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "testdata", "corpus")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpus not found at %s (set HELPMAIL_CORPUS): %v", dir, err)
	}
	files, compared := 0, 0
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".eml") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		header := headerOf(raw)
		if !bytes.HasPrefix(raw, header) {
			t.Errorf("headerOf(%s) is not a prefix of the message", path)
		}
		addr, null, ok := returnPath(header)
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil || bytes.Contains(header, []byte("\r")) && !bytes.Contains(header, []byte("\r\n")) {
			return nil // net/mail cannot read it, or not the same way
		}
		field := m.Header.Get("Return-Path")
		wantAddr, wantNull, wantOK := returnPath([]byte("Return-Path: " + field + "\r\n"))
		if field == "" {
			wantOK = false
		}
		if addr != wantAddr || null != wantNull || ok != wantOK {
			t.Errorf("returnPath(%s) = %q, %v, %v, want %q, %v, %v (net/mail: %q)", path, addr, null, ok, wantAddr, wantNull, wantOK, field)
		}
		compared++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 1000 || compared < 500 {
		t.Errorf("walked %d corpus files and compared %d, want at least 1000 and 500", files, compared)
	}
}
