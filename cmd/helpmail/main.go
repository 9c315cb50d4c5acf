// Command helpmail runs the helpdesk gateway and its operator commands.
//
// Exit codes: 0 success; 1 failure; 2 wrong usage; 3 not found (a ticket or
// outbox row); `helpmail ingest` uses sysexits: 0 stored, 65 (EX_DATAERR)
// when retrying can never help, 75 (EX_TEMPFAIL) on a transient failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/helpmail/helpmail"
)

// Version is set at build time with -ldflags "-X main.Version=…".
var Version = "dev"

// Exit codes shared by the commands.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotFound = 3
	exDataErr    = 65 // sysexits EX_DATAERR
	exTempFail   = 75 // sysexits EX_TEMPFAIL
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func main() {
	m := NewMain()
	ctx, stop := signalContext()
	defer stop()
	os.Exit(m.Exit(m.Run(ctx, os.Args[1:])))
}

// signalContext is cancelled on the first SIGINT or SIGTERM, with the
// signal as its cause (serve logs it, in the configured log format); a
// second signal exits at once.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig, ok := <-ch
		if !ok {
			return
		}
		name := sig.String()
		switch sig {
		case syscall.SIGTERM:
			name = "SIGTERM"
		case syscall.SIGINT:
			name = "SIGINT"
		}
		cancel(fmt.Errorf("%s received", name))
		if _, ok := <-ch; ok {
			fmt.Fprintln(os.Stderr, "helpmail: second signal, exiting now")
			os.Exit(exitFailure)
		}
	}()
	return ctx, func() { signal.Stop(ch); close(ch); cancel(nil) }
}

// Main holds what the commands need from the process, so tests can run
// them in-process with their own streams and environment.
type Main struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// LookupEnv tells an unset variable from an empty one (ingest's
	// $SENDER is empty for a bounce); nil = set when Getenv is not empty.
	LookupEnv func(string) (string, bool)
}

// NewMain returns a Main on the process's streams and environment.
func NewMain() *Main {
	return &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, LookupEnv: os.LookupEnv}
}

// lookupEnv is LookupEnv, or Getenv where it is nil.
func (m *Main) lookupEnv(name string) (string, bool) {
	if m.LookupEnv != nil {
		return m.LookupEnv(name)
	}
	v := m.Getenv(name)
	return v, v != ""
}

// Exit prints err (if any) and returns the process exit code.
func (m *Main) Exit(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	code := exitFailure
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			return code
		}
	} else if errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if helpmail.ErrorCode(err) == helpmail.ENOTFOUND {
		code = exitNotFound
	} else if helpmail.ErrorCode(err) == helpmail.EINVALID {
		code = exitUsage
	}
	msg := err.Error()
	var he *helpmail.Error
	if errors.As(err, &he) && error(he) == err {
		msg = he.Message // not "helpmail: helpmail: not_found: …"
	}
	fmt.Fprintln(m.Stderr, "helpmail:", msg)
	return code
}

const usage = `helpmail is an email-first helpdesk gateway.

Usage:
  helpmail [--config FILE] <command> [arguments]

Commands:
  serve          run the SMTP server, IMAP pollers, outbox and scheduled jobs
  ingest         read one message on stdin and store it (for an MTA)
  tickets        list, show, search and change tickets
  messages       explain what helpmail did with a message
  outbox         list and retry outgoing mail
  suppressions   list and clear addresses that bounced permanently
  sla            run the scheduled SLA jobs once
  import         import an mbox file or a Maildir
  check-config   validate and print the effective configuration
  version        print the version

The configuration file comes from --config or $HELPMAIL_CONFIG; without
one, built-in defaults are used. "helpmail <command> --help" describes a
command. Exit codes: 0 ok, 1 failure, 2 usage, 3 not found; ingest uses
sysexits (65 data error, 75 temporary failure).
`

