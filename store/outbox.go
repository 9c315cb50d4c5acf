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

// CreateOutbox implements helpmail.Tx.
func (tx *Tx) CreateOutbox(ctx context.Context, o *helpmail.OutboxItem) error {
	if o.Status == "" {
		o.Status = helpmail.OutboxQueued
	}
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO outbox (message, ticket, rcpt, template, automatic, status, attempts,
		next_attempt, claimed_until, last_error, created_at, sent_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
		o.Message, nullInt(o.Ticket), helpmail.NormalizeAddress(o.Rcpt), o.Template, o.Automatic, string(o.Status), o.Attempts,
		ms(o.NextAttempt), ms(o.ClaimedUntil), o.LastError, ms(o.CreatedAt), ms(o.SentAt))
	if err != nil {
		return fmt.Errorf("insert outbox: %w", err)
	}
	o.ID, err = res.LastInsertId()
	return err
}

const outboxColumns = `o.id, o.message, COALESCE(o.ticket, 0), o.rcpt, o.template, o.automatic, o.status, o.attempts,
	o.next_attempt, o.claimed_until, o.last_error, o.created_at, o.sent_at, m.message_id, m.subject`

func scanOutbox(s scanner, extra ...any) (*helpmail.OutboxItem, error) {
	var o helpmail.OutboxItem
	var next, claimed, created, sent int64
	dest := []any{&o.ID, &o.Message, &o.Ticket, &o.Rcpt, &o.Template, &o.Automatic, &o.Status, &o.Attempts,
		&next, &claimed, &o.LastError, &created, &sent, &o.MessageID, &o.Subject}
	if err := s.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	o.NextAttempt, o.ClaimedUntil, o.CreatedAt, o.SentAt = fromMS(next), fromMS(claimed), fromMS(created), fromMS(sent)
	return &o, nil
}

