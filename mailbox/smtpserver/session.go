package smtpserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/helpmail/helpmail/mailbox"
)

// maxAuthFailures is how many wrong passwords a connection may try; after
// that every AUTH fails without asking Server.Auth.
const maxAuthFailures = 3

// session is one SMTP connection's state, from EHLO to QUIT (go-smtp makes
// a new one after STARTTLS). go-smtp calls its methods from the
// connection's goroutine, except Logout (from Server.Close) and Data with
// BDAT (from a goroutine of its own), hence the mutex.
type session struct {
	s      *Server
	tc     *trackedConn // nil only if go-smtp's conn is not ours
	remote string
	logger *slog.Logger

	mu           sync.Mutex
	from         string
	rcpt         []string
	authUser     string
	authFailures int
}

var _ smtp.AuthSession = (*session)(nil)

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{
		s:      s,
		tc:     trackedConnOf(c.Conn()),
		remote: c.Conn().RemoteAddr().String(),
		logger: s.logger(),
	}, nil
}

// AuthMechanisms offers PLAIN when Server.Auth is set; go-smtp advertises
// it only where AUTH is allowed (TLS, or AllowInsecureAuth).
func (ss *session) AuthMechanisms() []string {
	if ss.s.Auth == nil {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth starts a PLAIN exchange that checks the password with Server.Auth.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.s.Auth == nil || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(ss.authenticate), nil
}

func (ss *session) authenticate(identity, username, password string) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var err error
	switch {
	case ss.authFailures >= maxAuthFailures:
		err = errors.New("too many failed attempts on this connection")
	case identity != "" && identity != username:
		err = errors.New("authorization identity differs from username")
	default:
		err = ss.s.Auth(username, password)
	}
	if err != nil {
		ss.authFailures++
		ss.logger.Warn("smtp auth failed", "remote", ss.remote, "user", username, "err", err)
		return smtp.ErrAuthFailed
	}
	ss.authUser = username
	ss.logger.Info("smtp auth succeeded", "remote", ss.remote, "user", username)
	return nil
}

// Mail starts a transaction; from is "" for MAIL FROM:<>.
func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.mu.Lock()
	ss.from, ss.rcpt = from, nil
	ss.mu.Unlock()
	if ss.tc != nil {
		ss.tc.setInTx(true)
	}
	return nil
}

// Rcpt adds a recipient that Server.Accept approves and refuses the rest.
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if !ss.s.Accept(to) {
		ss.logger.Info("smtp recipient refused", "remote", ss.remote, "from", ss.from, "rcpt", to)
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such recipient here"}
	}
	ss.rcpt = append(ss.rcpt, to)
	return nil
}

// Reset ends the transaction (after a message, RSET or a new EHLO).
func (ss *session) Reset() {
	ss.mu.Lock()
	ss.from, ss.rcpt = "", nil
	ss.mu.Unlock()
	if ss.tc != nil {
		ss.tc.setInTx(false)
	}
}

// Logout is called when the connection closes.
func (ss *session) Logout() error {
	ss.Reset()
	return nil
}

// Data reads the whole message (go-smtp has undone the dot-stuffing), has
// it delivered, logs one line and returns the reply as an *smtp.SMTPError
// (or nil for 250).
func (ss *session) Data(r io.Reader) error {
	start := time.Now()
	ss.mu.Lock()
	env := mailbox.Envelope{
		Source:     "smtp",
		MailFrom:   ss.from,
		NullSender: ss.from == "",
		Rcpt:       slices.Clone(ss.rcpt),
		RemoteAddr: ss.remote,
	}
	user := ss.authUser
	ss.mu.Unlock()

	raw, err := readMessage(r, ss.s.srv.MaxMessageBytes)
	var reply *smtp.SMTPError
	var outcome string
	if err == nil {
		err = ss.s.deliver(env, raw)
		reply, outcome = replyFor(err)
	} else if errors.Is(err, smtp.ErrDataTooLarge) {
		reply, outcome = smtp.ErrDataTooLarge, "too large"
	} else {
		reply, outcome = tempFailure(), "read failed"
	}

	attrs := []any{"remote", env.RemoteAddr, "from", env.MailFrom, "rcpts", len(env.Rcpt),
		"size", len(raw), "outcome", outcome, "duration", time.Since(start)}
	if user != "" {
		attrs = append(attrs, "user", user)
	}
	level := slog.LevelInfo
	if reply != nil && reply.Code/100 == 4 {
		level = slog.LevelError
		attrs = append(attrs, "err", err)
		var pe *panicError
		if errors.As(err, &pe) {
			attrs = append(attrs, "stack", string(pe.stack))
		}
	}
	ss.logger.Log(context.Background(), level, "smtp message", attrs...)
	if reply == nil {
		return nil // not a typed nil: go-smtp answers 250 only to a nil interface
	}
	return reply
}

// readMessage reads r to its end. A message above max is
// smtp.ErrDataTooLarge; r is consumed in every case, as go-smtp requires.
func readMessage(r io.Reader, max int64) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, max+1))
	if err == nil && int64(len(raw)) <= max {
		return raw, nil
	}
	io.Copy(io.Discard, r)
	if err == nil || errors.Is(err, smtp.ErrDataTooLarge) || errors.Is(err, smtp.ErrTooLongLine) {
		return nil, smtp.ErrDataTooLarge
	}
	return nil, fmt.Errorf("read message: %w", err)
}

// deliver calls Server.Deliver with a context that ends after
// DeliverTimeout or at Close, and turns a panic into a *panicError.
func (s *Server) deliver(env mailbox.Envelope, raw []byte) (err error) {
	if !s.startDeliver() {
		return errors.New("smtpserver: server closed")
	}
	defer s.delivering.Done()
	ctx, cancel := context.WithTimeout(s.ctx, orDefault(s.DeliverTimeout, DefaultDeliverTimeout))
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{value: p, stack: debug.Stack()}
		}
	}()
	return s.Deliver(ctx, env, raw)
}

// startDeliver counts one more Deliver call in progress, unless Close or
// Shutdown has started waiting for them.
func (s *Server) startDeliver() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.delivering.Add(1)
	return true
}

// replyFor maps Deliver's result to the SMTP reply (nil = 250) and the
// outcome word that is logged.
func replyFor(err error) (*smtp.SMTPError, string) {
	var rej *mailbox.Rejection
	var pe *panicError
	switch {
	case err == nil:
		return nil, "delivered"
	case errors.As(err, &rej):
		reason := strings.Join(strings.Fields(rej.Reason), " ") // one line
		if reason == "" {
			reason = "Message rejected"
		}
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: reason}, "rejected"
	case errors.As(err, &pe):
		return tempFailure(), "panic"
	default:
		return tempFailure(), "failed"
	}
}

// tempFailure is the reply for every failure the client must retry; its
// text says nothing about the cause.
func tempFailure() *smtp.SMTPError {
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Temporary failure, please try again later"}
}

// panicError is a panic recovered from Deliver.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("smtpserver: panic in Deliver: %v", e.value) }
