package imappoller

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/helpmail/helpmail/mailbox"
)

// Defaults used for the zero values of Account and Poller fields, exported
// so that configuration docs and checks can quote them.
const (
	DefaultPollInterval    = 60 * time.Second   // Account.PollInterval
	DefaultMaxMessageBytes = 25 << 20           // Account.MaxMessageBytes
	DefaultBatchSize       = 50                 // Account.BatchSize
	DefaultRefusedFolder   = "helpmail-refused" // Account.RefusedFolder
	DefaultMinBackoff      = time.Second        // Poller.MinBackoff
	DefaultMaxBackoff      = 5 * time.Minute    // Poller.MaxBackoff
)

// Account describes one IMAP mailbox to take mail from and what to do with a
// message once the desk has committed it. The zero value of every optional
// field means the default given in its comment.
type Account struct {
	// Name labels the account in logs and, together with the mailbox name,
	// keys its checkpoint, e.g. "support@example.com". Required.
	Name string
	// Address is the support address this mailbox receives for; it becomes
	// Envelope.Rcpt. Empty leaves Rcpt empty.
	Address string
	// Host is the IMAP server's host name or IP address. Required.
	Host string
	// Port is the server's TCP port; 0 means 993 for "tls" and 143
	// otherwise.
	Port int
	// Security is "tls" (implicit TLS, the default when empty), "starttls"
	// (STARTTLS, required: a server without it is an error) or "none"
	// (plaintext, refused unless Host is a loopback address, because the
	// password would cross the network in clear).
	Security string
	// TLSConfig is used for "tls" and "starttls". Nil means the system roots
	// with ServerName = Host; a non-nil config is cloned and gets ServerName
	// = Host when its own is empty.
	TLSConfig *tls.Config
	// Username and Password are sent with LOGIN. The password is never
	// logged.
	Username, Password string
	// Mailbox is the folder to watch; "" means INBOX.
	Mailbox string
	// PollInterval is the time between passes when the server has no IDLE,
	// and the period after which IDLE is stopped for a safety re-scan and
	// restarted when it has. 0 means 60 s.
	PollInterval time.Duration
	// After is what happens to a message once Deliver returned nil:
	// "seen" (flag \Seen and keep it; the default when empty),
	// "move:<folder>" (move it to <folder>, created if missing) or
	// "delete" (flag \Deleted, then UID EXPUNGE, or EXPUNGE on a server
	// without UIDPLUS, which also removes other messages flagged \Deleted).
	After string
	// RefusedFolder receives messages that are refused: over
	// MaxMessageBytes, or Deliver returned *mailbox.Rejection. It is created
	// when missing. "" means "helpmail-refused".
	RefusedFolder string
	// InitialScan says what the very first pass over a mailbox (no
	// checkpoint yet) takes. "unseen" (the default when empty) leaves alone
	// the messages that are already \Seen, i.e. mail people read before
	// helpmail was set up; "all" takes every message. Until that first pass
	// has completed, no checkpoint is saved, so an interrupted first pass is
	// simply repeated (messages it already took are \Seen, moved or deleted
	// by then; any it took without the after-action are redelivered and
	// deduplicated by the desk). Later passes take every message above the
	// checkpoint, \Seen or not.
	InitialScan string
	// MaxMessageBytes is the largest message taken, judged from RFC822.SIZE
	// before the body is fetched; larger ones are refused. 0 means 25 MiB.
	MaxMessageBytes int64
	// BatchSize is the number of UIDs whose size and flags are fetched in
	// one FETCH; bodies are always fetched one at a time. 0 means 50.
	BatchSize int
}

// Checkpoints stores, per account name and mailbox, the mailbox's
// UIDVALIDITY and the highest UID already processed. The SQLite store
// implements it; a Poller only calls it from its own goroutine.
type Checkpoints interface {
	// LoadCheckpoint returns the saved checkpoint, or zeroes when there is
	// none (UIDVALIDITY is never 0, so uidValidity == 0 means "none").
	LoadCheckpoint(ctx context.Context, account, mailbox string) (uidValidity, lastUID uint32, err error)
	// SaveCheckpoint records the checkpoint durably before returning nil.
	SaveCheckpoint(ctx context.Context, account, mailbox string, uidValidity, lastUID uint32) error
}

