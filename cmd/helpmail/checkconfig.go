package main

import (
	"context"
	"fmt"

	"github.com/BurntSushi/toml"
)

// CheckConfigCommand is `helpmail check-config`.
type CheckConfigCommand struct{}

// Run validates the configuration and prints the effective one (defaults
// filled in) with secrets masked.
func (c *CheckConfigCommand) Run(ctx context.Context, env *Env, args []string) error {
	fs := env.flagSet("check-config", "", `Validates the configuration file (or the built-in defaults) and prints the
effective configuration with every default filled in and secrets masked.
Exits 1 with the file and key named when something is wrong.`)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := env.Config()
	if err != nil {
		return err
	}
	where := cfg.path
	if where == "" {
		where = "built-in defaults (no file)"
	}
	fmt.Fprintf(env.Stdout, "# configuration OK: %s\n", where)
	return toml.NewEncoder(env.Stdout).Encode(cfg)
}
