// Package smtprelay sends outgoing mail through an SMTP relay (a
// submission server, RFC 6409, or a smart host), using
// github.com/emersion/go-smtp's client.
//
// One Send is one connection: dial, secure it as Relay.Security says
// (STARTTLS, RFC 3207, or implicit TLS, RFC 8314), authenticate (RFC 4954),
// then MAIL, RCPT, DATA and QUIT. Its invariants:
//
//   - Every error Send returns carries Temporary() (through errors.As):
//     true when sending the same message later may succeed (4xx replies,
//     network, TLS and timeout errors, a relay that does not offer what the
//     configuration requires, and any refused AUTH: wrong credentials are
//     a configuration problem that the operator fixes, not a property of
//     the message, as Postfix's smtp_sasl_auth_soft_bounce default says),
//     false for 5xx replies to MAIL, RCPT or DATA and for an envelope that
//     can never be sent. Its text keeps the server's reply code, enhanced
//     code and message for the operator.
//   - Credentials are never sent without TLS, except to a loopback host,
//     and never appear in an error.
//   - With "starttls" nothing, not even the envelope, is sent in clear
//     text when the relay does not offer STARTTLS.
//   - A recipient refused with 5xx does not stop the others: the message
//     goes to the recipients the relay accepted, and Send then reports the
//     refusals as a permanent error. A 4xx for any recipient aborts the
//     whole message as temporary, so a retry never sends it twice.
//
// go-smtp's client has no context: Send closes the connection when ctx
// ends, which makes the pending call return.
package smtprelay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Values of Relay.Security.
const (
	StartTLS         = "starttls"          // STARTTLS required; fail (temporarily) without it
	StartTLSOptional = "starttls-optional" // STARTTLS when offered, clear text otherwise
	ImplicitTLS      = "tls"               // TLS from the first byte (port 465)
	NoTLS            = "none"              // clear text
)

// Defaults used where a Relay field is zero.
const (
	DefaultDialTimeout    = 30 * time.Second
	DefaultCommandTimeout = 5 * time.Minute
)

// Relay is the configuration of one SMTP relay. The zero value of each
// optional field picks the default named in its comment. A Relay is not
// changed by Send, so it may be used by several goroutines at once.
type Relay struct {
	// Host is the relay's host name or IP address. Required.
	Host string
	// Port is the TCP port; 0 = 587 for StartTLS and StartTLSOptional,
	// 465 for ImplicitTLS, 25 for NoTLS.
	Port int
	// Security is StartTLS, StartTLSOptional, ImplicitTLS or NoTLS;
	// "" = StartTLS.
	Security string
	// Username and Password are the AUTH credentials; both empty = no AUTH.
	Username, Password string
	// AuthMechanism is "plain" or "login"; "" = PLAIN if the relay offers
	// it, else LOGIN. AUTH is refused without TLS unless Host is loopback.
	AuthMechanism string
	// HeloName is the name sent with EHLO; "" = os.Hostname. (go-smtp
	// says "localhost" in the one EHLO before STARTTLS.)
	HeloName string
	// TLSConfig is used for STARTTLS and implicit TLS; nil = the system
	// roots. Its ServerName defaults to Host.
	TLSConfig *tls.Config
	// DialTimeout bounds the TCP connect (and the TLS handshake for
	// ImplicitTLS); 0 = DefaultDialTimeout.
	DialTimeout time.Duration
	// CommandTimeout bounds each command's reply and the transfer of the
	// message; 0 = DefaultCommandTimeout.
	CommandTimeout time.Duration
}

// Send delivers raw, a complete RFC 5322 message with CRLF line ends (a
// bare LF is sent as CRLF, as SMTP requires), from the envelope sender
// from ("" for the null sender <>) to every address in to. It returns nil
// once the relay accepted the message for every recipient. Any error is
// an *Error, or several joined (one per refused recipient); see the
// package doc for which are temporary. Non-ASCII addresses need a relay
// that offers SMTPUTF8 (RFC 6531).
func (r *Relay) Send(ctx context.Context, from string, to []string, raw []byte) error {
	if err := checkEnvelope(from, to); err != nil {
		return err
	}
	if r.security() == NoTLS && r.clearTextAuth(false) {
		return connError("auth", errors.New(refuseClearTextAuth)) // without even connecting
	}
	c, conn, secure, err := r.connect(ctx)
	if err != nil {
		return withContext(ctx, err)
	}
	defer c.Close()
	return withContext(ctx, r.transact(c, conn, secure, from, to, raw))
}

