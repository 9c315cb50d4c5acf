package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/store"
)

// TicketsCommand is `helpmail tickets`.
type TicketsCommand struct{}

const ticketsUsage = `Usage: helpmail tickets <list|show|search|set|merge> [arguments]

  list [filters]       list tickets (newest update first)
  show N               one ticket with its messages and history
  search QUERY         full-text search over subjects and messages
  set N --status S     change a ticket as an agent would by email
  merge A B            merge ticket A into ticket B

"helpmail tickets <command> --help" describes each.
`

// Run dispatches to the tickets sub-commands.
func (c *TicketsCommand) Run(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || isHelp(args[:1]) || args[0] == "help" {
		return env.groupUsage(args, ticketsUsage)
	}
	switch args[0] {
	case "list":
		return c.list(ctx, env, args[1:])
	case "show":
		return c.show(ctx, env, args[1:])
	case "set":
		return c.set(ctx, env, args[1:])
	case "search":
		return c.search(ctx, env, args[1:])
	case "merge":
		return c.merge(ctx, env, args[1:])
	}
	fmt.Fprintf(env.Stderr, "helpmail tickets: unknown command %q\n\n%s", args[0], ticketsUsage)
	return &exitError{code: exitUsage}
}

// openApp opens the app for a CLI command, logging warnings only.
func openApp(ctx context.Context, env *Env) (*App, error) {
	cfg, err := env.Config()
	if err != nil {
		return nil, err
	}
	cfg.Log.Level = "warn"
	return OpenApp(ctx, cfg, newLogger(cfg, env.Stderr))
}

