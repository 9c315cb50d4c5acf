package helpmail

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// zone loads a time zone from the embedded tzdata.
func zone(tb testing.TB, name string) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		tb.Fatalf("LoadLocation(%q) = %v", name, err)
	}
	return loc
}

// bxl parses "2026-03-06 16:30" or "2026-03-06 16:30:05.25" as Brussels wall
// time. Use it only for unambiguous times; DST edge instants are written in UTC.
func bxl(tb testing.TB, s string) time.Time {
	tb.Helper()
	loc := zone(tb, "Europe/Brussels")
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t
		}
	}
	tb.Fatalf("bxl(%q): not a time", s)
	return time.Time{}
}

func utc(y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, time.UTC)
}

func hm(h, m int) int { return h*60 + m }

// weekdays returns a Week with the same spans Monday to Friday.
func weekdays(spans ...Span) [7][]Span {
	var w [7][]Span
	for d := time.Monday; d <= time.Friday; d++ {
		w[d] = spans
	}
	return w
}

// testCalendars returns the calendars the tables use, all valid.
func testCalendars(tb testing.TB) map[string]Calendar {
	tb.Helper()
	loc := zone(tb, "Europe/Brussels")
	office := DefaultCalendar()
	office.Holidays[Date{2026, time.December, 25}] = true

	belgium := DefaultCalendar()
	for _, s := range []string{"2026-01-01", "2026-04-06", "2026-05-01", "2026-05-14", "2026-05-25",
		"2026-07-21", "2026-08-15", "2026-11-01", "2026-11-11", "2026-12-25"} {
		d, err := ParseDate(s)
		if err != nil {
			tb.Fatalf("ParseDate(%q) = %v", s, err)
		}
		belgium.Holidays[d] = true
	}

	split := Calendar{Location: loc, Week: weekdays(Span{hm(8, 0), hm(12, 0)}, Span{hm(13, 0), hm(17, 0)})}
	split.Week[time.Saturday] = []Span{{hm(9, 0), hm(12, 0)}}

	var allDay Calendar
	allDay.Location = loc
	for d := range allDay.Week {
		allDay.Week[d] = []Span{{0, minutesPerDay}}
	}

	sundayNight := Calendar{Location: loc}
	sundayNight.Week[time.Sunday] = []Span{{hm(1, 0), hm(4, 0)}}

	cals := map[string]Calendar{
		"office":      office,
		"belgium":     belgium,
		"split":       split,
		"allDay":      allDay,
		"always":      {Location: loc, AlwaysOpen: true, Holidays: map[Date]bool{{2026, time.December, 25}: true}},
		"sundayNight": sundayNight,
		"utc":         {Week: weekdays(Span{hm(9, 0), hm(17, 0)})},
	}
	for name, c := range cals {
		if err := c.Validate(); err != nil {
			tb.Fatalf("calendar %s: Validate() = %v, want nil", name, err)
		}
	}
	return cals
}

