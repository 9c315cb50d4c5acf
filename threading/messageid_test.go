package threading

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestCanonicalMessageID(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"<ABC.def@Example.COM>", "abc.def@example.com"},
		{"  <abc@example.com>\r\n", "abc@example.com"},
		{"abc@example.com", "abc@example.com"},
		{"<abc@example.com> (comment)", "abc@example.com"},
		{"(comment (nested)) <abc@example.com>", "abc@example.com"},
		{"<abc@\r\n example.com>", "abc@example.com"},
		{"<12345>", "12345"},
		{"<@>", "@"},
		{"<a@b> <c@d>", "a@b"},
		{"Your message of <bar@baz.com>", "bar@baz.com"},
		{"", ""},
		{"   ", ""},
		{"<>", ""},
		{"<abc@exam", ""},
		{"mumble frotz", ""},
		{"(only a comment)", ""},
		{"<a\x00b@c>", ""},
		{"<" + strings.Repeat("x", maxIDLen+1) + ">", ""},
	}
	for _, tt := range tests {
		if got := CanonicalMessageID(tt.in); got != tt.want {
			t.Errorf("CanonicalMessageID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestReferencedIDs(t *testing.T) {
	tests := []struct {
		name                  string
		references, inReplyTo string
		want                  []string
	}{
		{"none", "", "", nil},
		{"in-reply-to only", "", "<A@b>", []string{"a@b"}},
		{"nearest first", "<root@x> <mid@x> <parent@x>", "<parent@x>", []string{"parent@x", "mid@x", "root@x"}},
		{"in-reply-to wins over last reference", "<b00--root@example.org>", "<b00-root@example.org>",
			[]string{"b00-root@example.org", "b00--root@example.org"}},
		{"folded with CRLF and tabs", "<a@x>\r\n\t<b@x>\r\n <c@x>", "", []string{"c@x", "b@x", "a@x"}},
		{"fold inside an id", "<a@x> <very-long-\r\n id@x>", "", []string{"very-long-id@x", "a@x"}},
		{"commas", "<a@x>,<b@x>, <c@x>", "", []string{"c@x", "b@x", "a@x"}},
		{"missing brackets", "a@x b@x", "", []string{"b@x", "a@x"}},
		{"truncated last entry", "<a@x> <b@x> <trunc@exa", "", []string{"b@x", "a@x"}},
		{"unclosed entry in the middle", "<a@x> <broken@x <c@x>", "", []string{"c@x", "a@x"}},
		{"duplicates", "<a@x> <b@x> <A@X>", "<b@x>", []string{"b@x", "a@x"}},
		{"comment in in-reply-to", "", "<20091117190054.GU3165@dottiness.seas.harvard.edu> (Lars\n\tKellogg-Stedman's message of \"Tue, 17 Nov 2009 14:00:54 -0500\")",
			[]string{"20091117190054.gu3165@dottiness.seas.harvard.edu"}},
		{"free text in-reply-to", "<r@x>", "Joanna Farley's message as of Nov 13,  9:56am.", []string{"r@x"}},
		{"free text with quoted date", "", "Your message of\n    \"Mon, 09 Sep 2002 15:36:37 EDT.\"\n    <20020909193637.590BBB1@whatexit.org>",
			[]string{"20020909193637.590bbb1@whatexit.org"}},
		{"bare address in in-reply-to", "", "someone@yahoo.com", []string{"someone@yahoo.com"}},
		{"words without @ are not ids", "mumble frotz", "mumble", nil},
	}
	for _, tt := range tests {
		got := ReferencedIDs(tt.references, tt.inReplyTo)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: ReferencedIDs(%q, %q) = %q, want %q", tt.name, tt.references, tt.inReplyTo, got, tt.want)
		}
	}
}

func TestReferencedIDsCap(t *testing.T) {
	var b strings.Builder
	for i := range MaxReferencedIDs + 50 {
		fmt.Fprintf(&b, "<id%d@x>\r\n ", i)
	}
	got := ReferencedIDs(b.String(), "")
	if len(got) != MaxReferencedIDs {
		t.Fatalf("ReferencedIDs(%d ids) returned %d, want %d", MaxReferencedIDs+50, len(got), MaxReferencedIDs)
	}
	if want := fmt.Sprintf("id%d@x", MaxReferencedIDs+49); got[0] != want {
		t.Errorf("ReferencedIDs(...)[0] = %q, want the nearest %q", got[0], want)
	}
}

// TestReferencedIDsCorpus reads real, folded headers byte for byte.
func TestReferencedIDsCorpus(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{
			// Outlook: CRLF folding, commas, mixed case, In-Reply-To repeating the last reference.
			"mox/junk/parse3.eml",
			[]string{
				"he1p193mb0234a91926cdae6ea2ad1b5adc8b9@he1p193mb0234.eurp193.prod.outlook.com",
				"db9p191mb15472c90ead6e4f4fccb752adcb79@db9p191mb1547.eurp191.prod.outlook.com",
				"am4p190mb0066ad3bca13f71a68385e4dbca09@am4p190mb0066.eurp190.prod.outlook.com",
				"am9pr08mb71522ff054f7bee24936b302a9dd9@am9pr08mb7152.eurprd08.prod.outlook.com",
				"am9pr08mb7152829dba735059a82c3c1ca9dd9@am9pr08mb7152.eurprd08.prod.outlook.com",
				"db7pr03mb440995e755774968b522a5d2d3eb9@db7pr03mb4409.eurprd03.prod.outlook.com",
				"db7pr03mb44093689d3f1dcce6376d60cd38c9@db7pr03mb4409.eurprd03.prod.outlook.com",
				"db7pr03mb4409c0d4b2529af088590fead38c9@db7pr03mb4409.eurprd03.prod.outlook.com",
				"db7pr03mb440913202714bac38a87d9a2d38e9@db7pr03mb4409.eurprd03.prod.outlook.com",
				"am0pr04mb69809960ec2f74fc4ebe1ddec08e9@am0pr04mb6980.eurprd04.prod.outlook.com",
				"db7pr03mb44094b9d88050f7c2dfb0d22d3b29@db7pr03mb4409.eurprd03.prod.outlook.com",
				"dm6pr02mb4524c3b787688ddeaffedd12c0d40@dm6pr02mb4524.namprd02.prod.outlook.com",
			},
		},
		{
			// Request Tracker: a ghost per-ticket id first, then the real parent.
			"threading/notmuch/ghost-root/1532672447.R3166642290392477575.len.eml",
			[]string{"87bmc6lp3h.fsf@len.workgroup", "rt-ticket-33575@xxxxxxx-xxxxxxxxxxxxxxxxx-xxxxxxxxx-xxxxxxxxx.de"},
		},
		{
			// notmuch "trusting reply-to": In-Reply-To is right, References broken.
			"threading/notmuch/parent-priority/child.eml",
			[]string{"b00-root@example.org", "b00--root@example.org"},
		},
		{
			// References in the wrong order (oldest last): In-Reply-To still comes first.
			"threading/notmuch/parent-priority/grand-child.eml",
			[]string{"b01-child@example.org", "b00-root@example.org"},
		},
		{
			// exmh: free text with an address in brackets, then two ids, folded with spaces:
			// "Message from J C Lawrence <claw@kanga.nu> of Tue,\n    10 Sep 2002 01:20:56 PDT
			// <20020909193637.590BBB1@whatexit.org>\n    <29945.1031646056@kanga.nu>"; its
			// References follow.
			"threading/spamassassin-ham-threads/1072.f4f42529de5e15b3a123e5ec89f4dc49.eml",
			[]string{"claw@kanga.nu", "20020909193637.590bbb1@whatexit.org", "29945.1031646056@kanga.nu"},
		},
	}
	for _, tt := range tests {
		raw := readCorpus(t, tt.file)
		refs, irt := rawHeader(raw, "References"), rawHeader(raw, "In-Reply-To")
		got := ReferencedIDs(refs, irt)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: ReferencedIDs(%q, %q) = %q, want %q", tt.file, refs, irt, got, tt.want)
		}
	}
}

// TestReferencedIDsThreadFixtures checks that, over the four complete real
// threads of spamassassin-ham-threads, every message that references
// anything names at least one other message of the corpus folder, so a
// header-based threader joins them.
func TestReferencedIDsThreadFixtures(t *testing.T) {
	msgs := corpusFolder(t, "threading/spamassassin-ham-threads")
	known := map[string]bool{}
	for _, raw := range msgs {
		known[CanonicalMessageID(rawHeader(raw, "Message-ID"))] = true
	}
	linked := 0
	for _, raw := range msgs {
		ids := ReferencedIDs(rawHeader(raw, "References"), rawHeader(raw, "In-Reply-To"))
		for _, id := range ids {
			if known[id] {
				linked++
				break
			}
		}
	}
	t.Logf("%d of %d messages reference another one", linked, len(msgs))
	// 108 messages in 4 threads: all but the 4 roots reference a parent.
	if want := len(msgs) - 4; linked != want {
		t.Errorf("messages whose ReferencedIDs name a corpus message = %d, want %d of %d", linked, want, len(msgs))
	}
}
