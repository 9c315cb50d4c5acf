package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/store"
	"github.com/helpmail/helpmail/threading"
)

// MessagesCommand is `helpmail messages`.
type MessagesCommand struct{}

// Run implements `helpmail messages explain <message-id>` and
// `helpmail messages unthreaded`.
func (c *MessagesCommand) Run(ctx context.Context, env *Env, args []string) error {
	const usage = `Usage: helpmail messages <explain|unthreaded> [arguments]

  explain <message-id> [--json]   what helpmail did with a message and why
  unthreaded [--limit N] [--json] stored messages on no ticket (automatic mail, reports)
`
	if len(args) == 0 || isHelp(args[:1]) || args[0] == "help" {
		return env.groupUsage(args, usage)
	}
	if args[0] == "unthreaded" {
		return c.unthreaded(ctx, env, args[1:])
	}
	if args[0] != "explain" {
		fmt.Fprintf(env.Stderr, "helpmail messages: unknown command %q\n\n%s", args[0], usage)
		return &exitError{code: exitUsage}
	}
	fs := env.flagSet("messages explain", "<message-id> [--json]", `Prints what helpmail did with a stored message and why: which threading rule
matched (token, reference, tag or new) and why the earlier ones did not,
what it did to the ticket, and which notifications it queued or suppressed
(automatic mail, rate limit, suppressed address).`)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &exitError{code: exitUsage, err: fmt.Errorf("expected one Message-ID")}
	}
	id := threading.CanonicalMessageID(pos[0])
	app, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	var msgs []*helpmail.Message
	err = app.DB.View(ctx, func(tx helpmail.Tx) (err error) {
		msgs, err = tx.FindMessagesByMessageID(ctx, id)
		return err
	})
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return helpmail.Errorf(helpmail.ENOTFOUND, "no stored message with Message-ID <%s>", id)
	}
	if *asJSON {
		return writeJSON(env.Stdout, map[string]any{"messages": msgs})
	}
	for _, m := range msgs {
		fmt.Fprintf(env.Stdout, "message %d <%s> %s, %s, stored %s\n", m.ID, m.MessageID, m.Direction, m.Kind, fmtTime(m.CreatedAt))
		fmt.Fprintf(env.Stdout, "  from:    %s\n  subject: %s\n", orStr(m.From, "(none)"), m.Subject)
		if m.Ticket != 0 {
			fmt.Fprintf(env.Stdout, "  ticket:  #%d\n", m.Ticket)
		} else {
			fmt.Fprintf(env.Stdout, "  ticket:  (none)\n")
		}
		d := m.Decision
		if d.Rule != "" {
			fmt.Fprintf(env.Stdout, "  rule:    %s\n", d.Rule)
		}
		fmt.Fprintf(env.Stdout, "  outcome: %s\n", d.Outcome)
		for _, n := range d.Notes {
			fmt.Fprintf(env.Stdout, "  note:    %s\n", strings.ReplaceAll(n, "\n", " "))
		}
		for _, a := range d.Actions {
			fmt.Fprintf(env.Stdout, "  action:  %s\n", a)
		}
	}
	return nil
}

// unthreaded lists the inbound messages stored on no ticket: automatic
// mail that matched none (reports, vacation notices, list mail) and the
// requests-overview questions. Nothing is dropped; this is where it is.
func (c *MessagesCommand) unthreaded(ctx context.Context, env *Env, args []string) error {
	fs := env.flagSet("messages unthreaded", "[--limit N] [--json]", `Lists the inbound messages that are stored on no ticket, newest first:
automatic mail that belongs to no conversation (DMARC reports, vacation
notices, list mail, bounces of mail helpmail did not send) and requests
overview questions. They are kept byte for byte; "messages explain" says why
each opened nothing.`)
	limit := fs.Int("limit", 50, "at most this many")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	app, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	var msgs []*helpmail.Message
	if err := app.DB.ViewTx(ctx, func(tx *store.Tx) (err error) {
		msgs, err = tx.Unthreaded(ctx, *limit)
		return err
	}); err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(env.Stdout, map[string]any{"messages": msgs})
	}
	for _, m := range msgs {
		fmt.Fprintf(env.Stdout, "%s  %-30s  %s\n      <%s> %s\n", fmtTime(m.CreatedAt), clip(orStr(m.From, "(no sender)"), 30),
			clip(m.Subject, 60), m.MessageID, m.Decision.Outcome)
	}
	fmt.Fprintf(env.Stdout, "%d messages\n", len(msgs))
	return nil
}