func TestCalendarAdd(t *testing.T) {
	cals := testCalendars(t)
	tests := []struct {
		cal  string
		t    time.Time
		d    time.Duration
		want time.Time
	}{
		// Office hours, Mon–Fri 09:00–17:00; 2026-03-06 is a Friday.
		{"office", bxl(t, "2026-03-06 16:30"), 8 * time.Hour, bxl(t, "2026-03-09 16:30")},
		{"office", bxl(t, "2026-03-06 16:30"), 30 * time.Minute, bxl(t, "2026-03-06 17:00")}, // ends at span end
		{"office", bxl(t, "2026-03-06 16:30"), 31 * time.Minute, bxl(t, "2026-03-09 09:01")},
		{"office", bxl(t, "2026-03-06 17:00"), time.Minute, bxl(t, "2026-03-09 09:01")}, // span end is closed
		{"office", bxl(t, "2026-03-09 09:00"), time.Minute, bxl(t, "2026-03-09 09:01")}, // span start is open
		{"office", bxl(t, "2026-03-10 03:00"), time.Hour, bxl(t, "2026-03-10 10:00")},   // night
		{"office", bxl(t, "2026-03-07 12:00"), 8 * time.Hour, bxl(t, "2026-03-09 17:00")},
		{"office", bxl(t, "2026-03-08 23:59"), time.Hour, bxl(t, "2026-03-09 10:00")},
		{"office", bxl(t, "2026-12-24 16:00"), 2 * time.Hour, bxl(t, "2026-12-28 10:00")}, // day before a holiday
		{"office", bxl(t, "2026-12-25 10:00"), time.Hour, bxl(t, "2026-12-28 10:00")},     // on a holiday
		{"office", bxl(t, "2026-03-09 09:00"), 90 * time.Second, bxl(t, "2026-03-09 09:01:30")},
		{"office", bxl(t, "2026-03-09 16:59:59.75"), 500 * time.Millisecond, bxl(t, "2026-03-10 09:00:00.25")},
		{"office", bxl(t, "2026-01-05 09:00"), 1000 * time.Hour, bxl(t, "2026-06-26 17:00")},
		{"belgium", bxl(t, "2026-01-05 09:00"), 1000 * time.Hour, bxl(t, "2026-07-02 17:00")}, // 4 weekday holidays
		{"belgium", bxl(t, "2025-12-31 16:00"), 2 * time.Hour, bxl(t, "2026-01-02 10:00")},

		// DST: 2026-03-29 and 2026-10-25 are the changes; the Fridays before.
		{"office", bxl(t, "2026-03-27 16:00"), 2 * time.Hour, bxl(t, "2026-03-30 10:00")},
		{"office", bxl(t, "2026-03-27 16:00"), 40 * time.Hour, bxl(t, "2026-04-03 16:00")},
		{"office", bxl(t, "2026-10-23 16:00"), 2 * time.Hour, bxl(t, "2026-10-26 10:00")},
		{"office", bxl(t, "2026-10-23 16:00"), 42 * time.Hour, bxl(t, "2026-11-02 10:00")},

		// Split days and Saturday mornings.
		{"split", bxl(t, "2026-03-09 11:30"), time.Hour, bxl(t, "2026-03-09 13:30")},
		{"split", bxl(t, "2026-03-09 12:00"), time.Minute, bxl(t, "2026-03-09 13:01")},
		{"split", bxl(t, "2026-03-13 16:00"), 2 * time.Hour, bxl(t, "2026-03-14 10:00")},
		{"split", bxl(t, "2026-03-14 11:00"), 2 * time.Hour, bxl(t, "2026-03-16 09:00")},

		// Open all day and AlwaysOpen count real time across DST changes.
		{"allDay", bxl(t, "2026-03-28 12:00"), 24 * time.Hour, bxl(t, "2026-03-29 13:00")},
		{"allDay", bxl(t, "2026-10-24 12:00"), 24 * time.Hour, bxl(t, "2026-10-25 11:00")},
		{"allDay", bxl(t, "2026-03-23 00:00"), 14 * 24 * time.Hour, bxl(t, "2026-04-06 01:00")}, // a 167 h week
		{"allDay", bxl(t, "2026-10-19 00:00"), 14 * 24 * time.Hour, bxl(t, "2026-11-01 23:00")}, // a 169 h week
		{"allDay", bxl(t, "2026-03-02 00:00:00.5"), 200 * time.Hour, bxl(t, "2026-03-10 08:00:00.5")},
		{"always", bxl(t, "2026-03-28 12:00"), 24 * time.Hour, bxl(t, "2026-03-29 13:00")},
		{"always", bxl(t, "2026-10-24 12:00"), 24 * time.Hour, bxl(t, "2026-10-25 11:00")},
		{"always", bxl(t, "2026-12-25 10:00"), time.Hour, bxl(t, "2026-12-25 11:00")}, // holidays ignored

		// Sunday 01:00–04:00 crosses the skipped hour (2 h) and the repeated one (4 h).
		{"sundayNight", utc(2026, 3, 29, 0, 0), 2 * time.Hour, utc(2026, 3, 29, 2, 0)},
		{"sundayNight", utc(2026, 3, 29, 0, 0), 2*time.Hour + time.Minute, bxl(t, "2026-04-05 01:01")},
		{"sundayNight", utc(2026, 10, 24, 23, 0), 3 * time.Hour, utc(2026, 10, 25, 2, 0)},
		{"sundayNight", utc(2026, 10, 24, 23, 0), 4 * time.Hour, utc(2026, 10, 25, 3, 0)},
		{"sundayNight", bxl(t, "2026-03-23 00:00"), 4 * time.Hour, bxl(t, "2026-04-05 03:00")}, // a 2 h week
		{"sundayNight", bxl(t, "2026-10-19 00:00"), 5 * time.Hour, bxl(t, "2026-11-01 02:00")}, // a 4 h week

		{"utc", utc(2026, 1, 5, 8, 0), time.Hour, utc(2026, 1, 5, 10, 0)},
		{"utc", utc(1969, 12, 31, 16, 0), 2 * time.Hour, utc(1970, 1, 1, 10, 0)}, // before the Unix epoch
	}
	for _, tt := range tests {
		c := cals[tt.cal]
		got := c.Add(tt.t, tt.d)
		if !got.Equal(tt.want) || got.Location() != c.location() {
			t.Errorf("%s.Add(%v, %v) = %v, want %v", tt.cal, tt.t, tt.d, got, tt.want)
		}
	}
}

