package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestMessagesUnthreaded: automatic mail that matches no ticket is stored
// on none, and `messages unthreaded` shows it; mail on a ticket is not
// listed.
func TestMessagesUnthreaded(t *testing.T) {
	s := MustStartServer(t, nil)
	report, err := os.ReadFile(filepath.Join("..", "..", "testdata", "corpus", "mox", "dmarc-reports", "google.eml"))
	if err != nil {
		t.Fatal(err)
	}
	s.mustSend(t, "noreply-dmarc-support@google.com", []string{"support@example.com"}, string(report))
	s.mustSend(t, "ann@customer.example", []string{"support@example.com"}, msg("From: ann@customer.example",
		"To: support@example.com", "Subject: Printer on fire", "Message-ID: <ut1@customer.example>"))
	cfg := filepath.Join(s.dir, "cli.toml")
	if err := os.WriteFile(cfg, []byte("[database]\npath = \""+filepath.Join(s.dir, "helpmail.db")+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runInProcess(t, cfg, "messages", "unthreaded", "--json")
	if code != 0 {
		t.Fatalf("messages unthreaded = exit %d: %s", code, out)
	}
	var got struct {
		Messages []struct {
			From     string `json:"from"`
			Ticket   int64  `json:"ticket"`
			Decision struct {
				Outcome string `json:"outcome"`
			} `json:"decision"`
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("messages unthreaded --json: %v\n%s", err, out)
	}
	if len(got.Messages) != 1 || got.Messages[0].From != "noreply-dmarc-support@google.com" || got.Messages[0].Ticket != 0 {
		t.Fatalf("unthreaded messages = %+v, want only the DMARC report", got.Messages)
	}
	if got.Messages[0].Decision.Outcome == "" {
		t.Errorf("the unthreaded message carries no outcome")
	}
}
