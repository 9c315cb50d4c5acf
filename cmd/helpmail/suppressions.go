package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/helpmail/helpmail/store"
)

// SuppressionsCommand is `helpmail suppressions`: the addresses that
// bounced permanently and get no automatic mail.
type SuppressionsCommand struct{}

const suppressionsUsage = `Usage: helpmail suppressions <list|remove> [arguments]

  list [--json]     addresses that bounced permanently: no automatic mail is sent to them
  remove ADDRESS    clear an address (it also clears itself when it writes to us again)
`

// Run dispatches to list and remove.
func (c *SuppressionsCommand) Run(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || isHelp(args[:1]) || args[0] == "help" {
		return env.groupUsage(args, suppressionsUsage)
	}
	if args[0] != "list" && args[0] != "remove" {
		fmt.Fprintf(env.Stderr, "helpmail suppressions: unknown command %q\n\n%s", args[0], suppressionsUsage)
		return &exitError{code: exitUsage}
	}
	fs := env.flagSet("suppressions "+args[0], "", suppressionsUsage)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	app, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	if args[0] == "remove" {
		if len(pos) != 1 {
			return &exitError{code: exitUsage, err: fmt.Errorf("suppressions remove: expected one address")}
		}
		var removed bool
		err := app.DB.UpdateTx(ctx, func(tx *store.Tx) (err error) {
			removed, err = tx.Unsuppress(ctx, pos[0])
			return err
		})
		if err != nil {
			return err
		}
		if !removed {
			return &exitError{code: exitNotFound, err: fmt.Errorf("%s is not on the suppression list", pos[0])}
		}
		fmt.Fprintf(env.Stdout, "%s removed from the suppression list\n", pos[0])
		return nil
	}
	var list []store.Suppression
	if err := app.DB.ViewTx(ctx, func(tx *store.Tx) (err error) {
		list, err = tx.Suppressions(ctx)
		return err
	}); err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(env.Stdout, map[string]any{"suppressions": list})
	}
	w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ADDRESS\tSINCE\tREASON")
	for _, s := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\n", s.Address, fmtTime(s.CreatedAt), clip(s.Reason, 100))
	}
	return w.Flush()
}
