// Package dovecottest starts a throwaway Dovecot 2.3 IMAP server for tests,
// so that the IMAP poller is proven against a real server rather than a
// fake one, in its own package tests and end to end through helpmail.
//
// Following shared/recipes/dovecot-imap-test-server.md, each server has its
// own config, passwd-file user, Maildirs, sockets and log in one short
// temporary directory, listens on free ports of 127.0.0.1, runs in the
// foreground as a child process of the test in its own process group, and
// is stopped (with every process of the group) in the test's cleanup.
//
// When Dovecot is not installed, Start skips the test, or fails it when
// the CI environment variable is set (CI installs dovecot-imapd, so a
// missing server there is a broken machine, not a reason to skip).
package dovecottest

import (
	"bufio"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/helpmail/helpmail/internal/testcert"
)

// The one account of every test server.
const (
	// User is the login name, and the address its mail is for.
	User = "support@example.test"
	// Password is User's password (plain text over loopback).
	Password = "support-pass"
)

// imapBinary is the IMAP process Dovecot runs per session; the Debian
// package dovecot-imapd installs it (dovecot-core alone does not).
const imapBinary = "/usr/lib/dovecot/imap"

// Options varies the test server.
type Options struct {
	// TLS adds a self-signed certificate: STARTTLS on Port and implicit
	// TLS on TLSPort; Roots trusts it.
	TLS bool
	// ExtraConf is appended to dovecot.conf, e.g. an imap_capability line
	// to imitate an older server.
	ExtraConf string
}

// Server is a running (or stopped) test Dovecot.
type Server struct {
	// Port is the plaintext (and STARTTLS) IMAP port on 127.0.0.1.
	Port int
	// TLSPort is the implicit-TLS port; 0 without Options.TLS.
	TLSPort int
	// Roots trusts the server's self-signed certificate; nil without
	// Options.TLS.
	Roots *x509.CertPool

	tb     testing.TB
	bin    string
	dir    string
	conf   string
	proc   *exec.Cmd
	exited chan struct{} // closed when proc has exited
}

// Binary returns the path of the dovecot binary, or skips the test (fails
// it when CI is set) when Dovecot's IMAP server is not installed.
func Binary(tb testing.TB) string {
	tb.Helper()
	if _, err := os.Stat(imapBinary); err == nil {
		for _, name := range []string{"dovecot", "/usr/sbin/dovecot"} {
			if bin, err := exec.LookPath(name); err == nil {
				return bin
			}
		}
	}
	if os.Getenv("CI") != "" {
		tb.Fatal("dovecot is not installed (apt-get install -y dovecot-imapd); CI must have it")
	}
	tb.Skip("dovecot is not installed (apt-get install -y dovecot-imapd); set CI to make this a failure")
	return ""
}

// Start starts a Dovecot with one account, User/Password, whose INBOX is
// empty and which has an Archive folder, and stops it when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	bin := Binary(tb)
	// Not tb.TempDir(): its long paths break Dovecot's unix sockets (107
	// bytes), and it is mode 0700, which Dovecot's users cannot traverse.
	dir, err := os.MkdirTemp("", "imap")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	d := &Server{tb: tb, bin: bin, dir: dir, conf: filepath.Join(dir, "dovecot.conf")}
	for _, sub := range []string{"mail", "run", "state", "log"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(User+":{PLAIN}"+Password+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	if opts.TLS {
		d.Roots = writeCertificate(tb, dir)
	}
	tb.Cleanup(d.Stop) // runs before the RemoveAll above

	// A port picked by listening on :0 may be taken again before Dovecot
	// binds it: try a few times.
	for attempt := 1; ; attempt++ {
		d.Port = freePort(tb)
		if opts.TLS {
			d.TLSPort = freePort(tb)
		}
		d.writeConfig(opts)
		err := d.start()
		if err == nil {
			return d
		}
		if attempt == 5 || !strings.Contains(err.Error(), "in use") {
			tb.Fatalf("start dovecot: %v", err)
		}
	}
}

// Addr is the plaintext listener, "127.0.0.1:<Port>".
func (d *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.Port)) }

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeCertificate writes a self-signed certificate for 127.0.0.1 and
// localhost (its own CA) and its key to dir/tls, and returns a pool that
// trusts it.
func writeCertificate(tb testing.TB, dir string) *x509.CertPool {
	tb.Helper()
	c := testcert.New(tb)
	if err := os.Mkdir(filepath.Join(dir, "tls"), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls", "cert.pem"), c.CertPEM, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls", "key.pem"), c.KeyPEM, 0o600); err != nil {
		tb.Fatal(err)
	}
	return c.Pool
}

