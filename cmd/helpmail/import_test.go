package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

const opThreading = "../../testdata/corpus/threading"

// opImportGroups are the conversations of the notmuch threading fixtures
// (testdata/corpus/threading/README.md): the Message-IDs of each group
// must land on one ticket, and different groups on different tickets.
var opImportGroups = map[string][]string{
	"ghost-root": {"000-real-root@example.org", "001-child@example.org", "001-grand-child@example.org",
		"001-grand-child2@example.org", "001-great-grand-child@example.org", "001-fake-message-root@example.org"},
	"parent-priority": {"B00-root@example.org", "B01-child@example.org", "B01-grand-child@example.org"},
	"loop":            {"mid-loop-12@example.org", "mid-loop-21@example.org", "resolved-by-daniel@example.org"},
	"rt":              {"87bmc6lp3h.fsf@len.workgroup", "rt-4.2.8-22046-1529425595-591.33575-211-0@xxxxxxx-xxxxxxxxxxxxxxxxx-xxxxxxxxx-xxxxxxxxx.de"},
}

// opImportMaildir builds a Maildir of the notmuch threading fixtures plus
// an agent's archived answer, named so that the directory lists them
// newest first and a message that shares its parent's Date comes first:
// only ordering by date and by references threads them.
func opImportMaildir(t *testing.T, dir string) (files map[string]string) {
	t.Helper()
	var paths []string
	for _, sub := range []string{"ghost-root", "parent-priority", "loop"} {
		m, _ := filepath.Glob(filepath.Join(opThreading, "notmuch", sub, "*.eml"))
		paths = append(paths, m...)
	}
	type item struct {
		name string
		raw  []byte
		date time.Time
	}
	var items []item
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, item{name: filepath.Base(p), raw: raw, date: opDate(t, raw)})
	}
	// Daniel (an agent) resolved Alice's loop conversation by mail.
	resolved := []byte("From: Daniel <daniel@example.org>\nTo: Alice <alice@example.org>\nSubject: Re: referencing in-reply-to-loop-12\n" +
		"Message-ID: <resolved-by-daniel@example.org>\nIn-Reply-To: <mid-loop-21@example.org>\nDate: Sat, 18 Jun 2016 10:00:00 -0400\n\n" +
		"#status resolved\n\nFixed in the next release.\n")
	items = append(items, item{name: "resolved.eml", raw: resolved, date: opDate(t, resolved)})
	sort.SliceStable(items, func(i, j int) bool {
		if !items[i].date.Equal(items[j].date) {
			return items[i].date.After(items[j].date)
		}
		return strings.Contains(items[i].name, "fake-root") // before real-root, which has the same Date
	})
	files = map[string]string{}
	for i, it := range items {
		sub := "cur"
		if i%3 == 0 {
			sub = "new"
		}
		name := filepath.Join(dir, sub, fmt.Sprintf("%02d.%s:2,S", i, strings.TrimSuffix(it.name, ".eml")))
		os.MkdirAll(filepath.Dir(name), 0o700)
		if err := os.WriteFile(name, it.raw, 0o600); err != nil {
			t.Fatal(err)
		}
		files[name] = string(it.raw)
	}
	os.MkdirAll(filepath.Join(dir, "tmp"), 0o700)
	return files
}

