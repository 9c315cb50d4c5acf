package smtprelay_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/helpmail/helpmail/internal/testcert"
	"github.com/helpmail/helpmail/mailbox/smtprelay"
)

// waitLimit bounds every wait in these tests.
const waitLimit = 10 * time.Second

const testUser, testPass = "relay-user", "relay-pass-Zq9x"

const testMessage = "From: support@helpdesk.test\r\nTo: ann@customer.example\r\nSubject: Re: [Support #7] VPN\r\n\r\n" +
	".a line starting with a dot\r\n..two dots\r\n.\r\nend\r\n"

type received struct {
	from string
	to   []string
	data string
	tls  bool
	user string
}

// testBackend is a go-smtp backend that records what it receives and
// answers as configured.
type testBackend struct {
	mechs     []string                   // AUTH mechanisms offered
	rcptReply map[string]*smtp.SMTPError // per recipient; nil = accept
	dataReply *smtp.SMTPError            // nil = accept
	inData    chan struct{}              // if set, Data signals here and then
	release   chan struct{}              // waits for this to close

	mu        sync.Mutex
	msgs      []received
	mailCalls int
	authMechs []string
}

func (be *testBackend) snapshot() (msgs []received, mailCalls int, mechs []string) {
	be.mu.Lock()
	defer be.mu.Unlock()
	return slices.Clone(be.msgs), be.mailCalls, slices.Clone(be.authMechs)
}

type testSession struct {
	be   *testBackend
	conn *smtp.Conn
	from string
	to   []string
	user string
}

func (s *testSession) AuthMechanisms() []string { return s.be.mechs }

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	s.be.mu.Lock()
	s.be.authMechs = append(s.be.authMechs, mech)
	s.be.mu.Unlock()
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, u, p string) error { return s.check(u, p) }), nil
	case sasl.Login:
		return &loginServer{check: s.check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *testSession) check(user, pass string) error {
	if user != testUser || pass != testPass {
		return smtp.ErrAuthFailed
	}
	s.user = user
	return nil
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	s.be.mu.Lock()
	s.be.mailCalls++
	s.be.mu.Unlock()
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if reply := s.be.rcptReply[to]; reply != nil {
		return reply
	}
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.be.inData != nil {
		s.be.inData <- struct{}{}
		<-s.be.release
	}
	if s.be.dataReply != nil {
		return s.be.dataReply
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	s.be.msgs = append(s.be.msgs, received{from: s.from, to: s.to, data: string(data), tls: isTLS, user: s.user})
	return nil
}

func (s *testSession) Reset()        { s.from, s.to = "", nil }
func (s *testSession) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	check func(user, pass string) error
	user  string
	step  int
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch {
	case l.step == 1 && resp == nil:
		return []byte("Username:"), false, nil
	case l.step <= 2 && l.user == "":
		l.user = string(resp)
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

// testTLS returns a server config with a fresh self-signed certificate
// for 127.0.0.1 and the pool that trusts it.
func testTLS(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	c := testcert.New(t)
	return c.ServerConfig(), c.Pool
}

// startRelay starts a go-smtp server on 127.0.0.1:0 in mode "plain"
// (no TLS), "starttls" or "tls" (implicit), and returns a Relay for it
// with Security NoTLS and a TLSConfig that trusts its certificate.
func startRelay(t testing.TB, be *testBackend, mode string) *smtprelay.Relay {
	t.Helper()
	serverTLS, roots := testTLS(t)
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &testSession{be: be, conn: c}, nil
	}))
	srv.Domain = "relay.test"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	var l net.Listener
	var err error
	switch mode {
	case "plain":
		l, err = net.Listen("tcp", "127.0.0.1:0")
	case "starttls":
		srv.TLSConfig = serverTLS
		l, err = net.Listen("tcp", "127.0.0.1:0")
	case "tls":
		l, err = tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	}
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return &smtprelay.Relay{
		Host:           "127.0.0.1",
		Port:           l.Addr().(*net.TCPAddr).Port,
		Security:       smtprelay.NoTLS,
		HeloName:       "helpmail.test",
		TLSConfig:      &tls.Config{RootCAs: roots},
		DialTimeout:    waitLimit,
		CommandTimeout: waitLimit,
	}
}

