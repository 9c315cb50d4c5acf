package helpmail

import "time"

// SLA computes a ticket's due times (SPEC §7). The zero value sets none.
//
// The first-response clock runs from creation until the first public agent
// reply. The resolution clock runs while the ticket is open and not waiting
// on the customer or the product; the business time it has run is kept on
// the ticket (ResolutionElapsed), so pausing and resuming moves the due
// time by exactly the paused time.
type SLA struct {
	// Calendar is the business calendar targets are counted in.
	Calendar Calendar
	// Policies are the targets per priority; a priority without one has
	// no due times.
	Policies map[Priority]Policy
	// WarnAt is the fraction of a target at which agents are warned
	// (0 = 0.75).
	WarnAt float64
}

// Policy is the targets of one priority.
type Policy struct {
	FirstResponse time.Duration // 0 = no first-response target
	Resolution    time.Duration // 0 = no resolution target
	// AlwaysOpen counts calendar time (24/7) instead of business time, as
	// a system_down ticket needs.
	AlwaysOpen bool
}

func (s *SLA) calendar(p Policy) Calendar {
	if p.AlwaysOpen {
		return Calendar{Location: s.Calendar.Location, AlwaysOpen: true}
	}
	return s.Calendar
}

// warnFraction returns WarnAt or its default.
func (s *SLA) warnFraction() float64 {
	if s.WarnAt <= 0 || s.WarnAt >= 1 {
		return 0.75
	}
	return s.WarnAt
}

// Start sets the clocks of a new ticket created at now.
func (s *SLA) Start(t *Ticket, now time.Time) {
	t.ResolutionElapsed = 0
	t.ResolutionRunningSince = time.Time{}
	if !t.Status.ClockPaused() {
		t.ResolutionRunningSince = now
	}
	s.Recompute(t, now)
}

// Recompute sets the due and warning times from the ticket's priority,
// creation time and resolution clock; called whenever one of them changes.
func (s *SLA) Recompute(t *Ticket, now time.Time) {
	p, ok := s.Policies[t.Priority]
	cal := s.calendar(p)
	frac := s.warnFraction()
	t.FirstResponseDue, t.FirstResponseWarn = time.Time{}, time.Time{}
	if ok && p.FirstResponse > 0 {
		t.FirstResponseDue = cal.Add(t.CreatedAt, p.FirstResponse)
		t.FirstResponseWarn = cal.Add(t.CreatedAt, time.Duration(frac*float64(p.FirstResponse)))
	}
	t.ResolutionDue, t.ResolutionWarn = time.Time{}, time.Time{}
	if ok && p.Resolution > 0 && !t.ResolutionRunningSince.IsZero() {
		t.ResolutionDue = cal.Add(t.ResolutionRunningSince, max(p.Resolution-t.ResolutionElapsed, 0))
		warnAt := time.Duration(frac * float64(p.Resolution))
		t.ResolutionWarn = cal.Add(t.ResolutionRunningSince, max(warnAt-t.ResolutionElapsed, 0))
	}
}

// StatusChanged pauses or resumes the resolution clock after t moved from
// status from to its current status at now.
func (s *SLA) StatusChanged(t *Ticket, from Status, now time.Time) {
	p := s.Policies[t.Priority]
	cal := s.calendar(p)
	running := !t.ResolutionRunningSince.IsZero()
	switch paused := t.Status.ClockPaused(); {
	case running && paused:
		t.ResolutionElapsed += cal.Elapsed(t.ResolutionRunningSince, now)
		t.ResolutionRunningSince = time.Time{}
	case !running && !paused:
		t.ResolutionRunningSince = now
	}
	s.Recompute(t, now)
}

// Breach reports whether t is past a due time at now, and which.
func (s *SLA) Breach(t *Ticket, now time.Time) (firstResponse, resolution bool) {
	firstResponse = t.FirstResponseAt.IsZero() && !t.FirstResponseDue.IsZero() && now.After(t.FirstResponseDue) && t.Status.Open()
	resolution = !t.ResolutionDue.IsZero() && now.After(t.ResolutionDue) && t.Status.Open()
	return
}

// DefaultPolicies are the targets used when the configuration names none:
// first response within one business day for every priority (the seed's
// commitment), system_down on calendar time with a one-hour first
// response, and resolution targets that shrink with urgency.
func DefaultPolicies() map[Priority]Policy {
	day := 8 * time.Hour
	return map[Priority]Policy{
		PrioritySystemDown: {FirstResponse: time.Hour, Resolution: 8 * time.Hour, AlwaysOpen: true},
		PriorityCritical:   {FirstResponse: day, Resolution: 2 * day},
		PriorityHigh:       {FirstResponse: day, Resolution: 5 * day},
		PriorityMedium:     {FirstResponse: day, Resolution: 10 * day},
		PriorityLow:        {FirstResponse: day, Resolution: 20 * day},
	}
}
