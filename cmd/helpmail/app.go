package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/mailbox/emldir"
	"github.com/helpmail/helpmail/mailbox/imappoller"
	"github.com/helpmail/helpmail/mailbox/smtprelay"
	"github.com/helpmail/helpmail/store"
	"github.com/helpmail/helpmail/templates"
	"github.com/helpmail/helpmail/threading"
)

// App is the desk and what it stands on, opened from a configuration. Every
// command that touches tickets opens one.
type App struct {
	Config *Config
	DB     *store.DB
	Desk   *helpmail.Desk
	Signer *threading.Signer
	Logger *slog.Logger
}

// newLogger builds the process logger from [log].
func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// OpenApp opens the database and builds the desk.
func OpenApp(ctx context.Context, cfg *Config, logger *slog.Logger) (*App, error) {
	deskCfg, sla, err := cfg.desk()
	if err != nil {
		return nil, err
	}
	tmpl, err := templates.New(cfg.Helpdesk.TemplatesDir)
	if err != nil {
		return nil, fmt.Errorf("load templates: %w", err)
	}
	db, err := store.Open(ctx, cfg.Database.Path, store.Options{Synchronous: cfg.Database.Synchronous})
	if err != nil {
		return nil, err
	}
	secret := []byte(cfg.Helpdesk.Secret.Value())
	if len(secret) == 0 {
		if secret, err = db.Secret(ctx, "hmac"); err != nil {
			db.Close()
			return nil, err
		}
	}
	signer, err := threading.NewSigner(secret)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("helpdesk.secret: %w", err)
	}
	desk := &helpmail.Desk{
		Store: db, Templates: tmpl, Signer: signer, Config: deskCfg, SLA: sla,
		Logger: logger.With("component", "desk"), Now: cfg.now,
	}
	return &App{Config: cfg, DB: db, Desk: desk, Signer: signer, Logger: logger}, nil
}

// Close closes the database.
func (a *App) Close() error { return a.DB.Close() }

// Sender returns the outgoing mail transport: the relay when one is
// configured, else the .eml directory.
func (a *App) Sender() (helpmail.Sender, string, error) {
	r := a.Config.Outbound.Relay
	if r.Host == "" {
		dir := a.Config.Outbound.EmlDir
		return &emldir.Dir{Path: dir, Logger: a.Logger.With("component", "emldir")}, "directory " + dir, nil
	}
	relay := &smtprelay.Relay{
		Host: r.Host, Port: r.Port, Security: orStr(r.Security, "starttls"), Username: r.Username,
		Password: r.Password.Value(), AuthMechanism: r.AuthMechanism, HeloName: r.HeloName,
		DialTimeout: r.DialTimeout.std(), CommandTimeout: r.CommandTimeout.std(),
	}
	if r.CAFile != "" {
		pool, err := loadCA(r.CAFile)
		if err != nil {
			return nil, "", fmt.Errorf("outbound.relay.ca_file: %w", err)
		}
		relay.TLSConfig = &tls.Config{RootCAs: pool, ServerName: r.Host, MinVersion: tls.VersionTLS12}
	}
	return relay, fmt.Sprintf("relay %s:%d", r.Host, r.Port), nil
}

// Outbox returns the outbox worker for this app.
func (a *App) Outbox(sender helpmail.Sender) *helpmail.OutboxWorker {
	o := a.Config.Outbound
	bounce := o.BounceAddress
	if bounce == "" {
		_, domain, _ := strings.Cut(a.Desk.Config.Routes[0].Address, "@")
		bounce = a.Desk.Config.BounceLocal + "@" + domain
	}
	return &helpmail.OutboxWorker{
		Store: a.DB, Sender: sender, Signer: a.Signer, BounceAddress: strings.ToLower(bounce),
		MaxAttempts: o.MaxAttempts, MinBackoff: o.MinBackoff.std(), MaxBackoff: o.MaxBackoff.std(),
		Concurrency: o.Concurrency, Logger: a.Logger.With("component", "outbox"), Now: a.Config.now,
	}
}

func loadCA(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// accountName is the account's name in logs and the key of its
// checkpoints (with the mailbox): its name, or "<address> on <host>" so
// that two unnamed accounts for one address on two servers do not share,
// and keep resetting, one checkpoint.
func (ic IMAPConfig) accountName() string {
	if ic.Name != "" {
		return ic.Name
	}
	host := ic.Host
	if ic.Port != 0 {
		host = net.JoinHostPort(ic.Host, strconv.Itoa(ic.Port))
	}
	return ic.Address + " on " + host
}

// Poller builds the IMAP poller of one [[imap]] account.
func (a *App) Poller(ic IMAPConfig, logger *slog.Logger) (*imappoller.Poller, error) {
	acct := imappoller.Account{
		Name: ic.accountName(), Address: strings.ToLower(ic.Address), Host: ic.Host, Port: ic.Port,
		Security: ic.Security, Username: ic.Username, Password: ic.Password.Value(), Mailbox: ic.Mailbox,
		PollInterval: ic.PollInterval.std(), After: ic.After, RefusedFolder: ic.RefusedFolder,
		InitialScan: ic.InitialScan, MaxMessageBytes: ic.MaxMessageBytes, BatchSize: ic.BatchSize,
	}
	if ic.CAFile != "" {
		pool, err := loadCA(ic.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		acct.TLSConfig = &tls.Config{RootCAs: pool, ServerName: ic.Host, MinVersion: tls.VersionTLS12}
	}
	// The limit a refused sender is told: the account's, or the desk's
	// when that is lower (the desk refuses what is over it, too).
	limit := acct.MaxMessageBytes
	if limit <= 0 {
		limit = imappoller.DefaultMaxMessageBytes
	}
	if deskMax := a.Desk.Config.MaxMessageBytes; deskMax > 0 && deskMax < limit {
		limit = deskMax
	}
	refuse := func(ctx context.Context, env mailbox.Envelope, header []byte, size int64, reason string) error {
		return a.Desk.Refuse(ctx, env, header, size, limit, reason)
	}
	// The poller adds the account and mailbox to every record itself.
	return &imappoller.Poller{
		Account: acct, Checkpoints: a.DB, Deliver: a.Desk.Deliver, Refuse: refuse,
		Logger: logger.With("component", "imap"),
	}, nil
}
