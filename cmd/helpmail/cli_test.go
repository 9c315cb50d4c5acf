package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// opBin is the helpmail binary that TestMain builds once for the tests
// that run the real program (exec), as an operator or an MTA would.
var opBin string

// opVersion is stamped into opBin with -ldflags -X main.Version.
const opVersion = "op-test-1.2.3"

func TestMain(m *testing.M) { os.Exit(opMain(m)) }

func opMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "helpmail-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "TestMain:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	opBin = filepath.Join(dir, "helpmail")
	if err := opBuild(opBin); err != nil {
		fmt.Fprintln(os.Stderr, "TestMain:", err)
		return 1
	}
	return m.Run()
}

// opBuild builds the command into out with the build tags of this test
// binary, and -race when it has it (so the cgo SQLite build is shared
// with the test's, and the real binary runs under the race detector too).
func opBuild(out string) error {
	args := []string{"build", "-ldflags=-X main.Version=" + opVersion, "-o", out}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "-race" && s.Value == "true":
				args = append(args, "-race")
			case s.Key == "-tags" && s.Value != "":
				args = append(args, "-tags", s.Value)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(args, ".")...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// opCLI runs the real binary against one temp directory: its
// configuration file, database and outbox directory.
type opCLI struct {
	dir    string
	config string
	env    []string // NAME=value added to a minimal environment
}

// opNewCLI writes a configuration into a new temp directory. over adds or
// replaces "key = value" lines per table ("smtp", "outbound.relay", …); a
// key written "[[imap]]" is an array of tables, its text written as is.
func opNewCLI(tb testing.TB, over map[string]string) *opCLI {
	tb.Helper()
	dir := tb.TempDir()
	c := &opCLI{dir: dir, config: filepath.Join(dir, "helpmail.toml")}
	if err := os.WriteFile(c.config, []byte(opConfig(dir, over)), 0o600); err != nil {
		tb.Fatal(err)
	}
	return c
}

// opConfig is the TOML of a test installation rooted in dir: the support
// and incidents routes and two agents of testConfig, SMTP on 127.0.0.1:0.
func opConfig(dir string, over map[string]string) string {
	tables := []struct{ name, body string }{
		{"helpdesk", `name = "Example Support"`},
		{"database", fmt.Sprintf("path = %q", filepath.Join(dir, "helpmail.db"))},
		{"smtp", "listen = \"127.0.0.1:0\"\nhostname = \"example.com\"\nmax_message_bytes = 262144"},
		{"outbound", fmt.Sprintf("eml_dir = %q\nmin_backoff = \"50ms\"\nmax_backoff = \"200ms\"", filepath.Join(dir, "outbox"))},
		{"log", `level = "warn"`},
	}
	var b strings.Builder
	done := map[string]bool{}
	write := func(name, body, extra string) {
		if strings.HasPrefix(name, "[[") {
			fmt.Fprintf(&b, "%s\n%s\n\n", name, strings.TrimSpace(extra))
			return
		}
		var keys []string
		vals := map[string]string{}
		for _, l := range strings.Split(body+"\n"+extra, "\n") {
			k, _, ok := strings.Cut(l, "=")
			if !ok {
				continue
			}
			k = strings.TrimSpace(k)
			if _, seen := vals[k]; !seen {
				keys = append(keys, k)
			}
			vals[k] = strings.TrimSpace(l)
		}
		fmt.Fprintf(&b, "[%s]\n", name)
		for _, k := range keys {
			b.WriteString(vals[k] + "\n")
		}
		b.WriteString("\n")
		done[name] = true
	}
	for _, t := range tables {
		write(t.name, t.body, over[t.name])
	}
	b.WriteString(`[[routes]]
address = "support@example.com"

[[routes]]
address = "incidents@example.com"
type = "incident"
priority = "critical"

[[agents]]
name = "Alice Agent"
address = "alice@example.com"

[[agents]]
name = "Bob Agent"
address = "bob@example.com"

`)
	var rest []string
	for name := range over {
		if !done[name] {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	for _, name := range rest {
		write(name, "", over[name])
	}
	return b.String()
}

// opResult is what one run of the binary did.
type opResult struct {
	code           int
	stdout, stderr string
}

// environ is the environment of a run: PATH and HOME, and c.env.
func (c *opCLI) environ() []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.dir, "TZ=UTC"}, c.env...)
}

// exec runs the binary with exactly args, environment env and stdin.
func opExec(tb testing.TB, dir string, env []string, stdin string, args ...string) opResult {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, opBin, args...)
	// A -race binary sleeps 1 s at exit unless told not to; the variable
	// means nothing to a binary built without -race.
	cmd.Dir, cmd.Env, cmd.Stdin = dir, append(slices.Clip(env), "GORACE=atexit_sleep_ms=0"), strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		tb.Fatalf("helpmail %q did not finish in 2 minutes", args)
	}
	r := opResult{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		tb.Fatalf("run helpmail %q: %v", args, err)
	}
	return r
}

// run runs `helpmail --config <c.config> args...`.
func (c *opCLI) run(tb testing.TB, stdin string, args ...string) opResult {
	tb.Helper()
	return opExec(tb, c.dir, c.environ(), stdin, append([]string{"--config", c.config}, args...)...)
}