func TestCalendarAddNonPositive(t *testing.T) {
	c := testCalendars(t)["office"]
	start := time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC) // Saturday: closed
	for _, d := range []time.Duration{0, -time.Nanosecond, -8 * time.Hour} {
		if got := c.Add(start, d); got != start {
			t.Errorf("Add(%v, %v) = %v, want %v unchanged", start, d, got, start)
		}
	}
}

func TestCalendarElapsed(t *testing.T) {
	cals := testCalendars(t)
	tests := []struct {
		cal      string
		from, to time.Time
		want     time.Duration
	}{
		{"office", bxl(t, "2026-03-09 10:00"), bxl(t, "2026-03-09 12:30"), 150 * time.Minute},
		{"office", bxl(t, "2026-03-06 16:00"), bxl(t, "2026-03-09 10:00"), 2 * time.Hour}, // weekend
		{"office", bxl(t, "2026-03-09 00:00"), bxl(t, "2026-03-16 00:00"), 40 * time.Hour},
		{"office", bxl(t, "2026-12-21 00:00"), bxl(t, "2026-12-28 00:00"), 32 * time.Hour}, // holiday week
		{"office", bxl(t, "2026-12-24 16:00"), bxl(t, "2026-12-28 10:00"), 2 * time.Hour},
		{"office", bxl(t, "2026-03-09 10:00"), bxl(t, "2026-03-09 10:00"), 0},
		{"office", bxl(t, "2026-03-09 12:00"), bxl(t, "2026-03-09 10:00"), 0},
		{"office", bxl(t, "2026-03-09 17:00"), bxl(t, "2026-03-10 09:00"), 0},
		{"office", bxl(t, "2026-03-09 10:00:00.25"), bxl(t, "2026-03-09 10:00:01"), 750 * time.Millisecond},
		{"office", bxl(t, "2026-03-06 16:59:59.5"), bxl(t, "2026-03-09 09:00:00.5"), time.Second},
		{"office", bxl(t, "2026-03-27 16:00"), bxl(t, "2026-03-30 10:00"), 2 * time.Hour}, // DST weekend
		{"office", bxl(t, "2026-03-23 00:00"), bxl(t, "2026-04-06 00:00"), 80 * time.Hour},
		{"office", bxl(t, "2026-10-19 08:00"), bxl(t, "2026-11-02 18:00"), 88 * time.Hour},
		{"belgium", bxl(t, "2026-01-01 00:00"), bxl(t, "2027-01-01 00:00"), 253 * 8 * time.Hour},
		{"allDay", bxl(t, "2026-03-29 00:00"), bxl(t, "2026-03-30 00:00"), 23 * time.Hour},
		{"allDay", bxl(t, "2026-10-25 00:00"), bxl(t, "2026-10-26 00:00"), 25 * time.Hour},
		{"allDay", bxl(t, "2026-03-23 00:00"), bxl(t, "2026-04-06 00:00"), 335 * time.Hour},
		{"allDay", bxl(t, "2026-10-19 00:00"), bxl(t, "2026-11-02 00:00"), 337 * time.Hour},
		{"allDay", bxl(t, "2026-03-02 00:00:00.5"), bxl(t, "2026-03-10 00:00"), 192*time.Hour - 500*time.Millisecond},
		{"sundayNight", bxl(t, "2026-03-29 00:00"), bxl(t, "2026-03-30 00:00"), 2 * time.Hour},
		{"sundayNight", bxl(t, "2026-10-25 00:00"), bxl(t, "2026-10-26 00:00"), 4 * time.Hour},
		{"sundayNight", bxl(t, "2026-03-23 00:00"), bxl(t, "2026-04-06 00:00"), 5 * time.Hour},
		{"sundayNight", bxl(t, "2026-10-19 00:00"), bxl(t, "2026-11-02 00:00"), 7 * time.Hour},
		{"always", bxl(t, "2026-03-28 00:00"), bxl(t, "2026-03-30 00:00"), 47 * time.Hour},
		{"always", bxl(t, "2026-03-30 00:00"), bxl(t, "2026-03-28 00:00"), 0},
		{"utc", utc(2026, 1, 5, 8, 0), bxl(t, "2026-01-05 12:00"), 2 * time.Hour},
	}
	for _, tt := range tests {
		if got := cals[tt.cal].Elapsed(tt.from, tt.to); got != tt.want {
			t.Errorf("%s.Elapsed(%v, %v) = %v, want %v", tt.cal, tt.from, tt.to, got, tt.want)
		}
	}
}

