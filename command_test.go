package helpmail

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseCommands(t *testing.T) {
	isAgent := func(a string) bool { return a == "alice@example.com" || a == "bob@example.com" }
	st := func(s Status) *Status { return &s }
	pr := func(p Priority) *Priority { return &p }
	str := func(s string) *string { return &s }
	tests := []struct {
		name   string
		in     string
		want   Commands
		rest   string
		errors int
	}{
		{name: "none", in: "Hello,\nthanks for waiting.", rest: "Hello,\nthanks for waiting."},
		{name: "status", in: "#status resolved\n\nFixed in 2.1.", want: Commands{Status: st(StatusResolved)}, rest: "Fixed in 2.1."},
		{name: "several", in: "#priority high\r\n#assign bob@example.com\r\n#take\r\nOn it.",
			want: Commands{Priority: pr(PriorityHigh), Assign: str("bob@example.com"), Take: true}, rest: "On it."},
		{name: "label spelling", in: "#status waiting for customer", want: Commands{Status: st(StatusWaitingForCustomer)}},
		{name: "note", in: "#note\nCustomer is on the old plan.", want: Commands{Note: true}, rest: "Customer is on the old plan."},
		{name: "cc", in: "#cc add Carol <carol@example.org>\n#cc remove dave@example.org\nHi",
			want: Commands{CC: []CCChange{{Add: true, Address: "carol@example.org"}, {Address: "dave@example.org"}}}, rest: "Hi"},
		{name: "unassign", in: "#assign none", want: Commands{Assign: str("")}},
		{name: "ticket number is text", in: "#1042 is the same problem.", rest: "#1042 is the same problem."},
		{name: "commands stop at text", in: "Hi\n#status resolved", rest: "Hi\n#status resolved"},
		{name: "unknown command", in: "#stauts resolved\nbye", errors: 1, rest: "bye"},
		{name: "unknown value", in: "#priority urgent", errors: 1},
		{name: "assign non-agent", in: "#assign mallory@evil.example", errors: 1},
		{name: "cc bad op", in: "#cc maybe x@y.z", errors: 1},
		{name: "missing value", in: "#status", errors: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rest := ParseCommands(tt.in, isAgent)
			if len(got.Errors) != tt.errors {
				t.Fatalf("ParseCommands(%q) errors = %q, want %d", tt.in, got.Errors, tt.errors)
			}
			if tt.errors > 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseCommands(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if strings.TrimSpace(rest) != tt.rest {
				t.Errorf("ParseCommands(%q) rest = %q, want %q", tt.in, rest, tt.rest)
			}
		})
	}
}

func FuzzParseCommands(f *testing.F) {
	for _, s := range []string{"#status resolved\nhi", "#cc add a@b.c", "#assign x", "#\n#", "##status", "#note"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, rest := ParseCommands(s, func(string) bool { return true })
		if len(rest) > len(s) {
			t.Fatalf("rest longer than input")
		}
		if c.Status != nil && !c.Status.Valid() || c.Priority != nil && !c.Priority.Valid() {
			t.Fatalf("invalid value accepted: %+v", c)
		}
	})
}