// temporary returns err's Temporary(), failing when err has none.
func temporary(t testing.TB, err error) bool {
	t.Helper()
	var te interface{ Temporary() bool }
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) has no Temporary()", err, err)
	}
	return te.Temporary()
}

func TestSendDeliversExactBytes(t *testing.T) {
	be := &testBackend{}
	r := startRelay(t, be, "plain")
	to := []string{"ann@customer.example", "bob@customer.example"}
	if err := r.Send(context.Background(), "bounces@helpdesk.test", to, []byte(testMessage)); err != nil {
		t.Fatalf("Send() = %v, want nil", err)
	}
	if err := r.Send(context.Background(), "", to[:1], []byte(testMessage)); err != nil {
		t.Fatalf("Send() with null sender = %v, want nil", err)
	}
	msgs, _, _ := be.snapshot()
	if len(msgs) != 2 {
		t.Fatalf("relay received %d messages, want 2", len(msgs))
	}
	if m := msgs[0]; m.data != testMessage || m.from != "bounces@helpdesk.test" || !slices.Equal(m.to, to) || m.tls {
		t.Errorf("relay received %+v, want the message from bounces@helpdesk.test to %v in clear text", m, to)
	}
	if msgs[1].from != "" {
		t.Errorf("null sender arrived as %q, want empty", msgs[1].from)
	}
}

