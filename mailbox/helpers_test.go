package mailbox

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDir is the real-world mail corpus vendored in testdata/corpus.
var corpusDir = filepath.Join("..", "testdata", "corpus")

// corpusFile reads one corpus message; the test is skipped when the corpus
// is not there.
func corpusFile(tb testing.TB, name string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(corpusDir, name))
	if os.IsNotExist(err) {
		if _, statErr := os.Stat(corpusDir); os.IsNotExist(statErr) {
			tb.Skipf("corpus %s not present", corpusDir)
		}
	}
	if err != nil {
		tb.Fatalf("read corpus file: %v", err)
	}
	return raw
}

// corpusFileIfPresent reads one corpus message, or returns nil when the
// corpus is not there (for tests that also run without it).
func corpusFileIfPresent(tb testing.TB, name string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(corpusDir, name))
	if err != nil {
		return nil
	}
	return raw
}

// corpusFiles lists every *.eml under dir (relative to the corpus), or
// skips the test when the corpus is not there.
func corpusFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	root := filepath.Join(corpusDir, dir)
	if _, err := os.Stat(root); os.IsNotExist(err) {
		tb.Skipf("corpus %s not present", root)
	}
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".eml") {
			rel, _ := filepath.Rel(corpusDir, path)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("walk corpus: %v", err)
	}
	if len(files) == 0 {
		tb.Fatalf("no .eml files under %s", root)
	}
	return files
}

// mustParse parses raw and fails on a nil message (Parse's errors are
// reports, not failures).
func mustParse(tb testing.TB, raw []byte) *Message {
	tb.Helper()
	m, err := Parse(raw)
	if m == nil {
		tb.Fatalf("Parse() = nil, %v; want a message", err)
	}
	if (err != nil) != (len(m.Problems) > 0) {
		tb.Fatalf("Parse() error = %v with Problems %q; want an error exactly when there are problems", err, m.Problems)
	}
	for _, p := range m.Problems {
		if strings.HasPrefix(p, "internal error") {
			tb.Fatalf("Parse() recovered from a panic: %s", p)
		}
	}
	return m
}

// filenames lists the attachments' file names.
func filenames(m *Message) []string {
	var out []string
	for _, a := range m.Attachments {
		out = append(out, a.Filename)
	}
	return out
}
