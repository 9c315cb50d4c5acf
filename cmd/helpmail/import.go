package main

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/threading"
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
	items := importOrder(src.Items())
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
	numbers := make([]int64, 0, len(tickets))
	for n := range tickets {
		numbers = append(numbers, n)
	}
	slices.Sort(numbers)
	// Deadlines that passed in the archive are settled without mail, so
	// the first SLA pass after a migration does not page everyone.
	rep, err := app.Desk.SettleImported(ctx, numbers, app.Desk.Clock())
	if err != nil {
		return err
	}
	sum.Closed = rep.Closed
	sum.Tickets = len(tickets)
	sum.Total = len(items)
	if *asJSON {
		return writeJSON(env.Stdout, sum)
	}
	fmt.Fprintf(env.Stdout, "%d messages: %d imported into %d tickets, %d already there, %d failed\n",
		sum.Total, sum.Imported, sum.Tickets, sum.Skipped, sum.Failed)
	if sum.Closed > 0 {
		fmt.Fprintf(env.Stdout, "%d tickets the archive left resolved or waiting long ago were closed (nobody was told)\n", sum.Closed)
	}
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
	Closed   int `json:"closed"` // closed as of when they would have been (SettleImported)
}

// importItem is one message of the source: where it is, its date and
// what it needs to be put in order.
type importItem struct {
	name   string
	off, n int64 // mbox: byte range
	date   time.Time
	id     string   // canonical Message-ID, "" if none
	refs   []string // canonical In-Reply-To and References
}

// importOrder returns the items in the order they are imported: by date,
// except that a message comes after every message of the import it
// refers to (In-Reply-To, References), so a reply lands on its parent's
// ticket even when a client's clock put it earlier, or two messages share
// a date. Reference loops are broken at the earliest message. A message
// dated before a parent placed ahead of it takes the parent's date, so a
// ticket's messages and times never run backwards.
func importOrder(items []importItem) []importItem {
	sort.SliceStable(items, func(i, j int) bool { return items[i].date.Before(items[j].date) })
	byID := map[string][]int{}
	for i, it := range items {
		if it.id != "" {
			byID[it.id] = append(byID[it.id], i)
		}
	}
	children := make([][]int, len(items))
	parents := make([][]int, len(items))
	waiting := make([]int, len(items)) // parents not yet placed
	for i, it := range items {
		seen := map[int]bool{}
		for _, ref := range it.refs {
			for _, p := range byID[ref] {
				if p != i && !seen[p] {
					seen[p] = true
					children[p] = append(children[p], i)
					parents[i] = append(parents[i], p)
					waiting[i]++
				}
			}
		}
	}
	ready := &intHeap{}
	for i := range items {
		if waiting[i] == 0 {
			heap.Push(ready, i)
		}
	}
	out := make([]importItem, 0, len(items))
	placed := make([]bool, len(items))
	next := 0 // the earliest item that may not be placed yet, to break loops
	for len(out) < len(items) {
		i := -1
		for ready.Len() > 0 {
			if c := heap.Pop(ready).(int); !placed[c] {
				i = c
				break
			}
		}
		if i < 0 { // only loops are left
			for placed[next] {
				next++
			}
			i = next
		}
		placed[i] = true
		for _, p := range parents[i] {
			if placed[p] && items[p].date.After(items[i].date) {
				items[i].date = items[p].date
			}
		}
		out = append(out, items[i])
		for _, c := range children[i] {
			if waiting[c]--; waiting[c] == 0 && !placed[c] {
				heap.Push(ready, c)
			}
		}
	}
	return out
}

// intHeap is a min-heap of item positions (container/heap).
type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
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
			it := importItem{name: name}
			readHeader(&it, fileHeader(name))
			if it.date.IsZero() {
				it.date = maildirDate(e.Name())
			}
			md.items = append(md.items, it)
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

// fileHeader reads the header of a message file (at most 256 KB of it).
func fileHeader(name string) mail.Header {
	f, err := os.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	return readMailHeader(bufio.NewReader(io.LimitReader(f, 256<<10)))
}

func readMailHeader(r io.Reader) mail.Header {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return nil
	}
	return m.Header
}

// readHeader takes an item's date, Message-ID and references from its
// header; a header that does not parse leaves them empty.
func readHeader(it *importItem, h mail.Header) {
	if h == nil {
		return
	}
	if t, err := mail.ParseDate(h.Get("Date")); err == nil {
		it.date = t
	}
	it.id = threading.CanonicalMessageID(h.Get("Message-ID"))
	it.refs = threading.ReferencedIDs(strings.Join(h["References"], " "), strings.Join(h["In-Reply-To"], " "))
}

// maildirDate returns the delivery time a Maildir file name starts with
// ("1529425589.M615261P21663.host:2,S"), zero if it does not.
func maildirDate(name string) time.Time {
	secs, _, _ := strings.Cut(name, ".")
	n, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// fromLineDate returns the date of an mbox "From sender date" line
// (asctime format, e.g. "From ann@example.org Fri Feb 22 17:06:23 2008"),
// zero if it has none.
func fromLineDate(line []byte) time.Time {
	f := strings.Fields(string(line))
	for _, n := range []int{5, 6} { // with or without a trailing zone
		if len(f) < n+1 {
			continue
		}
		v := strings.Join(f[len(f)-n:], " ")
		for _, layout := range []string{"Mon Jan 2 15:04:05 2006", "Mon Jan 2 15:04:05 2006 -0700", "Mon Jan 2 15:04:05 MST 2006"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t.UTC()
			}
		}
	}
	return time.Time{}
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
	var fromDate time.Time // of the current message's From_ line
	flush := func(end int64) {
		if start >= 0 && end > start {
			mb.items = append(mb.items, importItem{name: fmt.Sprintf("%s@%d", filepath.Base(path), start), off: start, n: end - start, date: fromDate})
		}
	}
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			if prevBlank && bytes.HasPrefix(line, []byte("From ")) {
				flush(off)
				start = off + int64(len(line)) // the message starts after the From_ line
				fromDate = fromLineDate(line)
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
			fromDate := mb.items[i].date
			mb.items[i].date = time.Time{}
			readHeader(&mb.items[i], readMailHeader(bytes.NewReader(b)))
			if mb.items[i].date.IsZero() {
				mb.items[i].date = fromDate // no usable Date header: when the mbox got it
			}
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