// Poller takes mail from one Account and hands it to Deliver. Set the fields,
// then call Run (a long-running service) or Poll (one pass). A Poller must
// not be used by two Run or Poll calls at once; run one Poller per mailbox.
type Poller struct {
	// Account is the mailbox to watch.
	Account Account
	// Checkpoints keeps the per-mailbox progress. Required.
	Checkpoints Checkpoints
	// Deliver commits one message; the poller calls it with the raw bytes
	// as the server returned them. It must be idempotent (the desk dedupes
	// by Message-ID or by the bytes): a message can be delivered again after
	// a crash. nil error: committed; *mailbox.Rejection: can never be
	// committed, the message is refused; any other error: temporary, the
	// message stays and is retried. Required.
	Deliver func(ctx context.Context, env mailbox.Envelope, raw []byte) error
	// Refuse tells the sender that their message was refused (the desk
	// writes an outbox mail). It gets the message's header, its size and a
	// reason safe to show. It is called before the message is moved to the
	// refused folder; an error leaves the message where it is, to be retried
	// like a temporary Deliver error. Like Deliver it must be idempotent: a
	// crash before the move makes it run again for the same message. Nil
	// moves refused messages without telling anyone.
	Refuse func(ctx context.Context, env mailbox.Envelope, header []byte, size int64, reason string) error
	// Logger receives what the poller does; nil discards it. Passwords are
	// never logged.
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the delay before reconnecting after an
	// error; the delay doubles from MinBackoff up to MaxBackoff, with
	// jitter, and falls back to MinBackoff after a successful pass. Zero
	// means 1 s and 5 min.
	MinBackoff, MaxBackoff time.Duration
}

// ConfigError reports a Poller or Account setting that can never work. Run
// and Poll return it before connecting, and Run does not retry it. Check
// for it with errors.As.
type ConfigError struct {
	// Field names the setting, e.g. "Account.Security".
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error returns "imappoller: <field>: <reason>".
func (e *ConfigError) Error() string {
	return fmt.Sprintf("imappoller: %s: %s", e.Field, e.Reason)
}

// Check returns the *ConfigError that Run and Poll would return for these
// settings, without connecting, so that a program can refuse to start
// with an account that can never work instead of running without it.
func (p *Poller) Check() error {
	_, err := p.settings()
	return err
}

// settings is an Account and Poller with every default applied and every
// value checked.
type settings struct {
	addr           string
	security       string
	tlsConfig      *tls.Config
	mailbox        string
	pollInterval   time.Duration
	afterMove      string // folder for "move:<folder>"; "" otherwise
	afterDelete    bool
	refused        string
	initialAll     bool
	maxBytes       int64
	batch          int
	minBackoff     time.Duration
	maxBackoff     time.Duration
	envelopeSource string // Envelope.Account: "<Name>/<Mailbox>"
}

func (p *Poller) settings() (settings, error) {
	a := p.Account
	s := settings{
		security:     a.Security,
		mailbox:      orDefault(a.Mailbox, "INBOX"),
		pollInterval: a.PollInterval,
		refused:      orDefault(a.RefusedFolder, DefaultRefusedFolder),
		maxBytes:     a.MaxMessageBytes,
		batch:        a.BatchSize,
		minBackoff:   p.MinBackoff,
		maxBackoff:   p.MaxBackoff,
	}
	bad := func(field, reason string) (settings, error) {
		return settings{}, &ConfigError{Field: field, Reason: reason}
	}
	switch {
	case p.Deliver == nil:
		return bad("Deliver", "must be set")
	case p.Checkpoints == nil:
		return bad("Checkpoints", "must be set")
	case a.Name == "":
		return bad("Account.Name", "must be set")
	case a.Host == "":
		return bad("Account.Host", "must be set")
	case a.Port < 0 || a.Port > 65535:
		return bad("Account.Port", "out of range: "+strconv.Itoa(a.Port))
	}

	port := a.Port
	switch s.security {
	case "", "tls":
		s.security = "tls"
		if port == 0 {
			port = 993
		}
	case "starttls", "none":
		if port == 0 {
			port = 143
		}
	default:
		return bad("Account.Security", fmt.Sprintf("%q is not one of tls, starttls, none", a.Security))
	}
	if s.security == "none" && !isLoopback(a.Host) {
		return bad("Account.Security", fmt.Sprintf(`"none" sends the password in clear; refused for the non-loopback host %q`, a.Host))
	}
	s.addr = net.JoinHostPort(a.Host, strconv.Itoa(port))
	if s.security != "none" {
		s.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if a.TLSConfig != nil {
			s.tlsConfig = a.TLSConfig.Clone()
		}
		if s.tlsConfig.ServerName == "" {
			s.tlsConfig.ServerName = a.Host
		}
	}

	switch after := a.After; {
	case after == "" || after == "seen":
	case after == "delete":
		s.afterDelete = true
	case strings.HasPrefix(after, "move:") && len(after) > len("move:"):
		s.afterMove = after[len("move:"):]
		if s.afterMove == s.mailbox {
			return bad("Account.After", "moves messages into the mailbox they came from")
		}
	default:
		return bad("Account.After", fmt.Sprintf(`%q is not one of seen, move:<folder>, delete`, after))
	}
	if s.refused == s.mailbox {
		return bad("Account.RefusedFolder", "is the watched mailbox itself")
	}

	switch a.InitialScan {
	case "", "unseen":
	case "all":
		s.initialAll = true
	default:
		return bad("Account.InitialScan", fmt.Sprintf("%q is not one of unseen, all", a.InitialScan))
	}

	if s.pollInterval <= 0 {
		s.pollInterval = DefaultPollInterval
	}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxMessageBytes
	}
	if s.batch <= 0 {
		s.batch = DefaultBatchSize
	}
	if s.minBackoff <= 0 {
		s.minBackoff = DefaultMinBackoff
	}
	if s.maxBackoff <= 0 {
		s.maxBackoff = DefaultMaxBackoff
	}
	s.maxBackoff = max(s.maxBackoff, s.minBackoff)
	s.envelopeSource = a.Name + "/" + s.mailbox
	return s, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// isLoopback reports whether host names this machine: "localhost" or a
// loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (p *Poller) logger() *slog.Logger {
	l := p.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return l.With("account", p.Account.Name, "mailbox", orDefault(p.Account.Mailbox, "INBOX"))
}