// mustRun runs args and fails unless the exit code is 0.
func (c *opCLI) mustRun(tb testing.TB, stdin string, args ...string) opResult {
	tb.Helper()
	r := c.run(tb, stdin, args...)
	if r.code != 0 {
		tb.Fatalf("helpmail %s = exit %d, want 0\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// json runs args (which should include --json) and decodes stdout into v.
func (c *opCLI) json(tb testing.TB, v any, args ...string) {
	tb.Helper()
	r := c.mustRun(tb, "", args...)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		tb.Fatalf("helpmail %s: stdout is not JSON: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
}

// ingest stores raw with `helpmail ingest` and fails unless it exits 0.
func (c *opCLI) ingest(tb testing.TB, from, rcpt, raw string) {
	tb.Helper()
	c.mustRun(tb, raw, "ingest", "--from", from, "--rcpt", rcpt)
}

// opTicketList is the JSON of `tickets list --json`.
type opTicketList struct {
	Tickets []opTicket `json:"tickets"`
	Total   int        `json:"total"`
}

// opTicket is the part of a ticket's JSON the tests read.
type opTicket struct {
	Number           int64     `json:"number"`
	Subject          string    `json:"subject"`
	Status           string    `json:"status"`
	Priority         string    `json:"priority"`
	Type             string    `json:"type"`
	Impact           string    `json:"impact"`
	Requester        string    `json:"requester"`
	Organization     string    `json:"organization"`
	Assignee         string    `json:"assignee"`
	MergedInto       int64     `json:"merged_into"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	FirstResponseAt  time.Time `json:"first_response_at"`
	FirstResponseDue time.Time `json:"first_response_due"`
	ResolutionDue    time.Time `json:"resolution_due"`
	Breached         bool      `json:"breached"`
	Messages         []struct {
		MessageID string `json:"message_id"`
		From      string `json:"from"`
		Direction string `json:"direction"`
		Kind      string `json:"kind"`
		Subject   string `json:"subject"`
	} `json:"messages"`
	History []struct {
		Actor  string `json:"actor"`
		Field  string `json:"field"`
		Old    string `json:"old"`
		New    string `json:"new"`
		Reason string `json:"reason"`
	} `json:"history"`
}

func opNumbers(ts []opTicket) []int64 {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = t.Number
	}
	return out
}

// opMessage builds an LF message (as an MTA hands it to a pipe) from
// header lines and a body.
func opMessage(body string, headers ...string) string {
	return strings.Join(headers, "\n") + "\n\n" + body + "\n"
}

func TestCLIHelp(t *testing.T) {
	c := opNewCLI(t, nil)
	tests := [][]string{
		{"--help"}, {"-h"}, {"help"},
		{"serve", "--help"}, {"ingest", "--help"}, {"import", "--help"}, {"check-config", "--help"}, {"version", "--help"},
		{"tickets", "--help"}, {"tickets", "help"}, {"tickets", "list", "--help"}, {"tickets", "show", "--help"},
		{"tickets", "search", "--help"}, {"tickets", "set", "--help"}, {"tickets", "merge", "--help"},
		{"messages", "--help"}, {"messages", "explain", "--help"},
		{"outbox", "--help"}, {"outbox", "list", "--help"}, {"outbox", "retry", "--help"},
		{"sla", "--help"}, {"sla", "run", "--help"},
		{"suppressions", "--help"}, {"suppressions", "list", "--help"}, {"suppressions", "remove", "--help"},
		{"tickets", "show", "12", "--help"}, // after a positional argument too
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := c.run(t, "", args...)
			if r.code != 0 || !strings.Contains(r.stdout, "Usage") {
				t.Errorf("helpmail %s = exit %d, stdout %q; want exit 0 and the usage on stdout (stderr %q)",
					strings.Join(args, " "), r.code, r.stdout, r.stderr)
			}
			// The usage names the command it describes.
			if len(args) > 1 && args[0] != "help" && !strings.Contains(r.stdout, "helpmail "+args[0]) {
				t.Errorf("helpmail %s usage = %q, want it to name %q", strings.Join(args, " "), r.stdout, args[0])
			}
		})
	}
	// Help never touches the database: none was created.
	if _, err := os.Stat(filepath.Join(c.dir, "helpmail.db")); !os.IsNotExist(err) {
		t.Errorf("--help created or opened the database (stat: %v)", err)
	}
}

func TestCLIUsageAndNotFound(t *testing.T) {
	c := opNewCLI(t, nil)
	c.ingest(t, "ann@customer.example", "support@example.com", opMessage("Help.",
		"From: Ann <ann@customer.example>", "To: support@example.com", "Subject: Printer", "Message-ID: <u1@customer.example>"))
	tests := []struct {
		args []string
		code int
		want string // in stderr
	}{
		{nil, 2, "Usage"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"--bogus"}, 2, "bogus"},
		{[]string{"tickets"}, 2, "Usage"},
		{[]string{"tickets", "frob"}, 2, `unknown command "frob"`},
		{[]string{"tickets", "list", "--bogus"}, 2, "bogus"},
		{[]string{"tickets", "list", "--status", "sleeping"}, 2, "sleeping"},
		{[]string{"tickets", "list", "--sort", "sideways"}, 2, "sideways"},
		{[]string{"tickets", "show"}, 2, "one ticket number"},
		{[]string{"tickets", "show", "x"}, 2, `"x" is not a ticket number`},
		{[]string{"tickets", "set", "1"}, 2, "nothing to change"},
		{[]string{"tickets", "set", "1", "--priority", "urgent"}, 2, "urgent"},
		{[]string{"tickets", "merge", "1"}, 2, "two ticket numbers"},
		{[]string{"outbox", "frob"}, 2, "unknown command"},
		{[]string{"outbox", "retry", "x"}, 2, "not an outbox id"},
		{[]string{"messages", "frob"}, 2, "unknown command"},
		{[]string{"sla", "frob"}, 2, "unknown command"},
		{[]string{"tickets", "show", "999"}, 3, "ticket #999 not found"},
		{[]string{"tickets", "set", "999", "--status", "resolved"}, 3, "#999"},
		{[]string{"outbox", "retry", "999"}, 3, "999"},
		{[]string{"messages", "explain", "<nobody@nowhere.example>"}, 3, "nobody@nowhere.example"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := c.run(t, "", tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("helpmail %s = exit %d, stderr %q; want exit %d and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.code, tt.want)
			}
			if strings.Contains(r.stderr, "helpmail: helpmail:") || strings.Contains(r.stderr, "not_found:") {
				t.Errorf("helpmail %s stderr = %q, want the message once, without the error code", strings.Join(tt.args, " "), r.stderr)
			}
		})
	}
}

func TestCLIVersion(t *testing.T) {
	c := opNewCLI(t, nil)
	r := c.mustRun(t, "", "version")
	if got, want := strings.TrimSpace(r.stdout), "helpmail "+opVersion; got != want {
		t.Errorf("helpmail version = %q, want %q", got, want)
	}
}

// opTicketsFixture fills an installation with four tickets the way an
// operator's would be: three ingested through the pipe, one imported from
// an old mbox (so its SLA is long breached), then changed with tickets set.
//
//	#1 ann@customer.example  support@   "Printer on fire"           high, assigned to alice
//	#2 ops@other.example     incidents@ "VPN down"                  critical incident → bug, impact everyone
//	#3 carol@customer.example support@  "Café crème machine broken" with report.txt; waiting_for_customer
//	#4 dave@old.example      (import)   "Old request"               2020, breached
func opTicketsFixture(t *testing.T) *opCLI {
	t.Helper()
	c := opNewCLI(t, nil)
	c.ingest(t, "ann@customer.example", "support@example.com", opMessage(
		"The printer in room 12 is on fire. The printer smells of toner.",
		"From: Ann Customer <ann@customer.example>", "To: support@example.com", "Subject: Printer on fire",
		"Date: Mon, 02 Mar 2026 10:00:00 +0000", "Message-ID: <p1@customer.example>"))
	c.ingest(t, "ops@other.example", "incidents@example.com", opMessage(
		"Nobody can connect to the VPN since this morning.",
		"From: Ops <ops@other.example>", "To: incidents@example.com", "Subject: VPN down",
		"Date: Mon, 02 Mar 2026 10:05:00 +0000", "Message-ID: <v1@other.example>"))
	c.ingest(t, "carol@customer.example", "support@example.com", strings.Join([]string{
		"From: Carol <carol@customer.example>", "To: support@example.com", "Subject: Café crème machine broken",
		"Date: Mon, 02 Mar 2026 10:10:00 +0000", "Message-ID: <c1@customer.example>", "MIME-Version: 1.0",
		`Content-Type: multipart/mixed; boundary="b1"`, "",
		"--b1", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
		"The coffee machine makes no crème any more. Unrelated: the printer next to it works.",
		"--b1", `Content-Type: text/plain; name="report.txt"`, `Content-Disposition: attachment; filename="report.txt"`, "",
		"error 42 at boot",
		"--b1--", ""}, "\n"))
	mbox := filepath.Join(c.dir, "old.mbox")
	old := "From dave@old.example Mon Mar  2 09:00:00 2020\n" + opMessage("An old question nobody answered.",
		"From: Dave <dave@old.example>", "To: support@example.com", "Subject: Old request",
		"Date: Mon, 02 Mar 2020 09:00:00 +0000", "Message-ID: <o1@old.example>")
	if err := os.WriteFile(mbox, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	c.mustRun(t, "", "import", mbox)
	// In this order so that "updated" differs from "created".
	c.mustRun(t, "", "tickets", "set", "3", "--status", "waiting_for_customer")
	c.mustRun(t, "", "tickets", "set", "2", "--type", "bug", "--impact", "everyone")
	c.mustRun(t, "", "tickets", "set", "1", "--priority", "high", "--assign", "alice@example.com")
	return c
}

func TestCLITickets(t *testing.T) {
	c := opTicketsFixture(t)

	t.Run("list filters", func(t *testing.T) {
		tests := []struct {
			args []string
			want []int64 // in the default order, most recently updated first
		}{
			{nil, []int64{1, 2, 3, 4}},
			{[]string{"--status", "waiting_for_customer"}, []int64{3}},
			{[]string{"--status", "waiting_for_customer", "--status", "waiting_for_support"}, []int64{1, 2, 3, 4}},
			{[]string{"--status", "resolved"}, []int64{}},
			{[]string{"--priority", "high"}, []int64{1}},
			{[]string{"--priority", "critical", "--priority", "high"}, []int64{1, 2}},
			{[]string{"--type", "bug"}, []int64{2}},
			{[]string{"--type", "question"}, []int64{1, 3, 4}},
			{[]string{"--requester", "ANN@customer.example"}, []int64{1}},
			{[]string{"--organization", "customer.example"}, []int64{1, 3}},
			{[]string{"--assignee", "alice@example.com"}, []int64{1}},
			{[]string{"--assignee", "none"}, []int64{2, 3, 4}},
			{[]string{"--breached"}, []int64{4}},
			{[]string{"--open"}, []int64{1, 2, 3, 4}},
			{[]string{"--type", "question", "--organization", "customer.example", "--assignee", "none"}, []int64{3}},
		}
		for _, tt := range tests {
			var got opTicketList
			c.json(t, &got, append([]string{"tickets", "list", "--json"}, tt.args...)...)
			if !slices.Equal(opNumbers(got.Tickets), tt.want) || got.Total != len(tt.want) {
				t.Errorf("tickets list %v = %v (total %d), want %v", tt.args, opNumbers(got.Tickets), got.Total, tt.want)
			}
		}
	})

	t.Run("list breached agrees with the breached field", func(t *testing.T) {
		var all opTicketList
		c.json(t, &all, "tickets", "list", "--json")
		for _, tk := range all.Tickets {
			if want := tk.Number == 4; tk.Breached != want {
				t.Errorf("ticket #%d breached = %v, want %v (due %v)", tk.Number, tk.Breached, want, tk.FirstResponseDue)
			}
		}
	})

	t.Run("list sort", func(t *testing.T) {
		rank := map[string]int{"system_down": 0, "critical": 1, "high": 2, "medium": 3, "low": 4}
		due := func(tk opTicket) time.Time {
			if tk.FirstResponseAt.IsZero() && !tk.FirstResponseDue.IsZero() &&
				(tk.ResolutionDue.IsZero() || tk.FirstResponseDue.Before(tk.ResolutionDue)) {
				return tk.FirstResponseDue
			}
			return tk.ResolutionDue
		}
		tests := []struct {
			sort    string
			want    []int64
			ordered func(a, b opTicket) bool // a may come before b
		}{
			{"updated", []int64{1, 2, 3, 4}, func(a, b opTicket) bool { return !a.UpdatedAt.Before(b.UpdatedAt) }},
			{"created", []int64{3, 2, 1, 4}, func(a, b opTicket) bool { return !a.CreatedAt.Before(b.CreatedAt) }},
			{"priority", []int64{2, 1, 3, 4}, func(a, b opTicket) bool { return rank[a.Priority] <= rank[b.Priority] }},
			{"due", []int64{4, 1, 2, 3}, func(a, b opTicket) bool { return !due(a).After(due(b)) }},
		}
		for _, tt := range tests {
			var got opTicketList
			c.json(t, &got, "tickets", "list", "--json", "--sort", tt.sort)
			if !slices.Equal(opNumbers(got.Tickets), tt.want) {
				t.Errorf("tickets list --sort %s = %v, want %v", tt.sort, opNumbers(got.Tickets), tt.want)
			}
			for i := 1; i < len(got.Tickets); i++ {
				if !tt.ordered(got.Tickets[i-1], got.Tickets[i]) {
					t.Errorf("tickets list --sort %s: #%d before #%d is out of order", tt.sort, got.Tickets[i-1].Number, got.Tickets[i].Number)
				}
			}
		}
	})

	t.Run("list paging", func(t *testing.T) {
		var all opTicketList
		c.json(t, &all, "tickets", "list", "--json", "--sort", "created")
		var pages []int64
		for offset := 0; offset < 6; offset += 2 {
			var page opTicketList
			c.json(t, &page, "tickets", "list", "--json", "--sort", "created", "--limit", "2", "--offset", fmt.Sprint(offset))
			if page.Total != 4 {
				t.Errorf("tickets list --limit 2 --offset %d: total = %d, want 4", offset, page.Total)
			}
			if len(page.Tickets) > 2 {
				t.Errorf("tickets list --limit 2 --offset %d = %d tickets, want at most 2", offset, len(page.Tickets))
			}
			pages = append(pages, opNumbers(page.Tickets)...)
		}
		if !slices.Equal(pages, opNumbers(all.Tickets)) {
			t.Errorf("pages of 2 = %v, want the whole list %v", pages, opNumbers(all.Tickets))
		}
		r := c.mustRun(t, "", "tickets", "list", "--limit", "1", "--offset", "1")
		if !strings.Contains(r.stdout, "1 of 4 tickets") {
			t.Errorf("tickets list --limit 1 --offset 1 = %q, want \"1 of 4 tickets\"", r.stdout)
		}
	})

	t.Run("show json", func(t *testing.T) {
		var v map[string]any
		c.json(t, &v, "tickets", "show", "3", "--json")
		for _, k := range []string{"number", "subject", "status", "priority", "type", "requester", "assignee", "created_at", "updated_at", "messages", "history"} {
			if _, ok := v[k]; !ok {
				t.Errorf("tickets show 3 --json has no %q (keys %v)", k, opKeys(v))
			}
		}
		if v["number"] != 3.0 || v["subject"] != "Café crème machine broken" || v["requester"] != "carol@customer.example" {
			t.Errorf("tickets show 3 = number %v subject %v requester %v", v["number"], v["subject"], v["requester"])
		}
		msgs, _ := v["messages"].([]any)
		if len(msgs) == 0 {
			t.Fatalf("tickets show 3: no messages")
		}
		first, _ := msgs[0].(map[string]any)
		for _, k := range []string{"message_id", "from", "to", "direction", "kind", "subject", "date", "text", "attachments"} {
			if _, ok := first[k]; !ok {
				t.Errorf("tickets show 3: messages[0] has no %q (keys %v)", k, opKeys(first))
			}
		}
		if first["message_id"] != "c1@customer.example" || first["direction"] != "in" || !strings.Contains(fmt.Sprint(first["text"]), "crème") {
			t.Errorf("messages[0] = %v", first)
		}
		atts, _ := first["attachments"].([]any)
		if len(atts) != 1 {
			t.Fatalf("messages[0].attachments = %v, want report.txt", first["attachments"])
		}
		att, _ := atts[0].(map[string]any)
		if att["filename"] != "report.txt" || att["content_type"] != "text/plain" || att["size"] != float64(len("error 42 at boot")) {
			t.Errorf("attachment = %v, want report.txt, text/plain, %d bytes", att, len("error 42 at boot"))
		}
		if r := c.run(t, "", "tickets", "show", "999", "--json"); r.code != 3 {
			t.Errorf("tickets show 999 = exit %d, want 3", r.code)
		}
	})

	t.Run("set records history and queues the status notice", func(t *testing.T) {
		var tk opTicket
		c.json(t, &tk, "tickets", "show", "3", "--json")
		found := false
		for _, h := range tk.History {
			if h.Field == "status" && h.Old == "waiting_for_support" && h.New == "waiting_for_customer" && h.Actor == "operator" {
				found = true
			}
		}
		if !found {
			t.Errorf("history of #3 = %+v, want status waiting_for_support → waiting_for_customer by operator", tk.History)
		}
		var ob struct {
			Outbox []struct {
				Rcpt, Template, Status string
			} `json:"outbox"`
		}
		c.json(t, &ob, "outbox", "list", "--json", "--ticket", "3")
		notices := 0
		for _, o := range ob.Outbox {
			if o.Template == "status_changed" && o.Rcpt == "carol@customer.example" && o.Status == "queued" {
				notices++
			}
		}
		if notices != 1 {
			t.Errorf("outbox of #3 = %+v, want one status_changed to carol@customer.example", ob.Outbox)
		}
		var one opTicket
		c.json(t, &one, "tickets", "show", "1", "--json")
		if one.Priority != "high" || one.Assignee != "alice@example.com" {
			t.Errorf("#1 after set = priority %s assignee %q, want high, alice@example.com", one.Priority, one.Assignee)
		}
		var two opTicket
		c.json(t, &two, "tickets", "show", "2", "--json")
		if two.Type != "bug" || two.Impact != "everyone" || two.Priority != "critical" {
			t.Errorf("#2 after set = type %s impact %s priority %s, want bug, everyone, critical", two.Type, two.Impact, two.Priority)
		}
	})

	t.Run("search", func(t *testing.T) {
		type result struct {
			Ticket  opTicket `json:"ticket"`
			Snippet string   `json:"snippet"`
		}
		search := func(t *testing.T, query ...string) []result {
			t.Helper()
			var got struct {
				Results []result `json:"results"`
			}
			c.json(t, &got, append([]string{"tickets", "search", "--json", "--"}, query...)...)
			return got.Results
		}
		numbers := func(rs []result) []int64 {
			var out []int64
			for _, r := range rs {
				out = append(out, r.Ticket.Number)
			}
			return out
		}
		// #1 has "printer" in its subject and twice in its text, #3 once in its text.
		rs := search(t, "printer")
		if !slices.Equal(numbers(rs), []int64{1, 3}) {
			t.Fatalf("search printer = %v, want [1 3], the better match first", numbers(rs))
		}
		for _, r := range rs {
			if !strings.Contains(strings.ToLower(r.Snippet), "[printer]") {
				t.Errorf("search printer: #%d snippet %q, want the term marked [printer]", r.Ticket.Number, r.Snippet)
			}
		}
		for _, q := range [][]string{{"CREME"}, {"cafe"}, {"Café", "machine"}, {"crè*"}, {`"coffee machine"`}} {
			if got := numbers(search(t, q...)); !slices.Equal(got, []int64{3}) {
				t.Errorf("search %q = %v, want [3] (accents and case ignored)", q, got)
			}
		}
		if got := numbers(search(t, "vpn")); !slices.Equal(got, []int64{2}) {
			t.Errorf("search vpn = %v, want [2]", got)
		}
		// Our own notifications are not searched: every acknowledgement says
		// "We have received your request".
		if got := numbers(search(t, "received", "request")); len(got) != 0 {
			t.Errorf("search received request = %v, want none (only notifications say it)", got)
		}
		r := c.mustRun(t, "", "tickets", "search", "printer")
		if !strings.Contains(r.stdout, "#1") || !strings.Contains(r.stdout, "2 tickets") {
			t.Errorf("tickets search printer = %q", r.stdout)
		}
	})

	t.Run("search with FTS5 syntax characters", func(t *testing.T) {
		queries := []string{`AND`, `OR`, `NOT`, `NEAR(printer fire)`, `printer AND`, `(`, `)`, `"`, `"printer`, `a"b`,
			`subject:printer`, `^printer`, `printer*`, `*`, `-printer`, `+`, `'`, `:`, `{printer}`, `printer -- fire`,
			`"" ""`, `\`, `printer\`, `%`, `_`, `NEAR`, `*printer`, "printer\u00a0fire", "\ttab"}
		for _, q := range queries {
			r := c.run(t, "", "tickets", "search", "--", q)
			if (r.code != 0 && r.code != 2) || strings.Contains(r.stderr, "syntax") || strings.Contains(r.stderr, "fts5") {
				t.Errorf("tickets search %q = exit %d, stderr %q; want results or a usage error, never a syntax error", q, r.code, r.stderr)
			}
		}
		if r := c.run(t, "", "tickets", "search", "--", `"`); r.code != 2 || !strings.Contains(r.stderr, "empty search query") {
			t.Errorf(`tickets search '"' = exit %d, %q; want 2, empty search query`, r.code, r.stderr)
		}
	})

	t.Run("a closed ticket is not breached", func(t *testing.T) {
		// However late it was (this changes #4: the checks of the default
		// order are above).
		c.mustRun(t, "", "tickets", "set", "4", "--status", "closed")
		var got opTicketList
		c.json(t, &got, "tickets", "list", "--breached", "--json")
		if len(got.Tickets) != 0 {
			t.Errorf("tickets list --breached after closing #4 = %v, want none", opNumbers(got.Tickets))
		}
		c.mustRun(t, "", "tickets", "set", "4", "--status", "waiting_for_support")
	})

	t.Run("merge", func(t *testing.T) {
		r := c.mustRun(t, "", "tickets", "merge", "4", "1")
		if !strings.Contains(r.stdout, "#4 merged into #1") {
			t.Errorf("tickets merge 4 1 = %q", r.stdout)
		}
		var four, one opTicket
		c.json(t, &four, "tickets", "show", "4", "--json")
		c.json(t, &one, "tickets", "show", "1", "--json")
		if four.MergedInto != 1 || four.Status != "closed" {
			t.Errorf("#4 after merge = merged_into %d status %s, want 1, closed", four.MergedInto, four.Status)
		}
		moved := false
		for _, m := range one.Messages {
			moved = moved || m.MessageID == "o1@old.example"
		}
		if !moved {
			t.Errorf("#1 messages after merge = %+v, want dave's <o1@old.example>", one.Messages)
		}
		if r := c.run(t, "", "tickets", "merge", "2", "999"); r.code != 3 {
			t.Errorf("tickets merge 2 999 = exit %d, want 3 (%s)", r.code, r.stderr)
		}
	})
}

func opKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// opPeer is an SMTP server on 127.0.0.1 for helpmail's relay to talk to:
// it accepts mail (with AUTH PLAIN when a user is set) or refuses every
// recipient with a permanent 550.
type opPeer struct {
	addr   string
	user   string
	pass   string
	refuse bool

	mu   sync.Mutex
	got  []string // raw messages accepted
	auth []string // user names that authenticated
}

func opStartPeer(tb testing.TB, user, pass string, refuse bool) *opPeer {
	tb.Helper()
	p := &opPeer{user: user, pass: pass, refuse: refuse}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &opPeerSession{p: p}, nil }))
	srv.Domain, srv.AllowInsecureAuth = "relay.test", true
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p.addr = ln.Addr().String()
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return p
}

