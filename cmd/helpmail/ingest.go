package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/helpmail/helpmail/mailbox"
)

// IngestCommand is `helpmail ingest`: one message on stdin, for an MTA's
// delivery command.
type IngestCommand struct{}

type stringList []string

func (l *stringList) String() string     { return fmt.Sprint(*l) }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// Run reads one raw message from stdin and delivers it. The exit code tells
// the MTA what to do: 0 stored; 75 (EX_TEMPFAIL) keep it and retry later;
// 65 (EX_DATAERR) only when retrying can never help (empty or oversized
// message).
func (c *IngestCommand) Run(ctx context.Context, env *Env, args []string) error {
	fs := env.flagSet("ingest", "[--from SENDER] [--rcpt RECIPIENT]... < message.eml", `Reads one raw message on standard input and stores it, as the SMTP server
would. For Postfix (mailbox_command or a pipe transport), procmail and other
MTAs. The envelope comes from the flags, or from $SENDER and $RECIPIENT as
Postfix's local delivery sets them; an empty sender (--from "" or
--from "<>", or $SENDER set and empty) is the null sender of a bounce.

Exit codes (sysexits): 0 stored; 65 the message can never be accepted
(empty, larger than smtp.max_message_bytes); 75 temporary failure, the MTA
keeps the message and retries.`)
	from := fs.String("from", "", "envelope sender (\"\" or \"<>\" for a bounce); default $SENDER")
	var rcpts stringList
	fs.Var(&rcpts, "rcpt", "envelope recipient (repeatable); default $RECIPIENT")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := env.Config()
	if err != nil {
		return &exitError{code: exTempFail, err: err}
	}
	logger := newLogger(cfg, env.Stderr)
	fromSet := false
	fs.Visit(func(f *flag.Flag) { fromSet = fromSet || f.Name == "from" })
	if !fromSet {
		*from, fromSet = env.lookupEnv("SENDER")
	}
	if len(rcpts) == 0 && env.Getenv("RECIPIENT") != "" {
		rcpts = stringList{env.Getenv("RECIPIENT")}
	}
	limit := cfg.SMTP.MaxMessageBytes
	if limit <= 0 {
		limit = 1 << 40
	}
	raw, err := io.ReadAll(io.LimitReader(env.Stdin, limit+1))
	if err != nil {
		return &exitError{code: exTempFail, err: fmt.Errorf("read message: %w", err)}
	}
	if int64(len(raw)) > limit {
		return &exitError{code: exDataErr, err: fmt.Errorf("message larger than %d bytes (smtp.max_message_bytes)", limit)}
	}
	app, err := OpenApp(ctx, cfg, logger)
	if err != nil {
		return &exitError{code: exTempFail, err: err}
	}
	defer app.Close()
	e := mailbox.Envelope{Source: "pipe", MailFrom: strings.Trim(*from, "<>"), Rcpt: rcpts}
	if fromSet && e.MailFrom == "" {
		e.NullSender = true // a bounce: Postfix's ${sender} with null_sender= , or SENDER=""
	}
	if err := app.Desk.Deliver(ctx, e, raw); err != nil {
		var rej *mailbox.Rejection
		if errors.As(err, &rej) {
			return &exitError{code: exDataErr, err: err}
		}
		return &exitError{code: exTempFail, err: err}
	}
	return nil
}