// writeConfig writes dovecot.conf for the current ports (recipe section 3).
func (d *Server) writeConfig(opts Options) {
	d.tb.Helper()
	// users names who runs what; uidGid is the mail owner for the userdb.
	var users, uidGid, extra string
	if os.Getuid() == 0 {
		// Mail as nobody:nogroup; login and internal processes as the
		// users the Debian package creates.
		nobody, err := user.Lookup("nobody")
		if err != nil {
			d.tb.Fatal(err)
		}
		nogroup, err := user.LookupGroup("nogroup")
		if err != nil {
			d.tb.Fatal(err)
		}
		uid, _ := strconv.Atoi(nobody.Uid)
		gid, _ := strconv.Atoi(nogroup.Gid)
		if err := os.Chown(filepath.Join(d.dir, "mail"), uid, gid); err != nil {
			d.tb.Fatal(err)
		}
		users = "default_login_user = dovenull\ndefault_internal_user = dovecot\ndefault_internal_group = dovecot"
		uidGid = fmt.Sprintf("uid=%d gid=%d", uid, gid)
	} else {
		// Everything as the calling user; a non-root master cannot chroot.
		u, err := user.Current()
		if err != nil {
			d.tb.Fatal(err)
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			d.tb.Fatal(err)
		}
		users = fmt.Sprintf("default_login_user = %[1]s\ndefault_internal_user = %[1]s\ndefault_internal_group = %[2]s", u.Username, g.Name)
		uidGid = fmt.Sprintf("uid=%s gid=%s", u.Uid, u.Gid)
		extra = "service anvil {\n  chroot =\n}\nservice imap-login {\n  chroot =\n}\nservice imap-urlauth-login {\n  chroot =\n}"
	}

	ssl := "ssl = no"
	if opts.TLS {
		ssl = fmt.Sprintf("ssl = yes\nssl_cert = <%[1]s/tls/cert.pem\nssl_key = <%[1]s/tls/key.pem\nssl_min_protocol = TLSv1.2", d.dir)
		if _, err := os.Stat("/usr/share/dovecot/dh.pem"); err == nil {
			ssl += "\nssl_dh = </usr/share/dovecot/dh.pem"
		}
	}
	conf := fmt.Sprintf(`instance_name = dovecot-test-%[2]d
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/log/dovecot.log
info_log_path = %[1]s/log/dovecot.log
debug_log_path = %[1]s/log/dovecot.log

protocols = imap
listen = 127.0.0.1
%[4]s
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
%[5]s

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
userdb {
  driver = static
  args = %[6]s home=%[1]s/mail/%%u
}

mail_location = maildir:~/Maildir
first_valid_uid = 1
first_valid_gid = 1
# Test data: no fsync, for speed.
mail_fsync = never

namespace inbox {
  inbox = yes
  separator = /
  mailbox Archive {
    special_use = \Archive
    auto = subscribe
  }
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[3]d
  }
}
%[7]s
%[8]s
`, d.dir, d.Port, d.TLSPort, users, ssl, uidGid, extra, opts.ExtraConf)
	if err := os.WriteFile(d.conf, []byte(conf), 0o644); err != nil {
		d.tb.Fatal(err)
	}
}

// Restart starts the server again on the same ports and mail, after Stop
// (a running server is stopped first), so that tests can take it away
// from a client and bring it back.
func (d *Server) Restart() error {
	d.Stop()
	return d.start()
}

