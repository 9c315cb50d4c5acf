package templates

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// funcs returns the functions templates of l may call (listed in the package
// doc). Labels and dates come from l's labels.txt, so they are in l's
// language.
func (l *language) funcs() map[string]any {
	label := func(kind string) func(string) (string, error) {
		return func(code string) (string, error) { return l.label(kind, code) }
	}
	return map[string]any{
		"status":        label(KindStatus),
		"statusMeaning": label(KindStatusMeaning),
		"priority":      label(KindPriority),
		"ticketType":    label(KindType),
		"impact":        label(KindImpact),
		"slaKind":       label(KindSLA),
		"refusal":       label(KindRefusal),
		"date":          func(t time.Time) (string, error) { return l.date("datetime", t) },
		"day":           func(t time.Time) (string, error) { return l.date("date", t) },
		"quote":         quote,
		"lines":         lines,
		"codes":         Codes,
		"join":          strings.Join,
	}
}

// label executes the definition "kind:code" of labels.txt.
func (l *language) label(kind, code string) (string, error) {
	if code == "" {
		return "", nil
	}
	t := l.labels.Lookup(kind + ":" + code)
	if t == nil {
		return code, nil
	}
	var b strings.Builder
	if err := t.Execute(&b, nil); err != nil {
		return "", fmt.Errorf("label %s:%s: %w", kind, code, err)
	}
	return strings.TrimSpace(b.String()), nil
}

// dateParts is what the "format:datetime" and "format:date" definitions of
// labels.txt are executed with.
type dateParts struct {
	Weekday string // label "weekday:0" (Sunday) … "weekday:6"
	Day     int
	Month   string // label "month:1" … "month:12"
	Year    int
	Time    string // "14:05"
	Hour    string // "14", "9": not zero-padded
	Minute  string // "05"
	Zone    string // abbreviation, "CET", or offset, "+0530"
}

// date formats t with the definition "format:"+format of labels.txt.
func (l *language) date(format string, t time.Time) (string, error) {
	if t.IsZero() {
		return "", nil
	}
	weekday, err := l.label("weekday", strconv.Itoa(int(t.Weekday())))
	if err != nil {
		return "", err
	}
	month, err := l.label("month", strconv.Itoa(int(t.Month())))
	if err != nil {
		return "", err
	}
	p := dateParts{Weekday: weekday, Day: t.Day(), Month: month, Year: t.Year(), Time: t.Format("15:04"), Hour: strconv.Itoa(t.Hour()), Minute: t.Format("04"), Zone: t.Format("MST")}
	var b strings.Builder
	if err := l.labels.ExecuteTemplate(&b, "format:"+format, p); err != nil {
		return "", fmt.Errorf("date format %s: %w", format, err)
	}
	return strings.TrimSpace(b.String()), nil
}

// lines splits s into lines, accepting CRLF, LF and CR endings, and drops
// trailing blank lines and trailing spaces. An empty s has no lines.
func lines(s string) []string {
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
	s = strings.TrimRight(s, " \t\n")
	if s == "" {
		return nil
	}
	ls := strings.Split(s, "\n")
	for i, l := range ls {
		ls[i] = strings.TrimRight(l, " \t")
	}
	return ls
}

// quote prefixes every line of s with "> ", the way mail clients quote: a
// blank or already quoted line gets ">" alone.
func quote(s string) string {
	ls := lines(s)
	for i, l := range ls {
		if l == "" || strings.HasPrefix(l, ">") {
			ls[i] = ">" + l
		} else {
			ls[i] = "> " + l
		}
	}
	return strings.Join(ls, "\n")
}