func (p *opPeer) port() string { _, port, _ := net.SplitHostPort(p.addr); return port }

func (p *opPeer) messages() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

type opPeerSession struct {
	p      *opPeer
	authed bool
}

func (s *opPeerSession) AuthMechanisms() []string {
	if s.p.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *opPeerSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.p.user || pass != s.p.pass {
			return errors.New("bad credentials")
		}
		s.authed = true
		s.p.mu.Lock()
		s.p.auth = append(s.p.auth, user)
		s.p.mu.Unlock()
		return nil
	}), nil
}

func (s *opPeerSession) Mail(string, *smtp.MailOptions) error {
	if s.p.user != "" && !s.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	return nil
}

func (s *opPeerSession) Rcpt(string, *smtp.RcptOptions) error {
	if s.p.refuse {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	}
	return nil
}

func (s *opPeerSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.p.mu.Lock()
	s.p.got = append(s.p.got, string(b))
	s.p.mu.Unlock()
	return nil
}

func (s *opPeerSession) Reset()        {}
func (s *opPeerSession) Logout() error { return nil }

func TestCLIOutbox(t *testing.T) {
	c := opNewCLI(t, nil)
	c.ingest(t, "ann@customer.example", "support@example.com", opMessage("Help.",
		"From: Ann <ann@customer.example>", "To: support@example.com", "Subject: Printer", "Message-ID: <ob1@customer.example>"))
	type row struct {
		ID        int64  `json:"id"`
		Rcpt      string `json:"rcpt"`
		Template  string `json:"template"`
		Status    string `json:"status"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
	}
	list := func(t *testing.T, args ...string) []row {
		t.Helper()
		var got struct {
			Outbox []row `json:"outbox"`
		}
		c.json(t, &got, append([]string{"outbox", "list", "--json"}, args...)...)
		return got.Outbox
	}
	rows := list(t) // the acknowledgement to ann, the new-ticket notices to both agents
	var ack row
	for _, o := range rows {
		if o.Template == "ticket_opened" && o.Rcpt == "ann@customer.example" && o.Status == "queued" {
			ack = o
		}
	}
	if len(rows) != 3 || ack.ID == 0 {
		t.Fatalf("outbox list = %+v, want 3 rows queued, one the acknowledgement to ann", rows)
	}
	if got := list(t, "--failed"); len(got) != 0 {
		t.Errorf("outbox list --failed = %+v, want none yet", got)
	}

	// Deliver it through the real relay client to a relay that refuses
	// the recipient for good: the row fails permanently.
	peer := opStartPeer(t, "", "", true)
	cfg, err := LoadConfig(c.config, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Outbound.Relay.Host, cfg.Outbound.Relay.Security = "127.0.0.1", "none"
	fmt.Sscan(peer.port(), &cfg.Outbound.Relay.Port)
	app, err := OpenApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sender, _, err := app.Sender()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Outbox(sender).RunOnce(context.Background()); err != nil {
		t.Fatalf("RunOnce() = %v", err)
	}
	app.Close()

	failed := list(t, "--failed")
	if len(failed) != 3 {
		t.Fatalf("outbox list --failed = %+v, want the 3 rows", failed)
	}
	for _, o := range failed {
		if o.Status != "failed" || o.Attempts != 1 || !strings.Contains(o.LastError, "550") {
			t.Errorf("failed row = %+v, want failed after 1 attempt with the relay's 550", o)
		}
	}
	r := c.mustRun(t, "", "outbox", "list")
	if !strings.Contains(r.stdout, "failed") || !strings.Contains(r.stdout, "ann@customer.example") {
		t.Errorf("outbox list = %q, want the failed row", r.stdout)
	}
	r = c.mustRun(t, "", "outbox", "retry", fmt.Sprint(ack.ID))
	if !strings.Contains(r.stdout, "queued again") || !strings.Contains(r.stdout, "ann@customer.example") {
		t.Errorf("outbox retry %d = %q", ack.ID, r.stdout)
	}
	if got := list(t, "--status", "queued"); len(got) != 1 || got[0].ID != ack.ID {
		t.Errorf("outbox list --status queued after retry = %+v, want row %d", got, ack.ID)
	}
	if got := list(t, "--failed"); len(got) != 2 {
		t.Errorf("outbox list --failed after retry = %+v, want the 2 others", got)
	}
	if r := c.run(t, "", "outbox", "retry", "999"); r.code != 3 {
		t.Errorf("outbox retry 999 = exit %d, want 3 (%s)", r.code, r.stderr)
	}
}

func TestCLICheckConfig(t *testing.T) {
	const (
		literalSecret = "literal-helpdesk-secret-0123456789"
		relayPassword = "relay-password-from-env-7f3a"
		imapPassword  = "imap-password-literal-91bc"
		filePassword  = "imap2-password-in-a-file-55d0"
	)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "imap2.pw")
	if err := os.WriteFile(pwFile, []byte(filePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := opNewCLI(t, map[string]string{
		"helpdesk":       fmt.Sprintf("secret = %q", literalSecret),
		"outbound.relay": "host = \"relay.example.com\"\nusername = \"helpmail\"\npassword = \"env:HM_RELAY_PW\"",
		// Two accounts; the second has its password in a file.
		"[[imap]]": fmt.Sprintf("address = \"support@example.com\"\nhost = \"imap.example.com\"\nusername = \"support\"\npassword = %q\n\n"+
			"[[imap]]\naddress = \"support@example.com\"\nhost = \"imap2.example.com\"\npassword = \"file:%s\"", imapPassword, pwFile),
	})

	c.env = []string{"HM_RELAY_PW=" + relayPassword}
	r := c.mustRun(t, "", "check-config")
	for _, secret := range []string{literalSecret, relayPassword, imapPassword, filePassword} {
		if strings.Contains(r.stdout, secret) || strings.Contains(r.stderr, secret) {
			t.Errorf("check-config shows the secret %q:\n%s", secret, r.stdout)
		}
	}
	for _, want := range []string{"# configuration OK: " + c.config, `password = "env:HM_RELAY_PW (set)"`, `password = "********"`,
		`password = "file:` + pwFile + ` (set)"`, `secret = "********"`, `host = "imap2.example.com"`,
		`mailbox = "INBOX"`, `poll_interval = "1m"`, `dial_timeout = "30s"`, `[sla.policies.system_down]`, `read_timeout = "5m"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check-config output has no %q:\n%s", want, r.stdout)
		}
	}

	// The printed configuration is itself a configuration file helpmail
	// reads back (with the masked secrets given again).
	printed := strings.NewReplacer(`"********"`, `"0123456789abcdef0123"`, ` (set)"`, `"`).Replace(r.stdout)
	again := filepath.Join(dir, "again.toml")
	if err := os.WriteFile(again, []byte(printed), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(again, func(string) string { return relayPassword }); err != nil {
		t.Errorf("LoadConfig(check-config output) = %v", err)
	}

	t.Run("secret from an unset variable", func(t *testing.T) {
		c.env = nil
		r := c.run(t, "", "check-config")
		if r.code != 1 || !strings.Contains(r.stderr, c.config) || !strings.Contains(r.stderr, "outbound.relay.password") ||
			!strings.Contains(r.stderr, "HM_RELAY_PW") {
			t.Errorf("check-config without $HM_RELAY_PW = exit %d, %q; want 1 naming the file, key and variable", r.code, r.stderr)
		}
	})
	t.Run("bad value", func(t *testing.T) {
		bad := opNewCLI(t, map[string]string{"helpdesk": `visibility = "public"`})
		r := bad.run(t, "", "check-config")
		if r.code != 1 || !strings.Contains(r.stderr, bad.config) || !strings.Contains(r.stderr, "helpdesk.visibility") {
			t.Errorf("check-config with visibility public = exit %d, %q; want 1 naming the file and helpdesk.visibility", r.code, r.stderr)
		}
	})
	t.Run("defaults without a file", func(t *testing.T) {
		r := opExec(t, t.TempDir(), []string{"PATH=" + os.Getenv("PATH")}, "", "check-config")
		if r.code != 0 || !strings.Contains(r.stdout, "built-in defaults") || !strings.Contains(r.stdout, `listen = "127.0.0.1:2525"`) {
			t.Errorf("check-config without a file = exit %d, %q", r.code, r.stdout)
		}
	})
}

