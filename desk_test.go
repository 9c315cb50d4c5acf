package helpmail_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/helpmail/helpmail"
	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/store"
	"github.com/helpmail/helpmail/templates"
	"github.com/helpmail/helpmail/threading"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// brussels is the default calendar's zone.
var brussels = func() *time.Location {
	l, err := time.LoadLocation("Europe/Brussels")
	if err != nil {
		panic(err)
	}
	return l
}()

// testDesk is a desk on a SQLite file in a temp directory.
type testDesk struct {
	*helpmail.Desk
	db    *store.DB
	path  string
	clock *testClock
}

// MustOpenDesk opens a desk with the default configuration plus two
// agents, starting Monday 2 March 2026 09:00 Brussels time.
func MustOpenDesk(tb testing.TB, mutate func(*helpmail.Config)) *testDesk {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "helpmail.db")
	return openDeskAt(tb, path, mutate)
}

func openDeskAt(tb testing.TB, path string, mutate func(*helpmail.Config)) *testDesk {
	tb.Helper()
	db, err := store.Open(context.Background(), path, store.Options{Synchronous: store.SyncNormal})
	if err != nil {
		tb.Fatalf("store.Open() = %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	tmpl, err := templates.New("")
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := threading.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		tb.Fatal(err)
	}
	cfg := helpmail.DefaultConfig()
	cfg.Name = "Example Support"
	cfg.Routes = []helpmail.Route{{Address: "support@example.com", Type: helpmail.TypeQuestion,
		Priority: helpmail.PriorityMedium, Impact: helpmail.ImpactSingleUser}}
	cfg.Agents = []helpmail.Agent{{Name: "Alice", Address: "alice@example.com"}, {Name: "Bob", Address: "bob@example.com"}}
	cfg.Escalation = "escalation@example.com"
	cfg.OnCall = "oncall@example.com"
	cfg.Zone = brussels
	cfg.AutoReplyLimit = 0
	if mutate != nil {
		mutate(&cfg)
	}
	clk := &testClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, brussels)}
	d := &helpmail.Desk{Store: db, Templates: tmpl, Signer: signer, Config: cfg, Now: clk.Now,
		SLA: helpmail.SLA{Calendar: helpmail.DefaultCalendar(), Policies: helpmail.DefaultPolicies()}}
	return &testDesk{Desk: d, db: db, path: path, clock: clk}
}

func (d *testDesk) deliver(tb testing.TB, raw string) {
	tb.Helper()
	if err := d.Deliver(context.Background(), mailbox.Envelope{Source: "test"}, []byte(raw)); err != nil {
		tb.Fatalf("Deliver() = %v", err)
	}
}

// open delivers a new customer message and returns its ticket number.
func (d *testDesk) open(tb testing.TB, from, subject string) int64 {
	tb.Helper()
	id := fmt.Sprintf("<%d.%s>", time.Now().UnixNano(), from)
	d.deliver(tb, "From: "+from+"\r\nTo: support@example.com\r\nSubject: "+subject+"\r\nMessage-ID: "+id+"\r\n\r\nHelp please.\r\n")
	var n int64
	d.db.View(context.Background(), func(tx helpmail.Tx) error {
		ms, err := tx.FindMessagesByMessageID(context.Background(), threading.CanonicalMessageID(id))
		if err == nil && len(ms) > 0 {
			n = ms[0].Ticket
		}
		return err
	})
	if n == 0 {
		tb.Fatalf("no ticket for %s", id)
	}
	return n
}

