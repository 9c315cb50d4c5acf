package imappoller

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/helpmail/helpmail/mailbox"
)

func validPoller() *Poller {
	return &Poller{
		Account:     Account{Name: "support@example.com", Host: "imap.example.com", Username: "u", Password: "p"},
		Checkpoints: &memCheckpoints{},
		Deliver:     func(context.Context, mailbox.Envelope, []byte) error { return nil },
	}
}

func TestSettingsInvalid(t *testing.T) {
	tests := []struct {
		name      string
		change    func(p *Poller)
		wantField string
	}{
		{"no deliver", func(p *Poller) { p.Deliver = nil }, "Deliver"},
		{"no checkpoints", func(p *Poller) { p.Checkpoints = nil }, "Checkpoints"},
		{"no name", func(p *Poller) { p.Account.Name = "" }, "Account.Name"},
		{"no host", func(p *Poller) { p.Account.Host = "" }, "Account.Host"},
		{"port", func(p *Poller) { p.Account.Port = 70000 }, "Account.Port"},
		{"security", func(p *Poller) { p.Account.Security = "ssl" }, "Account.Security"},
		{"plaintext to a remote host", func(p *Poller) { p.Account.Security = "none" }, "Account.Security"},
		{"plaintext to a remote IP", func(p *Poller) { p.Account.Security, p.Account.Host = "none", "192.0.2.1" }, "Account.Security"},
		{"after", func(p *Poller) { p.Account.After = "archive" }, "Account.After"},
		{"move without folder", func(p *Poller) { p.Account.After = "move:" }, "Account.After"},
		{"move into itself", func(p *Poller) { p.Account.After = "move:INBOX" }, "Account.After"},
		{"refused into itself", func(p *Poller) { p.Account.Mailbox, p.Account.RefusedFolder = "Support", "Support" }, "Account.RefusedFolder"},
		{"initial scan", func(p *Poller) { p.Account.InitialScan = "new" }, "Account.InitialScan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPoller()
			tt.change(p)
			_, err := p.settings()
			var cfgErr *ConfigError
			if !errors.As(err, &cfgErr) || cfgErr.Field != tt.wantField {
				t.Errorf("settings() = %v, want a *ConfigError for %s", err, tt.wantField)
			}
		})
	}
}

func TestSettingsDefaults(t *testing.T) {
	tests := []struct {
		name       string
		change     func(p *Poller)
		wantAddr   string
		wantServer string // TLS ServerName; "" for plaintext
	}{
		{"tls by default", func(p *Poller) {}, "imap.example.com:993", "imap.example.com"},
		{"starttls", func(p *Poller) { p.Account.Security = "starttls" }, "imap.example.com:143", "imap.example.com"},
		{"own port and server name", func(p *Poller) {
			p.Account.Port, p.Account.TLSConfig = 1993, &tls.Config{ServerName: "mail.example.com"}
		}, "imap.example.com:1993", "mail.example.com"},
		{"plaintext to 127.0.0.1", func(p *Poller) { p.Account.Security, p.Account.Host = "none", "127.0.0.1" }, "127.0.0.1:143", ""},
		{"plaintext to ::1", func(p *Poller) { p.Account.Security, p.Account.Host = "none", "::1" }, "[::1]:143", ""},
		{"plaintext to localhost", func(p *Poller) { p.Account.Security, p.Account.Host = "none", "localhost" }, "localhost:143", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPoller()
			tt.change(p)
			s, err := p.settings()
			if err != nil {
				t.Fatalf("settings() = %v, want nil", err)
			}
			server := ""
			if s.tlsConfig != nil {
				server = s.tlsConfig.ServerName
			}
			if s.addr != tt.wantAddr || server != tt.wantServer {
				t.Errorf("settings() addr, ServerName = %q, %q, want %q, %q", s.addr, server, tt.wantAddr, tt.wantServer)
			}
			if s.mailbox != "INBOX" || s.refused != DefaultRefusedFolder || s.pollInterval != DefaultPollInterval ||
				s.maxBytes != DefaultMaxMessageBytes || s.batch != DefaultBatchSize || s.initialAll ||
				s.afterMove != "" || s.afterDelete || s.envelopeSource != "support@example.com/INBOX" {
				t.Errorf("settings() = %+v, want the documented defaults", s)
			}
		})
	}
	if p := validPoller(); p.Account.TLSConfig == nil {
		p.Account.TLSConfig = &tls.Config{}
		if _, err := p.settings(); err != nil || p.Account.TLSConfig.ServerName != "" {
			t.Errorf("settings() changed the caller's TLSConfig: ServerName %q", p.Account.TLSConfig.ServerName)
		}
	}
}

// TestRunConfigError: Run gives up at once on settings that cannot work,
// such as a password in clear to a remote host, without dialing.
func TestRunConfigError(t *testing.T) {
	p := validPoller()
	p.Account.Security, p.Account.Host = "none", "192.0.2.1"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var cfgErr *ConfigError
	if err := p.Run(ctx); !errors.As(err, &cfgErr) || ctx.Err() != nil {
		t.Errorf("Run() = %v, want a *ConfigError at once", err)
	}
	if n, err := p.Poll(ctx); !errors.As(err, &cfgErr) || n != 0 {
		t.Errorf("Poll() = %d, %v, want 0, a *ConfigError", n, err)
	}
}