func TestSecurity(t *testing.T) {
	tests := []struct {
		name       string
		serverMode string
		security   string
		untrusted  bool // the relay's TLSConfig does not trust the test certificate
		wantErr    bool // a temporary error, and nothing sent
		wantTLS    bool
	}{
		{"starttls", "starttls", smtprelay.StartTLS, false, false, true},
		{"starttls is the default", "starttls", "", false, false, true},
		{"starttls required but not offered", "plain", smtprelay.StartTLS, false, true, false},
		{"starttls with untrusted certificate", "starttls", smtprelay.StartTLS, true, true, false},
		{"starttls-optional offered", "starttls", smtprelay.StartTLSOptional, false, false, true},
		{"starttls-optional not offered", "plain", smtprelay.StartTLSOptional, false, false, false},
		{"implicit tls", "tls", smtprelay.ImplicitTLS, false, false, true},
		{"implicit tls with untrusted certificate", "tls", smtprelay.ImplicitTLS, true, true, false},
		{"none", "starttls", smtprelay.NoTLS, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &testBackend{}
			r := startRelay(t, be, tt.serverMode)
			r.Security = tt.security
			if tt.untrusted {
				r.TLSConfig = nil
			}
			err := r.Send(context.Background(), "support@helpdesk.test", []string{"ann@customer.example"}, []byte(testMessage))
			msgs, mailCalls, _ := be.snapshot()
			if tt.wantErr {
				if err == nil || !temporary(t, err) {
					t.Fatalf("Send() = %v, want a temporary error", err)
				}
				if mailCalls != 0 {
					t.Fatalf("relay saw %d MAIL commands, want 0", mailCalls)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send() = %v, want nil", err)
			}
			if len(msgs) != 1 || msgs[0].tls != tt.wantTLS || msgs[0].data != testMessage {
				t.Fatalf("relay received %+v, want one message with tls=%v", msgs, tt.wantTLS)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	both := []string{sasl.Plain, sasl.Login}
	tests := []struct {
		name      string
		security  string
		offered   []string
		mechanism string
		password  string
		wantMech  string // "" = no AUTH command expected
		wantErr   string // "" = success
		wantTemp  bool
	}{
		{"best is plain", smtprelay.StartTLS, both, "", testPass, sasl.Plain, "", false},
		{"login when plain is missing", smtprelay.StartTLS, []string{sasl.Login}, "", testPass, sasl.Login, "", false},
		{"login asked for", smtprelay.StartTLS, both, "login", testPass, sasl.Login, "", false},
		{"plain over loopback clear text", smtprelay.NoTLS, both, "plain", testPass, sasl.Plain, "", false},
		{"wrong password plain", smtprelay.StartTLS, both, "plain", "wrong-Pw1", sasl.Plain, "auth: 535 5.7.8", true},
		{"wrong password login", smtprelay.StartTLS, both, "login", "wrong-Pw1", sasl.Login, "auth: 535 5.7.8", true},
		{"no mechanism offered", smtprelay.StartTLS, nil, "", testPass, "", "offers neither", true},
		{"unknown mechanism", smtprelay.StartTLS, both, "cram-md5", testPass, "", "unknown mechanism", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &testBackend{mechs: tt.offered}
			r := startRelay(t, be, "starttls")
			r.Security = tt.security
			r.Username, r.Password, r.AuthMechanism = testUser, tt.password, tt.mechanism
			err := r.Send(context.Background(), "support@helpdesk.test", []string{"ann@customer.example"}, []byte(testMessage))
			msgs, _, mechs := be.snapshot()
			if tt.wantMech != "" && !slices.Equal(mechs, []string{tt.wantMech}) {
				t.Errorf("AUTH mechanisms used = %v, want [%s]", mechs, tt.wantMech)
			}
			if tt.wantErr == "" {
				if err != nil || len(msgs) != 1 || msgs[0].user != testUser {
					t.Fatalf("Send() = %v, relay received %+v; want nil and one message from %s", err, msgs, testUser)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || temporary(t, err) != tt.wantTemp {
				t.Fatalf("Send() = %v, want an error containing %q with Temporary() %v", err, tt.wantErr, tt.wantTemp)
			}
			if strings.Contains(err.Error(), tt.password) {
				t.Errorf("Send() error %q contains the password", err)
			}
			if len(msgs) != 0 {
				t.Errorf("relay received %d messages, want 0", len(msgs))
			}
		})
	}
}

func TestReplies(t *testing.T) {
	reply := func(code int, enh smtp.EnhancedCode, msg string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
	}
	tests := []struct {
		name          string
		to            []string
		rcptReply     map[string]*smtp.SMTPError
		dataReply     *smtp.SMTPError
		wantText      string
		wantTemp      bool
		wantDelivered []string // recipients of the one message received; nil = none received
	}{
		{"rcpt 450", []string{"a@x.example"}, map[string]*smtp.SMTPError{"a@x.example": reply(450, smtp.EnhancedCode{4, 2, 1}, "Mailbox busy")},
			nil, "rcpt <a@x.example>: 450 4.2.1 Mailbox busy", true, nil},
		{"rcpt 550", []string{"a@x.example"}, map[string]*smtp.SMTPError{"a@x.example": reply(550, smtp.EnhancedCode{5, 1, 1}, "No such user")},
			nil, "smtprelay: rcpt <a@x.example>: 550 5.1.1 No such user", false, nil},
		{"data 451", []string{"a@x.example"}, nil, reply(451, smtp.EnhancedCode{4, 3, 0}, "Try later"),
			"data: 451 4.3.0 Try later", true, nil},
		{"data 554", []string{"a@x.example"}, nil, reply(554, smtp.EnhancedCode{5, 6, 0}, "Content refused"),
			"data: 554 5.6.0 Content refused", false, nil},
		{"one of two refused", []string{"a@x.example", "b@x.example"}, map[string]*smtp.SMTPError{"b@x.example": reply(550, smtp.EnhancedCode{5, 1, 1}, "No such user")},
			nil, "rcpt <b@x.example>: 550 5.1.1 No such user", false, []string{"a@x.example"}},
		{"4xx wins over 5xx", []string{"a@x.example", "b@x.example", "c@x.example"}, map[string]*smtp.SMTPError{
			"b@x.example": reply(550, smtp.EnhancedCode{5, 1, 1}, "No such user"),
			"c@x.example": reply(452, smtp.EnhancedCode{4, 5, 3}, "Too many recipients")},
			nil, "rcpt <c@x.example>: 452 4.5.3 Too many recipients", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &testBackend{rcptReply: tt.rcptReply, dataReply: tt.dataReply}
			r := startRelay(t, be, "plain")
			err := r.Send(context.Background(), "support@helpdesk.test", tt.to, []byte(testMessage))
			if err == nil || !strings.Contains(err.Error(), tt.wantText) || temporary(t, err) != tt.wantTemp {
				t.Fatalf("Send() = %v, want an error containing %q with Temporary() %v", err, tt.wantText, tt.wantTemp)
			}
			msgs, _, _ := be.snapshot()
			switch {
			case tt.wantDelivered == nil && len(msgs) != 0:
				t.Errorf("relay received %+v, want nothing", msgs)
			case tt.wantDelivered != nil && (len(msgs) != 1 || !slices.Equal(msgs[0].to, tt.wantDelivered)):
				t.Errorf("relay received %+v, want one message to %v", msgs, tt.wantDelivered)
			}
		})
	}
}

func TestEnvelopeErrorsArePermanent(t *testing.T) {
	r := &smtprelay.Relay{Host: "127.0.0.1", Port: 1, Security: smtprelay.NoTLS}
	tests := []struct {
		name string
		from string
		to   []string
	}{
		{"no recipients", "support@helpdesk.test", nil},
		{"CRLF in sender", "support@helpdesk.test\r\nRCPT TO:<x@y>", []string{"a@x.example"}},
		{"LF in recipient", "support@helpdesk.test", []string{"a@x.example\nDATA"}},
		{"angle bracket", "support@helpdesk.test", []string{"a@x.example> NOTIFY=NEVER"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Send(context.Background(), tt.from, tt.to, []byte(testMessage))
			if err == nil || temporary(t, err) {
				t.Fatalf("Send(%q, %q) = %v, want a permanent error", tt.from, tt.to, err)
			}
		})
	}
}

func TestNoClearTextAuthToRemoteHost(t *testing.T) {
	// The .invalid host is never resolved: Send refuses before dialling.
	r := &smtprelay.Relay{Host: "smtp.example.invalid", Security: smtprelay.NoTLS, Username: testUser, Password: testPass}
	err := r.Send(context.Background(), "support@helpdesk.test", []string{"a@x.example"}, []byte(testMessage))
	var e *smtprelay.Error
	if !errors.As(err, &e) || e.Op != "auth" || !strings.Contains(err.Error(), "without TLS") || strings.Contains(err.Error(), testPass) {
		t.Fatalf("Send() = %v, want an auth error refusing clear text", err)
	}
}

func TestServerNotListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r := &smtprelay.Relay{Host: "127.0.0.1", Port: port, Security: smtprelay.StartTLS, DialTimeout: waitLimit}
	err = r.Send(context.Background(), "support@helpdesk.test", []string{"a@x.example"}, []byte(testMessage))
	var e *smtprelay.Error
	if !errors.As(err, &e) || e.Op != "dial" || !temporary(t, err) {
		t.Fatalf("Send() = %v, want a temporary dial error", err)
	}
}

// blockingRelay starts a relay whose Data holds the message until the
// test ends, and returns the channel that says Data has it.
func blockingRelay(t testing.TB) (*smtprelay.Relay, chan struct{}) {
	t.Helper()
	be := &testBackend{inData: make(chan struct{}, 1), release: make(chan struct{})}
	r := startRelay(t, be, "plain")
	t.Cleanup(func() { close(be.release) }) // runs before the server's cleanup
	return r, be.inData
}

func TestContextCancelledDuringData(t *testing.T) {
	r, inData := blockingRelay(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- r.Send(ctx, "support@helpdesk.test", []string{"a@x.example"}, []byte(testMessage))
	}()
	select {
	case <-inData:
	case <-time.After(waitLimit):
		t.Fatal("relay did not get the message")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !temporary(t, err) {
			t.Fatalf("Send() = %v, want a temporary context.Canceled", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Send() did not return after cancel")
	}
}

func TestCommandTimeout(t *testing.T) {
	r, _ := blockingRelay(t)
	r.CommandTimeout = 100 * time.Millisecond
	start := time.Now()
	err := r.Send(context.Background(), "support@helpdesk.test", []string{"a@x.example"}, []byte(testMessage))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !temporary(t, err) {
		t.Fatalf("Send() = %v, want a temporary timeout", err)
	}
	if d := time.Since(start); d > waitLimit/2 {
		t.Errorf("Send() took %v with CommandTimeout 100ms", d)
	}
}
