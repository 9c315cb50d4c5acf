package helpmail

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/helpmail/helpmail/mailbox"
	"github.com/helpmail/helpmail/templates"
)

// DueKind names a scheduled job that acts on one ticket once per deadline.
type DueKind string

// The scheduled jobs (SPEC §7).
const (
	DueFirstResponseWarning DueKind = "first_response_warning" // at WarnAt of the first-response target
	DueFirstResponseBreach  DueKind = "first_response_breach"  // first-response due time passed
	DueResolutionWarning    DueKind = "resolution_warning"     // at WarnAt of the resolution target
	DueResolutionBreach     DueKind = "resolution_breach"      // resolution due time passed
	DueWaitingReminder      DueKind = "waiting_reminder"       // the customer has not answered for a while
	DueWaitingClose         DueKind = "waiting_close"          // nor after the reminder: close
	DueAutoClose            DueKind = "auto_close"             // resolved long enough: close
)

// Schedule is how long the reminder and auto-close jobs wait.
type Schedule struct {
	// WaitingReminderAfter: a waiting_for_customer ticket gets a reminder
	// after this; 0 = never.
	WaitingReminderAfter time.Duration
	// WaitingCloseAfter: and is closed this long after the reminder;
	// 0 = never.
	WaitingCloseAfter time.Duration
	// AutoCloseAfter: a resolved ticket is closed after this; 0 = never.
	AutoCloseAfter time.Duration
}

// JobReport counts what one pass of the jobs did.
type JobReport struct {
	Warnings, Breaches, Reminders, Closed int
}

// RunJobs runs one pass of every per-ticket job at now: SLA warnings and
// breach escalations, waiting-for-customer reminders and auto-close, and
// the closing of resolved tickets. Each action on a ticket is one
// transaction that first records a mark under a UNIQUE key (ticket, job,
// deadline) and only then queues its mail, so a second pass, an
// overlapping pass or a pass after a restart does nothing twice; a new
// deadline (priority change, reopen) allows a new reminder.
func (d *Desk) RunJobs(ctx context.Context, now time.Time) (JobReport, error) {
	now = now.UTC()
	var rep JobReport
	queued := 0
	for _, j := range d.jobs(now, &rep) {
		// Batches: a pass after a long outage may find many tickets.
		for {
			var due []*Ticket
			err := d.Store.View(ctx, func(tx Tx) (err error) {
				due, err = tx.FindDue(ctx, j.kind, now, j.before, 500)
				return err
			})
			if err != nil {
				return rep, fmt.Errorf("jobs: find %s: %w", j.kind, err)
			}
			done := 0
			for _, t := range due {
				acted, q, err := d.runJob(ctx, j, t.Number, now, false)
				if err != nil {
					return rep, fmt.Errorf("jobs: %s on #%d: %w", j.kind, t.Number, err)
				}
				if acted {
					*j.count++
					done++
				}
				queued += q
			}
			if len(due) < 500 || done == 0 {
				break
			}
		}
	}
	if queued > 0 && d.Queued != nil {
		d.Queued()
	}
	if rep != (JobReport{}) {
		d.logger().Info("scheduled jobs", "warnings", rep.Warnings, "breaches", rep.Breaches,
			"reminders", rep.Reminders, "closed", rep.Closed, "queued", queued)
	}
	return rep, nil
}

// SettleImported settles, without sending anything, every job already due
// at now on tickets that `helpmail import` filled from an archive: a
// deadline that passed in the archive is history, not news, so no SLA
// warning or breach is sent for it, no customer is reminded of a
// conversation from years ago, and a ticket that would long have been
// closed is closed as of the time it would have been (so the reopen
// window counts from then). Marks are recorded as RunJobs records them,
// so the scheduler never acts on those deadlines; later deadlines (a
// reply after the import) work as usual.
func (d *Desk) SettleImported(ctx context.Context, numbers []int64, now time.Time) (JobReport, error) {
	now = now.UTC()
	var rep JobReport
	for _, j := range d.jobs(now, &rep) {
		for _, n := range numbers {
			acted, _, err := d.runJob(ctx, j, n, now, true)
			if err != nil {
				return rep, fmt.Errorf("settle import: %s on #%d: %w", j.kind, n, err)
			}
			if acted {
				*j.count++
			}
		}
	}
	return rep, nil
}

