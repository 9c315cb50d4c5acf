package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/helpmail/helpmail"
)

const ticketColumns = `number, subject, requester, requester_name, organization, assignee,
	status, priority, type, impact, language, reference, address,
	COALESCE(follow_up_of, 0), COALESCE(merged_into, 0), thread_index, root_message_id, last_message_id,
	created_at, updated_at, first_response_at, resolved_at, closed_at, status_since,
	first_response_due, first_response_warn, resolution_due, resolution_warn, resolution_elapsed_ms, resolution_running_since`

type scanner interface{ Scan(dest ...any) error }

func scanTicket(s scanner) (*helpmail.Ticket, error) {
	var t helpmail.Ticket
	if err := scanTicketInto(s, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// scanTicketInto scans ticketColumns (and extra destinations after them).
func scanTicketInto(s scanner, t *helpmail.Ticket, extra ...any) error {
	var created, updated, firstResp, resolved, closed, since, frDue, frWarn, resDue, resWarn, elapsed, running int64
	dest := []any{&t.Number, &t.Subject, &t.Requester, &t.RequesterName, &t.Organization, &t.Assignee,
		&t.Status, &t.Priority, &t.Type, &t.Impact, &t.Language, &t.Reference, &t.Address,
		&t.FollowUpOf, &t.MergedInto, &t.ThreadIndex, &t.RootMessageID, &t.LastMessageID,
		&created, &updated, &firstResp, &resolved, &closed, &since,
		&frDue, &frWarn, &resDue, &resWarn, &elapsed, &running}
	if err := s.Scan(append(dest, extra...)...); err != nil {
		return err
	}
	t.CreatedAt, t.UpdatedAt = fromMS(created), fromMS(updated)
	t.FirstResponseAt, t.ResolvedAt, t.ClosedAt, t.StatusSince = fromMS(firstResp), fromMS(resolved), fromMS(closed), fromMS(since)
	t.FirstResponseDue, t.FirstResponseWarn = fromMS(frDue), fromMS(frWarn)
	t.ResolutionDue, t.ResolutionWarn = fromMS(resDue), fromMS(resWarn)
	t.ResolutionElapsed = time.Duration(elapsed) * time.Millisecond
	t.ResolutionRunningSince = fromMS(running)
	return nil
}

func ticketArgs(t *helpmail.Ticket) []any {
	return []any{t.Subject, t.Requester, t.RequesterName, t.Organization, t.Assignee,
		string(t.Status), string(t.Priority), string(t.Type), string(t.Impact), t.Language, t.Reference, t.Address,
		nullInt(t.FollowUpOf), nullInt(t.MergedInto), t.ThreadIndex, t.RootMessageID, t.LastMessageID,
		ms(t.CreatedAt), ms(t.UpdatedAt), ms(t.FirstResponseAt), ms(t.ResolvedAt), ms(t.ClosedAt), ms(t.StatusSince),
		ms(t.FirstResponseDue), ms(t.FirstResponseWarn), ms(t.ResolutionDue), ms(t.ResolutionWarn),
		t.ResolutionElapsed.Milliseconds(), ms(t.ResolutionRunningSince)}
}

// CreateTicket implements helpmail.Tx.
func (tx *Tx) CreateTicket(ctx context.Context, t *helpmail.Ticket) error {
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO tickets (subject, requester, requester_name, organization, assignee,
		status, priority, type, impact, language, reference, address,
		follow_up_of, merged_into, thread_index, root_message_id, last_message_id,
		created_at, updated_at, first_response_at, resolved_at, closed_at, status_since,
		first_response_due, first_response_warn, resolution_due, resolution_warn, resolution_elapsed_ms, resolution_running_since)
		VALUES (?,?,?,?,?, ?,?,?,?,?,?,?, ?,?,?,?,?, ?,?,?,?,?,?, ?,?,?,?,?,?)`, ticketArgs(t)...)
	if err != nil {
		return fmt.Errorf("insert ticket: %w", err)
	}
	t.Number, err = res.LastInsertId()
	return err
}

// UpdateTicket implements helpmail.Tx.
func (tx *Tx) UpdateTicket(ctx context.Context, t *helpmail.Ticket) error {
	args := append(ticketArgs(t), t.Number)
	res, err := tx.tx.ExecContext(ctx, `UPDATE tickets SET subject=?, requester=?, requester_name=?, organization=?, assignee=?,
		status=?, priority=?, type=?, impact=?, language=?, reference=?, address=?,
		follow_up_of=?, merged_into=?, thread_index=?, root_message_id=?, last_message_id=?,
		created_at=?, updated_at=?, first_response_at=?, resolved_at=?, closed_at=?, status_since=?,
		first_response_due=?, first_response_warn=?, resolution_due=?, resolution_warn=?,
		resolution_elapsed_ms=?, resolution_running_since=?
		WHERE number = ?`, args...)
	if err != nil {
		return fmt.Errorf("update ticket #%d: %w", t.Number, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return helpmail.Errorf(helpmail.ENOTFOUND, "ticket #%d not found", t.Number)
	}
	return nil
}

// FindTicket implements helpmail.Tx.
func (tx *Tx) FindTicket(ctx context.Context, number int64) (*helpmail.Ticket, error) {
	t, err := scanTicket(tx.tx.QueryRowContext(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE number = ?`, number))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, helpmail.Errorf(helpmail.ENOTFOUND, "ticket #%d not found", number)
	} else if err != nil {
		return nil, fmt.Errorf("find ticket #%d: %w", number, err)
	}
	return t, nil
}