func TestCalendarIsOpen(t *testing.T) {
	cals := testCalendars(t)
	tests := []struct {
		cal  string
		t    time.Time
		want bool
	}{
		{"office", bxl(t, "2026-03-09 09:00"), true},
		{"office", bxl(t, "2026-03-09 08:59:59.999"), false},
		{"office", bxl(t, "2026-03-09 16:59:59.999"), true},
		{"office", bxl(t, "2026-03-09 17:00"), false},
		{"office", bxl(t, "2026-03-07 12:00"), false}, // Saturday
		{"office", bxl(t, "2026-12-24 12:00"), true},
		{"office", bxl(t, "2026-12-25 12:00"), false}, // holiday
		{"split", bxl(t, "2026-03-09 12:30"), false},
		{"split", bxl(t, "2026-03-09 13:00"), true},
		{"split", bxl(t, "2026-03-14 11:59"), true},
		{"sundayNight", utc(2026, 3, 29, 1, 30), true},  // 03:30 CEST
		{"sundayNight", utc(2026, 3, 29, 2, 0), false},  // 04:00 CEST
		{"sundayNight", utc(2026, 10, 25, 1, 30), true}, // 02:30 CET, the second time round
		{"sundayNight", utc(2026, 10, 25, 3, 0), false}, // 04:00 CET
		{"always", bxl(t, "2026-12-25 03:00"), true},
		{"utc", utc(2026, 1, 5, 16, 59), true},
		{"utc", utc(2026, 1, 5, 17, 0), false},
	}
	for _, tt := range tests {
		if got := cals[tt.cal].IsOpen(tt.t); got != tt.want {
			t.Errorf("%s.IsOpen(%v) = %v, want %v", tt.cal, tt.t, got, tt.want)
		}
	}
}