// start runs `dovecot -F -c conf` and waits (at most 10 s) for the IMAP
// greeting.
func (d *Server) start() error {
	cmd := exec.Command(d.bin, "-F", "-c", d.conf)
	// Its own process group, so that Stop can take every child down too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := os.Create(filepath.Join(d.dir, "log", "stderr"))
	if err != nil {
		return fmt.Errorf("create dovecot stderr file: %w", err)
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec %s: %w", d.bin, err)
	}
	exited := make(chan struct{})
	go func() { // ends when the process exits; Stop waits for it
		cmd.Wait()
		close(exited)
	}()
	d.proc, d.exited = cmd, exited
	if err := d.waitGreeting(); err != nil {
		d.Stop()
		return fmt.Errorf("%w; log:\n%s", err, d.Log())
	}
	return nil
}

// waitGreeting polls the plaintext port until it sends "* OK", the process
// exits, or 10 s have passed.
func (d *Server) waitGreeting() error {
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for range 500 {
		if greets(d.Addr()) {
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-d.exited:
			return errors.New("dovecot exited before greeting")
		case <-tick.C:
		}
	}
	return fmt.Errorf("no IMAP greeting on %s within 10 s", d.Addr())
}

func greets(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "* OK")
}

// Log returns the server's log files, for failure messages.
func (d *Server) Log() string {
	a, _ := os.ReadFile(filepath.Join(d.dir, "log", "dovecot.log"))
	b, _ := os.ReadFile(filepath.Join(d.dir, "log", "stderr"))
	return string(a) + string(b)
}

// Stop terminates the server and every process of its group, and waits for
// the master to exit, so that no command reaches the mailbox after it
// returns. Stopping a stopped server does nothing.
func (d *Server) Stop() {
	if d.proc == nil {
		return
	}
	pgid := d.proc.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		d.tb.Errorf("dovecot (pid %d) ignored SIGTERM for 10 s; killing it", pgid)
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-d.exited
	}
	// Children that outlived the master, if any.
	syscall.Kill(-pgid, syscall.SIGKILL)
	d.proc = nil
}

// Client logs in to the server as User, for putting mail in and looking
// at the result. It is closed when the test ends.
func (d *Server) Client(tb testing.TB) *imapclient.Client {
	tb.Helper()
	c, err := imapclient.DialInsecure(d.Addr(), nil)
	if err != nil {
		tb.Fatalf("DialInsecure(%s) = %v", d.Addr(), err)
	}
	tb.Cleanup(func() { c.Close() })
	if err := c.Login(User, Password).Wait(); err != nil {
		tb.Fatalf("Login(%s) = %v", User, err)
	}
	return c
}

// Append APPENDs raw to mbox with flags and returns its UID.
func Append(tb testing.TB, c *imapclient.Client, mbox string, raw []byte, flags ...imap.Flag) uint32 {
	tb.Helper()
	cmd := c.Append(mbox, int64(len(raw)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write(raw); err != nil {
		tb.Fatalf("Append(%s).Write() = %v", mbox, err)
	}
	if err := cmd.Close(); err != nil {
		tb.Fatalf("Append(%s).Close() = %v", mbox, err)
	}
	data, err := cmd.Wait()
	if err != nil {
		tb.Fatalf("Append(%s).Wait() = %v", mbox, err)
	}
	return uint32(data.UID)
}

// Message is a message as the server holds it.
type Message struct {
	UID uint32
	// ID is the Message-ID, with angle brackets.
	ID      string
	Seen    bool
	Deleted bool
}

// List returns the messages of mbox in sequence order, or nil with exists
// false when there is no such mailbox. It selects mbox read-only.
func List(tb testing.TB, c *imapclient.Client, mbox string) (msgs []Message, exists bool) {
	tb.Helper()
	sel, err := c.Select(mbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, false
	}
	if sel.NumMessages == 0 {
		return nil, true
	}
	bufs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, Envelope: true}).Collect()
	if err != nil {
		tb.Fatalf("Fetch(%s 1:*) = %v", mbox, err)
	}
	for _, b := range bufs {
		m := Message{UID: uint32(b.UID), ID: "<" + b.Envelope.MessageID + ">"}
		for _, f := range b.Flags {
			m.Seen = m.Seen || f == imap.FlagSeen
			m.Deleted = m.Deleted || f == imap.FlagDeleted
		}
		msgs = append(msgs, m)
	}
	return msgs, true
}

// IDs returns the Message-IDs of msgs, in order.
func IDs(msgs []Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}