// FindTickets implements helpmail.Tx.
func (tx *Tx) FindTickets(ctx context.Context, f helpmail.TicketFilter) ([]*helpmail.Ticket, int, error) {
	where, args := []string{"1 = 1"}, []any{}
	in := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		where = append(where, col+" IN ("+strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",")+")")
		for _, v := range vals {
			args = append(args, v)
		}
	}
	in("status", stringsOf(f.Status))
	in("priority", stringsOf(f.Priority))
	in("type", stringsOf(f.Type))
	if f.Requester != "" {
		where, args = append(where, "requester = ?"), append(args, helpmail.NormalizeAddress(f.Requester))
	}
	if f.Organization != "" {
		where, args = append(where, "organization = ?"), append(args, f.Organization)
	}
	switch f.Assignee {
	case "":
	case "none":
		where = append(where, "assignee = ''")
	default:
		where, args = append(where, "assignee = ?"), append(args, helpmail.NormalizeAddress(f.Assignee))
	}
	if f.Open {
		where = append(where, "status NOT IN ('resolved', 'wont_do', 'closed')")
	}
	if f.Breached {
		now := ms(f.Now)
		where = append(where, "((first_response_due != 0 AND first_response_at = 0 AND first_response_due < ?) OR (resolution_due != 0 AND resolution_due < ?))")
		args = append(args, now, now)
	}
	order := "updated_at DESC, number DESC"
	switch f.Sort {
	case "", "updated":
	case "created":
		order = "created_at DESC, number DESC"
	case "priority":
		order = `CASE priority WHEN 'system_down' THEN 0 WHEN 'critical' THEN 1 WHEN 'high' THEN 2 WHEN 'medium' THEN 3 ELSE 4 END, updated_at DESC`
	case "due":
		order = `CASE WHEN first_response_at = 0 AND first_response_due != 0 AND (resolution_due = 0 OR first_response_due < resolution_due) THEN first_response_due
			WHEN resolution_due != 0 THEN resolution_due ELSE 9223372036854775807 END, number`
	default:
		return nil, 0, helpmail.Errorf(helpmail.EINVALID, "unknown sort %q (updated, created, priority, due)", f.Sort)
	}
	q := `SELECT ` + ticketColumns + `, COUNT(*) OVER () FROM tickets WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + order
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d OFFSET %d", f.Limit, max(f.Offset, 0))
	}
	rows, err := tx.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("find tickets: %w", err)
	}
	defer rows.Close()
	var out []*helpmail.Ticket
	total := 0
	for rows.Next() {
		var t helpmail.Ticket
		if err := scanTicketInto(rows, &t, &total); err != nil {
			return nil, 0, fmt.Errorf("scan ticket: %w", err)
		}
		out = append(out, &t)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if len(out) == 0 && f.Offset > 0 {
		// A page past the end has no row to carry COUNT(*) OVER (): count apart.
		err := tx.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tickets WHERE `+strings.Join(where, " AND "), args...).Scan(&total)
		if err != nil {
			return nil, 0, fmt.Errorf("count tickets: %w", err)
		}
	}
	return out, total, nil
}