func (d *testDesk) ticket(tb testing.TB, n int64) *helpmail.Ticket {
	tb.Helper()
	var t *helpmail.Ticket
	if err := d.db.View(context.Background(), func(tx helpmail.Tx) (err error) {
		t, err = tx.FindTicket(context.Background(), n)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	return t
}

// outbox returns the queued rows of a template, "" for all.
func (d *testDesk) outbox(tb testing.TB, template string) []*helpmail.OutboxItem {
	tb.Helper()
	var rows []*helpmail.OutboxItem
	if err := d.db.View(context.Background(), func(tx helpmail.Tx) (err error) {
		rows, err = tx.FindOutboxes(context.Background(), helpmail.OutboxFilter{})
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	var out []*helpmail.OutboxItem
	for _, r := range rows {
		if template == "" || r.Template == template {
			out = append(out, r)
		}
	}
	return out
}

func at(day, hour, minute int) time.Time {
	return time.Date(2026, 3, day, hour, minute, 0, 0, brussels)
}

func (d *testDesk) set(tb testing.TB, n int64, status helpmail.Status) {
	tb.Helper()
	if _, err := d.UpdateTicket(context.Background(), n, "alice@example.com", helpmail.Change{Status: &status}); err != nil {
		tb.Fatal(err)
	}
}

func (d *testDesk) run(tb testing.TB, now time.Time) helpmail.JobReport {
	tb.Helper()
	rep, err := d.RunJobs(context.Background(), now)
	if err != nil {
		tb.Fatalf("RunJobs(%s) = %v", now, err)
	}
	return rep
}

func TestSLADueTimes(t *testing.T) {
	d := MustOpenDesk(t, nil)
	d.clock.Set(at(6, 16, 30)) // Friday 16:30
	n := d.open(t, "ann@customer.example", "Export fails")
	tk := d.ticket(t, n)
	// First response: 1 business day = 8 business hours → Monday 16:30.
	if want := at(9, 16, 30); !tk.FirstResponseDue.Equal(want) {
		t.Errorf("FirstResponseDue = %s, want %s", tk.FirstResponseDue.In(brussels), want)
	}
	// Medium resolution: 10 business days → Friday 20 March 16:30.
	if want := at(20, 16, 30); !tk.ResolutionDue.Equal(want) {
		t.Errorf("ResolutionDue = %s, want %s", tk.ResolutionDue.In(brussels), want)
	}
	// system_down counts calendar time: 1 hour after the change.
	d.clock.Set(at(7, 23, 0)) // Saturday night
	sd := helpmail.PrioritySystemDown
	if _, err := d.UpdateTicket(context.Background(), n, "alice@example.com", helpmail.Change{Priority: &sd}); err != nil {
		t.Fatal(err)
	}
	tk = d.ticket(t, n)
	if want := at(6, 17, 30); !tk.FirstResponseDue.Equal(want) {
		t.Errorf("system_down FirstResponseDue = %s, want %s (created + 1h calendar time)", tk.FirstResponseDue.In(brussels), want)
	}
	if got := d.outbox(t, "oncall_page"); len(got) != 1 || got[0].Rcpt != "oncall@example.com" {
		t.Errorf("on-call pages = %d, want 1 to oncall@example.com", len(got))
	}
}

func TestSLAPausesInWaitingForCustomer(t *testing.T) {
	d := MustOpenDesk(t, nil)
	d.clock.Set(at(2, 9, 0)) // Monday 09:00
	n := d.open(t, "ann@customer.example", "Question")
	due := d.ticket(t, n).ResolutionDue
	// Waiting on the customer for exactly 2 business days (Mon 13:00 → Wed 13:00).
	d.clock.Set(at(2, 13, 0))
	d.set(t, n, helpmail.StatusWaitingForCustomer)
	if tk := d.ticket(t, n); !tk.ResolutionDue.IsZero() {
		t.Errorf("ResolutionDue while paused = %s, want none", tk.ResolutionDue)
	}
	d.clock.Set(at(4, 13, 0))
	d.set(t, n, helpmail.StatusWaitingForSupport)
	// Resuming moves the due time by the paused business time: two days.
	if got, want := d.ticket(t, n).ResolutionDue, helpmail.DefaultCalendar().Add(due, 16*time.Hour); !got.Equal(want) {
		t.Errorf("ResolutionDue after pause = %s, want %s", got.In(brussels), want.In(brussels))
	}
}

func TestSLAWarningsAndBreaches(t *testing.T) {
	d := MustOpenDesk(t, nil)
	d.clock.Set(at(2, 9, 0))
	n := d.open(t, "ann@customer.example", "Slow reports")
	// 75 % of 8 business hours is 6 hours: Monday 15:00.
	if rep := d.run(t, at(2, 14, 59)); rep.Warnings != 0 {
		t.Fatalf("warnings at 14:59 = %d, want 0", rep.Warnings)
	}
	if rep := d.run(t, at(2, 15, 0)); rep.Warnings != 1 {
		t.Fatalf("warnings at 15:00 = %d, want 1", rep.Warnings)
	}
	if got := d.outbox(t, "sla_warning"); len(got) != 2 {
		t.Errorf("sla_warning mails = %d, want 2 (no assignee: every agent)", len(got))
	}
	// Due Monday 17:00; at 17:00 it is not yet past, Tuesday 09:00 it is.
	if rep := d.run(t, at(2, 16, 59)); rep.Breaches != 0 || rep.Warnings != 0 {
		t.Fatalf("at 16:59: %+v, want nothing", rep)
	}
	if rep := d.run(t, at(3, 9, 0)); rep.Breaches != 1 {
		t.Fatalf("breaches next morning = %d, want 1", rep.Breaches)
	}
	esc := 0
	for _, o := range d.outbox(t, "sla_breach") {
		if o.Rcpt == "escalation@example.com" {
			esc++
		}
	}
	if esc != 1 {
		t.Errorf("breach mails to the escalation address = %d, want 1", esc)
	}
	// Exactly once: repeated runs send nothing more.
	before := len(d.outbox(t, ""))
	for i := 0; i < 3; i++ {
		if rep := d.run(t, at(3, 10+i, 0)); rep != (helpmail.JobReport{}) {
			t.Fatalf("repeat run %d did %+v", i, rep)
		}
	}
	if after := len(d.outbox(t, "")); after != before {
		t.Errorf("repeat runs queued %d more mails", after-before)
	}
	// A priority change moves the deadline: a new warning is allowed.
	high := helpmail.PriorityCritical
	d.clock.Set(at(3, 10, 0))
	if _, err := d.UpdateTicket(context.Background(), n, "alice@example.com", helpmail.Change{Priority: &high}); err != nil {
		t.Fatal(err)
	}
	_ = n
}

func TestJobsExactlyOnceConcurrentAndAcrossRestart(t *testing.T) {
	d := MustOpenDesk(t, nil)
	d.clock.Set(at(2, 9, 0))
	var tickets []int64
	for i := 0; i < 20; i++ {
		tickets = append(tickets, d.open(t, fmt.Sprintf("c%d@customer.example", i), "load"))
	}
	// Eight overlapping passes at the same instant.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := d.RunJobs(context.Background(), at(3, 9, 30)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent RunJobs: %v", err)
	}
	count := func(dd *testDesk) (warn, breach int) {
		for _, o := range dd.outbox(t, "") {
			switch o.Template {
			case "sla_warning":
				warn++
			case "sla_breach":
				breach++
			}
		}
		return
	}
	_, breaches := count(d)
	// Each of 20 tickets: one breach to the escalation address and one per agent.
	if breaches != 20*3 {
		t.Errorf("breach mails after 8 concurrent passes = %d, want %d", breaches, 20*3)
	}
	// "Restart": a new desk on the same file runs the same pass again.
	d2 := openDeskAt(t, d.path, nil)
	if rep := d2.run(t, at(3, 9, 30)); rep != (helpmail.JobReport{}) {
		t.Errorf("pass after restart did %+v, want nothing", rep)
	}
	if _, b := count(d2); b != breaches {
		t.Errorf("breach mails after restart = %d, want %d", b, breaches)
	}
}

func TestWaitingReminderAndAutoClose(t *testing.T) {
	d := MustOpenDesk(t, nil)
	d.clock.Set(at(2, 9, 0))
	n := d.open(t, "ann@customer.example", "Need logs")
	d.clock.Set(at(2, 10, 0))
	d.set(t, n, helpmail.StatusWaitingForCustomer)
	if rep := d.run(t, at(5, 9, 59)); rep.Reminders != 0 {
		t.Fatalf("reminder before 3 days: %+v", rep)
	}
	if rep := d.run(t, at(5, 10, 0)); rep.Reminders != 1 {
		t.Fatalf("reminders after 3 days = %d, want 1", rep.Reminders)
	}
	if got := d.outbox(t, "waiting_reminder"); len(got) != 1 || got[0].Rcpt != "ann@customer.example" {
		t.Fatalf("waiting_reminder mails = %v", got)
	}
	if rep := d.run(t, at(9, 9, 59)); rep.Closed != 0 {
		t.Fatalf("closed before 3+4 days: %+v", rep)
	}
	if rep := d.run(t, at(9, 10, 0)); rep.Closed != 1 {
		t.Fatalf("closed after 3+4 days = %d, want 1", rep.Closed)
	}
	if tk := d.ticket(t, n); tk.Status != helpmail.StatusClosed {
		t.Errorf("status = %s, want closed", tk.Status)
	}
	if got := d.outbox(t, "auto_closed"); len(got) != 1 {
		t.Errorf("auto_closed mails = %d, want 1", len(got))
	}

	// A resolved ticket closes after auto_close_after (7 days).
	d.clock.Set(at(10, 9, 0))
	m := d.open(t, "bob@customer.example", "Fixed?")
	d.set(t, m, helpmail.StatusResolved)
	if rep := d.run(t, at(17, 8, 59)); rep.Closed != 0 {
		t.Fatalf("resolved closed early: %+v", rep)
	}
	if rep := d.run(t, at(17, 9, 0)); rep.Closed != 1 || d.ticket(t, m).Status != helpmail.StatusClosed {
		t.Fatalf("resolved ticket not closed after 7 days: %+v", rep)
	}
}

func TestDigestOncePerDay(t *testing.T) {
	d := MustOpenDesk(t, nil)
	d.open(t, "ann@customer.example", "One")
	d.open(t, "bob@customer.example", "Two")
	for i := 0; i < 3; i++ {
		sent, err := d.Digest(context.Background(), at(3, 8, i))
		if err != nil {
			t.Fatal(err)
		}
		if sent != (i == 0) {
			t.Errorf("Digest run %d sent = %v", i, sent)
		}
	}
	if got := d.outbox(t, "digest"); len(got) != 2 {
		t.Errorf("digest mails = %d, want one per agent (2)", len(got))
	}
	if sent, _ := d.Digest(context.Background(), at(4, 8, 0)); !sent {
		t.Errorf("next day's digest not sent")
	}
}

// BenchmarkSLAPass times one pass of the scheduled jobs over 100,000 open
// tickets, next to a ceiling measured in the same run: reading every open
// ticket once, the least a pass that looked at each ticket would cost.
//   - idle: nothing is due (the usual 5-minute pass);
//   - due100: 100 tickets reach their 75 % warning in each pass (200 mails
//     rendered and queued, one transaction per ticket).
func BenchmarkSLAPass(b *testing.B) {
	const total, groups, perGroup = 100_000, 200, 100
	d := MustOpenDesk(b, nil)
	ctx := context.Background()
	start := at(2, 9, 0)
	err := d.db.Update(ctx, func(tx helpmail.Tx) error {
		for i := 0; i < total; i++ {
			created := start.Add(30 * 24 * time.Hour) // not due for a long time
			if i < groups*perGroup {
				created = start.Add(time.Duration(i/perGroup) * time.Second) // group g is due g seconds later
			}
			t := &helpmail.Ticket{Subject: "load", Requester: fmt.Sprintf("c%d@example.org", i),
				Status: helpmail.StatusWaitingForSupport, Priority: helpmail.PriorityMedium, Type: helpmail.TypeQuestion,
				Impact: helpmail.ImpactSingleUser, Language: "en", Address: "support@example.com",
				CreatedAt: created, UpdatedAt: created, StatusSince: created}
			d.SLA.Start(t, created)
			if err := tx.CreateTicket(ctx, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	err = d.db.View(ctx, func(tx helpmail.Tx) error {
		list, _, err := tx.FindTickets(ctx, helpmail.TicketFilter{Open: true})
		if err == nil && len(list) != total {
			err = fmt.Errorf("read %d tickets", len(list))
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	ceiling := time.Since(t0)
	warnAt := start.Add(6 * time.Hour) // 75 % of 8 business hours
	report := func(b *testing.B) {
		perPass := b.Elapsed() / time.Duration(b.N)
		b.ReportMetric(float64(perPass.Microseconds())/1000, "ms/pass")
		b.ReportMetric(float64(ceiling.Microseconds())/1000, "ms/ceiling")
		b.Logf("%s over %d open tickets: %s per pass (target < 1s); ceiling (read every open ticket once): %s",
			b.Name(), total, perPass.Round(time.Microsecond), ceiling.Round(time.Millisecond))
	}
	b.Run("idle", func(b *testing.B) {
		now := warnAt.Add(-time.Minute)
		for i := 0; i < b.N; i++ {
			if rep, err := d.RunJobs(ctx, now); err != nil || rep != (helpmail.JobReport{}) {
				b.Fatalf("RunJobs = %+v, %v; want nothing done", rep, err)
			}
		}
		report(b)
	})
	group := 0
	b.Run("due100", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if group >= groups {
				b.Skip("out of prepared groups")
			}
			rep, err := d.RunJobs(ctx, warnAt.Add(time.Duration(group)*time.Second))
			if err != nil || rep.Warnings != perGroup {
				b.Fatalf("RunJobs = %+v, %v; want %d warnings", rep, err, perGroup)
			}
			group++
		}
		report(b)
	})
}

// BenchmarkDeliver measures ingest: one new-ticket message per op through
// Desk.Deliver (parse, dedupe, thread, ticket, history, acknowledgement and
// two agent notifications rendered and queued, one transaction, synchronous
// = FULL), next to a floor measured in the same run: one durable SQLite
// commit per message of the same bytes and nothing else.
func BenchmarkDeliver(b *testing.B) {
	raw := func(i int) []byte {
		return []byte(fmt.Sprintf("From: Customer %d <c%d@customer.example>\r\nTo: support@example.com\r\n"+
			"Subject: Printer %d is on fire\r\nMessage-ID: <bench-%d@customer.example>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\n"+
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\nThe printer is on fire again.\r\n", i, i, i, i))
	}
	ctx := context.Background()
	b.Run("floor", func(b *testing.B) {
		db, err := store.Open(ctx, filepath.Join(b.TempDir(), "floor.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		for i := 0; i < b.N; i++ {
			m := &helpmail.Message{Direction: helpmail.Inbound, Kind: helpmail.KindCustomer, RawSHA256: fmt.Sprint(i),
				Raw: raw(i), CreatedAt: time.Now()}
			if err := db.Update(ctx, func(tx helpmail.Tx) error { return tx.CreateMessage(ctx, m) }); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	})
	b.Run("deliver", func(b *testing.B) {
		d := MustOpenDesk(b, nil)
		d.db.Close()
		db, err := store.Open(ctx, d.path, store.Options{}) // synchronous = FULL, as served
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		d.Store = db
		for i := 0; i < b.N; i++ {
			if err := d.Deliver(ctx, mailbox.Envelope{Source: "bench"}, raw(i)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	})
}