// FindOutbox implements helpmail.Tx.
func (tx *Tx) FindOutbox(ctx context.Context, id int64) (*helpmail.OutboxItem, error) {
	var raw []byte
	o, err := scanOutbox(tx.tx.QueryRowContext(ctx, `SELECT `+outboxColumns+`, m.raw FROM outbox o JOIN messages m ON m.id = o.message WHERE o.id = ?`, id), &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, helpmail.Errorf(helpmail.ENOTFOUND, "outbox row %d not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("find outbox %d: %w", id, err)
	}
	o.Raw = raw
	return o, nil
}

// FindOutboxes implements helpmail.Tx.
func (tx *Tx) FindOutboxes(ctx context.Context, f helpmail.OutboxFilter) ([]*helpmail.OutboxItem, error) {
	where, args := []string{"1 = 1"}, []any{}
	if len(f.Status) > 0 {
		where = append(where, "o.status IN ("+strings.TrimSuffix(strings.Repeat("?,", len(f.Status)), ",")+")")
		for _, s := range f.Status {
			args = append(args, string(s))
		}
	}
	if f.Ticket != 0 {
		where, args = append(where, "o.ticket = ?"), append(args, f.Ticket)
	}
	if f.Message != 0 {
		where, args = append(where, "o.message = ?"), append(args, f.Message)
	}
	q := `SELECT ` + outboxColumns + ` FROM outbox o JOIN messages m ON m.id = o.message WHERE ` + strings.Join(where, " AND ") + ` ORDER BY o.id DESC`
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := tx.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find outbox: %w", err)
	}
	defer rows.Close()
	var out []*helpmail.OutboxItem
	for rows.Next() {
		o, err := scanOutbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// UpdateOutbox implements helpmail.Tx.
func (tx *Tx) UpdateOutbox(ctx context.Context, o *helpmail.OutboxItem) error {
	res, err := tx.tx.ExecContext(ctx, `UPDATE outbox SET status = ?, attempts = ?, next_attempt = ?, claimed_until = ?,
		last_error = ?, sent_at = ? WHERE id = ?`,
		string(o.Status), o.Attempts, ms(o.NextAttempt), ms(o.ClaimedUntil), o.LastError, ms(o.SentAt), o.ID)
	if err != nil {
		return fmt.Errorf("update outbox %d: %w", o.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return helpmail.Errorf(helpmail.ENOTFOUND, "outbox row %d not found", o.ID)
	}
	return nil
}

// ClaimOutbox implements helpmail.Tx: it takes up to limit rows that are due
// at now — queued rows whose next attempt has come, and rows left "sending"
// by a process whose claim expired — marks them sending until now+lease,
// and returns them with their bytes.
func (tx *Tx) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*helpmail.OutboxItem, error) {
	rows, err := tx.tx.QueryContext(ctx, `SELECT `+outboxColumns+`, m.raw FROM outbox o JOIN messages m ON m.id = o.message
		WHERE (o.status = 'queued' AND o.next_attempt <= ?) OR (o.status = 'sending' AND o.claimed_until <= ?)
		ORDER BY o.next_attempt, o.id LIMIT ?`, ms(now), ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	var out []*helpmail.OutboxItem
	for rows.Next() {
		var raw []byte
		o, err := scanOutbox(rows, &raw)
		if err != nil {
			rows.Close()
			return nil, err
		}
		o.Raw = raw
		out = append(out, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, o := range out {
		o.Status = helpmail.OutboxSending
		o.ClaimedUntil = now.Add(lease)
		if err := tx.UpdateOutbox(ctx, o); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// NextOutboxDue implements helpmail.Tx: when the earliest queued row (or
// expiring claim) is due; zero when nothing waits.
func (tx *Tx) NextOutboxDue(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	err := tx.tx.QueryRowContext(ctx, `SELECT MIN(t) FROM (
		SELECT MIN(next_attempt) AS t FROM outbox WHERE status = 'queued'
		UNION ALL SELECT MIN(claimed_until) FROM outbox WHERE status = 'sending')`).Scan(&next)
	if err != nil {
		return time.Time{}, fmt.Errorf("next outbox due: %w", err)
	}
	if !next.Valid {
		return time.Time{}, nil
	}
	return time.UnixMilli(next.Int64).UTC(), nil
}

// CountAutomaticSince implements helpmail.Tx.
func (tx *Tx) CountAutomaticSince(ctx context.Context, rcpt string, since time.Time) (int, error) {
	var n int
	err := tx.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE automatic = 1 AND rcpt = ? AND created_at >= ?`,
		helpmail.NormalizeAddress(rcpt), ms(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count automatic mail: %w", err)
	}
	return n, nil
}

// CountQueuedSince implements helpmail.Tx.
func (tx *Tx) CountQueuedSince(ctx context.Context, rcpt string, ticket int64, since time.Time) (int, error) {
	var n int
	err := tx.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE ticket = ? AND rcpt = ? AND created_at >= ?`,
		ticket, helpmail.NormalizeAddress(rcpt), ms(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count queued mail: %w", err)
	}
	return n, nil
}

// Suppressed implements helpmail.Tx.
func (tx *Tx) Suppressed(ctx context.Context, addr string) (string, error) {
	var reason string
	err := tx.tx.QueryRowContext(ctx, `SELECT reason FROM suppressions WHERE address = ?`, helpmail.NormalizeAddress(addr)).Scan(&reason)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("suppression of %s: %w", addr, err)
	}
	return reason, nil
}

// Suppress implements helpmail.Tx.
func (tx *Tx) Suppress(ctx context.Context, addr, reason string, at time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO suppressions (address, reason, created_at) VALUES (?, ?, ?)
		ON CONFLICT (address) DO UPDATE SET reason = excluded.reason, created_at = excluded.created_at`,
		helpmail.NormalizeAddress(addr), reason, ms(at))
	if err != nil {
		return fmt.Errorf("suppress %s: %w", addr, err)
	}
	return nil
}

// Unsuppress implements helpmail.Tx.
func (tx *Tx) Unsuppress(ctx context.Context, addr string) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `DELETE FROM suppressions WHERE address = ?`, helpmail.NormalizeAddress(addr))
	if err != nil {
		return false, fmt.Errorf("unsuppress %s: %w", addr, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Suppression is one address on the suppression list.
type Suppression struct {
	Address   string    `json:"address"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
}

// Suppressions lists the suppression list, newest first.
func (tx *Tx) Suppressions(ctx context.Context) ([]Suppression, error) {
	rows, err := tx.tx.QueryContext(ctx, `SELECT address, reason, created_at FROM suppressions ORDER BY created_at DESC`)
	if err != nil {
		return nil, fmt.Errorf("list suppressions: %w", err)
	}
	defer rows.Close()
	var out []Suppression
	for rows.Next() {
		var s Suppression
		var at int64
		if err := rows.Scan(&s.Address, &s.Reason, &at); err != nil {
			return nil, err
		}
		s.CreatedAt = fromMS(at)
		out = append(out, s)
	}
	return out, rows.Err()
}

// OutboxStats are the outbox figures for metrics.
type OutboxStats struct {
	Waiting       int       // queued or sending
	OldestWaiting time.Time // creation time of the oldest waiting row
	Failed        int       // failed or bounced
}

// OutboxStats counts waiting and failed rows.
func (tx *Tx) OutboxStats(ctx context.Context) (OutboxStats, error) {
	var s OutboxStats
	var oldest sql.NullInt64
	err := tx.tx.QueryRowContext(ctx, `SELECT
		COUNT(*) FILTER (WHERE status IN ('queued', 'sending')),
		MIN(created_at) FILTER (WHERE status IN ('queued', 'sending')),
		COUNT(*) FILTER (WHERE status IN ('failed', 'bounced'))
		FROM outbox`).Scan(&s.Waiting, &oldest, &s.Failed)
	if err != nil {
		return s, fmt.Errorf("outbox stats: %w", err)
	}
	if oldest.Valid {
		s.OldestWaiting = fromMS(oldest.Int64)
	}
	return s, nil
}

// Writable checks that the database accepts a write (for /healthz): it
// takes the write lock and rolls back.
func (db *DB) Writable(ctx context.Context) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: not writable: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO settings (key, value) VALUES ('healthcheck', '1')`); err != nil {
		return fmt.Errorf("store: not writable: %w", err)
	}
	return nil
}
