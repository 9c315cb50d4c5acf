package helpmail_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/mailbox"
)

// corpusFiles returns every *.eml of testdata/corpus (real mail written
// by clients and servers no one here wrote).
func corpusFiles(tb testing.TB) []string {
	tb.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join("testdata", "corpus"), func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(path, ".eml") {
			files = append(files, path)
		}
		return err
	})
	if err != nil || len(files) < 1000 {
		tb.Fatalf("corpus: %d files, %v", len(files), err)
	}
	return files
}

// relayedCopies are corpus files that are another corpus file plus trace
// header fields only: the same message arriving along another path, which
// the desk stores once (SPEC §2: same Message-ID → stored once).
var relayedCopies = map[string]string{
	"mikel-mail/rfc2822/example09.eml": "mikel-mail/rfc2822/example01.eml",
}

// TestCorpusDeliver takes every corpus message through Deliver into one
// database: none panics, none fails, and each one's raw bytes read back
// identical. Exact duplicates (byte for byte) and relayedCopies are stored
// once; every other file is stored, even where fixtures reuse a
// Message-ID for different messages.
func TestCorpusDeliver(t *testing.T) {
	d := MustOpenDesk(t, func(c *helpmail.Config) { c.AutoReplyLimit = 5 })
	ctx := context.Background()
	files := corpusFiles(t)
	want := map[string]string{} // sha256 → a file with those bytes
	slowest, slowName := time.Duration(0), ""
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw)
		want[hex.EncodeToString(sum[:])] = f
		start := time.Now()
		err = d.Deliver(ctx, mailbox.Envelope{Source: "test", Rcpt: []string{"support@example.com"}}, raw)
		var rej *mailbox.Rejection
		if errors.As(err, &rej) {
			if len(bytes.TrimSpace(raw)) == 0 {
				continue
			}
			t.Errorf("Deliver(%s) rejected: %v", f, err)
		} else if err != nil {
			t.Fatalf("Deliver(%s) = %v", f, err)
		}
		if took := time.Since(start); took > slowest {
			slowest, slowName = took, f
		}
	}
	t.Logf("%d files, %d distinct; slowest %s in %s", len(files), len(want), slowName, slowest)
	found := 0
	err := d.db.View(ctx, func(tx helpmail.Tx) error {
		for sum, f := range want {
			raw, _ := os.ReadFile(f)
			id, err := tx.FindDuplicate(ctx, sum, "", "")
			if err != nil {
				return err
			}
			rel := strings.TrimPrefix(filepath.ToSlash(f), "testdata/corpus/")
			if id == 0 {
				if orig, ok := relayedCopies[rel]; ok {
					o, _ := os.ReadFile(filepath.Join("testdata", "corpus", orig))
					osum := sha256.Sum256(o)
					if oid, _ := tx.FindDuplicate(ctx, hex.EncodeToString(osum[:]), "", ""); oid == 0 {
						t.Errorf("%s: neither it nor %s is stored", rel, orig)
					}
					found++
					continue
				}
				t.Errorf("%s: not stored", rel)
				continue
			}
			if orig, ok := relayedCopies[rel]; ok {
				t.Errorf("%s: stored, but it is %s plus trace fields", rel, orig)
			}
			m, err := tx.FindMessage(ctx, id)
			if err != nil {
				return err
			}
			if !bytes.Equal(m.Raw, raw) {
				t.Errorf("%s: stored bytes differ", f)
			}
			found++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found != len(want) {
		t.Errorf("stored %d of %d distinct messages", found, len(want))
	}
}

// TestCorpusAutomaticGetsNoAnswer: bounces and auto-replies from the
// corpus are stored but answered with nothing.
func TestCorpusAutomaticGetsNoAnswer(t *testing.T) {
	d := MustOpenDesk(t, nil)
	ctx := context.Background()
	dirs := []string{"sisimai/auto-replies", "sisimai/bounces", "sisimai/crlf", "sisimai/cr-only", "mox/dmarc-reports"}
	n := 0
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join("testdata", "corpus", dir, "*.eml"))
		for _, f := range files {
			raw, _ := os.ReadFile(f)
			if err := d.Deliver(ctx, mailbox.Envelope{Source: "test"}, raw); err != nil {
				t.Fatalf("Deliver(%s) = %v", f, err)
			}
			n++
		}
	}
	if n < 50 {
		t.Fatalf("only %d automatic corpus files", n)
	}
	for _, o := range d.outbox(t, "") {
		if o.Template == "ticket_opened" || o.Template == "refused_attachment" {
			t.Errorf("automatic mail was answered: %s to %s", o.Template, o.Rcpt)
		}
	}
}