func stringsOf[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// Participants implements helpmail.Tx.
func (tx *Tx) Participants(ctx context.Context, ticket int64) ([]helpmail.Participant, error) {
	rows, err := tx.tx.QueryContext(ctx, `SELECT address, name, role, added_by, added_at FROM participants
		WHERE ticket = ? ORDER BY added_at, address`, ticket)
	if err != nil {
		return nil, fmt.Errorf("participants of #%d: %w", ticket, err)
	}
	defer rows.Close()
	var out []helpmail.Participant
	for rows.Next() {
		p := helpmail.Participant{Ticket: ticket}
		var at int64
		if err := rows.Scan(&p.Address, &p.Name, &p.Role, &p.AddedBy, &at); err != nil {
			return nil, err
		}
		p.AddedAt = fromMS(at)
		out = append(out, p)
	}
	return out, rows.Err()
}

// AddParticipant implements helpmail.Tx.
func (tx *Tx) AddParticipant(ctx context.Context, p helpmail.Participant) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO participants (ticket, address, name, role, added_by, added_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ticket, address) DO NOTHING`,
		p.Ticket, helpmail.NormalizeAddress(p.Address), p.Name, string(p.Role), p.AddedBy, ms(p.AddedAt))
	if err != nil {
		return false, fmt.Errorf("add participant to #%d: %w", p.Ticket, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// RemoveParticipant implements helpmail.Tx. The requester cannot be removed.
func (tx *Tx) RemoveParticipant(ctx context.Context, ticket int64, addr string) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `DELETE FROM participants WHERE ticket = ? AND address = ? AND role != 'requester'`,
		ticket, helpmail.NormalizeAddress(addr))
	if err != nil {
		return false, fmt.Errorf("remove participant from #%d: %w", ticket, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// TicketsOf implements helpmail.Tx.
func (tx *Tx) TicketsOf(ctx context.Context, addr, org string, limit int) ([]*helpmail.Ticket, error) {
	if limit <= 0 {
		limit = 50
	}
	out, err := tx.queryTickets(ctx, `SELECT `+ticketColumns+` FROM tickets
		WHERE merged_into IS NULL AND (number IN (SELECT ticket FROM participants WHERE address = ?) OR (? != '' AND organization = ?))
		ORDER BY updated_at DESC, number DESC LIMIT ?`, helpmail.NormalizeAddress(addr), org, org, limit)
	if err != nil {
		return nil, fmt.Errorf("tickets of %s: %w", addr, err)
	}
	return out, nil
}

// queryTickets runs a query selecting ticketColumns and scans every row.
func (tx *Tx) queryTickets(ctx context.Context, q string, args ...any) ([]*helpmail.Ticket, error) {
	rows, err := tx.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*helpmail.Ticket
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// AddHistory implements helpmail.Tx.
func (tx *Tx) AddHistory(ctx context.Context, h *helpmail.HistoryEntry) error {
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO history (ticket, at, actor, field, old, new, reason, message)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, h.Ticket, ms(h.At), h.Actor, h.Field, h.Old, h.New, h.Reason, nullInt(h.Message))
	if err != nil {
		return fmt.Errorf("add history to #%d: %w", h.Ticket, err)
	}
	h.ID, err = res.LastInsertId()
	return err
}

// History implements helpmail.Tx.
func (tx *Tx) History(ctx context.Context, ticket int64) ([]helpmail.HistoryEntry, error) {
	rows, err := tx.tx.QueryContext(ctx, `SELECT id, at, actor, field, old, new, reason, COALESCE(message, 0)
		FROM history WHERE ticket = ? ORDER BY id`, ticket)
	if err != nil {
		return nil, fmt.Errorf("history of #%d: %w", ticket, err)
	}
	defer rows.Close()
	var out []helpmail.HistoryEntry
	for rows.Next() {
		h := helpmail.HistoryEntry{Ticket: ticket}
		var at int64
		if err := rows.Scan(&h.ID, &at, &h.Actor, &h.Field, &h.Old, &h.New, &h.Reason, &h.Message); err != nil {
			return nil, err
		}
		h.At = fromMS(at)
		out = append(out, h)
	}
	return out, rows.Err()
}

// MoveTicketData implements helpmail.Tx: the messages of ticket from move
// to ticket to, and its participants join to as collaborators (its
// requester too), unless they already take part.
func (tx *Tx) MoveTicketData(ctx context.Context, from, to int64) error {
	if _, err := tx.tx.ExecContext(ctx, `UPDATE messages SET ticket = ? WHERE ticket = ?`, to, from); err != nil {
		return fmt.Errorf("move messages of #%d: %w", from, err)
	}
	if _, err := tx.tx.ExecContext(ctx, `INSERT INTO participants (ticket, address, name, role, added_by, added_at)
		SELECT ?, address, name, 'collaborator', added_by, added_at FROM participants WHERE ticket = ?
		ON CONFLICT (ticket, address) DO NOTHING`, to, from); err != nil {
		return fmt.Errorf("move participants of #%d: %w", from, err)
	}
	return nil
}
