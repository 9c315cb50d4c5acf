package helpmail

import (
	"math/rand/v2"
	"testing"
)

func TestTransition(t *testing.T) {
	tests := []struct {
		from Status
		e    Event
		want Status
		ok   bool
	}{
		{StatusWaitingForSupport, EventCustomerReply, StatusWaitingForSupport, true},
		{StatusWaitingForSupport, EventAgentReply, StatusWaitingForCustomer, true},
		{StatusWaitingForCustomer, EventCustomerReply, StatusWaitingForSupport, true},
		{StatusInBacklog, EventCustomerReply, StatusWaitingForSupport, true},
		{StatusPlanned, EventCustomerReply, StatusWaitingForSupport, true},
		{StatusResolved, EventCustomerReply, StatusWaitingForSupport, true},
		{StatusWontDo, EventCustomerReply, StatusWaitingForSupport, true},
		{StatusClosed, EventCustomerReply, StatusWaitingForSupport, true},
		{StatusClosed, EventAgentReply, StatusWaitingForCustomer, true},
		{StatusResolved, EventAutoClose, StatusClosed, true},
		{StatusWaitingForCustomer, EventAutoClose, StatusClosed, true},
		{StatusWaitingForSupport, EventAutoClose, StatusWaitingForSupport, false},
		{StatusPlanned, EventAutoClose, StatusPlanned, false},
		{StatusPlanned, EventCustomerClose, StatusClosed, true},
		{Status("bogus"), EventCustomerReply, Status("bogus"), false},
	}
	for _, tt := range tests {
		got, err := Transition(tt.from, tt.e)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("Transition(%s, %s) = %s, %v; want %s, ok=%v", tt.from, tt.e, got, err, tt.want, tt.ok)
		}
		if err != nil && ErrorCode(err) != EINVALID {
			t.Errorf("Transition(%s, %s) error code = %s, want %s", tt.from, tt.e, ErrorCode(err), EINVALID)
		}
	}
}

func TestIsReopen(t *testing.T) {
	for _, from := range Statuses {
		want := from == StatusResolved || from == StatusWontDo || from == StatusClosed
		if got := IsReopen(from, StatusWaitingForSupport); got != want {
			t.Errorf("IsReopen(%s, waiting_for_support) = %v, want %v", from, got, want)
		}
		if IsReopen(from, StatusClosed) {
			t.Errorf("IsReopen(%s, closed) = true, want false", from)
		}
	}
}

// TestTransitionNeverLeavesStatusSet drives random event sequences through
// the table: a ticket is always in a valid status.
func TestTransitionNeverLeavesStatusSet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	events := []Event{EventCustomerReply, EventAgentReply, EventCustomerClose, EventAutoClose}
	for run := 0; run < 200; run++ {
		s := Statuses[r.IntN(len(Statuses))]
		for step := 0; step < 50; step++ {
			if r.IntN(4) == 0 { // an agent sets a status directly
				s = Statuses[r.IntN(len(Statuses))]
				continue
			}
			next, err := Transition(s, events[r.IntN(len(events))])
			if err == nil {
				s = next
			}
			if !s.Valid() {
				t.Fatalf("run %d step %d: status %q is not valid", run, step, s)
			}
		}
	}
}

func TestParseEnums(t *testing.T) {
	tests := []struct {
		in   string
		want Status
		ok   bool
	}{
		{"resolved", StatusResolved, true},
		{"Waiting for customer", StatusWaitingForCustomer, true},
		{"waiting-for-support", StatusWaitingForSupport, true},
		{"won't do", StatusWontDo, true},
		{"IN_BACKLOG", StatusInBacklog, true},
		{"done", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := ParseStatus(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseStatus(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if p, err := ParsePriority("System Down"); err != nil || p != PrioritySystemDown {
		t.Errorf("ParsePriority(System Down) = %q, %v", p, err)
	}
	if _, err := ParseImpact("nobody"); ErrorCode(err) != EINVALID {
		t.Errorf("ParseImpact(nobody) error = %v, want EINVALID", err)
	}
	if PrioritySystemDown.Rank() >= PriorityLow.Rank() {
		t.Errorf("system_down must rank before low")
	}
}

func TestStatusClock(t *testing.T) {
	paused := map[Status]bool{StatusWaitingForCustomer: true, StatusInBacklog: true, StatusPlanned: true,
		StatusResolved: true, StatusWontDo: true, StatusClosed: true}
	for _, s := range Statuses {
		if got := s.ClockPaused(); got != paused[s] {
			t.Errorf("%s.ClockPaused() = %v, want %v", s, got, paused[s])
		}
	}
}
