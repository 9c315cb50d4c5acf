package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/smtp"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/helpmail/helpmail"
)

// opServe is a running `helpmail serve` process.
type opServe struct {
	cmd    *exec.Cmd
	smtp   string // the SMTP address from the banner
	stderr *opBuffer
	done   chan struct{}
	code   int // valid once done is closed
}

// opBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type opBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *opBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *opBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// opStartServe runs the real binary's serve with c's configuration and
// waits (bounded) for its banner. The process is killed at cleanup if a
// test left it running.
func opStartServe(tb testing.TB, c *opCLI) *opServe {
	tb.Helper()
	cmd := exec.Command(opBin, "--config", c.config, "serve")
	cmd.Dir, cmd.Env = c.dir, append(c.environ(), "GORACE=atexit_sleep_ms=0")
	p := &opServe{cmd: cmd, stderr: &opBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	banner := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "SMTP:"); ok && !sent {
				banner <- strings.TrimSpace(v)
				sent = true
			}
		}
		if !sent {
			close(banner)
		}
	}()
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if tb.Failed() {
			tb.Logf("serve stderr:\n%s", p.stderr.String())
		}
	})
	select {
	case addr, ok := <-banner:
		if !ok {
			<-p.done
			tb.Fatalf("serve exited (%d) without a banner:\n%s", p.code, p.stderr.String())
		}
		p.smtp = addr
	case <-time.After(60 * time.Second):
		tb.Fatalf("serve printed no banner in 60 s:\n%s", p.stderr.String())
	}
	return p
}

func (p *opServe) signal(tb testing.TB) {
	tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatalf("SIGTERM: %v", err)
	}
}

// wait waits up to d for the process to exit and returns its exit code.
func (p *opServe) wait(tb testing.TB, d time.Duration) int {
	tb.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		tb.Fatalf("serve still running %v after SIGTERM:\n%s", d, p.stderr.String())
	}
	return -1
}