func (c *TicketsCommand) list(ctx context.Context, env *Env, args []string) error {
	fs := env.flagSet("tickets list", "[flags]", "Lists tickets, most recently updated first.")
	var status, priority, typ stringList
	fs.Var(&status, "status", "only this status (repeatable)")
	fs.Var(&priority, "priority", "only this priority (repeatable)")
	fs.Var(&typ, "type", "only this type (repeatable)")
	requester := fs.String("requester", "", "only tickets of this requester address")
	org := fs.String("organization", "", "only tickets of this organization")
	assignee := fs.String("assignee", "", `only tickets assigned to this agent ("none" for unassigned)`)
	open := fs.Bool("open", false, "only open tickets")
	breached := fs.Bool("breached", false, "only tickets past a due time")
	sort := fs.String("sort", "updated", "updated, created, priority or due")
	limit := fs.Int("limit", 50, "at most this many (0 = all)")
	offset := fs.Int("offset", 0, "skip this many")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	// A ticket is breached only while open (SLA.Breach), so --breached
	// implies --open, as the digest does.
	f := helpmail.TicketFilter{Requester: *requester, Organization: *org, Assignee: *assignee, Open: *open || *breached,
		Breached: *breached, Now: time.Now(), Sort: *sort, Limit: *limit, Offset: *offset}
	var err error
	if f.Status, err = each(status, helpmail.ParseStatus); err != nil {
		return err
	}
	if f.Priority, err = each(priority, helpmail.ParsePriority); err != nil {
		return err
	}
	if f.Type, err = each(typ, helpmail.ParseType); err != nil {
		return err
	}
	app, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	var tickets []*helpmail.Ticket
	var total int
	err = app.DB.View(ctx, func(tx helpmail.Tx) (err error) {
		tickets, total, err = tx.FindTickets(ctx, f)
		return err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		views := make([]ticketView, len(tickets))
		for i, t := range tickets {
			views[i] = viewTicket(app, t, f.Now)
		}
		return writeJSON(env.Stdout, map[string]any{"tickets": views, "total": total})
	}
	w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NUMBER\tSTATUS\tPRIORITY\tREQUESTER\tASSIGNEE\tUPDATED\tSUBJECT")
	for _, t := range tickets {
		fmt.Fprintf(w, "#%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Number, t.Status, t.Priority, t.Requester,
			orStr(t.Assignee, "-"), t.UpdatedAt.Local().Format("2006-01-02 15:04"), clip(t.Subject, 60))
	}
	w.Flush()
	fmt.Fprintf(env.Stdout, "%d of %d tickets\n", len(tickets), total)
	return nil
}

// ticketView is the JSON form of a ticket: the stored fields plus what is
// derived at read time.
type ticketView struct {
	*helpmail.Ticket
	Breached     bool                    `json:"breached"`
	Participants []helpmail.Participant  `json:"participants,omitempty"`
	Messages     []*helpmail.Message     `json:"messages,omitempty"`
	History      []helpmail.HistoryEntry `json:"history,omitempty"`
}

func viewTicket(app *App, t *helpmail.Ticket, now time.Time) ticketView {
	fr, res := app.Desk.SLA.Breach(t, now)
	return ticketView{Ticket: t, Breached: fr || res}
}

func (c *TicketsCommand) show(ctx context.Context, env *Env, args []string) error {
	fs := env.flagSet("tickets show", "N [--json]", "Shows one ticket with its participants, messages and history.")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	n, err := ticketArg(pos)
	if err != nil {
		return err
	}
	app, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	var v ticketView
	err = app.DB.View(ctx, func(tx helpmail.Tx) error {
		t, err := tx.FindTicket(ctx, n)
		if err != nil {
			return err
		}
		v = viewTicket(app, t, time.Now())
		if v.Participants, err = tx.Participants(ctx, n); err != nil {
			return err
		}
		if v.Messages, err = tx.FindMessages(ctx, n); err != nil {
			return err
		}
		v.History, err = tx.History(ctx, n)
		return err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(env.Stdout, v)
	}
	printTicket(env.Stdout, v)
	return nil
}

func printTicket(w io.Writer, v ticketView) {
	t := v.Ticket
	fmt.Fprintf(w, "#%d %s\n", t.Number, t.Subject)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "  %s\t%s\n", k, v)
		}
	}
	row("status", string(t.Status))
	row("priority", string(t.Priority))
	row("type", string(t.Type))
	row("impact", string(t.Impact))
	row("requester", strings.TrimSpace(t.RequesterName+" <"+t.Requester+">"))
	row("organization", t.Organization)
	row("assignee", orStr(t.Assignee, "(none)"))
	row("language", t.Language)
	row("address", t.Address)
	if t.FollowUpOf != 0 {
		row("follow-up of", fmt.Sprintf("#%d", t.FollowUpOf))
	}
	if t.MergedInto != 0 {
		row("merged into", fmt.Sprintf("#%d", t.MergedInto))
	}
	row("created", fmtTime(t.CreatedAt))
	row("updated", fmtTime(t.UpdatedAt))
	row("first response", fmtTime(t.FirstResponseAt))
	row("first response due", fmtTime(t.FirstResponseDue))
	row("resolution due", fmtTime(t.ResolutionDue))
	if v.Breached {
		row("SLA", "BREACHED")
	}
	for _, p := range v.Participants {
		if p.Role != helpmail.RoleRequester {
			row(string(p.Role), strings.TrimSpace(p.Name+" <"+p.Address+">"))
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\nMessages (%d)\n", len(v.Messages))
	for _, m := range v.Messages {
		arrow := "<-"
		if m.Direction == helpmail.Outbound {
			arrow = "->"
		}
		fmt.Fprintf(w, "\n  %s %s  %s  %s  [%s]\n", arrow, fmtTime(m.CreatedAt), orStr(m.From, "?"), m.Subject, m.Kind)
		for _, a := range m.Attachments {
			state := ""
			if a.Refused != "" {
				state = " (refused: " + a.Refused + ")"
			}
			fmt.Fprintf(w, "     attachment %s, %s, %d bytes%s\n", orStr(a.Filename, "(no name)"), a.ContentType, a.Size, state)
		}
		for _, l := range strings.Split(clip(strings.TrimSpace(m.Text), 800), "\n") {
			fmt.Fprintf(w, "     %s\n", l)
		}
	}
	fmt.Fprintf(w, "\nHistory\n")
	for _, h := range v.History {
		change := h.New
		if h.Old != "" {
			change = h.Old + " -> " + h.New
		}
		fmt.Fprintf(w, "  %s  %-22s %-14s %s  %s\n", fmtTime(h.At), h.Actor, h.Field, change, h.Reason)
	}
}

func (c *TicketsCommand) set(ctx context.Context, env *Env, args []string) error {
	fs := env.flagSet("tickets set", "N [--status S] [--priority P] [--type T] [--impact I] [--assign ADDR]",
		`Changes a ticket as an agent's email command would: the change is recorded in
the history, the customer is told about a status change, the SLA is
recomputed on a priority change and system_down pages the on-call address.`)
	status := fs.String("status", "", "new status")
	priority := fs.String("priority", "", "new priority")
	typ := fs.String("type", "", "new type")
	impact := fs.String("impact", "", "new business impact")
	assign := fs.String("assign", "", `agent address to assign ("none" to unassign)`)
	actor := fs.String("as", "operator", "who makes the change, for the history (an agent address)")
	asJSON := fs.Bool("json", false, "print the ticket as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	n, err := ticketArg(pos)
	if err != nil {
		return err
	}
	ch := helpmail.Change{Reason: "cli"}
	if ch.Status, err = optional(*status, helpmail.ParseStatus); err != nil {
		return err
	}
	if ch.Priority, err = optional(*priority, helpmail.ParsePriority); err != nil {
		return err
	}
	if ch.Type, err = optional(*typ, helpmail.ParseType); err != nil {
		return err
	}
	if ch.Impact, err = optional(*impact, helpmail.ParseImpact); err != nil {
		return err
	}
	if *assign != "" {
		a := strings.ToLower(*assign)
		if a == "none" {
			a = ""
		}
		ch.Assignee = &a
	}
	if ch == (helpmail.Change{Reason: "cli"}) {
		return &exitError{code: exitUsage, err: fmt.Errorf("tickets set: nothing to change (see --help)")}
	}
	app, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	t, err := app.Desk.UpdateTicket(ctx, n, strings.ToLower(*actor), ch)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(env.Stdout, viewTicket(app, t, time.Now()))
	}
	fmt.Fprintf(env.Stdout, "#%d %s: status %s, priority %s, type %s, impact %s, assignee %s\n", t.Number, t.Subject,
		t.Status, t.Priority, t.Type, t.Impact, orStr(t.Assignee, "(none)"))
	return nil
}

// each parses every value of a repeatable flag.
func each[T any](list []string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, s := range list {
		v, err := parse(s)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// optional parses a flag that may be left empty: nil when it was.
func optional[T any](s string, parse func(string) (T, error)) (*T, error) {
	if s == "" {
		return nil, nil
	}
	v, err := parse(s)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

func ticketArg(pos []string) (int64, error) {
	if len(pos) != 1 {
		return 0, &exitError{code: exitUsage, err: fmt.Errorf("expected one ticket number")}
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(pos[0], "#"), 10, 64)
	if err != nil || n <= 0 {
		return 0, &exitError{code: exitUsage, err: fmt.Errorf("%q is not a ticket number", pos[0])}
	}
	return n, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func (c *TicketsCommand) search(ctx context.Context, env *Env, args []string) error {
	fs := env.flagSet("tickets search", "QUERY... [--limit N] [--json]", `Full-text search (SQLite FTS5) over the subjects and texts of every message,
best match first, one line per ticket with a snippet where the matched terms
are [marked]. All words must match; "word*" matches a prefix and "two words"
in quotes a phrase. Accents and case are ignored.`)
	limit := fs.Int("limit", 20, "at most this many tickets")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("tickets search: no query")}
	}
	app, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	var res []store.SearchResult
	err = app.DB.ViewTx(ctx, func(tx *store.Tx) (err error) {
		res, err = tx.Search(ctx, strings.Join(pos, " "), *limit)
		return err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(env.Stdout, map[string]any{"results": res})
	}
	for _, r := range res {
		fmt.Fprintf(env.Stdout, "#%d  %-20s  %s\n      %s\n", r.Ticket.Number, r.Ticket.Status, clip(r.Ticket.Subject, 70), clip(r.Snippet, 160))
	}
	fmt.Fprintf(env.Stdout, "%d tickets\n", len(res))
	return nil
}

func (c *TicketsCommand) merge(ctx context.Context, env *Env, args []string) error {
	fs := env.flagSet("tickets merge", "A B", `Merges ticket A into ticket B: A's messages move to B, A's requester and
collaborators become collaborators of B, and A is closed pointing at B, so
replies that still thread to A land on B. Both histories record it.`)
	actor := fs.String("as", "operator", "who merges, for the history")
	asJSON := fs.Bool("json", false, "print the surviving ticket as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return &exitError{code: exitUsage, err: fmt.Errorf("tickets merge: expected two ticket numbers")}
	}
	a, err := ticketArg(pos[:1])
	if err != nil {
		return err
	}
	b, err := ticketArg(pos[1:])
	if err != nil {
		return err
	}
	app, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	t, err := app.Desk.Merge(ctx, a, b, strings.ToLower(*actor))
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(env.Stdout, viewTicket(app, t, time.Now()))
	}
	fmt.Fprintf(env.Stdout, "#%d merged into #%d %s\n", a, t.Number, t.Subject)
	return nil
}
