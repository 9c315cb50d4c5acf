package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/threading"
)

// MessagesCommand is `helpmail messages`.
type MessagesCommand struct{}

// Run implements `helpmail messages explain <message-id>`.
func (c *MessagesCommand) Run(ctx context.Context, env *Env, args []string) error {
	const usage = "Usage: helpmail messages explain <message-id> [--json]\n"
	if len(args) == 0 || isHelp(args[:1]) || args[0] == "help" {
		return env.groupUsage(args, usage)
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