func TestCalendarNextOpen(t *testing.T) {
	cals := testCalendars(t)
	tests := []struct {
		cal  string
		t    time.Time
		want time.Time
	}{
		{"office", bxl(t, "2026-03-06 17:00"), bxl(t, "2026-03-09 09:00")},
		{"office", bxl(t, "2026-03-09 10:00:00.5"), bxl(t, "2026-03-09 10:00:00.5")},
		{"office", bxl(t, "2026-03-09 09:00"), bxl(t, "2026-03-09 09:00")},
		{"office", bxl(t, "2026-03-09 08:59:59.5"), bxl(t, "2026-03-09 09:00")},
		{"office", bxl(t, "2026-12-24 17:00"), bxl(t, "2026-12-28 09:00")},
		{"split", bxl(t, "2026-03-09 12:00"), bxl(t, "2026-03-09 13:00")},
		{"sundayNight", bxl(t, "2026-03-28 12:00"), utc(2026, 3, 29, 0, 0)},
		{"always", bxl(t, "2026-03-28 12:00"), bxl(t, "2026-03-28 12:00")},
	}
	for _, tt := range tests {
		if got := cals[tt.cal].NextOpen(tt.t); !got.Equal(tt.want) {
			t.Errorf("%s.NextOpen(%v) = %v, want %v", tt.cal, tt.t, got, tt.want)
		}
	}
}

func TestCalendarNeverOpen(t *testing.T) {
	start := utc(2026, 1, 5, 10, 0)
	for _, c := range []Calendar{{}, {Week: weekdays(Span{hm(9, 0), hm(9, 0)})}} {
		if got := c.Add(start, time.Hour); !got.IsZero() {
			t.Errorf("%+v.Add(%v, 1h) = %v, want zero Time", c, start, got)
		}
		if got := c.NextOpen(start); !got.IsZero() {
			t.Errorf("%+v.NextOpen(%v) = %v, want zero Time", c, start, got)
		}
		if got := c.Elapsed(start, start.AddDate(0, 0, 30)); got != 0 {
			t.Errorf("%+v.Elapsed(%v, +30d) = %v, want 0", c, start, got)
		}
		if c.IsOpen(start) {
			t.Errorf("%+v.IsOpen(%v) = true, want false", c, start)
		}
	}
}

// randomCalendar builds a valid calendar in loc from a mix of realistic and
// random days, with a few holidays in 2026.
func randomCalendar(tb testing.TB, r *rand.Rand, loc *time.Location) Calendar {
	tb.Helper()
	patterns := [][]Span{
		nil,
		{{hm(9, 0), hm(17, 0)}},
		{{hm(8, 0), hm(12, 0)}, {hm(13, 0), hm(17, 0)}},
		{{hm(9, 0), hm(12, 0)}}, // Saturday morning
		{{0, minutesPerDay}},
		{{hm(1, 0), hm(4, 0)}},                           // across DST hours
		{{0, hm(3, 0)}, {hm(23, 0), minutesPerDay}},      // around midnight
		{{hm(8, 0), hm(12, 0)}, {hm(12, 0), hm(13, 30)}}, // touching spans
		{{hm(2, 30), hm(2, 45)}, {hm(3, 0), hm(3, 15)}},  // inside DST hours
	}
	c := Calendar{Location: loc, Holidays: map[Date]bool{}}
	for range 100 { // until the week has an open minute; nearly always the first time
		if c.Validate() == nil {
			break
		}
		for d := range c.Week {
			if r.IntN(4) == 0 {
				c.Week[d] = randomSpans(r)
			} else {
				c.Week[d] = patterns[r.IntN(len(patterns))]
			}
		}
	}
	for range r.IntN(8) {
		day := time.Date(2026, 1, 1+r.IntN(365), 0, 0, 0, 0, time.UTC)
		c.Holidays[Date{day.Year(), day.Month(), day.Day()}] = r.IntN(5) > 0
	}
	if err := c.Validate(); err != nil {
		tb.Fatalf("randomCalendar: Validate() = %v", err)
	}
	return c
}

