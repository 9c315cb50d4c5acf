package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helpmail/helpmail/store"
)

// runInProcess runs the command in-process with a config file in dir and
// returns stdout and the exit code.
func runInProcess(tb testing.TB, configPath string, args ...string) (string, int) {
	tb.Helper()
	var out, errOut bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	code := m.Exit(m.Run(context.Background(), append([]string{"--config", configPath}, args...)))
	if tb.Failed() {
		tb.Logf("stderr: %s", errOut.String())
	}
	return out.String(), code
}

func TestSuppressionsCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "helpmail.toml")
	db := filepath.Join(dir, "h.db")
	if err := os.WriteFile(cfgPath, []byte("[database]\npath = \""+db+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(context.Background(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.UpdateTx(context.Background(), func(tx *store.Tx) error {
		return tx.Suppress(context.Background(), "gone@example.org", "bounced: 5.1.1 user unknown", time.Now())
	})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out, code := runInProcess(t, cfgPath, "suppressions", "list"); code != 0 || !strings.Contains(out, "gone@example.org") || !strings.Contains(out, "5.1.1") {
		t.Fatalf("suppressions list = %d, %q", code, out)
	}
	if out, code := runInProcess(t, cfgPath, "suppressions", "remove", "GONE@example.org"); code != 0 {
		t.Fatalf("suppressions remove = %d, %q", code, out)
	}
	if out, _ := runInProcess(t, cfgPath, "suppressions", "list", "--json"); strings.Contains(out, "gone@example.org") {
		t.Errorf("address still listed after remove: %s", out)
	}
	if _, code := runInProcess(t, cfgPath, "suppressions", "remove", "gone@example.org"); code != exitNotFound {
		t.Errorf("removing an unknown address: exit %d, want %d", code, exitNotFound)
	}
}
