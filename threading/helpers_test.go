package threading

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// corpusDir is the real-world mail corpus (testdata/corpus), relative to this package.
const corpusDir = "../testdata/corpus"

// testSecret is the secret of the Signer most tests use.
var testSecret = []byte("0123456789abcdef-test-secret")

// newTestSigner returns a Signer keyed with secret.
func newTestSigner(tb testing.TB, secret []byte) *Signer {
	tb.Helper()
	s, err := NewSigner(secret)
	if err != nil {
		tb.Fatalf("NewSigner(%q) = %v", secret, err)
	}
	return s
}

// readCorpus returns the bytes of a corpus file, skipping the test when the
// corpus is not there.
func readCorpus(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, name))
	if os.IsNotExist(err) {
		tb.Skipf("corpus file %s not present", name)
	}
	if err != nil {
		tb.Fatalf("read corpus: %v", err)
	}
	return b
}

// corpusMessages returns up to limit *.eml files of the corpus (sorted by
// path), or nil when the corpus is absent.
func corpusMessages(tb testing.TB, limit int) [][]byte {
	tb.Helper()
	var paths []string
	err := filepath.WalkDir(corpusDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".eml") {
			paths = append(paths, p)
		}
		return nil
	})
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		tb.Fatalf("walk corpus: %v", err)
	}
	if len(paths) > limit {
		// Spread the sample over the whole corpus rather than its first folder.
		step := len(paths) / limit
		var sample []string
		for i := 0; i < len(paths) && len(sample) < limit; i += step {
			sample = append(sample, paths[i])
		}
		paths = sample
	}
	var msgs [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatalf("read corpus: %v", err)
		}
		msgs = append(msgs, b)
	}
	return msgs
}

// rawHeader returns the raw value of the first header field name in a raw
// message, folding (CRLF/LF + whitespace) and all, or "".
func rawHeader(raw []byte, name string) string {
	head := raw
	if loc := regexp.MustCompile(`\r?\n\r?\n`).FindIndex(raw); loc != nil {
		head = raw[:loc[0]]
	}
	re := regexp.MustCompile(`(?im)^` + regexp.QuoteMeta(name) + `:(.*(?:\r?\n[ \t].*)*)`)
	m := re.FindSubmatch(head)
	if m == nil {
		return ""
	}
	return string(bytes.TrimSuffix(m[1], []byte("\r")))
}

// plainText decodes the first text/plain part of a raw message (single
// part or multipart) to a UTF-8 string, keeping its line endings.
func plainText(tb testing.TB, raw []byte) string {
	tb.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		tb.Fatalf("mail.ReadMessage: %v", err)
	}
	text, ok := findPlain(tb, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	if !ok {
		tb.Fatalf("no text/plain part")
	}
	return text
}

func findPlain(tb testing.TB, contentType, cte string, body io.Reader) (string, bool) {
	tb.Helper()
	mediaType, params, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mediaType, params, err = "text/plain", map[string]string{"charset": "us-ascii"}, nil
	}
	if err != nil {
		tb.Fatalf("mime.ParseMediaType(%q): %v", contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return "", false
			}
			if err != nil {
				tb.Fatalf("multipart: %v", err)
			}
			if text, ok := findPlain(tb, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); ok {
				return text, true
			}
		}
	}
	if mediaType != "text/plain" {
		return "", false
	}
	var b []byte
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		enc, err := io.ReadAll(body)
		if err != nil {
			tb.Fatalf("read body: %v", err)
		}
		b, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(enc)), ""))
		if err != nil {
			tb.Fatalf("base64: %v", err)
		}
	case "quoted-printable":
		b, err = io.ReadAll(quotedprintable.NewReader(body))
	default:
		b, err = io.ReadAll(body)
	}
	if err != nil {
		tb.Fatalf("decode body: %v", err)
	}
	if cs := strings.ToLower(params["charset"]); cs == "iso-8859-1" || cs == "windows-1252" {
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r), true
	}
	return string(b), true
}

// corpusFolder returns every *.eml file directly in a corpus folder,
// skipping the test when the corpus is absent.
func corpusFolder(tb testing.TB, dir string) [][]byte {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(corpusDir, dir, "*.eml"))
	if err != nil {
		tb.Fatalf("glob corpus: %v", err)
	}
	if len(paths) == 0 {
		tb.Skipf("corpus folder %s not present", dir)
	}
	var msgs [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatalf("read corpus: %v", err)
		}
		msgs = append(msgs, b)
	}
	return msgs
}
