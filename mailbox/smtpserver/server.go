package smtpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/helpmail/helpmail/mailbox"
)

// Defaults used where a Server field is zero.
const (
	DefaultMaxMessageBytes = 25 << 20
	DefaultMaxRecipients   = 100
	DefaultDeliverTimeout  = 2 * time.Minute
	DefaultReadTimeout     = 5 * time.Minute
	DefaultWriteTimeout    = 1 * time.Minute
	DefaultMaxConnections  = 100
)

// Server is an SMTP server that accepts mail for the recipients Accept
// approves and passes every message to Deliver. Set the fields, then call
// Open; the fields must not change after that. The zero value of each
// optional field picks the default named in its comment.
type Server struct {
	// Addr is the TCP address to listen on, e.g. "127.0.0.1:2525"; a port
	// of 0 picks a free one (see ListenAddr).
	Addr string
	// Domain is the host name in the 220 greeting; "" = os.Hostname.
	Domain string
	// MaxMessageBytes is the largest message accepted; a larger one gets
	// 552 5.3.4. 0 = DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// MaxRecipients limits RCPT TO per message (452 beyond it);
	// 0 = DefaultMaxRecipients.
	MaxRecipients int
	// TLSConfig, when non-nil, makes the server offer STARTTLS (RFC 3207).
	TLSConfig *tls.Config
	// Auth, when non-nil, makes the server offer AUTH PLAIN (RFC 4954,
	// RFC 4616), only over TLS unless AllowInsecureAuth is set. It returns
	// nil when the password is right; any error refuses the login with
	// 535 5.7.8 (the error is logged, not sent). Authenticating is
	// optional for clients: recipients are checked by Accept either way.
	Auth func(username, password string) error
	// AllowInsecureAuth offers AUTH on connections without TLS too.
	AllowInsecureAuth bool
	// Accept reports whether a RCPT TO address is one of ours (a support
	// address, a +detail sub-address of one, the bounce address). A false
	// answer is 550 5.1.1, so the server never relays. Required.
	Accept func(rcpt string) bool
	// Deliver is called once per message, with Envelope.Source "smtp" and
	// the raw bytes as received; it must not keep raw after it returns.
	// nil means committed (the client gets 250 only then); an error that
	// is (errors.As) a *mailbox.Rejection is a 554 5.6.0 with its Reason;
	// any other error is a 451 4.3.0 with a fixed text. Required.
	Deliver func(ctx context.Context, env mailbox.Envelope, raw []byte) error
	// DeliverTimeout bounds each Deliver call through its context;
	// 0 = DefaultDeliverTimeout.
	DeliverTimeout time.Duration
	// ReadTimeout bounds the wait for each command line and for the whole
	// DATA that follows it; 0 = DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds each reply write; 0 = DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MaxConnections limits concurrent connections; one more gets
	// 421 4.4.5 and is closed. 0 = DefaultMaxConnections.
	MaxConnections int
	// Logger receives one line per message and every refusal; nil
	// discards. Passwords are never logged.
	Logger *slog.Logger

	mu         sync.Mutex
	srv        *smtp.Server
	ln         *listener
	ctx        context.Context    // parent of every Deliver context
	cancel     context.CancelFunc // ends ctx; called by Close
	served     chan struct{}      // closed when the Serve goroutine returns
	delivering sync.WaitGroup     // Deliver calls in progress
	closed     bool               // no Deliver call may start any more
}

// Open checks the configuration, listens on Addr synchronously (so a bad
// or busy address is an error here) and then serves connections in a
// goroutine that Shutdown or Close stops. Open may be called once.
func (s *Server) Open() error {
	if s.Accept == nil || s.Deliver == nil {
		return errors.New("smtpserver: Accept and Deliver are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("smtpserver: already open")
	}
	logger := s.logger()
	domain := s.Domain
	if domain == "" {
		if domain, _ = os.Hostname(); domain == "" {
			domain = "localhost"
		}
	}

	nl, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("smtpserver: listen: %w", err)
	}
	s.ln = newListener(nl, orDefault(s.MaxConnections, DefaultMaxConnections), logger)

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Addr = nl.Addr().String()
	srv.Domain = domain
	srv.MaxMessageBytes = orDefault(s.MaxMessageBytes, DefaultMaxMessageBytes)
	srv.MaxLineLength = int(srv.MaxMessageBytes) // see the package doc
	srv.MaxRecipients = orDefault(s.MaxRecipients, DefaultMaxRecipients)
	srv.TLSConfig = s.TLSConfig
	srv.AllowInsecureAuth = s.AllowInsecureAuth
	srv.ReadTimeout = orDefault(s.ReadTimeout, DefaultReadTimeout)
	srv.WriteTimeout = orDefault(s.WriteTimeout, DefaultWriteTimeout)
	srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelError)
	s.srv = srv

	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := srv.Serve(s.ln); err != nil && !errors.Is(err, net.ErrClosed) {
			logger.Error("smtp server stopped", "err", err)
		}
	}()
	logger.Info("smtp server listening", "addr", srv.Addr)
	return nil
}

// ListenAddr returns the address the server listens on (with the port
// chosen when Addr asked for port 0), or nil before Open.
func (s *Server) ListenAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops accepting connections, answers 421 to idle ones, lets
// every mail transaction in progress finish (a message being delivered
// completes and gets its reply), and returns once all connections are
// closed. When ctx ends first, it closes everything as Close does and
// returns ctx's error. Calling it before Open, or again, returns nil.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ln.drain()
	ln.Close() // also when Serve has not registered it with srv yet
	err := srv.Shutdown(ctx)
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		s.Close()
		return fmt.Errorf("smtpserver: shutdown: %w", err)
	}
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	s.cancel()
	<-s.served
	s.waitDeliveries()
	if err != nil {
		return fmt.Errorf("smtpserver: shutdown: %w", err)
	}
	return nil
}

// Close closes the listener and every connection at once, cancels the
// contexts of Deliver calls in progress and waits for them to return.
// Clients in the middle of a message get no reply and will retry.
// Calling it before Open, or again, returns nil.
func (s *Server) Close() error {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	s.cancel()
	ln.Close()
	srv.Close() // ErrServerClosed after Shutdown; the conns are closed below anyway
	ln.closeAll()
	<-s.served
	s.waitDeliveries()
	return nil
}

// waitDeliveries stops new Deliver calls and waits for those in progress.
func (s *Server) waitDeliveries() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.delivering.Wait()
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}
