package mailbox

import (
	"strings"
	"testing"
	"time"
)

func TestHTMLToText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "Hello <b>world</b>!", "Hello world!"},
		{"gmail divs", `<div dir="ltr">Hi,<div><br></div><div>Thanks for the fix.</div></div>`, "Hi,\n\nThanks for the fix."},
		{"outlook paragraphs", `<p class=MsoNormal>Line one<o:p></o:p></p><p class=MsoNormal>&nbsp;</p><p class=MsoNormal>Line two</p>`, "Line one\n\nLine two"},
		{"entities and spaces", "a&amp;b &lt;c&gt;   d\n\te &eacute;", "a&b <c> d e é"},
		{"head, style, script dropped", "<html><head><title>T</title><style>p{}</style></head><body><script>x()</script>Body</body></html>", "Body"},
		{"list", "<ul><li>one</li><li>two</li></ul>after", "- one\n- two\nafter"},
		{"link", `See <a href="https://example.com/x">the page</a> or <a href="mailto:a@b.c">a@b.c</a>.`, "See the page <https://example.com/x> or a@b.c."},
		{"javascript link", `<a href="javascript:alert(1)">click</a>`, "click"},
		{"blockquote", "<p>Yes.</p><blockquote><p>Did it work?</p><blockquote>Old</blockquote></blockquote>", "Yes.\n> Did it work?\n> > Old"},
		{"pre", "<pre>a  b\n  c</pre>d", "a  b\n  c\nd"},
		{"table", "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"},
		{"unclosed and stray", "<div><b>bold<i>both</div> </b> x < y", "boldboth\nx < y"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HTMLToText(tt.in); got != tt.want {
				t.Errorf("HTMLToText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestHTMLToTextHostile checks that pathological input is converted in
// linear time without deep recursion: the corpus file built to blow
// recursive parsers, and nesting that makes tree builders quadratic.
func TestHTMLToTextHostile(t *testing.T) {
	inputs := map[string]string{
		"nested divs":        strings.Repeat("<div>", 200_000) + "x",
		"nested inline":      strings.Repeat("<b><i>", 100_000) + "x",
		"nested blockquotes": strings.Repeat("<blockquote>", 50_000) + "x\ny",
		"unclosed tag":       "<a href=\"" + strings.Repeat("x", 1<<20),
		"many links":         strings.Repeat(`<a href="https://e.com/">t</a>`, 50_000),
	}
	if raw := corpusFileIfPresent(t, "nodemailer-mailparser/htmllargecallstack.eml"); raw != nil {
		inputs["htmllargecallstack.eml"] = string(raw)
	}
	for name, in := range inputs {
		start := time.Now()
		out := HTMLToText(in)
		if d := time.Since(start); d > time.Second {
			t.Errorf("HTMLToText(%s, %d bytes) took %v, want well under a second", name, len(in), d)
		}
		if len(out) > 2*len(in)+100 {
			t.Errorf("HTMLToText(%s) = %d bytes from %d, want output bounded by the input", name, len(out), len(in))
		}
	}
}