// randomSpans returns up to three sorted, non-overlapping spans on random minutes.
func randomSpans(r *rand.Rand) []Span {
	var cuts []int
	for range 2 * (1 + r.IntN(3)) {
		cuts = append(cuts, r.IntN(minutesPerDay+1))
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var spans []Span
	for i := 0; i+1 < len(cuts); i += 2 {
		spans = append(spans, Span{cuts[i], cuts[i+1]})
	}
	return spans
}

// testZones are zones with DST at 02:00/03:00 (Brussels), none (UTC),
// changes at midnight (Santiago) and a 30-minute change (Lord Howe).
func testZones(tb testing.TB) []*time.Location {
	tb.Helper()
	return []*time.Location{zone(tb, "Europe/Brussels"), nil, zone(tb, "America/Santiago"), zone(tb, "Australia/Lord_Howe")}
}

// TestCalendarAddElapsedProperty checks on random calendars, instants and
// durations that Add and Elapsed are inverses and that Add grows with d.
func TestCalendarAddElapsedProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 7))
	zones := testZones(t)
	yearStart := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	scales := []time.Duration{time.Hour, 24 * time.Hour, 21 * 24 * time.Hour, 1500 * time.Hour}
	for i := range 3000 {
		c := randomCalendar(t, r, zones[i%len(zones)])
		start := yearStart.Add(time.Duration(r.Int64N(int64(365 * 24 * time.Hour))))
		if r.IntN(2) == 0 {
			start = start.Truncate(time.Minute) // often exactly at a span boundary
		}
		d := 1 + time.Duration(r.Int64N(int64(scales[r.IntN(len(scales))])))
		if r.IntN(2) == 0 {
			d = d.Truncate(time.Minute) + time.Minute
		}

		got := c.Add(start, d)
		if e := c.Elapsed(start, got); e != d {
			t.Fatalf("calendar %+v: Elapsed(%v, Add(%v, %v) = %v) = %v, want %v", c, start, start, d, got, e, d)
		}
		if got.Before(start) || !c.IsOpen(got.Add(-time.Nanosecond)) {
			t.Fatalf("calendar %+v: Add(%v, %v) = %v, want a later instant just after open time", c, start, d, got)
		}
		more := d + time.Duration(r.Int64N(int64(48*time.Hour)))
		if later := c.Add(start, more); later.Before(got) {
			t.Fatalf("calendar %+v: Add(%v, %v) = %v, before Add(%v, %v) = %v", c, start, more, later, start, d, got)
		}
		next := c.NextOpen(start)
		if !c.IsOpen(next) || next.Before(start) || c.Elapsed(start, next) != 0 {
			t.Fatalf("calendar %+v: NextOpen(%v) = %v, want the first open instant from then", c, start, next)
		}
	}
}

// wallClockOpen is the reference for IsOpen, read straight from Go's own
// conversion of t to local time, valid for instants on whole minutes.
func wallClockOpen(c Calendar, t time.Time) bool {
	if c.AlwaysOpen {
		return true
	}
	lt := t.In(c.location())
	y, m, d := lt.Date()
	if c.Holidays[Date{y, m, d}] {
		return false
	}
	minute := lt.Hour()*60 + lt.Minute()
	for _, s := range c.Week[lt.Weekday()] {
		if s.Start <= minute && minute < s.End {
			return true
		}
	}
	return false
}

// zoneChanges returns the instants in 2026 when loc's UTC offset changes.
func zoneChanges(loc *time.Location) []time.Time {
	var out []time.Time
	if loc == nil {
		return nil
	}
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).In(loc)
	for range 10 {
		_, end := t.ZoneBounds()
		if end.IsZero() || end.Year() > 2026 {
			break
		}
		out = append(out, end)
		t = end
	}
	return out
}

// TestCalendarWallClock compares IsOpen and Elapsed, minute by minute over
// ten-day windows (most of them around DST changes, long enough for Elapsed
// to skip a whole week), with wallClockOpen.
func TestCalendarWallClock(t *testing.T) {
	const windowMinutes = 10 * 24 * 60
	r := rand.New(rand.NewPCG(1, 2))
	for _, loc := range testZones(t) {
		changes := zoneChanges(loc)
		if loc != nil && len(changes) != 2 {
			t.Fatalf("zoneChanges(%v) = %v, want 2 changes in 2026", loc, changes)
		}
		for range 20 {
			c := randomCalendar(t, r, loc)
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(365*24*60)) * time.Minute)
			if len(changes) > 0 && r.IntN(4) > 0 {
				start = changes[r.IntN(len(changes))].Add(time.Duration(r.IntN(8*24*60)-7*24*60) * time.Minute)
			}
			var open time.Duration
			for m := range windowMinutes {
				at := start.Add(time.Duration(m) * time.Minute)
				want := wallClockOpen(c, at)
				if got := c.IsOpen(at); got != want {
					t.Fatalf("calendar %+v: IsOpen(%v) = %v, want %v", c, at, got, want)
				}
				if want {
					open += time.Minute
				}
				if end := at.Add(time.Minute); m%97 == 0 || m == windowMinutes-1 {
					if got := c.Elapsed(start, end); got != open {
						t.Fatalf("calendar %+v: Elapsed(%v, %v) = %v, want %v", c, start, end, got, open)
					}
				}
			}
		}
	}
}

