package mailbox

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestParseWholeCorpus parses every *.eml of the shared corpus: no panic,
// a message every time, and bounded time per message. It logs the slowest
// message; only a generous 5 s per message fails.
func TestParseWholeCorpus(t *testing.T) {
	const limit = 5 * time.Second
	files := corpusFiles(t, ".")
	var slowest time.Duration
	var slowestFile string
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(corpusDir, f))
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		start := time.Now()
		m := mustParse(t, raw)
		d := time.Since(start)
		if d > slowest {
			slowest, slowestFile = d, f
		}
		if d > limit {
			t.Errorf("Parse(%s) took %v, want under %v", f, d, limit)
		}
		if len(m.Header) == 0 && len(raw) > 0 && m.Text == "" && len(m.Attachments) == 0 {
			t.Errorf("Parse(%s) kept nothing of a %d-byte message", f, len(raw))
		}
	}
	t.Logf("parsed %d messages; slowest %s in %v", len(files), slowestFile, slowest)
}
