// Package emldir "sends" outgoing mail by writing each message as an .eml
// file into a directory, so that helpmail works with no mail server at all
// (the default) and an operator can read what would have been sent.
//
// Invariants:
//
//   - A reader never sees a partial file: each message is written to a
//     hidden temporary file in the same directory, synced, and renamed to
//     its final name (the directory is synced too), so NAME.eml either
//     does not exist or is complete.
//   - Sending is idempotent: the name is derived from the envelope and the
//     bytes only, so sending the same message again (a retry after a
//     crash) finds or rewrites the same file, never a second copy.
//   - The file is what a local delivery agent would store: a Return-Path
//     header, one X-Envelope-To header per recipient, then the message
//     bytes unchanged. The added lines end like the message's first line.
package emldir

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
)

// Dir writes messages into the directory Path.
type Dir struct {
	// Path is the directory; it is created (mode 0750) when missing.
	Path string
	// Logger gets one line per message written; nil discards.
	Logger *slog.Logger
}

// Error is what Send returns. Temporary is true for file-system errors
// (a full disk, a permission fixed later) and false for an envelope that
// cannot be written as headers.
type Error struct {
	// Op names the step that failed, e.g. "create directory" or "rename".
	Op string
	// Err is the cause.
	Err error

	permanent bool
}

// Error returns the step and the cause.
func (e *Error) Error() string { return "emldir: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether writing the same message again later may
// succeed.
func (e *Error) Temporary() bool { return !e.permanent }

// Send writes raw as Path/NAME.eml with from ("" for the null sender) as
// Return-Path and every address of to as X-Envelope-To. NAME is
// "YYYYMMDDTHHMMSSZ-HASH" (the message's Date in UTC, "nodate" without
// one, then a SHA-256 of the envelope and bytes), so files sort by date
// and a repeated Send of the same message leaves one file. Any error is
// an *Error.
func (d *Dir) Send(ctx context.Context, from string, to []string, raw []byte) error {
	if err := ctx.Err(); err != nil {
		return &Error{Op: "send", Err: err}
	}
	if len(to) == 0 {
		return &Error{Op: "envelope", Err: errors.New("no recipients"), permanent: true}
	}
	for _, addr := range append([]string{from}, to...) {
		if strings.ContainsAny(addr, "\r\n<>") {
			return &Error{Op: "envelope", Err: fmt.Errorf("invalid address %q", addr), permanent: true}
		}
	}
	if err := os.MkdirAll(d.Path, 0o750); err != nil {
		return &Error{Op: "create directory", Err: err}
	}
	name := fileName(from, to, raw)
	path := filepath.Join(d.Path, name)
	if _, err := os.Stat(path); err == nil {
		d.logger().Info("eml already written", "path", path)
		return nil
	}
	if err := writeAtomic(d.Path, name, content(from, to, raw)); err != nil {
		return err
	}
	d.logger().Info("eml written", "path", path, "from", from, "rcpts", len(to), "size", len(raw))
	return nil
}

// content is the file: the envelope as headers, then raw unchanged.
func content(from string, to []string, raw []byte) []byte {
	eol := lineEnd(raw)
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <%s>%s", from, eol)
	for _, rcpt := range to {
		fmt.Fprintf(&b, "X-Envelope-To: <%s>%s", rcpt, eol)
	}
	b.Write(raw)
	return b.Bytes()
}

// lineEnd returns the line end of raw's first line: CRLF, LF or CR
// (CRLF when raw has no line end).
func lineEnd(raw []byte) string {
	i := bytes.IndexAny(raw, "\r\n")
	switch {
	case i < 0 || bytes.HasPrefix(raw[i:], []byte("\r\n")):
		return "\r\n"
	case raw[i] == '\n':
		return "\n"
	default:
		return "\r"
	}
}

// fileName derives the file name from the envelope and bytes alone.
func fileName(from string, to []string, raw []byte) string {
	h := sha256.New()
	for _, part := range append([]string{from, string(raw)}, to...) {
		binary.Write(h, binary.BigEndian, uint64(len(part))) // length-prefixed: no two envelopes hash alike
		h.Write([]byte(part))
	}
	date := "nodate"
	if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		if t, err := m.Header.Date(); err == nil {
			date = t.UTC().Format("20060102T150405Z")
		}
	}
	return date + "-" + hex.EncodeToString(h.Sum(nil)[:16]) + ".eml"
}

// writeAtomic writes data to dir/name through a temporary file, so the
// name appears only with its whole content, durably.
func writeAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return &Error{Op: "create temporary file", Err: err}
	}
	tmp := f.Name()
	fail := func(op string, err error) error {
		f.Close()
		os.Remove(tmp)
		return &Error{Op: op, Err: err}
	}
	if _, err := f.Write(data); err != nil {
		return fail("write", err)
	}
	if err := f.Chmod(0o640); err != nil {
		return fail("chmod", err)
	}
	if err := f.Sync(); err != nil {
		return fail("sync", err)
	}
	if err := f.Close(); err != nil {
		return fail("close", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fail("rename", err)
	}
	if err := syncDir(dir); err != nil {
		return &Error{Op: "sync directory", Err: err}
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func (d *Dir) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}