func TestCLIIngestExitCodes(t *testing.T) {
	good := opMessage("Hello.", "From: Ann <ann@customer.example>", "To: support@example.com", "Subject: exit codes",
		"Message-ID: <ex1@customer.example>")
	dir := t.TempDir()
	aFile := filepath.Join(dir, "a-file")
	os.WriteFile(aFile, nil, 0o600)
	aDir := filepath.Join(dir, "a-dir.db")
	os.Mkdir(aDir, 0o700)
	tests := []struct {
		name  string
		over  map[string]string
		stdin string
		code  int
	}{
		{"stored", nil, good, 0},
		{"empty message", nil, "", 65},
		{"only blank lines", nil, "\n\n  \n", 65},
		{"larger than smtp.max_message_bytes", map[string]string{"smtp": "max_message_bytes = 1024"}, good + strings.Repeat("x", 2000), 65},
		// Tests run as root, for whom permissions do not stop a write: a
		// database path that is a directory, or under a regular file,
		// cannot be opened by anyone.
		{"database path is a directory", map[string]string{"database": fmt.Sprintf("path = %q", aDir)}, good, 75},
		{"database under a regular file", map[string]string{"database": fmt.Sprintf("path = %q", filepath.Join(aFile, "h.db"))}, good, 75},
		{"configuration broken", map[string]string{"helpdesk": `visibility = "public"`}, good, 75},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := opNewCLI(t, tt.over)
			r := c.run(t, tt.stdin, "ingest", "--from", "ann@customer.example", "--rcpt", "support@example.com")
			if r.code != tt.code {
				t.Fatalf("ingest (%s) = exit %d, want %d; stderr %q", tt.name, r.code, tt.code, r.stderr)
			}
			if tt.code != 0 {
				return
			}
			var tk opTicket
			c.json(t, &tk, "tickets", "show", "1", "--json")
			if tk.Requester != "ann@customer.example" || tk.Subject != "exit codes" {
				t.Errorf("ticket #1 = %+v", tk)
			}
			// Delivered again (an MTA retrying after a lost exit status): exit 0, stored once.
			c.mustRun(t, tt.stdin, "ingest", "--from", "ann@customer.example", "--rcpt", "support@example.com")
			c.json(t, &tk, "tickets", "show", "1", "--json")
			if in := opCount(tk, "in"); in != 1 {
				t.Errorf("inbound messages on #1 after a second delivery = %d, want 1", in)
			}
		})
	}
}