func opDate(t *testing.T, raw []byte) time.Time {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := m.Header.Date()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// opMbox writes messages as an mboxrd file: a From_ line before each, body
// lines starting with ">*From " quoted with one more ">".
func opMbox(t *testing.T, path string, msgs []string) {
	t.Helper()
	var b strings.Builder
	quote := regexp.MustCompile(`(?m)^(>*From )`)
	for _, m := range msgs {
		b.WriteString("From import-test@example.org Thu Jan  1 00:00:00 2015\n")
		b.WriteString(quote.ReplaceAllString(m, ">$1"))
		if !strings.HasSuffix(m, "\n") {
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

type opImportSummary struct {
	Total, Imported, Failed, Tickets, Closed int
	Skipped                                  int `json:"already_imported"`
}

func TestImportMaildir(t *testing.T) {
	c := opNewCLI(t, nil)
	// Daniel is an agent: the archive's answers from him count as his.
	b, _ := os.ReadFile(c.config)
	os.WriteFile(c.config, append(b, "[[agents]]\nname = \"Daniel\"\naddress = \"daniel@example.org\"\n"...), 0o600)
	md := filepath.Join(c.dir, "Maildir")
	files := opImportMaildir(t, md)

	r := c.run(t, "", "import", "--json", md)
	var sum opImportSummary
	if r.code != 0 || opDecode(r.stdout, &sum) != nil {
		t.Fatalf("import = exit %d, %q; stderr %q", r.code, r.stdout, r.stderr)
	}
	if sum.Total != len(files) || sum.Imported != len(files) || sum.Skipped != 0 || sum.Failed != 0 {
		t.Errorf("import summary = %+v, want all %d imported", sum, len(files))
	}
	// Progress: plain lines on a pipe, no terminal redraws.
	if !strings.Contains(r.stderr, fmt.Sprintf("import: %d/%d messages", len(files), len(files))) || strings.Contains(r.stderr, "\r") {
		t.Errorf("import progress on a pipe = %q, want plain lines ending with %d/%d", r.stderr, len(files), len(files))
	}

	ticketOf := map[string]int64{}
	for group, ids := range opImportGroups {
		for _, id := range ids {
			var got struct {
				Messages []struct {
					Ticket    int64  `json:"ticket"`
					RawSHA256 string `json:"raw_sha256"`
					Source    string `json:"source"`
				} `json:"messages"`
			}
			c.json(t, &got, "messages", "explain", "--json", id)
			if len(got.Messages) != 1 || got.Messages[0].Source != "import" {
				t.Fatalf("messages explain %s = %+v, want one imported message", id, got.Messages)
			}
			ticketOf[id] = got.Messages[0].Ticket
			if n := ticketOf[ids[0]]; got.Messages[0].Ticket != n || n == 0 {
				t.Errorf("%s: <%s> on ticket #%d, want #%d with <%s>", group, id, got.Messages[0].Ticket, n, ids[0])
			}
		}
	}
	seen := map[int64]string{}
	for group, ids := range opImportGroups {
		if other, ok := seen[ticketOf[ids[0]]]; ok {
			t.Errorf("groups %s and %s share ticket #%d", group, other, ticketOf[ids[0]])
		}
		seen[ticketOf[ids[0]]] = group
	}

	// Stored byte for byte.
	for name, raw := range files {
		h := sha256.Sum256([]byte(raw))
		m, _ := mail.ReadMessage(strings.NewReader(raw))
		var got struct {
			Messages []struct {
				RawSHA256 string `json:"raw_sha256"`
			} `json:"messages"`
		}
		c.json(t, &got, "messages", "explain", "--json", m.Header.Get("Message-ID"))
		if len(got.Messages) != 1 || got.Messages[0].RawSHA256 != hex.EncodeToString(h[:]) {
			t.Errorf("%s stored as %+v, want sha256 %x", name, got.Messages, h)
		}
	}

	// The archive's times are kept: the ghost-root ticket was opened by its
	// root's Date, not now, and nothing runs backwards.
	var root opTicket
	c.json(t, &root, "tickets", "show", fmt.Sprint(ticketOf["000-real-root@example.org"]), "--json")
	if want := time.Date(2016, 6, 17, 2, 14, 41, 0, time.UTC); !root.CreatedAt.Equal(want) || root.UpdatedAt.Before(root.CreatedAt) {
		t.Errorf("ghost-root ticket created %v updated %v, want created %v", root.CreatedAt, root.UpdatedAt, want)
	}

	// Nothing was sent, nor queued; and the first SLA pass after the
	// migration sends nothing about deadlines the archive missed.
	opNoMail(t, c)
	var jobs map[string]any
	c.json(t, &jobs, "sla", "run", "--json")
	for _, k := range []string{"warnings", "breaches", "reminders", "closed"} {
		if jobs[k] != 0.0 {
			t.Errorf("sla run after the import: %s = %v, want 0 (%v)", k, jobs[k], jobs)
		}
	}
	opNoMail(t, c)

	// The conversation Daniel resolved in 2016 was closed as of when
	// auto-close would have closed it, silently.
	var loop opTicket
	c.json(t, &loop, "tickets", "show", fmt.Sprint(ticketOf["mid-loop-12@example.org"]), "--json")
	closedBy := ""
	for _, h := range loop.History {
		if h.Field == "status" && h.New == "closed" {
			closedBy = h.Reason
		}
	}
	if loop.Status != "closed" || !strings.Contains(closedBy, "imported") {
		t.Errorf("resolved-in-the-archive ticket = %s (history %+v), want closed as imported", loop.Status, loop.History)
	}
	// So a reply now opens a follow-up instead of reopening a 2016 ticket.
	c.ingest(t, "alice@example.org", "support@example.com", opMessage("It is broken again.",
		"From: Alice <alice@example.org>", "To: support@example.com", "Subject: Re: referencing in-reply-to-loop-12",
		"In-Reply-To: <resolved-by-daniel@example.org>", "Message-ID: <again@example.org>"))
	var again struct {
		Messages []struct {
			Ticket int64 `json:"ticket"`
		} `json:"messages"`
	}
	c.json(t, &again, "messages", "explain", "--json", "again@example.org")
	if len(again.Messages) != 1 || again.Messages[0].Ticket == loop.Number {
		t.Errorf("reply to the imported, long-closed ticket #%d went to %+v, want a follow-up ticket", loop.Number, again.Messages)
	}

	// A second run imports nothing twice.
	var total opTicketList
	c.json(t, &total, "tickets", "list", "--json")
	r = c.run(t, "", "import", "--json", md)
	var sum2 opImportSummary
	if r.code != 0 || opDecode(r.stdout, &sum2) != nil {
		t.Fatalf("second import = exit %d, %q", r.code, r.stderr)
	}
	if sum2.Total != sum.Total || sum2.Imported != 0 || sum2.Skipped != sum.Total || sum2.Tickets != 0 {
		t.Errorf("second import = %+v, want all %d already there", sum2, sum.Total)
	}
	var total2 opTicketList
	c.json(t, &total2, "tickets", "list", "--json")
	if total2.Total != total.Total {
		t.Errorf("tickets after a second import = %d, want %d", total2.Total, total.Total)
	}
	if r := c.mustRun(t, "", "import", md); !strings.Contains(r.stdout, fmt.Sprintf("%d already there", len(files))) {
		t.Errorf("import (text) = %q, want %d already there", r.stdout, len(files))
	}
}

func TestImportMbox(t *testing.T) {
	c := opNewCLI(t, nil)
	// Dovecot's thread5.mbox: no From:, no Date:, and From_ line dates out
	// of order (the root is dated two hours after its replies).
	t5, err := os.ReadFile(filepath.Join(opThreading, "dovecot-imaptest", "thread5.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	// Three linux-kernel list messages, in the reverse of their dates, one
	// of them with "From " lines in its body (quoted in the mbox).
	var lkml []string
	for _, n := range []string{"1382298587.001730.eml", "1354585346.000260.eml"} {
		b, err := os.ReadFile(filepath.Join("../../testdata/corpus/notmuch/lkml", n))
		if err != nil {
			t.Fatal(err)
		}
		lkml = append(lkml, string(b))
	}
	fromLines := opMessage("From the start:\n>From a quote\nFrom here on.",
		"From: Ann <ann@customer.example>", "To: support@example.com", "Subject: From lines",
		"Date: Mon, 02 Mar 2026 10:00:00 +0000", "Message-ID: <fromlines@customer.example>")
	mbox := filepath.Join(c.dir, "lkml.mbox")
	opMbox(t, mbox, append(lkml, fromLines))
	both := filepath.Join(c.dir, "all.mbox")
	lk, _ := os.ReadFile(mbox)
	os.WriteFile(both, append(append(t5, '\n'), lk...), 0o600)

	r := c.run(t, "", "import", "--json", both)
	var sum opImportSummary
	if r.code != 0 || opDecode(r.stdout, &sum) != nil {
		t.Fatalf("import = exit %d, %q; stderr %q", r.code, r.stdout, r.stderr)
	}
	if sum.Total != 5+len(lkml)+1 || sum.Imported != sum.Total || sum.Failed != 0 {
		t.Errorf("import summary = %+v, want %d imported", sum, 5+len(lkml)+1)
	}
	// thread5: 2 and 3 answer 1, 4 and 5 answer 2: one ticket, opened by 1.
	var first int64
	for i := 1; i <= 5; i++ {
		var got struct {
			Messages []struct {
				Ticket int64  `json:"ticket"`
				Text   string `json:"text"`
			} `json:"messages"`
		}
		c.json(t, &got, "messages", "explain", "--json", fmt.Sprintf("%d@b", i))
		if len(got.Messages) != 1 || got.Messages[0].Ticket == 0 || (first != 0 && got.Messages[0].Ticket != first) {
			t.Errorf("thread5 <%d@b> = %+v, want all five on one ticket", i, got.Messages)
			continue
		}
		first = got.Messages[0].Ticket
	}
	var tk opTicket
	c.json(t, &tk, "tickets", "show", fmt.Sprint(first), "--json")
	if len(tk.Messages) != 5 || tk.CreatedAt.Year() != 2008 || tk.UpdatedAt.Before(tk.CreatedAt) {
		t.Errorf("thread5 ticket = %d messages, created %v, updated %v; want 5, in 2008 (the From_ line date), never backwards",
			len(tk.Messages), tk.CreatedAt, tk.UpdatedAt)
	}
	// The mbox's quoting is undone: stored byte for byte as written.
	want := sha256.Sum256([]byte(fromLines))
	var fl struct {
		Messages []struct {
			RawSHA256 string `json:"raw_sha256"`
		} `json:"messages"`
	}
	c.json(t, &fl, "messages", "explain", "--json", "fromlines@customer.example")
	if len(fl.Messages) != 1 || fl.Messages[0].RawSHA256 != hex.EncodeToString(want[:]) {
		t.Errorf("message with From lines stored as %+v, want sha256 %x (mboxrd quoting undone)", fl.Messages, want)
	}
	opNoMail(t, c)
	if r := c.mustRun(t, "", "import", "--json", both); opDecode(r.stdout, &sum) != nil || sum.Imported != 0 || sum.Skipped != sum.Total {
		t.Errorf("second import = %+v, want nothing imported", sum)
	}
	// Not an mbox, not a Maildir.
	if r := c.run(t, "", "import", c.dir); r.code == 0 || !strings.Contains(r.stderr, "not a Maildir") {
		t.Errorf("import of a plain directory = exit %d, %q", r.code, r.stderr)
	}
}

// opNoMail fails if anything was queued or written to the outbox directory.
func opNoMail(t *testing.T, c *opCLI) {
	t.Helper()
	var ob struct {
		Outbox []struct {
			Rcpt, Template string
		} `json:"outbox"`
	}
	c.json(t, &ob, "outbox", "list", "--json")
	if len(ob.Outbox) != 0 {
		t.Errorf("outbox after import = %+v, want nothing", ob.Outbox)
	}
	if files, _ := filepath.Glob(filepath.Join(c.dir, "outbox", "*")); len(files) != 0 {
		t.Errorf("outbox directory after import = %v, want empty", files)
	}
}

func opDecode(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// TestImportOrder checks the order on its own: dates first, parents before
// replies, loops broken at the earliest message.
func TestImportOrder(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2020, 1, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name  string
		items []importItem
		want  []string
	}{
		{"by date", []importItem{{name: "b", date: day(2)}, {name: "a", date: day(1)}, {name: "c", date: day(3)}}, []string{"a", "b", "c"}},
		{"reply dated before its parent", []importItem{
			{name: "reply", id: "r", refs: []string{"p"}, date: day(1)},
			{name: "parent", id: "p", date: day(2)},
			{name: "other", id: "o", date: day(3)}}, []string{"parent", "reply", "other"}},
		{"same date, reply listed first", []importItem{
			{name: "reply", id: "r", refs: []string{"p"}, date: day(1)},
			{name: "parent", id: "p", date: day(1)}}, []string{"parent", "reply"}},
		{"chain", []importItem{
			{name: "3", id: "c", refs: []string{"a", "b"}, date: day(1)},
			{name: "2", id: "b", refs: []string{"a"}, date: day(1)},
			{name: "1", id: "a", date: day(5)}}, []string{"1", "2", "3"}},
		{"loop", []importItem{
			{name: "y", id: "y", refs: []string{"x"}, date: day(2)},
			{name: "x", id: "x", refs: []string{"y"}, date: day(1)},
			{name: "z", id: "z", refs: []string{"y"}, date: day(3)}}, []string{"x", "y", "z"}},
		{"unknown and self references", []importItem{
			{name: "b", id: "b", refs: []string{"b", "nowhere"}, date: day(2)},
			{name: "a", id: "a", date: day(1)}}, []string{"a", "b"}},
	}
	for _, tt := range tests {
		got := importOrder(slices.Clone(tt.items))
		var names []string
		for _, it := range got {
			names = append(names, it.name)
		}
		if !slices.Equal(names, tt.want) {
			t.Errorf("%s: importOrder = %v, want %v", tt.name, names, tt.want)
		}
		for i := 1; i < len(got); i++ {
			for _, ref := range got[i].refs {
				for _, p := range got[:i] {
					if p.id == ref && got[i].date.Before(p.date) {
						t.Errorf("%s: %s dated %v before its parent %s (%v)", tt.name, got[i].name, got[i].date, p.name, p.date)
					}
				}
			}
		}
	}
}