// opStored returns which of ids the database of c holds.
func opStored(tb testing.TB, c *opCLI, ids []string) map[string]bool {
	tb.Helper()
	cfg, err := LoadConfig(c.config, func(string) string { return "" })
	if err != nil {
		tb.Fatal(err)
	}
	app, err := OpenApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	defer app.Close()
	found := map[string]bool{}
	err = app.DB.View(context.Background(), func(tx helpmail.Tx) error {
		for _, id := range ids {
			ms, err := tx.FindMessagesByMessageID(context.Background(), id)
			if err != nil {
				return err
			}
			found[id] = len(ms) > 0
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return found
}

// TestServeGracefulShutdown: SIGTERM in the middle of a load from several
// SMTP clients; serve exits 0 and every message it acknowledged with 250
// is in the database.
func TestServeGracefulShutdown(t *testing.T) {
	c := opNewCLI(t, map[string]string{"log": `level = "info"`})
	p := opStartServe(t, c)

	const clients, perClient = 4, 60
	var (
		mu       sync.Mutex
		accepted []string
		refused  []string
		count    atomic.Int32
		wg       sync.WaitGroup
	)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perClient {
				id := fmt.Sprintf("load-%d-%d@customer.example", i, j)
				from := fmt.Sprintf("client%d@customer.example", i)
				raw := msg("From: "+from, "To: support@example.com", fmt.Sprintf("Subject: load %d %d", i, j), "Message-ID: <"+id+">")
				err := smtp.SendMail(p.smtp, nil, from, []string{"support@example.com"}, []byte(raw))
				mu.Lock()
				if err == nil {
					accepted = append(accepted, id)
				} else {
					refused = append(refused, id)
				}
				mu.Unlock()
				if err == nil {
					count.Add(1)
					continue
				}
				var se *net.OpError
				if errors.As(err, &se) || strings.Contains(err.Error(), "421") || errors.Is(err, io.EOF) {
					return // the server is going away: stop, as a client would until it retries
				}
			}
		}()
	}
	// SIGTERM once the load is well under way.
	deadline := time.Now().Add(60 * time.Second)
	for count.Load() < 5*clients {
		if time.Now().After(deadline) {
			t.Fatalf("only %d messages accepted in 60 s", count.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.signal(t)
	if code := p.wait(t, 40*time.Second); code != 0 {
		t.Errorf("serve exit code after SIGTERM = %d, want 0\n%s", code, p.stderr.String())
	}
	wg.Wait()
	if len(accepted) < 5*clients {
		t.Fatalf("accepted %d messages, want at least %d", len(accepted), 5*clients)
	}
	if len(refused) == 0 {
		t.Logf("the load ended before the shutdown; the test did not see a refusal")
	}
	stored := opStored(t, c, append(append([]string{}, accepted...), refused...))
	missing := 0
	for _, id := range accepted {
		if !stored[id] {
			missing++
			t.Errorf("<%s> got 250 but is not in the database", id)
		}
	}
	t.Logf("%d accepted (all stored, %d missing), %d refused during shutdown", len(accepted), missing, len(refused))
	for _, want := range []string{"shutting down", "SIGTERM", "helpmail stopped"} {
		if !strings.Contains(strings.ToUpper(p.stderr.String()), strings.ToUpper(want)) {
			t.Errorf("serve log has no %q:\n%s", want, p.stderr.String())
		}
	}
	// It starts again on the same database and has everything.
	p2 := opStartServe(t, c)
	p2.signal(t)
	if code := p2.wait(t, 40*time.Second); code != 0 {
		t.Errorf("second serve exit code = %d, want 0", code)
	}
}

// TestServeSecondSignal: a message in the middle of its transaction holds
// the graceful shutdown; a second SIGTERM exits at once.
func TestServeSecondSignal(t *testing.T) {
	c := opNewCLI(t, map[string]string{"log": `level = "info"`})
	p := opStartServe(t, c)
	conn, err := smtp.Dial(p.smtp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Mail("ann@customer.example"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Rcpt("support@example.com"); err != nil {
		t.Fatal(err)
	}
	p.signal(t)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.stderr.String(), "shutting down") {
		if time.Now().After(deadline) {
			t.Fatalf("no \"shutting down\" in the log 30 s after SIGTERM:\n%s", p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-p.done:
		t.Fatalf("serve exited (%d) with a transaction in flight; want it to wait for it", p.code)
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	p.signal(t)
	if code := p.wait(t, 10*time.Second); code != 1 {
		t.Errorf("exit code after a second SIGTERM = %d, want 1", code)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("second SIGTERM took %v to end serve, want it at once", took)
	}
	if !strings.Contains(p.stderr.String(), "second signal") {
		t.Errorf("stderr = %q, want it to say the second signal ended it", p.stderr.String())
	}
}

// TestServeLogs: one JSON line per message received and per delivery,
// and never a password, with a relay that authenticates and an IMAP
// account whose server is down.
func TestServeLogs(t *testing.T) {
	const relayPassword, imapPassword = "relay-pw-0b7e9c41", "imap-pw-5d2f8a66"
	peer := opStartPeer(t, "helpmail", relayPassword, false)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	imapAddr := closed.Addr().(*net.TCPAddr)
	closed.Close() // nothing listens there: the poller fails and logs it
	c := opNewCLI(t, map[string]string{
		"log": "format = \"json\"\nlevel = \"debug\"",
		"outbound.relay": fmt.Sprintf("host = \"127.0.0.1\"\nport = %s\nsecurity = \"none\"\nusername = \"helpmail\"\npassword = \"env:HM_RELAY_PASSWORD\"\nauth_mechanism = \"plain\"",
			peer.port()),
		"[[imap]]": fmt.Sprintf("name = \"inbox\"\naddress = \"support@example.com\"\nhost = \"127.0.0.1\"\nport = %d\nsecurity = \"none\"\nusername = \"support\"\npassword = %q\npoll_interval = \"1s\"",
			imapAddr.Port, imapPassword),
	})
	c.env = []string{"HM_RELAY_PASSWORD=" + relayPassword}
	p := opStartServe(t, c)
	raw := msg("From: Ann <ann@customer.example>", "To: support@example.com", "Subject: Logged", "Message-ID: <logged@customer.example>")
	if err := smtp.SendMail(p.smtp, nil, "ann@customer.example", []string{"support@example.com"}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	// The acknowledgement and the agents' notices go through the relay.
	deadline := time.Now().Add(30 * time.Second)
	for len(peer.messages()) < 3 || !strings.Contains(p.stderr.String(), `"imap`) {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %d messages relayed; log:\n%s", len(peer.messages()), p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.signal(t)
	if code := p.wait(t, 40*time.Second); code != 0 {
		t.Errorf("serve exit code = %d, want 0", code)
	}
	peer.mu.Lock()
	authed := len(peer.auth)
	peer.mu.Unlock()
	if authed == 0 {
		t.Errorf("the relay saw no AUTH: the password was not used")
	}

	logs := p.stderr.String()
	for _, secret := range []string{relayPassword, imapPassword} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains the password %q", secret)
		}
	}
	var received, delivered, imap int
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		switch rec["msg"] {
		case "message received":
			received++
			for k, want := range map[string]any{"source": "smtp", "message_id": "<logged@customer.example>", "ticket": 1.0,
				"rule": "new", "outcome": "new ticket"} {
				if rec[k] != want {
					t.Errorf("message received: %s = %v, want %v (%s)", k, rec[k], want, line)
				}
			}
		case "mail delivered":
			delivered++
			for _, k := range []string{"outbox", "ticket", "rcpt", "template", "message_id"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("mail delivered has no %q: %s", k, line)
				}
			}
		}
		if rec["component"] == "imap" {
			imap++
		}
	}
	if received != 1 || delivered != len(peer.messages()) || imap == 0 {
		t.Errorf("log lines: %d message received (want 1), %d mail delivered (want %d), %d from the IMAP poller (want some)",
			received, delivered, len(peer.messages()), imap)
	}
}