func opCount(tk opTicket, direction string) int {
	n := 0
	for _, m := range tk.Messages {
		if m.Direction == direction {
			n++
		}
	}
	return n
}

// opPipeService reads the pipe(8) service name from a master.cf: its flags,
// its other attributes and its argv.
func opPipeService(tb testing.TB, path, name string) (attrs map[string]string, argv []string) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var entry []string
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#"):
			continue
		case l[0] != ' ' && l[0] != '\t': // a new service
			if len(entry) > 0 && strings.Fields(entry[0])[0] == name {
				break
			}
			entry = []string{l}
		default:
			entry = append(entry, l)
		}
	}
	f := strings.Fields(strings.Join(entry, " "))
	if len(f) < 9 || f[0] != name || f[1] != "unix" || f[7] != "pipe" {
		tb.Fatalf("%s: no \"%s unix … pipe\" service: %q", path, name, f)
	}
	attrs = map[string]string{}
	for i, a := range f[8:] {
		k, v, _ := strings.Cut(a, "=")
		if k == "argv" {
			return attrs, append([]string{v}, f[8+i+1:]...)
		}
		attrs[k] = v
	}
	tb.Fatalf("%s: service %s has no argv=", path, name)
	return nil, nil
}

// opPostfixPipe delivers raw as Postfix's pipe(8) would run the recipe's
// argv: macros expanded (an element with ${recipient} once per
// recipient), the null sender replaced by null_sender=, the headers its
// flags ask for prepended, and only pipe(8)'s export_environment.
func opPostfixPipe(tb testing.TB, c *opCLI, attrs map[string]string, argv []string, sender string, rcpts []string, raw string) opResult {
	tb.Helper()
	if sender == "" {
		sender = "MAILER-DAEMON"
		if v, ok := attrs["null_sender"]; ok {
			sender = v
		}
	}
	var args []string
	for _, a := range argv {
		if strings.Contains(a, "${recipient}") || strings.Contains(a, "${original_recipient}") {
			for _, r := range rcpts {
				args = append(args, strings.NewReplacer("${recipient}", r, "${original_recipient}", r, "${sender}", sender).Replace(a))
			}
			continue
		}
		a = strings.ReplaceAll(a, "${sender}", sender)
		if strings.Contains(a, "${") {
			tb.Fatalf("argv element %q uses a macro this test does not expand", a)
		}
		args = append(args, a)
	}
	if args[0] != "/usr/local/bin/helpmail" || args[1] != "--config" {
		tb.Fatalf("argv = %q, want /usr/local/bin/helpmail --config FILE …", args)
	}
	var head strings.Builder
	flags := attrs["flags"]
	if strings.Contains(flags, "R") {
		fmt.Fprintf(&head, "Return-Path: <%s>\n", strings.TrimPrefix(sender, "MAILER-DAEMON"))
	}
	if strings.Contains(flags, "O") {
		fmt.Fprintf(&head, "X-Original-To: %s\n", rcpts[0])
	}
	if strings.Contains(flags, "D") {
		fmt.Fprintf(&head, "Delivered-To: %s\n", rcpts[0])
	}
	env := []string{"TZ=UTC", "LANG=C.UTF-8", "MAIL_CONFIG=/etc/postfix"} // pipe(8)'s default export_environment
	return opExec(tb, c.dir, env, head.String()+raw, append([]string{opBin, "--config", c.config}, args[3:]...)[1:]...)
}

