package main

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/helpmail/helpmail"
)

// OutboxCommand is `helpmail outbox`.
type OutboxCommand struct{}

const outboxUsage = `Usage: helpmail outbox <list|retry> [arguments]

  list [--failed] [--status S] [--ticket N] [--json]   outgoing mail and its delivery state
  retry ID                                             make a failed or bounced row due again
`

// Run dispatches to list and retry.
func (c *OutboxCommand) Run(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || isHelp(args[:1]) || args[0] == "help" {
		return env.groupUsage(args, outboxUsage)
	}
	if args[0] != "list" && args[0] != "retry" {
		fmt.Fprintf(env.Stderr, "helpmail outbox: unknown command %q\n\n%s", args[0], outboxUsage)
		return &exitError{code: exitUsage}
	}
	if args[0] == "retry" {
		return c.retry(ctx, env, args[1:])
	}
	fs := env.flagSet("outbox list", "[flags]", "Lists outgoing mail, newest first, with its delivery state.")
	failed := fs.Bool("failed", false, "only failed and bounced rows")
	var status stringList
	fs.Var(&status, "status", "only this state: queued, sending, sent, failed, bounced (repeatable)")
	ticket := fs.Int64("ticket", 0, "only mail about this ticket")
	limit := fs.Int("limit", 100, "at most this many")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	f := helpmail.OutboxFilter{Ticket: *ticket, Limit: *limit}
	for _, s := range status {
		f.Status = append(f.Status, helpmail.OutboxStatus(s))
	}
	if *failed {
		f.Status = append(f.Status, helpmail.OutboxFailed, helpmail.OutboxBounced)
	}
	app, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	var rows []*helpmail.OutboxItem
	err = app.DB.View(ctx, func(tx helpmail.Tx) (err error) {
		rows, err = tx.FindOutboxes(ctx, f)
		return err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(env.Stdout, map[string]any{"outbox": rows})
	}
	w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTATUS\tATTEMPTS\tTICKET\tRCPT\tTEMPLATE\tCREATED\tLAST ERROR")
	for _, o := range rows {
		fmt.Fprintf(w, "%d\t%s\t%d\t#%d\t%s\t%s\t%s\t%s\n", o.ID, o.Status, o.Attempts, o.Ticket, o.Rcpt, o.Template,
			fmtTime(o.CreatedAt), clip(o.LastError, 80))
	}
	return w.Flush()
}

func (c *OutboxCommand) retry(ctx context.Context, env *Env, args []string) error {
	fs := env.flagSet("outbox retry", "ID", "Makes a failed or bounced outbox row due again now; a running serve sends it.")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &exitError{code: exitUsage, err: fmt.Errorf("expected one outbox id")}
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("%q is not an outbox id", pos[0])}
	}
	app, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	o, err := helpmail.RetryOutbox(ctx, app.DB, id, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "outbox %d to %s queued again\n", o.ID, o.Rcpt)
	return nil
}