// connect dials and secures a connection as Security says, and says EHLO
// (again, after STARTTLS). secure reports whether the connection has TLS.
func (r *Relay) connect(ctx context.Context) (c *smtp.Client, conn net.Conn, secure bool, err error) {
	switch r.security() {
	case ImplicitTLS, NoTLS:
		implicit := r.security() == ImplicitTLS
		if conn, err = r.dial(ctx, implicit); err != nil {
			return nil, nil, false, connError("dial", err)
		}
		c = r.newClient(conn)
		if err := c.Hello(r.heloName()); err != nil {
			c.Close()
			return nil, nil, false, connError("hello", err)
		}
		return c, conn, implicit, nil
	case StartTLS, StartTLSOptional:
		if conn, err = r.dial(ctx, false); err != nil {
			return nil, nil, false, connError("dial", err)
		}
		c, err = smtp.NewClientStartTLS(conn, r.tlsConfig()) // closes conn on error
		if err != nil {
			if r.security() == StartTLSOptional && noStartTLS(err) {
				return r.connectClearText(ctx)
			}
			return nil, nil, false, connError("starttls", err)
		}
		r.setTimeouts(c)
		if err := c.Hello(r.heloName()); err != nil { // the TLS handshake happens here
			c.Close()
			return nil, nil, false, connError("starttls", err)
		}
		return c, conn, true, nil
	default:
		return nil, nil, false, connError("config", fmt.Errorf("unknown security %q", r.Security))
	}
}

// connectClearText is the StartTLSOptional fallback. It needs a new
// connection because go-smtp closes the first one when STARTTLS is
// missing.
func (r *Relay) connectClearText(ctx context.Context) (*smtp.Client, net.Conn, bool, error) {
	conn, err := r.dial(ctx, false)
	if err != nil {
		return nil, nil, false, connError("dial", err)
	}
	c := r.newClient(conn)
	if err := c.Hello(r.heloName()); err != nil {
		c.Close()
		return nil, nil, false, connError("hello", err)
	}
	return c, conn, false, nil
}

// noStartTLS reports whether err is go-smtp's "STARTTLS not offered";
// go-smtp has no exported value for it, and TestStartTLSOptional fails if
// the text changes.
func noStartTLS(err error) bool {
	return err.Error() == "smtp: server doesn't support STARTTLS"
}

// transact authenticates and sends one message on a ready connection.
func (r *Relay) transact(c *smtp.Client, conn net.Conn, secure bool, from string, to []string, raw []byte) error {
	if err := r.auth(c, secure); err != nil {
		return err
	}
	opts := &smtp.MailOptions{Size: int64(len(raw))}
	if !isASCII(from) || !isASCII(to...) {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			return permanent("mail", errors.New("the relay does not offer SMTPUTF8, needed for a non-ASCII address"))
		}
		opts.UTF8 = true
	}
	if err := c.Mail(from, opts); err != nil {
		return replyError("mail", err)
	}
	var refused []error
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			e := replyError("rcpt <"+rcpt+">", err)
			if e.Temporary() {
				return e
			}
			refused = append(refused, e)
		}
	}
	if len(refused) == len(to) {
		return errors.Join(refused...)
	}
	w, err := c.Data()
	if err != nil {
		return replyError("data", err)
	}
	// go-smtp sets no deadline for the message itself, only for replies.
	conn.SetWriteDeadline(time.Now().Add(r.commandTimeout()))
	if _, err := w.Write(raw); err != nil {
		return replyError("data", err)
	}
	if err := w.Close(); err != nil {
		return replyError("data", err)
	}
	c.Quit() // the relay has the message; a failed QUIT changes nothing
	return errors.Join(refused...)
}