// TestPostfixRecipe runs the binary exactly as deploy/postfix tells Postfix
// to: the pipe transport of master.cf (argv, flags, environment, exit
// statuses) and the mailbox_command alternative of main.cf.
func TestPostfixRecipe(t *testing.T) {
	attrs, argv := opPipeService(t, "../../deploy/postfix/master.cf", "helpmail")
	if attrs["user"] != "helpmail" || !strings.Contains(attrs["flags"], "R") {
		t.Errorf("pipe attributes = %v, want user=helpmail and flags with R (Return-Path)", attrs)
	}
	c := opNewCLI(t, nil)
	type envelope struct {
		EnvelopeFrom string   `json:"envelope_from"`
		EnvelopeTo   []string `json:"envelope_to"`
		Kind         string   `json:"kind"`
		Ticket       int64    `json:"ticket"`
	}
	explain := func(t *testing.T, id string) envelope {
		t.Helper()
		var got struct {
			Messages []envelope `json:"messages"`
		}
		c.json(t, &got, "messages", "explain", "--json", id)
		if len(got.Messages) != 1 {
			t.Fatalf("messages explain %s = %+v, want one message", id, got.Messages)
		}
		return got.Messages[0]
	}

	r := opPostfixPipe(t, c, attrs, argv, "ann@customer.example", []string{"support@example.com"}, opMessage("The printer is on fire.",
		"From: Ann <ann@customer.example>", "To: support@example.com", "Subject: Printer on fire", "Message-ID: <pf1@customer.example>"))
	if r.code != 0 {
		t.Fatalf("pipe delivery = exit %d, want 0; stderr %q", r.code, r.stderr)
	}
	if m := explain(t, "pf1@customer.example"); m.Ticket != 1 || m.EnvelopeFrom != "ann@customer.example" ||
		!slices.Equal(m.EnvelopeTo, []string{"support@example.com"}) || m.Kind != "customer" {
		t.Errorf("pipe delivery stored %+v, want ticket 1 from ann@customer.example to support@example.com", m)
	}

	// A bounce (null sender): recognised as automatic mail, answered by nothing.
	var before struct {
		Outbox []struct{ ID int64 } `json:"outbox"`
	}
	c.json(t, &before, "outbox", "list", "--json")
	r = opPostfixPipe(t, c, attrs, argv, "", []string{"support@example.com"}, opMessage("Your message could not be delivered.",
		"From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>", "To: support@example.com",
		"Subject: Undelivered Mail Returned to Sender", "Message-ID: <pf2@mx.customer.example>"))
	if r.code != 0 {
		t.Fatalf("pipe delivery of a bounce = exit %d, want 0; stderr %q", r.code, r.stderr)
	}
	if m := explain(t, "pf2@mx.customer.example"); m.Kind != "automatic" && m.Kind != "bounce" {
		t.Errorf("bounce through the pipe stored as %+v, want automatic or bounce", m)
	}
	var after struct {
		Outbox []struct{ ID int64 } `json:"outbox"`
	}
	c.json(t, &after, "outbox", "list", "--json")
	if len(after.Outbox) != len(before.Outbox) {
		t.Errorf("a bounce through the pipe queued %d messages, want none", len(after.Outbox)-len(before.Outbox))
	}

	// Exit statuses pipe(8) maps: 65 bounces the message, 75 defers it.
	// (Postfix never pipes an empty message: its flags prepend headers.)
	small := opNewCLI(t, map[string]string{"smtp": "max_message_bytes = 1024"})
	if r := opPostfixPipe(t, small, attrs, argv, "ann@customer.example", []string{"support@example.com"},
		opMessage(strings.Repeat("0123456789\n", 200), "From: ann@customer.example", "Subject: big")); r.code != 65 {
		t.Errorf("pipe delivery of a message above smtp.max_message_bytes = exit %d, want 65 (bounce)", r.code)
	}
	broken := opNewCLI(t, map[string]string{"database": fmt.Sprintf("path = %q", t.TempDir())})
	if r := opPostfixPipe(t, broken, attrs, argv, "ann@customer.example", []string{"support@example.com"},
		opMessage("x", "From: ann@customer.example", "Subject: x")); r.code != 75 {
		t.Errorf("pipe delivery with the database unavailable = exit %d, want 75 (defer); stderr %q", r.code, r.stderr)
	}

	t.Run("mailbox_command", func(t *testing.T) {
		b, err := os.ReadFile("../../deploy/postfix/main.cf")
		if err != nil {
			t.Fatal(err)
		}
		var command []string
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimLeft(l, "# "), "mailbox_command ="); ok {
				command = strings.Fields(v)
			}
		}
		if len(command) < 4 || command[0] != "/usr/local/bin/helpmail" || command[1] != "--config" || strings.ContainsAny(strings.Join(command, " "), `|&;<>$"'`) {
			t.Fatalf("main.cf mailbox_command = %q, want /usr/local/bin/helpmail --config FILE ingest, without shell syntax", command)
		}
		// local(8) runs it as the recipient, with these variables, and
		// prepends a From_ line, Return-Path, X-Original-To and Delivered-To.
		env := []string{"SENDER=carol@customer.example", "RECIPIENT=support@example.com", "ORIGINAL_RECIPIENT=support@example.com",
			"LOCAL=support", "DOMAIN=example.com", "EXTENSION=", "USER=support", "LOGNAME=support", "HOME=" + c.dir,
			"SHELL=/bin/sh", "TZ=UTC", "LANG=C.UTF-8", "MAIL_CONFIG=/etc/postfix"}
		raw := "From carol@customer.example  Mon Mar  2 10:00:00 2026\nReturn-Path: <carol@customer.example>\n" +
			"X-Original-To: support@example.com\nDelivered-To: support@example.com\n" +
			opMessage("The coffee machine is broken.", "From: Carol <carol@customer.example>", "To: support@example.com",
				"Subject: Coffee", "Message-ID: <mc1@customer.example>")
		r := opExec(t, c.dir, env, raw, append([]string{"--config", c.config}, command[3:]...)...)
		if r.code != 0 {
			t.Fatalf("mailbox_command = exit %d, want 0; stderr %q", r.code, r.stderr)
		}
		m := explain(t, "mc1@customer.example")
		if m.Ticket == 0 || m.EnvelopeFrom != "carol@customer.example" || !slices.Equal(m.EnvelopeTo, []string{"support@example.com"}) {
			t.Errorf("mailbox_command stored %+v, want a ticket, envelope carol@customer.example → support@example.com", m)
		}
		var tk opTicket
		c.json(t, &tk, "tickets", "show", fmt.Sprint(m.Ticket), "--json")
		if tk.Subject != "Coffee" || tk.Requester != "carol@customer.example" {
			t.Errorf("ticket from mailbox_command = subject %q requester %q (the From_ line must not spoil the header)", tk.Subject, tk.Requester)
		}
	})
}

