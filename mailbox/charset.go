package mailbox

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // registers charsets in message.CharsetReader
)

// decodeCharset converts data from the charset named label to UTF-8. An
// absent, ASCII or UTF-8 label, or text that is not valid in it, is
// guessed (see guessCharset). For an unknown label the text is guessed too,
// and the error (satisfying message.IsUnknownCharset) says so.
func decodeCharset(data []byte, label string) (string, error) {
	label = strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	if i := strings.IndexByte(label, '*'); i >= 0 {
		label = label[:i] // RFC 2231 language suffix: "utf-8*en"
	}
	switch label {
	case "", "us-ascii", "ascii", "utf-8", "utf8", "unknown-8bit", "x-unknown", "unknown", "default":
		return guessCharset(data), nil
	}
	var h message.Header
	h.SetContentType("text/plain", map[string]string{"charset": label})
	e, err := message.New(h, bytes.NewReader(data))
	if err != nil {
		return guessCharset(data), err
	}
	out, err := io.ReadAll(e.Body)
	if err != nil {
		return guessCharset(data), nil
	}
	return strings.ToValidUTF8(string(out), "\uFFFD"), nil
}

// guessCharset decodes text whose charset is absent or wrong: UTF-8 when it
// is valid UTF-8 or mostly so (damaged bytes become U+FFFD), KOI8-R or Windows-1251 when it looks like Cyrillic
// (words made of 8-bit letters only), else Windows-1252, the usual
// superset of ISO-8859-1.
func guessCharset(data []byte) string {
	if utf8.Valid(data) {
		return string(data)
	}
	if mostlyUTF8(data) {
		return strings.ToValidUTF8(string(data), "\uFFFD")
	}
	label := "windows-1252"
	if cs := cyrillicCharset(data); cs != "" {
		label = cs
	}
	if message.CharsetReader != nil {
		if r, err := message.CharsetReader(label, bytes.NewReader(data)); err == nil {
			if out, err := io.ReadAll(r); err == nil {
				return strings.ToValidUTF8(string(out), "\uFFFD")
			}
		}
	}
	return strings.ToValidUTF8(string(data), "\uFFFD")
}

// cyrillicCharset returns "koi8-r" or "windows-1251" when the 8-bit bytes
// of data look like Russian text in that charset, else "". Both charsets
// put Cyrillic letters in 0xC0–0xFF, where Latin-1 has accented letters;
// Cyrillic words consist of such bytes only, Latin words have one here and
// there. Which charset is told by how many bytes are frequent Russian
// letters (о е а и н т с р в л) in each.
func cyrillicCharset(data []byte) string {
	const (
		koiFrequent = "\xcf\xc5\xc1\xc9\xce\xd4\xd3\xd2\xd7\xcc" // lower case in KOI8-R
		cpFrequent  = "\xee\xe5\xe0\xe8\xed\xf2\xf1\xf0\xe2\xeb" // lower case in Windows-1251
	)
	letters, adjacent, koi, cp := 0, 0, 0, 0
	for i, c := range data {
		if c < 0xc0 {
			continue
		}
		letters++
		if (i > 0 && data[i-1] >= 0xc0) || (i+1 < len(data) && data[i+1] >= 0xc0) {
			adjacent++
		}
		koiLower, cpLower := c, c
		if c >= 0xe0 {
			koiLower -= 0x20
		} else {
			cpLower += 0x20
		}
		if strings.IndexByte(koiFrequent, koiLower) >= 0 {
			koi++
		}
		if strings.IndexByte(cpFrequent, cpLower) >= 0 {
			cp++
		}
	}
	if letters < 4 || adjacent*10 < letters*7 || max(koi, cp)*4 < letters {
		return ""
	}
	if koi > cp {
		return "koi8-r"
	}
	return "windows-1251"
}

// mostlyUTF8 reports whether data holds multi-byte UTF-8 sequences and no
// more invalid bytes than those: damaged UTF-8 rather than a single-byte
// charset, whose 8-bit letters are hardly ever followed by a byte that
// makes them a valid sequence.
func mostlyUTF8(data []byte) bool {
	multi, bad := 0, 0
	for len(data) > 0 {
		r, n := utf8.DecodeRune(data)
		if r == utf8.RuneError && n == 1 {
			bad++
		} else if n > 1 {
			multi++
		}
		data = data[n:]
	}
	return multi > 0 && multi >= bad
}