// job is one scheduled job of a pass: its kind, the status-age threshold
// of the reminder and close jobs, the report counter it adds to, and for
// the close jobs how long after the mark's deadline the ticket closes.
type job struct {
	kind       DueKind
	before     time.Time
	count      *int
	closeAfter time.Duration
}

// jobs lists the enabled jobs of a pass at now, breaches before warnings
// (a ticket found past due gets the breach, not a late warning) and the
// close before the reminder for the same reason.
func (d *Desk) jobs(now time.Time, rep *JobReport) []job {
	s := d.Config.Schedule
	waitClose := s.WaitingReminderAfter + s.WaitingCloseAfter
	all := []struct {
		job
		on bool
	}{
		{job{DueFirstResponseBreach, now, &rep.Breaches, 0}, true},
		{job{DueFirstResponseWarning, now, &rep.Warnings, 0}, true},
		{job{DueResolutionBreach, now, &rep.Breaches, 0}, true},
		{job{DueResolutionWarning, now, &rep.Warnings, 0}, true},
		{job{DueWaitingClose, now.Add(-waitClose), &rep.Closed, waitClose}, s.WaitingReminderAfter > 0 && s.WaitingCloseAfter > 0},
		{job{DueWaitingReminder, now.Add(-s.WaitingReminderAfter), &rep.Reminders, 0}, s.WaitingReminderAfter > 0},
		{job{DueAutoClose, now.Add(-s.AutoCloseAfter), &rep.Closed, s.AutoCloseAfter}, s.AutoCloseAfter > 0},
	}
	var out []job
	for _, j := range all {
		if j.on {
			out = append(out, j.job)
		}
	}
	return out
}

// runJob does one job on one ticket in its own transaction, after checking
// again that it is due and marking it done. It reports whether it acted and
// how much mail it queued. A quiet run (an import being settled) records
// the mark and closes what would have closed, as of then, and sends nothing.
func (d *Desk) runJob(ctx context.Context, j job, number int64, now time.Time, quiet bool) (bool, int, error) {
	acted := false
	var dec Decision
	err := d.Store.Update(ctx, func(tx Tx) error {
		acted, dec = false, Decision{}
		t, err := tx.FindTicket(ctx, number)
		if err != nil {
			return err
		}
		deadline, ok := jobDeadline(j.kind, t, now, j.before)
		if !ok {
			return nil // the ticket moved on since it was found
		}
		if acted, err = tx.AddMark(ctx, t.Number, j.kind, deadline, now); err != nil || !acted {
			return err
		}
		if !quiet {
			return d.jobAction(ctx, tx, j.kind, t, deadline, now, &dec)
		}
		if j.closeAfter > 0 {
			old := string(t.Status)
			return d.autoClose(ctx, tx, t, deadline.Add(j.closeAfter),
				"imported: the archive left it "+old+" long enough to close it; nobody was told")
		}
		return nil
	})
	return acted, countQueued(dec), err
}

