package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helpmail/helpmail/mailbox/imappoller"
	"github.com/helpmail/helpmail/mailbox/smtpserver"
)

// ServeCommand is `helpmail serve`.
type ServeCommand struct{}

// Run starts everything and serves until ctx is cancelled (a signal), then
// shuts down gracefully.
func (c *ServeCommand) Run(ctx context.Context, env *Env, args []string) error {
	fs := env.flagSet("serve", "", `Runs helpmail: the SMTP server, the IMAP pollers, the outbox worker, the
scheduled SLA jobs and the admin HTTP listener, until SIGINT or SIGTERM.
The first signal stops accepting mail, finishes the messages and deliveries
in flight, stops the scheduler and closes the database; a second one exits
at once.`)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := env.Config()
	if err != nil {
		return err
	}
	logger := newLogger(cfg, env.Stderr)
	s, err := StartServer(ctx, cfg, logger)
	if err != nil {
		return err
	}
	fmt.Fprint(env.Stdout, s.Banner())
	<-ctx.Done()
	logger.Info("shutting down: finishing the messages in flight; a second signal exits at once", "cause", context.Cause(ctx).Error())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return s.Close(sctx)
}

// Server is a running helpmail: every listener and worker, owned here and
// stopped by Close in the reverse order of start-up.
type Server struct {
	App     *App
	SMTP    *smtpserver.Server
	Admin   *adminServer
	Pollers []*imappoller.Poller

	metrics    *metrics
	senderName string
	stopCron   func(context.Context)
	cancel     context.CancelFunc
	wg         sync.WaitGroup // outbox worker and pollers
	ready      atomic.Bool
	closing    atomic.Bool
}

// StartServer opens the app and starts, in order: the outbox worker, the
// IMAP pollers, the scheduler, the SMTP server and the admin listener.
// Tests call it with smtp.listen = "127.0.0.1:0" and a temp directory.
func StartServer(ctx context.Context, cfg *Config, logger *slog.Logger) (_ *Server, err error) {
	app, err := OpenApp(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	s := &Server{App: app}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	defer func() {
		if err != nil {
			s.Close(context.Background())
		}
	}()
	s.metrics = newMetrics(app.DB, app.Desk.Clock)
	app.Desk.Observe = s.metrics.observe
	sender, name, err := app.Sender()
	if err != nil {
		return s, err
	}
	s.senderName = name
	outbox := app.Outbox(sender)
	outbox.Sent = func(result string) { s.metrics.deliveries.WithLabelValues(result).Inc() }
	app.Desk.Queued = outbox.Wake
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		outbox.Run(wctx)
	}()
	for i, ic := range cfg.IMAP {
		p, err := app.Poller(ic, logger)
		if err == nil {
			err = p.Check() // e.g. a password in clear to a remote host
		}
		if err != nil {
			return s, fmt.Errorf("imap[%d]: %w", i, err)
		}
		s.Pollers = append(s.Pollers, p)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := p.Run(wctx); err != nil {
				logger.Error("imap poller stopped", "account", p.Account.Name, "err", err)
			}
		}()
	}
	if err := s.startCron(wctx, logger.With("component", "cron")); err != nil {
		return s, err
	}
	if !cfg.SMTP.Disabled {
		srv := &smtpserver.Server{
			Addr: cfg.SMTP.Listen, Domain: cfg.SMTP.Hostname, MaxMessageBytes: cfg.SMTP.MaxMessageBytes,
			MaxRecipients: cfg.SMTP.MaxRecipients, MaxConnections: cfg.SMTP.MaxConnections,
			ReadTimeout: cfg.SMTP.ReadTimeout.std(), WriteTimeout: cfg.SMTP.WriteTimeout.std(),
			AllowInsecureAuth: cfg.SMTP.AllowInsecureAuth,
			Accept:            app.Desk.Config.IsOwnAddress,
			Deliver:           app.Desk.Deliver,
			Logger:            logger.With("component", "smtp"),
		}
		if cfg.SMTP.TLSCert != "" {
			cert, err := tls.LoadX509KeyPair(cfg.SMTP.TLSCert, cfg.SMTP.TLSKey)
			if err != nil {
				return s, fmt.Errorf("smtp.tls_cert: %w", err)
			}
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		if err := srv.Open(); err != nil {
			return s, fmt.Errorf("smtp: %w", err)
		}
		s.SMTP = srv
	}
	if cfg.HTTP.Listen != "" {
		if s.Admin, err = startAdmin(cfg.HTTP.Listen, s.metrics, s, logger.With("component", "http")); err != nil {
			return s, err
		}
	}
	s.ready.Store(true)
	logger.Info("helpmail started", "smtp", s.smtpAddr(), "support", app.Desk.Config.Routes[0].Address,
		"outgoing", name, "database", cfg.Database.Path, "imap_accounts", len(s.Pollers), "http", s.adminAddr())
	return s, nil
}

func (s *Server) smtpAddr() string {
	if s.SMTP == nil {
		return "disabled"
	}
	return s.SMTP.ListenAddr().String()
}

func (s *Server) adminAddr() string {
	if s.Admin == nil {
		return "off"
	}
	return s.Admin.Addr()
}

// health reports whether the store accepts writes and the listeners are
// up; /healthz and /readyz use it.
func (s *Server) health(ctx context.Context) error {
	if s.closing.Load() {
		return errors.New("shutting down")
	}
	if s.App.Config.SMTP.Disabled == false && s.SMTP == nil {
		return errors.New("smtp listener not running")
	}
	return s.App.DB.Writable(ctx)
}

// Banner is what serve prints at start-up: where to send mail.
func (s *Server) Banner() string {
	var b strings.Builder
	fmt.Fprintf(&b, "helpmail %s is running\n", Version)
	fmt.Fprintf(&b, "  SMTP:            %s\n", s.smtpAddr())
	fmt.Fprintf(&b, "  support address: %s\n", s.App.Desk.Config.Routes[0].Address)
	fmt.Fprintf(&b, "  outgoing mail:   %s\n", s.senderName)
	fmt.Fprintf(&b, "  database:        %s\n", s.App.Config.Database.Path)
	if len(s.Pollers) > 0 {
		fmt.Fprintf(&b, "  IMAP accounts:   %d\n", len(s.Pollers))
	}
	if s.Admin != nil {
		fmt.Fprintf(&b, "  admin HTTP:      http://%s/metrics\n", s.Admin.Addr())
	}
	return b.String()
}

// Close shuts down in the reverse order of start-up: stop accepting mail
// (SMTP waits for the messages in flight to get their 250), stop the
// scheduler (waiting for a running job), stop the pollers and the outbox
// worker (a send in flight finishes and is recorded), close the admin
// listener and then the database. It returns when everything stopped or
// ctx ended.
func (s *Server) Close(ctx context.Context) error {
	s.closing.Store(true)
	s.ready.Store(false)
	var errs []error
	if s.SMTP != nil {
		if err := s.SMTP.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("smtp shutdown: %w", err))
		}
	}
	if s.stopCron != nil {
		s.stopCron(ctx)
	}
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, errors.New("workers did not stop in time"))
	}
	if s.Admin != nil {
		if err := s.Admin.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	errs = append(errs, s.App.Close())
	s.App.Logger.Info("helpmail stopped")
	return errors.Join(errs...)
}
