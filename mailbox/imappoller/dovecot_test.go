package imappoller

// A throwaway Dovecot 2.3 for the tests, following
// shared/recipes/dovecot-imap-test-server.md: its own config, passwd-file
// users, Maildirs, sockets and log in one short temporary directory, a free
// port on 127.0.0.1, run in the foreground as a child process of the test
// and stopped (with every process of its group) in t.Cleanup.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
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
)

const (
	testUser = "support@example.test"
	testPass = "support-pass"
)

// dovecotOptions varies the test server.
type dovecotOptions struct {
	// tls adds a certificate: STARTTLS on port and implicit TLS on tlsPort.
	tls bool
	// extraConf is appended to dovecot.conf, e.g. an imap_capability line.
	extraConf string
}

// dovecot is a running (or stopped) test server.
type dovecot struct {
	t       testing.TB
	bin     string
	dir     string
	conf    string
	port    int
	tlsPort int            // 0 without dovecotOptions.tls
	roots   *x509.CertPool // trusts the server's self-signed certificate
	proc    *exec.Cmd
	exited  chan struct{} // closed when proc has exited
}

// dovecotBinary finds dovecot, or skips the test (fails it when CI is set,
// since CI installs it).
func dovecotBinary(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"dovecot", "/usr/sbin/dovecot"} {
		if bin, err := exec.LookPath(name); err == nil {
			if _, err := os.Stat("/usr/lib/dovecot/imap"); err == nil {
				return bin
			}
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("dovecot is not installed (apt-get install -y dovecot-imapd)")
	}
	t.Skip("dovecot is not installed (apt-get install -y dovecot-imapd); set CI to make this a failure")
	return ""
}

// startDovecot starts a Dovecot with one account, testUser/testPass, and
// stops it when the test ends.
func startDovecot(t testing.TB, opts dovecotOptions) *dovecot {
	t.Helper()
	bin := dovecotBinary(t)
	// Not t.TempDir(): its long paths break Dovecot's unix sockets (107
	// bytes), and it is mode 0700, which Dovecot's users cannot traverse.
	dir, err := os.MkdirTemp("", "imap")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d := &dovecot{t: t, bin: bin, dir: dir, conf: filepath.Join(dir, "dovecot.conf")}
	for _, sub := range []string{"mail", "run", "state", "log"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(testUser+":{PLAIN}"+testPass+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if opts.tls {
		d.roots = writeCertificate(t, dir)
	}
	t.Cleanup(d.stop)

	// A port picked by listening on :0 may be taken again before Dovecot
	// binds it: try a few times.
	for attempt := 1; ; attempt++ {
		d.port = freePort(t)
		if opts.tls {
			d.tlsPort = freePort(t)
		}
		d.writeConfig(opts)
		err := d.start()
		if err == nil {
			return d
		}
		if attempt == 5 || !strings.Contains(err.Error(), "in use") {
			t.Fatalf("start dovecot: %v", err)
		}
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeCertificate writes a self-signed certificate for 127.0.0.1 and
// localhost (its own CA) and its key to dir/tls, and returns a pool that
// trusts it.
func writeCertificate(t testing.TB, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "tls"), 0o755); err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "tls", "cert.pem"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(filepath.Join(dir, "tls", "key.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return pool
}

// writeConfig writes dovecot.conf for the current ports (recipe section 3).
func (d *dovecot) writeConfig(opts dovecotOptions) {
	d.t.Helper()
	// users names who runs what; uidGid is the mail owner for the userdb.
	var users, uidGid, extra string
	if os.Getuid() == 0 {
		// Mail as nobody:nogroup; login and internal processes as the
		// users the Debian package creates.
		nobody, err := user.Lookup("nobody")
		if err != nil {
			d.t.Fatal(err)
		}
		nogroup, err := user.LookupGroup("nogroup")
		if err != nil {
			d.t.Fatal(err)
		}
		uid, _ := strconv.Atoi(nobody.Uid)
		gid, _ := strconv.Atoi(nogroup.Gid)
		if err := os.Chown(filepath.Join(d.dir, "mail"), uid, gid); err != nil {
			d.t.Fatal(err)
		}
		users = "default_login_user = dovenull\ndefault_internal_user = dovecot\ndefault_internal_group = dovecot"
		uidGid = fmt.Sprintf("uid=%d gid=%d", uid, gid)
	} else {
		// Everything as the calling user; a non-root master cannot chroot.
		u, err := user.Current()
		if err != nil {
			d.t.Fatal(err)
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			d.t.Fatal(err)
		}
		users = fmt.Sprintf("default_login_user = %[1]s\ndefault_internal_user = %[1]s\ndefault_internal_group = %[2]s", u.Username, g.Name)
		uidGid = fmt.Sprintf("uid=%s gid=%s", u.Uid, u.Gid)
		extra = "service anvil {\n  chroot =\n}\nservice imap-login {\n  chroot =\n}\nservice imap-urlauth-login {\n  chroot =\n}"
	}

	ssl := "ssl = no"
	if opts.tls {
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
`, d.dir, d.port, d.tlsPort, users, ssl, uidGid, extra, opts.extraConf)
	if err := os.WriteFile(d.conf, []byte(conf), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

// start runs `dovecot -F -c conf` and waits (at most 10 s) for the IMAP
// greeting. It can be called again after stop, on the same ports and mail.
func (d *dovecot) start() error {
	d.t.Helper()
	cmd := exec.Command(d.bin, "-F", "-c", d.conf)
	// Its own process group, so that stop can take every child down too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := os.Create(filepath.Join(d.dir, "log", "stderr"))
	if err != nil {
		return err
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec %s: %w", d.bin, err)
	}
	exited := make(chan struct{})
	go func() { // ends when the process exits; stop waits for it
		cmd.Wait()
		close(exited)
	}()
	d.proc, d.exited = cmd, exited
	if err := d.waitGreeting(); err != nil {
		d.stop()
		return fmt.Errorf("%w; log:\n%s", err, d.log())
	}
	return nil
}

// waitGreeting polls 127.0.0.1:port until it sends "* OK", the process
// exits, or 10 s have passed.
func (d *dovecot) waitGreeting() error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port))
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for range 500 {
		if greets(addr) {
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
	return fmt.Errorf("no IMAP greeting on %s within 10 s", addr)
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

// log returns the server's log files, for failure messages.
func (d *dovecot) log() string {
	a, _ := os.ReadFile(filepath.Join(d.dir, "log", "dovecot.log"))
	b, _ := os.ReadFile(filepath.Join(d.dir, "log", "stderr"))
	return string(a) + string(b)
}

// stop terminates the server and every process of its group, and waits for
// the master to exit. Stopping a stopped server does nothing.
func (d *dovecot) stop() {
	if d.proc == nil {
		return
	}
	pgid := d.proc.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		d.t.Errorf("dovecot (pid %d) ignored SIGTERM for 10 s; killing it", pgid)
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-d.exited
	}
	// Children that outlived the master, if any.
	syscall.Kill(-pgid, syscall.SIGKILL)
	d.proc = nil
}
