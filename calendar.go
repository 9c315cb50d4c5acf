package helpmail

import (
	"fmt"
	"math"
	"time"
	_ "time/tzdata" // DefaultCalendar must find Europe/Brussels on hosts without /usr/share/zoneinfo.
)

// Calendar is a support team's working time: the zone, the weekly opening
// hours and the holidays. SLA targets (SPEC §7) are measured in business
// time, the real time during which the calendar is open.
//
// The calendar is open at an instant when the wall clock of Location shows a
// time inside one of that weekday's Week spans and the local date is not a
// holiday. An instant exactly at a span's start is open, one exactly at its
// end is closed. Because spans are wall-clock times, a span that crosses a
// DST change counts the real time that passes while the clock is inside it:
// a skipped hour counts nothing and a repeated hour counts twice. In
// Europe/Brussels an "00:00-24:00" Sunday is 23 h on the last Sunday of March
// and 25 h on the last Sunday of October; "09:00-17:00" is always 8 h.
//
// Business time is exact to the nanosecond: openings fall on whole minutes
// of local time, the instants passed in may carry seconds and fractions.
// The methods never modify c and are safe for concurrent use while nobody
// writes to Week or Holidays. On a calendar that fails Validate they still
// terminate, but their results are unspecified; one with no opening hours at
// all is never open.
type Calendar struct {
	// Location is the zone of the wall clock the spans and holidays are
	// read in; nil means UTC.
	Location *time.Location
	// Week holds each day's opening spans, indexed by time.Weekday
	// (Week[time.Monday] is Monday), sorted and non-overlapping. A day with
	// no spans is closed.
	Week [7][]Span
	// Holidays are local dates closed all day. A date mapped to false, or
	// absent, is an ordinary day; a nil map means no holidays.
	Holidays map[Date]bool
	// AlwaysOpen makes the calendar count all real time (24/7), ignoring
	// Week and Holidays; the system_down priority uses it.
	AlwaysOpen bool
}

// Span is one opening period of a day, in minutes since local midnight:
// 0 <= Start < End <= 1440. Start is inside the span, End is not, so
// {540, 1020} is 09:00 up to (not including) 17:00.
type Span struct{ Start, End int }

// Date is a local calendar date without a zone, the key of
// Calendar.Holidays. It is comparable, so it works as a map key; ParseDate
// builds one from configuration text.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

const (
	minutesPerDay  = 24 * 60
	secondsPerDay  = 24 * 60 * 60
	secondsPerWeek = 7 * secondsPerDay
)

// ParseDate parses a date in the form "2026-12-25" (four-digit year,
// two-digit month and day). A malformed or non-existent date ("2026-02-30")
// returns an *Error with code EINVALID.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, Errorf(EINVALID, "invalid date %q (want YYYY-MM-DD)", s)
	}
	y, m, d := t.Date()
	return Date{y, m, d}, nil
}

// String formats d as ParseDate reads it, e.g. "2026-12-25".
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// valid reports whether d names a real day of the proleptic Gregorian calendar.
func (d Date) valid() bool {
	y, m, day := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Date()
	return d == Date{y, m, day}
}

// ParseSpan parses an opening span "HH:MM-HH:MM" with two-digit hours and
// minutes, e.g. "09:00-17:00". The end may be "24:00" (midnight at the end
// of the day), the start must come before the end. Anything else returns an
// *Error with code EINVALID.
func ParseSpan(s string) (Span, error) {
	bad := Errorf(EINVALID, "invalid opening span %q (want HH:MM-HH:MM, start before end, e.g. 09:00-17:00)", s)
	if len(s) != len("09:00-17:00") || s[5] != '-' {
		return Span{}, bad
	}
	start, ok1 := parseClock(s[:5])
	end, ok2 := parseClock(s[6:])
	if !ok1 || !ok2 || start >= end {
		return Span{}, bad
	}
	return Span{start, end}, nil
}

// parseClock reads "HH:MM" (00:00 to 24:00) as minutes since midnight.
func parseClock(s string) (int, bool) {
	digit := func(i int) int { return int(s[i] - '0') }
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h, m := digit(0)*10+digit(1), digit(3)*10+digit(4)
	if s[2] != ':' || h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

// String formats s as ParseSpan reads it, e.g. "09:00-17:00".
func (s Span) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", s.Start/60, s.Start%60, s.End/60, s.End%60)
}

// DefaultCalendar returns the calendar SPEC §7 prescribes when none is
// configured: Monday to Friday 09:00–17:00 in Europe/Brussels, no holidays
// (Holidays is an empty map, ready to be filled). The zone comes from the
// tzdata embedded in the binary; if even that cannot be loaded the build is
// broken, and DefaultCalendar panics.
func DefaultCalendar() Calendar {
	loc, err := time.LoadLocation("Europe/Brussels")
	if err != nil {
		panic(fmt.Sprintf("helpmail: embedded tzdata lacks Europe/Brussels: %v", err))
	}
	c := Calendar{Location: loc, Holidays: map[Date]bool{}}
	for day := time.Monday; day <= time.Friday; day++ {
		c.Week[day] = []Span{{9 * 60, 17 * 60}}
	}
	return c
}

