package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/helpmail/helpmail/mailbox"
)

// ImportCommand is `helpmail import`.
type ImportCommand struct{}

// Run imports an mbox file or a Maildir.
func (c *ImportCommand) Run(ctx context.Context, env *Env, args []string) error {
	fs := env.flagSet("import", "PATH", `Imports an existing support mailbox: an mbox file or a Maildir (a directory
with cur/ and new/). Messages are read in date order and threaded as if
they had arrived then, so replies find their tickets; nothing is sent to
anyone. Messages from configured agents count as their replies. Running it
again imports nothing twice (messages are recognised by their bytes, or
Message-ID and body). Shows a progress bar on a terminal, plain progress
lines otherwise.`)
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &exitError{code: exitUsage, err: fmt.Errorf("expected one mbox file or Maildir")}
	}
	src, err := openSource(pos[0])
	if err != nil {
		return err
	}
	defer src.Close()
	app, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	items := src.Items()
	sort.SliceStable(items, func(i, j int) bool { return items[i].date.Before(items[j].date) })
	prog := newProgress(env.Stderr, len(items))
	var sum importSummary
	tickets := map[int64]bool{}
	for i, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		raw, err := src.Read(it)
		if err != nil {
			return fmt.Errorf("read %s: %w", it.name, err)
		}
		at := it.date
		if at.IsZero() {
			at = time.Now()
		}
		n, stored, err := app.Desk.Import(ctx, mailbox.Envelope{Source: "import"}, raw, at)
		switch {
		case err != nil:
			sum.Failed++
			fmt.Fprintf(env.Stderr, "helpmail: import %s: %v\n", it.name, err)
		case stored:
			sum.Imported++
			if n != 0 {
				tickets[n] = true
			}
		default:
			sum.Skipped++
		}
		prog.update(i+1, sum)
	}
	prog.done(sum)
	sum.Tickets = len(tickets)
	sum.Total = len(items)
	if *asJSON {
		return writeJSON(env.Stdout, sum)
	}
	fmt.Fprintf(env.Stdout, "%d messages: %d imported into %d tickets, %d already there, %d failed\n",
		sum.Total, sum.Imported, sum.Tickets, sum.Skipped, sum.Failed)
	if sum.Failed > 0 {
		return &exitError{code: exitFailure}
	}
	return nil
}

type importSummary struct {
	Total    int `json:"total"`
	Imported int `json:"imported"`
	Skipped  int `json:"already_imported"`
	Failed   int `json:"failed"`
	Tickets  int `json:"tickets"`
}

// importItem is one message of the source: where it is and its date.
type importItem struct {
	name   string
	off, n int64 // mbox: byte range
	date   time.Time
}

type importSource interface {
	Items() []importItem
	Read(importItem) ([]byte, error)
	Close() error
}

func openSource(path string) (importSource, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return openMaildir(path)
	}
	return openMbox(path)
}

// maildir reads a Maildir: every file in cur/ and new/.
type maildir struct{ items []importItem }

func openMaildir(dir string) (*maildir, error) {
	md := &maildir{}
	found := false
	for _, sub := range []string{"cur", "new"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if os.IsNotExist(err) {
			continue
		} else if err != nil {
			return nil, err
		}
		found = true
		for _, e := range entries {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			name := filepath.Join(dir, sub, e.Name())
			md.items = append(md.items, importItem{name: name, date: fileDate(name)})
		}
	}
	if !found {
		return nil, fmt.Errorf("%s is not a Maildir (no cur/ or new/)", dir)
	}
	sort.Slice(md.items, func(i, j int) bool { return md.items[i].name < md.items[j].name })
	return md, nil
}

func (m *maildir) Items() []importItem                { return m.items }
func (m *maildir) Read(it importItem) ([]byte, error) { return os.ReadFile(it.name) }
func (m *maildir) Close() error                       { return nil }

// fileDate reads the Date header of a message file (the header only).
func fileDate(name string) time.Time {
	f, err := os.Open(name)
	if err != nil {
		return time.Time{}
	}
	defer f.Close()
	return headerDate(bufio.NewReader(io.LimitReader(f, 256<<10)))
}