// Run runs the command named by args[0] (after global flags).
func (m *Main) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("helpmail", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {} // printed below: on stdout for --help, on stderr after a mistake
	configPath := fs.String("config", "", "configuration file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(m.Stdout, usage)
		} else {
			fmt.Fprint(m.Stderr, "\n"+usage)
		}
		return usageError(err)
	}
	args = fs.Args()
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return &exitError{code: exitUsage}
	}
	env := &Env{Main: m, ConfigPath: *configPath}
	name, rest := args[0], args[1:]
	switch name {
	case "serve":
		return (&ServeCommand{}).Run(ctx, env, rest)
	case "ingest":
		return (&IngestCommand{}).Run(ctx, env, rest)
	case "tickets":
		return (&TicketsCommand{}).Run(ctx, env, rest)
	case "messages":
		return (&MessagesCommand{}).Run(ctx, env, rest)
	case "outbox":
		return (&OutboxCommand{}).Run(ctx, env, rest)
	case "import":
		return (&ImportCommand{}).Run(ctx, env, rest)
	case "sla":
		return (&SLACommand{}).Run(ctx, env, rest)
	case "suppressions":
		return (&SuppressionsCommand{}).Run(ctx, env, rest)
	case "check-config":
		return (&CheckConfigCommand{}).Run(ctx, env, rest)
	case "version":
		fs := env.flagSet("version", "", "Prints the version of this helpmail binary.")
		if _, err := parse(fs, rest); err != nil {
			return err
		}
		fmt.Fprintln(m.Stdout, "helpmail", Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	}
	fmt.Fprintf(m.Stderr, "helpmail: unknown command %q\n\n%s", name, usage)
	return &exitError{code: exitUsage}
}

func usageError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &exitError{code: exitUsage, err: err}
}

// Env is what every command gets: the process and the configuration path.
type Env struct {
	*Main
	ConfigPath string
}

// flagSet is a sub-command's flags: a flag.FlagSet whose usage goes to
// standard output when asked for (--help) and to standard error after a
// mistake.
type flagSet struct {
	*flag.FlagSet
	stdout io.Writer
}

// flagSet returns a flag set for a sub-command, with --config and a usage
// text.
func (e *Env) flagSet(name, synopsis, help string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Func("config", "configuration file (default $HELPMAIL_CONFIG)", func(s string) error { e.ConfigPath = s; return nil })
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: helpmail %s %s\n\n%s\n\nFlags:\n", name, synopsis, strings.TrimSpace(help))
		fs.PrintDefaults()
	}
	return &flagSet{FlagSet: fs, stdout: e.Stdout}
}

// isHelp reports whether args ask for help (-h, -help or --help) before
// any "--".
func isHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// parse parses flags, allowing them after positional arguments too
// ("tickets show 12 --json"); everything after "--" is positional. An
// explicit --help prints the usage on standard output and returns
// flag.ErrHelp (exit 0).
func parse(fs *flagSet, args []string) ([]string, error) {
	if isHelp(args) {
		fs.SetOutput(fs.stdout)
		fs.Usage()
		return nil, flag.ErrHelp
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError(err)
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// groupUsage handles a command group ("tickets", "outbox", …) called with
// no sub-command or with --help: the usage goes to standard output with
// exit 0 when help was asked for, else to standard error with exit 2.
func (e *Env) groupUsage(args []string, usage string) error {
	if len(args) > 0 && isHelp(args[:1]) || len(args) > 0 && args[0] == "help" {
		fmt.Fprint(e.Stdout, usage)
		return nil
	}
	fmt.Fprint(e.Stderr, usage)
	return &exitError{code: exitUsage}
}

// Config loads the configuration named by --config or $HELPMAIL_CONFIG.
func (e *Env) Config() (*Config, error) {
	path := e.ConfigPath
	if path == "" {
		path = e.Getenv("HELPMAIL_CONFIG")
	}
	return LoadConfig(path, e.Getenv)
}