func TestCalendarValidate(t *testing.T) {
	office := Span{hm(9, 0), hm(17, 0)}
	tests := []struct {
		name    string
		cal     Calendar
		wantErr string // "" for valid
	}{
		{"default", DefaultCalendar(), ""},
		{"touching spans", Calendar{Week: weekdays(Span{hm(8, 0), hm(12, 0)}, Span{hm(12, 0), hm(17, 0)})}, ""},
		{"whole day", Calendar{Week: weekdays(Span{0, minutesPerDay})}, ""},
		{"always open, no hours", Calendar{AlwaysOpen: true}, ""},
		{"no hours", Calendar{}, "no opening hours"},
		{"only holidays", Calendar{Holidays: map[Date]bool{{2026, 1, 1}: true}}, "no opening hours"},
		{"negative start", Calendar{Week: weekdays(Span{-1, hm(17, 0)})}, "Monday span 1"},
		{"end past midnight", Calendar{Week: weekdays(Span{hm(9, 0), minutesPerDay + 1})}, "not within 00:00-24:00"},
		{"empty span", Calendar{Week: weekdays(Span{hm(9, 0), hm(9, 0)})}, "start before end"},
		{"reversed span", Calendar{Week: weekdays(Span{hm(17, 0), hm(9, 0)})}, "start before end"},
		{"overlap", Calendar{Week: weekdays(Span{hm(8, 0), hm(12, 0)}, Span{hm(11, 0), hm(17, 0)})}, "08:00-12:00 and 11:00-17:00 overlap"},
		{"out of order", Calendar{Week: weekdays(Span{hm(13, 0), hm(17, 0)}, Span{hm(8, 0), hm(12, 0)})}, "out of order"},
		{"bad holiday", Calendar{Week: weekdays(office), Holidays: map[Date]bool{{2026, 2, 30}: true}}, "holiday 2026-02-30"},
		{"bad month", Calendar{Week: weekdays(office), Holidays: map[Date]bool{{2026, 13, 1}: false}}, "not a real date"},
	}
	for _, tt := range tests {
		err := tt.cal.Validate()
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
			}
			continue
		}
		if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: Validate() = %v, want an %s error containing %q", tt.name, err, EINVALID, tt.wantErr)
		}
	}
}