// Validate checks what the arithmetic relies on: every span lies within its
// day (0 <= Start < End <= 1440), each day's spans are sorted and do not
// overlap (touching is fine), every holiday is a real date, and, unless
// AlwaysOpen, the week has at least one open minute. It returns an *Error
// with code EINVALID naming the first problem found.
func (c Calendar) Validate() error {
	for day, spans := range c.Week {
		for i, s := range spans {
			if s.Start < 0 || s.End > minutesPerDay || s.Start >= s.End {
				return Errorf(EINVALID, "calendar: %s span %d (minutes %d to %d) is not within 00:00-24:00 with start before end",
					time.Weekday(day), i+1, s.Start, s.End)
			}
			if i > 0 && s.Start < spans[i-1].End {
				return Errorf(EINVALID, "calendar: %s spans %s and %s overlap or are out of order",
					time.Weekday(day), spans[i-1], s)
			}
		}
	}
	for d := range c.Holidays {
		if !d.valid() {
			return Errorf(EINVALID, "calendar: holiday %s is not a real date", d)
		}
	}
	if _, week := c.openTime(); week == 0 && !c.AlwaysOpen {
		return Errorf(EINVALID, "calendar: no opening hours in the whole week")
	}
	return nil
}

// IsOpen reports whether business time is running at t: the local clock
// shows a time inside an opening span on a non-holiday date. A span's start
// is open, its end is closed.
func (c Calendar) IsOpen(t time.Time) bool {
	if c.AlwaysOpen {
		return true
	}
	w := walker{c: c, loc: c.location()}
	p := t.Unix() // openings fall on whole seconds, so t's fraction never matters
	ch := w.chunkAt(p)
	for _, sp := range w.spans(ch.day) {
		if s, e := ch.clip(sp); s <= p && p < e {
			return true
		}
	}
	return false
}

// Add returns the instant at which d of business time has passed after t,
// in c.Location. Counting starts at t if the calendar is open then, else at
// the next opening; when d runs out exactly at the end of a span the result
// is that end (Friday 16:30 plus 30 minutes is Friday 17:00, not Monday
// 09:00). d <= 0 returns t unchanged; with AlwaysOpen the result is
// t.Add(d). On a calendar with no opening hours Add returns the zero Time,
// meaning never. Add is the inverse of Elapsed: Elapsed(t, Add(t, d)) == d
// for every d > 0. It skips whole weeks, so long durations are cheap.
func (c Calendar) Add(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return t
	}
	loc := c.location()
	if c.AlwaysOpen {
		return t.Add(d).In(loc)
	}
	w := walker{c: c, loc: loc}
	daily, week := c.openTime()
	if week == 0 {
		return time.Time{}
	}
	rem := d
	for p := t.Unix(); ; {
		ch := w.chunkAt(p)
		if rem > week && w.wholeWeek(ch, t) {
			if open := w.weekOpen(ch.day, daily); rem > open {
				rem -= open
				p += secondsPerWeek
				continue
			}
		}
		for _, sp := range w.spans(ch.day) {
			s, e := ch.clip(sp)
			from, end := time.Unix(s, 0), time.Unix(e, 0)
			if from.Before(t) {
				from = t
			}
			avail := end.Sub(from)
			if avail <= 0 {
				continue
			}
			if rem <= avail {
				return from.Add(rem).In(loc)
			}
			rem -= avail
		}
		p = ch.end
	}
}

// Elapsed returns the business time between from and to: how long the
// calendar was open in [from, to). It returns 0 if to is not after from,
// and to.Sub(from) with AlwaysOpen. It skips whole weeks, so long ranges are
// cheap; a result beyond time.Duration's range (292 years) is not supported.
func (c Calendar) Elapsed(from, to time.Time) time.Duration {
	from, to = from.Round(0), to.Round(0) // wall clock only: Sub must not use monotonic readings
	if !to.After(from) {
		return 0
	}
	if c.AlwaysOpen {
		return to.Sub(from)
	}
	w := walker{c: c, loc: c.location()}
	daily, week := c.openTime()
	if week == 0 {
		return 0
	}
	var total time.Duration
	for p := from.Unix(); time.Unix(p, 0).Before(to); {
		ch := w.chunkAt(p)
		if w.wholeWeek(ch, from) && !time.Unix(ch.start+secondsPerWeek, 0).After(to) {
			total += w.weekOpen(ch.day, daily)
			p += secondsPerWeek
			continue
		}
		for _, sp := range w.spans(ch.day) {
			s, e := ch.clip(sp)
			lo, hi := time.Unix(s, 0), time.Unix(e, 0)
			if lo.Before(from) {
				lo = from
			}
			if hi.After(to) {
				hi = to
			}
			if hi.After(lo) {
				total += hi.Sub(lo)
			}
		}
		p = ch.end
	}
	return total
}

