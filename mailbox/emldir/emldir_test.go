package emldir_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/helpmail/helpmail/mailbox/emldir"
)

var namePattern = regexp.MustCompile(`^(\d{8}T\d{6}Z|nodate)-[0-9a-f]{32}\.eml$`)

// readDir returns the files in dir by name, failing on anything that is
// not a finished .eml file (a temporary file left behind, say).
func readDir(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string][]byte)
	for _, e := range entries {
		if !namePattern.MatchString(e.Name()) {
			t.Fatalf("unexpected file %q in %s", e.Name(), dir)
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

func temporary(t testing.TB, err error) bool {
	t.Helper()
	var te interface{ Temporary() bool }
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) has no Temporary()", err, err)
	}
	return te.Temporary()
}

func TestSendWritesEnvelopeAndBytes(t *testing.T) {
	tests := []struct {
		name string
		from string
		to   []string
		raw  string
		want string
	}{
		{"CRLF", "bounces@helpdesk.test", []string{"ann@customer.example", "bob@customer.example"},
			"Subject: hi\r\n\r\nbody\r\n",
			"Return-Path: <bounces@helpdesk.test>\r\nX-Envelope-To: <ann@customer.example>\r\nX-Envelope-To: <bob@customer.example>\r\nSubject: hi\r\n\r\nbody\r\n"},
		{"LF", "bounces@helpdesk.test", []string{"ann@customer.example"},
			"Subject: hi\n\nbody\r\n",
			"Return-Path: <bounces@helpdesk.test>\nX-Envelope-To: <ann@customer.example>\nSubject: hi\n\nbody\r\n"},
		{"CR", "bounces@helpdesk.test", []string{"ann@customer.example"},
			"Subject: hi\r\rbody",
			"Return-Path: <bounces@helpdesk.test>\rX-Envelope-To: <ann@customer.example>\rSubject: hi\r\rbody"},
		{"null sender", "", []string{"ann@customer.example"},
			"Subject: hi\r\n\r\n.\r\n\x00\xff",
			"Return-Path: <>\r\nX-Envelope-To: <ann@customer.example>\r\nSubject: hi\r\n\r\n.\r\n\x00\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &emldir.Dir{Path: t.TempDir()}
			if err := d.Send(context.Background(), tt.from, tt.to, []byte(tt.raw)); err != nil {
				t.Fatalf("Send() = %v, want nil", err)
			}
			files := readDir(t, d.Path)
			if len(files) != 1 {
				t.Fatalf("Send() wrote %d files, want 1", len(files))
			}
			for _, got := range files {
				if string(got) != tt.want {
					t.Errorf("file = %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestFileNameSortsByDate(t *testing.T) {
	tests := []struct {
		raw        string
		wantPrefix string
	}{
		{"Date: Tue, 02 Jan 2024 04:04:05 +0100\r\nSubject: a\r\n\r\nx\r\n", "20240102T030405Z-"},
		{"Subject: no date\r\n\r\nx\r\n", "nodate-"},
		{"Date: not a date\r\n\r\nx\r\n", "nodate-"},
	}
	for _, tt := range tests {
		d := &emldir.Dir{Path: t.TempDir()}
		if err := d.Send(context.Background(), "a@helpdesk.test", []string{"b@customer.example"}, []byte(tt.raw)); err != nil {
			t.Fatalf("Send() = %v, want nil", err)
		}
		for name := range readDir(t, d.Path) {
			if !strings.HasPrefix(name, tt.wantPrefix) {
				t.Errorf("Send(%q) wrote %q, want a name starting %q", tt.raw, name, tt.wantPrefix)
			}
		}
	}
}

func TestSendIsIdempotent(t *testing.T) {
	d := &emldir.Dir{Path: t.TempDir()}
	raw := []byte("Subject: same\r\n\r\nsame\r\n")
	sends := []struct {
		from string
		to   []string
	}{
		{"a@helpdesk.test", []string{"b@customer.example"}},
		{"a@helpdesk.test", []string{"b@customer.example"}}, // a retry: same file
		{"a@helpdesk.test", []string{"c@customer.example"}}, // other recipient: new file
		{"", []string{"b@customer.example"}},                // other sender: new file
		{"a@helpdesk.test", []string{"b@customer.example", "c@customer.example"}},
	}
	for _, s := range sends {
		if err := d.Send(context.Background(), s.from, s.to, raw); err != nil {
			t.Fatalf("Send(%q, %q) = %v, want nil", s.from, s.to, err)
		}
	}
	if files := readDir(t, d.Path); len(files) != 4 {
		t.Fatalf("after %d sends of 4 distinct envelopes, %d files, want 4", len(sends), len(files))
	}
}

// TestConcurrentSends writes distinct and identical messages at once
// while a reader watches the directory: it must only ever see whole files.
func TestConcurrentSends(t *testing.T) {
	d := &emldir.Dir{Path: t.TempDir()}
	const distinct, copies = 12, 6
	big := strings.Repeat("0123456789abcdef\r\n", 1<<12) // 72 KiB, so a torn write would show
	want := make(map[string]bool)                        // whole file contents
	msg := func(i int) []byte { return []byte(fmt.Sprintf("Subject: %d\r\n\r\n%s", i, big)) }
	for i := range distinct {
		want["Return-Path: <a@helpdesk.test>\r\nX-Envelope-To: <b@customer.example>\r\n"+string(msg(i))] = true
	}

	done := make(chan struct{})
	var readerErr error
	var readerWG sync.WaitGroup
	readerWG.Add(1)
	go func() {
		defer readerWG.Done()
		for range 100000 {
			select {
			case <-done:
				return
			default:
			}
			entries, _ := filepath.Glob(filepath.Join(d.Path, "*.eml"))
			for _, e := range entries {
				if b, err := os.ReadFile(e); err == nil && !want[string(b)] {
					readerErr = fmt.Errorf("reader saw %s with %d bytes, not a whole message", e, len(b))
					return
				}
			}
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, distinct+copies)
	for i := range distinct + copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := i
			if i >= distinct {
				n = 0 // copies of message 0
			}
			errs <- d.Send(context.Background(), "a@helpdesk.test", []string{"b@customer.example"}, msg(n))
		}()
	}
	wg.Wait()
	close(done)
	readerWG.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Send() = %v, want nil", err)
		}
	}
	if readerErr != nil {
		t.Fatal(readerErr)
	}
	files := readDir(t, d.Path)
	if len(files) != distinct {
		t.Fatalf("%d files, want %d", len(files), distinct)
	}
	for name, b := range files {
		if !want[string(b)] {
			t.Errorf("%s holds %d bytes, not one of the messages", name, len(b))
		}
	}
}

func TestSendCreatesDirectory(t *testing.T) {
	d := &emldir.Dir{Path: filepath.Join(t.TempDir(), "var", "outbox")}
	if err := d.Send(context.Background(), "a@helpdesk.test", []string{"b@customer.example"}, []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatalf("Send() = %v, want nil", err)
	}
	fi, err := os.Stat(d.Path)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&^0o750 != 0 {
		t.Fatalf("Stat(%s) = %v, %v; want a directory with at most 0750", d.Path, fi, err)
	}
	for name := range readDir(t, d.Path) {
		fi, err := os.Stat(filepath.Join(d.Path, name))
		if err != nil || fi.Mode().Perm() != 0o640 {
			t.Errorf("Stat(%s) = %v, %v; want mode 0640", name, fi, err)
		}
	}
}

func TestSendErrors(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		ctx      context.Context
		path     string
		from     string
		to       []string
		wantTemp bool
	}{
		{"path is a file", context.Background(), notADir, "a@helpdesk.test", []string{"b@customer.example"}, true},
		{"cancelled", cancelled, t.TempDir(), "a@helpdesk.test", []string{"b@customer.example"}, true},
		{"no recipients", context.Background(), t.TempDir(), "a@helpdesk.test", nil, false},
		{"CRLF in sender", context.Background(), t.TempDir(), "a@helpdesk.test\r\nBcc: x@y", []string{"b@customer.example"}, false},
		{"bracket in recipient", context.Background(), t.TempDir(), "a@helpdesk.test", []string{"b@customer.example>"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &emldir.Dir{Path: tt.path}
			err := d.Send(tt.ctx, tt.from, tt.to, []byte("Subject: x\r\n\r\nx\r\n"))
			if err == nil || temporary(t, err) != tt.wantTemp {
				t.Fatalf("Send() = %v, want an error with Temporary() %v", err, tt.wantTemp)
			}
			if fi, statErr := os.Stat(tt.path); statErr == nil && fi.IsDir() {
				if files := readDir(t, tt.path); len(files) != 0 {
					t.Errorf("Send() failed but wrote %d files", len(files))
				}
			}
		})
	}
	if err := (&emldir.Dir{Path: notADir}).Send(context.Background(), "a@helpdesk.test", []string{"b@customer.example"}, nil); !bytes.Contains([]byte(err.Error()), []byte("emldir: create directory")) {
		t.Errorf("Send() = %v, want it to name the step", err)
	}
}