// jobDeadline checks that the job is due on t and returns the deadline
// that keys its mark.
func jobDeadline(kind DueKind, t *Ticket, now, before time.Time) (time.Time, bool) {
	open := t.Status.Open() && t.MergedInto == 0
	frOpen := open && t.FirstResponseAt.IsZero() && !t.FirstResponseDue.IsZero()
	switch kind {
	case DueFirstResponseWarning:
		return t.FirstResponseDue, frOpen && !t.FirstResponseWarn.After(now) && t.FirstResponseDue.After(now)
	case DueFirstResponseBreach:
		return t.FirstResponseDue, frOpen && !t.FirstResponseDue.After(now)
	case DueResolutionWarning:
		return t.ResolutionDue, open && !t.ResolutionDue.IsZero() && !t.ResolutionWarn.After(now) && t.ResolutionDue.After(now)
	case DueResolutionBreach:
		return t.ResolutionDue, open && !t.ResolutionDue.IsZero() && !t.ResolutionDue.After(now)
	case DueWaitingReminder, DueWaitingClose:
		return t.StatusSince, t.Status == StatusWaitingForCustomer && !t.StatusSince.After(before)
	case DueAutoClose:
		return t.StatusSince, t.Status == StatusResolved && !t.StatusSince.After(before)
	}
	return time.Time{}, false
}

// jobAction queues the job's mail and makes its change, inside the
// transaction that recorded its mark.
func (d *Desk) jobAction(ctx context.Context, tx Tx, kind DueKind, t *Ticket, deadline, now time.Time, dec *Decision) error {
	slaKind := "first_response"
	if kind == DueResolutionWarning || kind == DueResolutionBreach {
		slaKind = "resolution"
	}
	data := templates.Data{SLAKind: slaKind, Deadline: deadline}
	switch kind {
	case DueFirstResponseWarning, DueResolutionWarning:
		if err := d.toAgents(ctx, tx, t, "sla_warning", data, dec, now); err != nil {
			return err
		}
		return d.history(ctx, tx, t, now, "scheduler", "sla_warning", "", slaKind, "due "+deadline.Format(time.RFC3339), 0)
	case DueFirstResponseBreach, DueResolutionBreach:
		if esc := d.Config.Escalation; esc != "" {
			n := notice{template: "sla_breach", ticket: t, to: mailbox.Address{Addr: esc}, autoSubmitted: "auto-generated",
				data: data, lang: d.Config.DefaultLanguage}
			if a := d.Config.agent(esc); a != nil {
				n.agent = a
			}
			if err := d.queue(ctx, tx, n, dec, now); err != nil {
				return err
			}
		}
		if err := d.toAgents(ctx, tx, t, "sla_breach", data, dec, now); err != nil {
			return err
		}
		return d.history(ctx, tx, t, now, "scheduler", "sla_breach", "", slaKind, "was due "+deadline.Format(time.RFC3339), 0)
	case DueWaitingReminder:
		s := d.Config.Schedule
		data = templates.Data{Days: int(s.WaitingReminderAfter / (24 * time.Hour)), CloseOn: now.Add(s.WaitingCloseAfter)}
		if err := d.toRequester(ctx, tx, t, "waiting_reminder", data, dec, now); err != nil {
			return err
		}
		return d.history(ctx, tx, t, now, "scheduler", "reminder", "", "waiting_reminder", "no answer from the customer", 0)
	case DueWaitingClose, DueAutoClose:
		reason := fmt.Sprintf("resolved for %s", FormatDays(d.Config.Schedule.AutoCloseAfter))
		if kind == DueWaitingClose {
			reason = "no answer from the customer after the reminder"
		}
		if err := d.autoClose(ctx, tx, t, now, reason); err != nil {
			return err
		}
		data = templates.Data{Reason: reason, ReopenDays: int(d.Config.ReopenWindow / (24 * time.Hour))}
		return d.toRequester(ctx, tx, t, "auto_closed", data, dec, now)
	}
	return nil
}

// autoClose closes t as of at on the scheduler's behalf and records why.
func (d *Desk) autoClose(ctx context.Context, tx Tx, t *Ticket, at time.Time, reason string) error {
	old := t.Status
	to, err := Transition(old, EventAutoClose)
	if err != nil {
		return err
	}
	d.setStatus(t, to, at)
	t.UpdatedAt = at
	if err := tx.UpdateTicket(ctx, t); err != nil {
		return err
	}
	return d.history(ctx, tx, t, at, "scheduler", "status", string(old), string(to), reason, 0)
}

