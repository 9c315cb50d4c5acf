package threading

import (
	"mime"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestFindTag(t *testing.T) {
	tests := []struct {
		subject, tag string
		want         int64
		ok           bool
	}{
		{"[Support #1042] VPN down", "Support", 1042, true},
		{"Re: [Support #1042] VPN down", "Support", 1042, true},
		{"AW: SV: VPN down [Support #1042]", "Support", 1042, true},
		{"[support #1042]", "Support", 1042, true},
		{"[SUPPORT #1042]", "support", 1042, true},
		{"[Support#1042]", "Support", 1042, true},
		{"[ support #1042 ]", "Support", 1042, true},
		{"[Support # 1042]", "Support", 1042, true},
		{"[Support\t#1042]", "Support", 1042, true},
		{"[Support #01042]", "Support", 1042, true},
		{"[Support #7] about [Support #9]", "Support", 7, true},
		{"[Support #0] then [Support #9]", "Support", 9, true},
		{"[Support #99999999999999999999] then [Support #3]", "Support", 3, true},
		{"[Acme Help #12] x", "Acme Help", 12, true},
		{"[Acme  Help #12] x", "acme help", 12, true},
		{"[a.b #5]", "a.b", 5, true},
		{"[axb #5]", "a.b", 0, false},
		{"[Support 1042]", "Support", 0, false},
		{"[Support #]", "Support", 0, false},
		{"[Support #12a]", "Support", 0, false},
		{"Support #1042", "Support", 0, false},
		{"[Supporter #1042]", "Support", 0, false},
		{"[RT #1042]", "Support", 0, false},
		{"[Support #1042]", "", 0, false},
		{"", "Support", 0, false},
	}
	for _, tt := range tests {
		got, ok := FindTag(tt.subject, tt.tag)
		if got != tt.want || ok != tt.ok {
			t.Errorf("FindTag(%q, %q) = %d, %v, want %d, %v", tt.subject, tt.tag, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBaseSubject(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"VPN down", "VPN down"},
		{"Re: VPN down", "VPN down"},
		{"RE: Re: re: VPN down", "VPN down"},
		{"Re: RE: AW: SV: Antw: TR: Fwd: WG: VS: Réf. : VPN down", "VPN down"},
		{"Antw.: VPN down", "VPN down"},
		{"RE[2]: VPN down", "VPN down"},
		{"Re(3): VPN down", "VPN down"},
		{"Re^2: VPN down", "VPN down"},
		{"Re : VPN down", "VPN down"},
		{"Réf\u00a0: VPN down", "VPN down"},
		{"RÉF: VPN down", "VPN down"},
		{"Ref: VPN down", "VPN down"},
		{"RIF: R: VPN down", "VPN down"},
		{"Odp: Vá: YNT: VPN down", "VPN down"},
		{"FW: Fw: fwd: VPN down", "VPN down"},
		{"回复：VPN down", "VPN down"},
		{"ΑΠ: VPN down", "VPN down"},
		{"VPN down (fwd)", "VPN down"},
		{"VPN down (FWD)  (fwd)", "VPN down"},
		{"[fwd: VPN down]", "VPN down"},
		{"Re: [list] Re: VPN down", "VPN down"},
		{"[list] [other] VPN down", "VPN down"},
		{"[list]", "[list]"},
		{"Re: [Support #1042] VPN down", "[Support #1042] VPN down"},
		{"Re: [Support #1042] RE: VPN down", "[Support #1042] VPN down"},
		{"AW: [list] [Support #1042] Re: VPN down", "[Support #1042] VPN down"},
		{"  VPN \t  down \r\n ", "VPN down"},
		{"Re: ", ""},
		{"", ""},
		{"Reply needed: VPN", "Reply needed: VPN"},
		{"Are: you there", "Are: you there"},
		{"Re-install: VPN", "Re-install: VPN"},
		{"VPN down [Support #1042]", "VPN down [Support #1042]"},
		{"Ad: Re: Ad: x", "Ad: Re: Ad: x"},
		// Perl Mail::Thread testbox: the Italian "R:" and list blobs.
		{"R: [p5ml] karie kahimi binge...help needed", "karie kahimi binge...help needed"},
		{"RE: [p5ml] Re: karie kahimi binge...help needed", "karie kahimi binge...help needed"},
		{"Re: [rt-users] Configuration Problem", "Configuration Problem"},
	}
	for _, tt := range tests {
		if got := BaseSubject(tt.in); got != tt.want {
			t.Errorf("BaseSubject(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestBaseSubjectDovecot checks BaseSubject against the subject groups of
// Dovecot imaptest's THREAD=ORDEREDSUBJECT case (thread-orderedsubject.mbox):
// expected "(1)(2 (7)(12)(13))(3 (5)(11))(4)(6)(8)(9 10)(14)(15)", i.e.
// messages with the same base subject (compared case-insensitively) form one
// group.
func TestBaseSubjectDovecot(t *testing.T) {
	raw := string(readCorpus(t, "threading/dovecot-imaptest/thread-orderedsubject.mbox"))
	msgs := regexp.MustCompile(`(?m)^From `).Split(raw, -1)[1:]
	var dec mime.WordDecoder
	bases := make([]string, len(msgs))
	for i, m := range msgs {
		subject := ""
		if sm := regexp.MustCompile(`(?m)^Subject: (.*)$`).FindStringSubmatch(strings.SplitN(m, "\n\n", 2)[0]); sm != nil {
			s, err := dec.DecodeHeader(sm[1])
			if err != nil {
				t.Fatalf("DecodeHeader(%q): %v", sm[1], err)
			}
			subject = s
		}
		bases[i] = strings.ToLower(BaseSubject(subject))
	}
	want := [][]int{{1}, {2, 7, 12, 13}, {3, 5, 11}, {4}, {6}, {8}, {9, 10}, {14}, {15}}
	var got [][]int
	for i := range bases {
		if j := slices.Index(bases, bases[i]); j < i {
			for k := range got {
				if got[k][0] == j+1 {
					got[k] = append(got[k], i+1)
				}
			}
			continue
		}
		got = append(got, []int{i + 1})
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("groups of BaseSubject over thread-orderedsubject.mbox = %v, want %v (bases %q)", got, want, bases)
	}
}

func TestTagSubject(t *testing.T) {
	tests := []struct {
		tag     string
		n       int64
		subject string
		want    string
	}{
		{"Support", 1042, "VPN down", "[Support #1042] VPN down"},
		{"Support", 1042, "Re: VPN down", "[Support #1042] VPN down"},
		{"Support", 1042, "[Support #1042] VPN down", "[Support #1042] VPN down"},
		{"Support", 1042, "Re: [Support #1042] VPN down", "[Support #1042] VPN down"},
		{"Support", 1042, "AW: Re: [support#1042] RE: VPN down", "[Support #1042] VPN down"},
		{"Support", 1042, "VPN down [Support #1042]", "[Support #1042] VPN down"},
		{"Support", 1043, "Re: [Support #1042] VPN down", "[Support #1043] VPN down"},
		{"Support", 1042, "Re: [RT #5] VPN down", "[Support #1042] [RT #5] VPN down"},
		{"Support", 1042, "Fwd: [list] VPN down (fwd)", "[Support #1042] VPN down"},
		{"Support", 1042, "", "[Support #1042]"},
		{"Support", 1042, "Re:", "[Support #1042]"},
		{" Acme  Help ", 7, "x", "[Acme  Help #7] x"},
	}
	for _, tt := range tests {
		got := TagSubject(tt.tag, tt.n, tt.subject)
		if got != tt.want {
			t.Errorf("TagSubject(%q, %d, %q) = %q, want %q", tt.tag, tt.n, tt.subject, got, tt.want)
		}
		if again := TagSubject(tt.tag, tt.n, "Re: "+got); again != got {
			t.Errorf("TagSubject(%q, %d, %q) = %q, want %q again", tt.tag, tt.n, "Re: "+got, again, got)
		}
	}
}
