package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"
)

// SLACommand is `helpmail sla run`.
type SLACommand struct{}

// Run runs one pass of every scheduled job, at --now if given.
func (c *SLACommand) Run(ctx context.Context, env *Env, args []string) error {
	const usage = "Usage: helpmail sla run [--now TIME] [--digest] [--json]\n"
	if len(args) == 0 || isHelp(args[:1]) || args[0] == "help" {
		return env.groupUsage(args, usage)
	}
	if args[0] != "run" {
		fmt.Fprintf(env.Stderr, "helpmail sla: unknown command %q\n\n%s", args[0], usage)
		return &exitError{code: exitUsage}
	}
	fs := env.flagSet("sla run", "[--now TIME] [--digest] [--json]", `Runs one pass of every scheduled job: SLA warnings and breach escalations,
waiting-for-customer reminders and auto-close, closing of resolved tickets,
and (with --digest) the daily digest. Each reminder is sent once per ticket
and deadline, however often this runs. Mail is queued; a running serve
sends it (or it stays queued until one runs).`)
	nowFlag := fs.String("now", "", "the time to run at, RFC 3339 (e.g. 2026-03-02T10:00:00+01:00); default now")
	digest := fs.Bool("digest", false, "also send the daily digest (once per day)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	now := time.Now()
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("--now: %w", err)}
		}
		now = t
	}
	app, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	rep, err := app.Desk.RunJobs(ctx, now)
	if err != nil {
		return err
	}
	sent := false
	if *digest {
		if sent, err = app.Desk.Digest(ctx, now); err != nil {
			return err
		}
	}
	if *asJSON {
		return writeJSON(env.Stdout, map[string]any{"warnings": rep.Warnings, "breaches": rep.Breaches,
			"reminders": rep.Reminders, "closed": rep.Closed, "digest": sent})
	}
	fmt.Fprintf(env.Stdout, "warnings %d, breaches %d, reminders %d, closed %d, digest sent %v\n",
		rep.Warnings, rep.Breaches, rep.Reminders, rep.Closed, sent)
	return nil
}

// startCron schedules the jobs with robfig/cron in the calendar's zone.
// The chain recovers a panicking job and skips a run while the previous one
// still runs (cron's default chain does neither). Jobs get ctx, cancelled
// at shutdown; stop waits for running jobs.
func (s *Server) startCron(ctx context.Context, logger *slog.Logger) error {
	cfg := s.App.Config
	loc, err := time.LoadLocation(cfg.SLA.TimeZone)
	if err != nil {
		return err
	}
	cl := cron.VerbosePrintfLogger(slog.NewLogLogger(logger.Handler(), slog.LevelDebug))
	c := cron.New(cron.WithLocation(loc), cron.WithLogger(cl),
		cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)))
	desk := s.App.Desk
	if _, err := c.AddFunc(cfg.SLA.Schedule, func() {
		rep, err := desk.RunJobs(ctx, desk.Clock())
		if err != nil && ctx.Err() == nil {
			logger.Error("scheduled jobs failed", "err", err)
		}
		if s.metrics != nil {
			s.metrics.breaches.Add(float64(rep.Breaches))
		}
	}); err != nil {
		return fmt.Errorf("sla.schedule: %w", err)
	}
	if _, err := c.AddFunc(cfg.SLA.DigestSchedule, func() {
		if _, err := desk.Digest(ctx, desk.Clock()); err != nil && ctx.Err() == nil {
			logger.Error("digest failed", "err", err)
		}
	}); err != nil {
		return fmt.Errorf("sla.digest_schedule: %w", err)
	}
	c.Start()
	s.stopCron = func(ctx context.Context) {
		select {
		case <-c.Stop().Done():
		case <-ctx.Done():
		}
	}
	return nil
}