// Run connects, processes the backlog, then waits for new mail with IDLE
// (when the server advertises it) or by polling every PollInterval, and
// processes it as it comes. When the connection drops, the server goes
// away, or a pass fails (a temporary Deliver or Refuse error, a checkpoint
// error), it logs the error and reconnects after a back-off. It returns nil
// when ctx is cancelled, after closing the connection, and a *ConfigError
// at once when the settings can never work.
func (p *Poller) Run(ctx context.Context) error {
	cfg, err := p.settings()
	if err != nil {
		return err
	}
	log := p.logger()
	backoff := cfg.minBackoff
	for {
		passed := false
		err := p.serve(ctx, cfg, log, func() { passed = true })
		if ctx.Err() != nil {
			log.Info("imap poller stopped")
			return nil
		}
		if passed {
			backoff = cfg.minBackoff
		}
		// Jitter in [backoff/2, backoff] keeps many pollers from
		// reconnecting to a restarted server in lockstep.
		delay := backoff/2 + rand.N(backoff/2+1)
		log.Warn("imap session failed; reconnecting", "err", err, "retry_in", delay)
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			log.Info("imap poller stopped")
			return nil
		case <-timer.C:
		}
		backoff = min(backoff*2, cfg.maxBackoff)
	}
}

// serve runs one connection: a pass, then waiting for new mail, in a loop,
// until an error or ctx ends it. passed is called after each complete pass.
func (p *Poller) serve(ctx context.Context, cfg settings, log *slog.Logger, passed func()) error {
	s, err := p.connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.close()
	for {
		if _, err := s.pass(ctx); err != nil {
			return err
		}
		passed()
		if err := s.wait(ctx); err != nil {
			return err
		}
	}
}

// Poll connects, processes every message waiting in the mailbox once, and
// logs out: a single pass, for tests and a "fetch once" command. It returns
// how many messages were taken (delivered, or refused and moved), also when
// it stops early with an error. A *ConfigError means the settings can never
// work; any other error is worth retrying later.
func (p *Poller) Poll(ctx context.Context) (n int, err error) {
	cfg, err := p.settings()
	if err != nil {
		return 0, err
	}
	log := p.logger()
	s, err := p.connect(ctx, cfg, log)
	if err != nil {
		return 0, err
	}
	defer s.close()
	n, err = s.pass(ctx)
	if err != nil {
		return n, err
	}
	// Everything is done and saved; a failed LOGOUT changes nothing.
	if err := s.c.Logout().Wait(); err != nil {
		log.Debug("imap logout failed", "err", err)
	}
	return n, nil
}