// FormatDays prints a duration in whole days when it is one ("7 days").
func FormatDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

// toAgents sends a notification about t to its assignee, or every agent.
func (d *Desk) toAgents(ctx context.Context, tx Tx, t *Ticket, tmpl string, data templates.Data, dec *Decision, now time.Time) error {
	for _, a := range d.agentsFor(t, "") {
		data.Recipient = a.Name
		n := notice{template: tmpl, ticket: t, to: mailbox.Address{Name: a.Name, Addr: a.Address}, agent: a,
			autoSubmitted: "auto-generated", data: data}
		if err := d.queue(ctx, tx, n, dec, now); err != nil {
			return err
		}
	}
	return nil
}

// toRequester sends an automatic notification about t to its requester.
func (d *Desk) toRequester(ctx context.Context, tx Tx, t *Ticket, tmpl string, data templates.Data, dec *Decision, now time.Time) error {
	n := notice{template: tmpl, ticket: t, to: mailbox.Address{Name: t.RequesterName, Addr: t.Requester},
		automatic: true, autoSubmitted: "auto-generated", data: data}
	return d.queue(ctx, tx, n, dec, now)
}

// Digest sends each agent the daily digest of open tickets: counts by
// status and priority, breaches, and the oldest open tickets. It sends at
// most one digest per day (in the desk's time zone), however often it runs.
func (d *Desk) Digest(ctx context.Context, now time.Time) (bool, error) {
	if len(d.Config.Agents) == 0 {
		return false, nil
	}
	zone := d.Config.Zone
	if zone == nil {
		zone = time.UTC
	}
	day := now.In(zone).Format(time.DateOnly)
	sent := false
	var dec Decision
	err := d.Store.Update(ctx, func(tx Tx) error {
		dec = Decision{}
		ok, err := tx.AddJobMark(ctx, "digest", day, now)
		if err != nil || !ok {
			return err
		}
		sent = true
		byStatus, err := tx.CountOpen(ctx, "status")
		if err != nil {
			return err
		}
		byPriority, err := tx.CountOpen(ctx, "priority")
		if err != nil {
			return err
		}
		breached, _, err := tx.FindTickets(ctx, TicketFilter{Breached: true, Open: true, Now: now, Sort: "due", Limit: 20})
		if err != nil {
			return err
		}
		oldest, _, err := tx.FindTickets(ctx, TicketFilter{Open: true, Sort: "created", Limit: 0})
		if err != nil {
			return err
		}
		sort.Slice(oldest, func(i, j int) bool { return oldest[i].CreatedAt.Before(oldest[j].CreatedAt) })
		oldest = oldest[:min(len(oldest), 5)]
		dg := templates.Digest{Date: now}
		for _, s := range Statuses {
			if n := byStatus[string(s)]; n > 0 {
				dg.ByStatus = append(dg.ByStatus, templates.Count{Code: string(s), N: n})
				dg.Open += n
			}
		}
		for _, p := range Priorities {
			if n := byPriority[string(p)]; n > 0 {
				dg.ByPriority = append(dg.ByPriority, templates.Count{Code: string(p), N: n})
			}
		}
		for _, t := range breached {
			dg.Breached = append(dg.Breached, ticketData(t))
		}
		for _, t := range oldest {
			dg.Oldest = append(dg.Oldest, ticketData(t))
		}
		for i := range d.Config.Agents {
			a := &d.Config.Agents[i]
			n := notice{template: "digest", to: mailbox.Address{Name: a.Name, Addr: a.Address}, agent: a,
				autoSubmitted: "auto-generated", data: templates.Data{Digest: dg, Recipient: a.Name}}
			if err := d.queue(ctx, tx, n, &dec, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && sent && d.Queued != nil {
		d.Queued()
	}
	return sent, err
}