func TestParseSpan(t *testing.T) {
	tests := []struct {
		in   string
		want Span
		ok   bool
	}{
		{"09:00-17:00", Span{hm(9, 0), hm(17, 0)}, true},
		{"00:00-24:00", Span{0, minutesPerDay}, true},
		{"08:30-12:15", Span{hm(8, 30), hm(12, 15)}, true},
		{"23:59-24:00", Span{hm(23, 59), minutesPerDay}, true},
		{"", Span{}, false},
		{"9:00-17:00", Span{}, false},
		{"09:00-17:00 ", Span{}, false},
		{"09:00 17:00", Span{}, false},
		{"09.00-17:00", Span{}, false},
		{"0a:00-17:00", Span{}, false},
		{"17:00-09:00", Span{}, false},
		{"09:00-09:00", Span{}, false},
		{"24:00-24:00", Span{}, false},
		{"09:00-24:01", Span{}, false},
		{"09:00-25:00", Span{}, false},
		{"09:60-10:00", Span{}, false},
		{"09:00–17:00", Span{}, false}, // en dash
	}
	for _, tt := range tests {
		got, err := ParseSpan(tt.in)
		if tt.ok {
			if err != nil || got != tt.want || got.String() != tt.in {
				t.Errorf("ParseSpan(%q) = %v (%q), %v, want %v", tt.in, got, got.String(), err, tt.want)
			}
			continue
		}
		if ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), "HH:MM-HH:MM") {
			t.Errorf("ParseSpan(%q) = %v, %v, want an %s error", tt.in, got, err, EINVALID)
		}
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want Date
		ok   bool
	}{
		{"2026-12-25", Date{2026, time.December, 25}, true},
		{"2024-02-29", Date{2024, time.February, 29}, true},
		{"2026-01-01", Date{2026, time.January, 1}, true},
		{"2026-02-29", Date{}, false},
		{"2026-13-01", Date{}, false},
		{"2026-04-31", Date{}, false},
		{"2026-1-5", Date{}, false},
		{"2026-12-25T00:00", Date{}, false},
		{"25/12/2026", Date{}, false},
		{"", Date{}, false},
	}
	for _, tt := range tests {
		got, err := ParseDate(tt.in)
		if tt.ok {
			if err != nil || got != tt.want || got.String() != tt.in {
				t.Errorf("ParseDate(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
			}
			continue
		}
		if ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), "YYYY-MM-DD") {
			t.Errorf("ParseDate(%q) = %v, %v, want an %s error", tt.in, got, err, EINVALID)
		}
	}
}

func TestDefaultCalendar(t *testing.T) {
	c := DefaultCalendar()
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultCalendar().Validate() = %v, want nil", err)
	}
	if got := c.Location.String(); got != "Europe/Brussels" {
		t.Errorf("DefaultCalendar().Location = %s, want Europe/Brussels", got)
	}
	for day, spans := range c.Week {
		want := []Span{{hm(9, 0), hm(17, 0)}}
		if day == int(time.Saturday) || day == int(time.Sunday) {
			want = nil
		}
		if !slices.Equal(spans, want) {
			t.Errorf("DefaultCalendar().Week[%s] = %v, want %v", time.Weekday(day), spans, want)
		}
	}
	if c.Holidays == nil || len(c.Holidays) != 0 {
		t.Errorf("DefaultCalendar().Holidays = %v, want an empty map", c.Holidays)
	}
	c.Week[time.Monday][0].End = hm(12, 0)
	if got := c.Week[time.Tuesday][0]; got.End != hm(17, 0) {
		t.Errorf("after changing Monday, DefaultCalendar().Week[Tuesday][0] = %v, want 09:00-17:00", got)
	}
}

// benchmarkStarts returns 64 instants spread over 2026, open and closed.
func benchmarkStarts() []time.Time {
	starts := make([]time.Time, 64)
	for i := range starts {
		starts[i] = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 137 * time.Hour)
	}
	return starts
}

// benchmarkDurations are 1 hour, 1 business day, 2 business weeks and 1000
// business hours of the Mon–Fri 09:00–17:00 calendar.
func benchmarkDurations() []struct {
	name string
	d    time.Duration
} {
	return []struct {
		name string
		d    time.Duration
	}{{"1h", time.Hour}, {"1d", 8 * time.Hour}, {"2w", 80 * time.Hour}, {"1000h", 1000 * time.Hour}}
}

func BenchmarkCalendarAdd(b *testing.B) {
	c := testCalendars(b)["belgium"]
	starts := benchmarkStarts()
	for _, bd := range benchmarkDurations() {
		b.Run(bd.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				c.Add(starts[i%len(starts)], bd.d)
				i++
			}
		})
	}
}

func BenchmarkCalendarElapsed(b *testing.B) {
	c := testCalendars(b)["belgium"]
	starts := benchmarkStarts()
	for _, bd := range benchmarkDurations() {
		ends := make([]time.Time, len(starts))
		for i, s := range starts {
			ends[i] = c.Add(s, bd.d)
		}
		b.Run(bd.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				c.Elapsed(starts[i%len(starts)], ends[i%len(starts)])
				i++
			}
		})
	}
}