// TestSystemdUnit checks deploy/helpmail.service: the hardening the issue
// asks for, commands the binary accepts, a stop timeout longer than serve's
// own shutdown bound, and (where systemd-analyze exists) systemd's verdict.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("../../deploy/helpmail.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string][]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			unit[k] = append(unit[k], v)
		}
	}
	for k, want := range map[string]string{"User": "helpmail", "StateDirectory": "helpmail", "NoNewPrivileges": "true",
		"ProtectSystem": "strict", "Restart": "on-failure", "KillSignal": "SIGTERM", "ReadWritePaths": "/var/lib/helpmail"} {
		if !slices.Contains(unit[k], want) {
			t.Errorf("helpmail.service %s = %q, want %q", k, unit[k], want)
		}
	}
	stop, err := time.ParseDuration(strings.Join(unit["TimeoutStopSec"], ""))
	if err != nil || stop <= 30*time.Second {
		t.Errorf("helpmail.service TimeoutStopSec = %q, want more than serve's 30 s shutdown bound", unit["TimeoutStopSec"])
	}
	c := opNewCLI(t, nil)
	for _, key := range []string{"ExecStartPre", "ExecStart"} {
		for _, line := range unit[key] {
			f := strings.Fields(line)
			if len(f) < 4 || f[0] != "/usr/local/bin/helpmail" || f[1] != "--config" {
				t.Fatalf("helpmail.service %s = %q, want /usr/local/bin/helpmail --config FILE …", key, line)
			}
			if f[len(f)-1] == "serve" {
				continue // started by the shutdown tests
			}
			if r := c.run(t, "", f[3:]...); r.code != 0 {
				t.Errorf("helpmail.service %s %q = exit %d: %s", key, line, r.code, r.stderr)
			}
		}
	}
	if !slices.ContainsFunc(unit["ExecStart"], func(s string) bool { return strings.HasSuffix(strings.TrimSpace(s), " serve") }) {
		t.Errorf("helpmail.service ExecStart = %q, want … serve", unit["ExecStart"])
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("systemd-analyze not installed: unit checked by the rules above only")
		return
	}
	copyPath := filepath.Join(t.TempDir(), "helpmail.service")
	os.WriteFile(copyPath, bytes.ReplaceAll(b, []byte("/usr/local/bin/helpmail"), []byte(opBin)), 0o644)
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("Unknown")) || bytes.Contains(out, []byte("rror")) {
		t.Errorf("systemd-analyze verify helpmail.service = %v:\n%s", err, out)
	}
}

