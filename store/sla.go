package store

import (
	"context"
	"fmt"
	"time"

	"github.com/helpmail/helpmail"
)

const openStatuses = `('waiting_for_support', 'waiting_for_customer', 'in_backlog', 'planned')`

// dueOpen restricts to open tickets without letting the planner pick the
// status index (the unary + hides the column from it): the SLA queries
// must walk the partial due/warn indexes, which hold only the few tickets
// whose instant has come, not every open ticket.
const dueOpen = ` AND +status IN ` + openStatuses

// FindDue implements helpmail.Tx: the tickets for which a scheduled job of
// that kind is due at now and has not run for the current deadline. The
// queries read only the rows whose SLA instant has come, through partial
// indexes, so a pass over many open tickets stays cheap.
func (tx *Tx) FindDue(ctx context.Context, kind helpmail.DueKind, now, before time.Time, limit int) ([]*helpmail.Ticket, error) {
	var where, order string
	args := []any{}
	notMarked := func(deadlineCol string) string {
		return ` AND NOT EXISTS (SELECT 1 FROM sla_marks m WHERE m.ticket = tickets.number AND m.kind = '` + string(kind) +
			`' AND m.deadline = ` + deadlineCol + `)`
	}
	switch kind {
	case helpmail.DueFirstResponseWarning:
		where = `first_response_at = 0 AND first_response_warn != 0 AND first_response_warn <= ? AND first_response_due > ?
			` + dueOpen + notMarked("first_response_due")
		args, order = append(args, ms(now), ms(now)), "first_response_warn"
	case helpmail.DueFirstResponseBreach:
		where = `first_response_at = 0 AND first_response_due != 0 AND first_response_due <= ?
			` + dueOpen + notMarked("first_response_due")
		args, order = append(args, ms(now)), "first_response_due"
	case helpmail.DueResolutionWarning:
		where = `resolution_warn != 0 AND resolution_warn <= ? AND resolution_due > ?
			` + dueOpen + notMarked("resolution_due")
		args, order = append(args, ms(now), ms(now)), "resolution_warn"
	case helpmail.DueResolutionBreach:
		where = `resolution_due != 0 AND resolution_due <= ?` + dueOpen + notMarked("resolution_due")
		args, order = append(args, ms(now)), "resolution_due"
	case helpmail.DueWaitingReminder:
		where = `status = 'waiting_for_customer' AND status_since <= ?` + notMarked("status_since")
		args, order = append(args, ms(before)), "status_since"
	case helpmail.DueWaitingClose:
		where = `status = 'waiting_for_customer' AND status_since <= ?` + notMarked("status_since")
		args, order = append(args, ms(before)), "status_since"
	case helpmail.DueAutoClose:
		where = `status = 'resolved' AND status_since <= ?` + notMarked("status_since")
		args, order = append(args, ms(before)), "status_since"
	default:
		return nil, fmt.Errorf("find due: unknown kind %q", kind)
	}
	// Ordering by the indexed instant keeps the planner on that index
	// (ordering by number would make it scan the table in rowid order).
	q := `SELECT ` + ticketColumns + ` FROM tickets WHERE merged_into IS NULL AND ` + where + ` ORDER BY ` + order + `, number`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	out, err := tx.queryTickets(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find due %s: %w", kind, err)
	}
	return out, nil
}

// AddMark implements helpmail.Tx: it records that the job kind ran for the
// ticket's deadline, and reports false when it already had.
func (tx *Tx) AddMark(ctx context.Context, ticket int64, kind helpmail.DueKind, deadline, at time.Time) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO sla_marks (ticket, kind, deadline, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, ticket, string(kind), ms(deadline), ms(at))
	if err != nil {
		return false, fmt.Errorf("add mark %s on #%d: %w", kind, ticket, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// AddJobMark implements helpmail.Tx: like AddMark for jobs about no ticket.
func (tx *Tx) AddJobMark(ctx context.Context, kind, key string, at time.Time) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO job_marks (kind, key, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		kind, key, ms(at))
	if err != nil {
		return false, fmt.Errorf("add job mark %s/%s: %w", kind, key, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// CountOpen implements helpmail.Tx: open tickets counted by a column
// ("status" or "priority").
func (tx *Tx) CountOpen(ctx context.Context, by string) (map[string]int, error) {
	if by != "status" && by != "priority" {
		return nil, fmt.Errorf("count open: cannot group by %q", by)
	}
	out, err := tx.countBy(ctx, `SELECT `+by+`, COUNT(*) FROM tickets WHERE merged_into IS NULL AND status IN `+openStatuses+` GROUP BY `+by)
	if err != nil {
		return nil, fmt.Errorf("count open tickets: %w", err)
	}
	return out, nil
}

// CountByStatus counts every ticket by status (for metrics).
func (tx *Tx) CountByStatus(ctx context.Context) (map[string]int, error) {
	out, err := tx.countBy(ctx, `SELECT status, COUNT(*) FROM tickets WHERE merged_into IS NULL GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("count tickets: %w", err)
	}
	return out, nil
}

// countBy runs a "SELECT key, COUNT(*) … GROUP BY key" query into a map.
func (tx *Tx) countBy(ctx context.Context, q string, args ...any) (map[string]int, error) {
	rows, err := tx.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}