func headerDate(r io.Reader) time.Time {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return time.Time{}
	}
	t, err := mail.ParseDate(m.Header.Get("Date"))
	if err != nil {
		return time.Time{}
	}
	return t
}

// mbox reads an mbox file: messages start at lines "From " that follow an
// empty line (or start the file). Lines quoted as ">From " (mboxrd) lose one
// ">" when read. The file is indexed once and each message read on demand,
// so a large mailbox is never held in memory.
type mbox struct {
	f     *os.File
	items []importItem
}

func openMbox(path string) (*mbox, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	mb := &mbox{f: f}
	r := bufio.NewReaderSize(f, 64<<10)
	var off, start int64 = 0, -1
	prevBlank := true
	flush := func(end int64) {
		if start >= 0 && end > start {
			mb.items = append(mb.items, importItem{name: fmt.Sprintf("%s@%d", filepath.Base(path), start), off: start, n: end - start})
		}
	}
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			if prevBlank && bytes.HasPrefix(line, []byte("From ")) {
				flush(off)
				start = off + int64(len(line)) // the message starts after the From_ line
			}
			prevBlank = len(bytes.TrimRight(line, "\r\n")) == 0
			off += int64(len(line))
		}
		if err == io.EOF {
			break
		} else if err != nil {
			f.Close()
			return nil, err
		}
	}
	flush(off)
	if len(mb.items) == 0 {
		f.Close()
		return nil, fmt.Errorf("%s: no messages (not an mbox file?)", path)
	}
	for i := range mb.items {
		b, err := mb.Read(mb.items[i])
		if err == nil {
			mb.items[i].date = headerDate(bytes.NewReader(b))
		}
	}
	return mb, nil
}

func (m *mbox) Items() []importItem { return m.items }
func (m *mbox) Close() error        { return m.f.Close() }

func (m *mbox) Read(it importItem) ([]byte, error) {
	b := make([]byte, it.n)
	if _, err := m.f.ReadAt(b, it.off); err != nil {
		return nil, err
	}
	// The empty line that separates messages belongs to the mbox.
	if bytes.HasSuffix(b, []byte("\r\n\r\n")) {
		b = b[:len(b)-2]
	} else if bytes.HasSuffix(b, []byte("\n\n")) {
		b = b[:len(b)-1]
	}
	return unquoteFrom(b), nil
}

// unquoteFrom removes one ">" from lines matching ^>+From (mboxrd).
func unquoteFrom(b []byte) []byte {
	if !bytes.Contains(b, []byte(">From ")) {
		return b
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	for i, l := range lines {
		if t := bytes.TrimLeft(l, ">"); len(t) < len(l) && bytes.HasPrefix(t, []byte("From ")) {
			lines[i] = l[1:]
		}
	}
	return bytes.Join(lines, nil)
}

// progress shows import progress: a bar redrawn in place on a terminal,
// a plain line every few seconds otherwise.
type progress struct {
	w     io.Writer
	total int
	tty   bool
	last  time.Time
}

func newProgress(w io.Writer, total int) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, total: total, tty: tty}
}

func (p *progress) update(n int, s importSummary) {
	now := time.Now()
	if p.tty {
		if now.Sub(p.last) < 100*time.Millisecond && n != p.total {
			return
		}
		p.last = now
		width := 30
		filled := width * n / max(p.total, 1)
		fmt.Fprintf(p.w, "\r[%s%s] %d/%d imported %d, skipped %d, failed %d", strings.Repeat("#", filled),
			strings.Repeat(".", width-filled), n, p.total, s.Imported, s.Skipped, s.Failed)
		return
	}
	if now.Sub(p.last) >= 2*time.Second || n == p.total {
		p.last = now
		fmt.Fprintf(p.w, "import: %d/%d messages (%d imported, %d already there, %d failed)\n", n, p.total, s.Imported, s.Skipped, s.Failed)
	}
}

func (p *progress) done(importSummary) {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