// auth logs in when credentials are configured.
func (r *Relay) auth(c *smtp.Client, secure bool) error {
	if r.Username == "" && r.Password == "" {
		return nil
	}
	if r.clearTextAuth(secure) {
		return connError("auth", errors.New(refuseClearTextAuth))
	}
	mech := strings.ToUpper(r.AuthMechanism)
	if mech == "" {
		switch {
		case c.SupportsAuth(sasl.Plain):
			mech = sasl.Plain
		case c.SupportsAuth(sasl.Login):
			mech = sasl.Login
		default:
			return connError("auth", errors.New("the relay offers neither AUTH PLAIN nor AUTH LOGIN"))
		}
	}
	var client sasl.Client
	switch mech {
	case sasl.Plain:
		client = sasl.NewPlainClient("", r.Username, r.Password)
	case sasl.Login:
		client = sasl.NewLoginClient(r.Username, r.Password)
	default:
		return connError("auth", fmt.Errorf("unknown mechanism %q", r.AuthMechanism))
	}
	if err := c.Auth(client); err != nil {
		// Even a 535 is temporary: every message would fail the same way
		// until the credentials are fixed, and none of them should be
		// given up on for it.
		return connError("auth", err)
	}
	return nil
}

const refuseClearTextAuth = "refusing to send credentials without TLS to a host that is not loopback"

// clearTextAuth reports whether logging in would send the credentials
// without TLS to another machine.
func (r *Relay) clearTextAuth(secure bool) bool {
	return (r.Username != "" || r.Password != "") && !secure && !isLoopback(r.Host)
}

// dial connects to the relay, with TLS from the start when implicit. The
// connection closes itself when ctx ends.
func (r *Relay) dial(ctx context.Context, implicit bool) (net.Conn, error) {
	d := &net.Dialer{Timeout: orDefault(r.DialTimeout, DefaultDialTimeout)}
	addr := net.JoinHostPort(r.Host, strconv.Itoa(r.port()))
	var conn net.Conn
	var err error
	if implicit {
		conn, err = (&tls.Dialer{NetDialer: d, Config: r.tlsConfig()}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	cc := &ctxConn{Conn: conn}
	cc.stop = context.AfterFunc(ctx, func() { conn.Close() })
	return cc, nil
}

// ctxConn is a connection that ctx's end closes; closing it first stops
// the watch.
type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

func (r *Relay) newClient(conn net.Conn) *smtp.Client {
	c := smtp.NewClient(conn)
	r.setTimeouts(c)
	return c
}

func (r *Relay) setTimeouts(c *smtp.Client) {
	c.CommandTimeout = r.commandTimeout()
	c.SubmissionTimeout = r.commandTimeout()
}

func (r *Relay) security() string {
	if r.Security == "" {
		return StartTLS
	}
	return r.Security
}

func (r *Relay) port() int {
	switch {
	case r.Port != 0:
		return r.Port
	case r.security() == ImplicitTLS:
		return 465
	case r.security() == NoTLS:
		return 25
	default:
		return 587
	}
}

func (r *Relay) tlsConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.TLSConfig != nil {
		cfg = r.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = r.Host
	}
	return cfg
}

func (r *Relay) heloName() string {
	if r.HeloName != "" {
		return r.HeloName
	}
	if name, err := os.Hostname(); err == nil && name != "" {
		return name
	}
	return "localhost"
}

func (r *Relay) commandTimeout() time.Duration {
	return orDefault(r.CommandTimeout, DefaultCommandTimeout)
}

func orDefault(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// checkEnvelope refuses what no relay could ever accept.
func checkEnvelope(from string, to []string) error {
	if len(to) == 0 {
		return permanent("envelope", errors.New("no recipients"))
	}
	for _, addr := range append([]string{from}, to...) {
		if strings.ContainsAny(addr, "\r\n<>") {
			return permanent("envelope", fmt.Errorf("invalid address %q", addr))
		}
	}
	return nil
}

// isLoopback reports whether host names this machine, where credentials
// sent in clear text do not cross a network.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func isASCII(ss ...string) bool {
	for _, s := range ss {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return false
			}
		}
	}
	return true
}