// NextOpen returns t if the calendar is open at t, else the instant of the
// next opening in c.Location. On a calendar with no opening hours it returns
// the zero Time, meaning never.
func (c Calendar) NextOpen(t time.Time) time.Time {
	if c.AlwaysOpen {
		return t
	}
	w := walker{c: c, loc: c.location()}
	if _, week := c.openTime(); week == 0 {
		return time.Time{}
	}
	for p := t.Unix(); ; {
		ch := w.chunkAt(p)
		// Chunks start at or after t's whole second, and openings fall on
		// whole seconds, so any interval left after clipping ends after t.
		for _, sp := range w.spans(ch.day) {
			if s, e := ch.clip(sp); s < e {
				if start := time.Unix(s, 0); start.After(t) {
					return start.In(w.loc)
				}
				return t
			}
		}
		p = ch.end
	}
}

// location returns the zone of c's wall clock, UTC for nil.
func (c Calendar) location() *time.Location {
	if c.Location == nil {
		return time.UTC
	}
	return c.Location
}

// openTime returns how long each weekday is open on an ordinary 24-hour day
// (no holiday, no DST change) and the sum over the week.
func (c Calendar) openTime() (daily [7]time.Duration, week time.Duration) {
	for day, spans := range c.Week {
		for _, s := range spans {
			if n := min(s.End, minutesPerDay) - max(s.Start, 0); n > 0 {
				daily[day] += time.Duration(n) * time.Minute
			}
		}
		week += daily[day]
	}
	return daily, week
}

// A walker steps through time one chunk at a time. A chunk is the longest
// stretch, from a given instant on, with one local date and one UTC offset:
// a whole day, or a part of one on the day the offset changes. Within a
// chunk, wall-clock minute m of the date is the instant midnight+60m, so a
// span becomes an interval of instants by plain addition and clipping; this
// is what makes DST changes count real time. Instants are Unix seconds.
type walker struct {
	c   Calendar
	loc *time.Location
	// The cached zone: offset off (seconds east of UTC) holds for instants
	// in [zoneStart, zoneEnd). The zero walker holds no zone.
	zoneStart, zoneEnd, off int64
}

// A chunk is one stretch of a walk; see walker.
type chunk struct {
	start, end int64 // [start, end): instants with the same date and offset
	midnight   int64 // the instant 00:00 of the date would be at this offset
	day        int64 // the local date, in days since 1970-01-01
}

// chunkAt returns the chunk that starts at instant p.
func (w *walker) chunkAt(p int64) chunk {
	if p < w.zoneStart || p >= w.zoneEnd {
		t := time.Unix(p, 0).In(w.loc)
		_, off := t.Zone()
		start, end := t.ZoneBounds() // zero for "since/until forever"
		w.off, w.zoneStart, w.zoneEnd = int64(off), math.MinInt64, math.MaxInt64
		if !start.IsZero() {
			w.zoneStart = start.Unix()
		}
		if !end.IsZero() {
			w.zoneEnd = end.Unix()
		}
	}
	day := floorDiv(p+w.off, secondsPerDay)
	midnight := day*secondsPerDay - w.off
	return chunk{start: p, end: min(midnight+secondsPerDay, w.zoneEnd), midnight: midnight, day: day}
}

// clip returns the instants [s, e) of span sp within ch; s >= e if none.
func (ch chunk) clip(sp Span) (s, e int64) {
	return max(ch.midnight+int64(sp.Start)*60, ch.start), min(ch.midnight+int64(sp.End)*60, ch.end)
}

// spans returns the opening spans of a local date: none on a holiday.
func (w *walker) spans(day int64) []Span {
	if w.holiday(day) {
		return nil
	}
	return w.c.Week[weekday(day)]
}

// holiday reports whether a local date, in days since 1970-01-01, is closed
// all day.
func (w *walker) holiday(day int64) bool {
	if len(w.c.Holidays) == 0 {
		return false
	}
	y, m, d := time.Unix(day*secondsPerDay, 0).UTC().Date()
	return w.c.Holidays[Date{y, m, d}]
}

// wholeWeek reports whether the seven local days from ch on can be counted
// from the weekly table: ch starts at local midnight, not before t, and the
// UTC offset does not change during the week.
func (w *walker) wholeWeek(ch chunk, t time.Time) bool {
	return ch.start == ch.midnight && ch.midnight+secondsPerWeek <= w.zoneEnd && !time.Unix(ch.start, 0).Before(t)
}

// weekOpen returns the business time of the seven ordinary days from day
// on, leaving out the holidays among them.
func (w *walker) weekOpen(day int64, daily [7]time.Duration) time.Duration {
	var open time.Duration
	for i := range int64(7) {
		if d := daily[weekday(day+i)]; d > 0 && !w.holiday(day+i) {
			open += d
		}
	}
	return open
}

// weekday returns the day of the week of a date in days since 1970-01-01,
// which was a Thursday.
func weekday(day int64) time.Weekday {
	return time.Weekday(((day+int64(time.Thursday))%7 + 7) % 7)
}

// floorDiv divides rounding towards minus infinity, so instants before 1970
// land on the right date.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