// TestCLIIngestNullSender: a bounce reaches ingest with an empty sender —
// Postfix's pipe gives --from= (null_sender=), local(8) sets SENDER to "".
// It is automatic mail: stored, answered by nothing.
func TestCLIIngestNullSender(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  []string
		kind string
	}{
		{"--from=", []string{"--from="}, nil, "automatic"},
		{"--from <>", []string{"--from", "<>"}, nil, "automatic"},
		{"SENDER empty", nil, []string{"SENDER="}, "automatic"},
		{"SENDER set", nil, []string{"SENDER=ann@customer.example"}, "customer"},
		{"no sender at all", nil, nil, "customer"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := opNewCLI(t, nil)
			c.env = append(tt.env, "RECIPIENT=support@example.com")
			id := fmt.Sprintf("ns%d@customer.example", i)
			c.mustRun(t, opMessage("Hello.", "From: Ann <ann@customer.example>", "To: support@example.com", "Subject: null sender?",
				"Message-ID: <"+id+">"), append([]string{"ingest"}, tt.args...)...)
			var got struct {
				Messages []struct {
					Kind       string   `json:"kind"`
					EnvelopeTo []string `json:"envelope_to"`
				} `json:"messages"`
			}
			c.json(t, &got, "messages", "explain", "--json", id)
			if len(got.Messages) != 1 || got.Messages[0].Kind != tt.kind || !slices.Equal(got.Messages[0].EnvelopeTo, []string{"support@example.com"}) {
				t.Errorf("ingest %v with %v stored %+v, want kind %s, envelope to support@example.com", tt.args, tt.env, got.Messages, tt.kind)
			}
		})
	}
}
