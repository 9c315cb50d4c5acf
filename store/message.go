package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/helpmail/helpmail"
)

// CreateMessage implements helpmail.Tx: the message row, its attachments and
// their contents (once per SHA-256) in the caller's transaction.
func (tx *Tx) CreateMessage(ctx context.Context, m *helpmail.Message) error {
	envTo, _ := json.Marshal(nonNil(m.EnvelopeTo))
	to, _ := json.Marshal(nonNil(m.To))
	cc, _ := json.Marshal(nonNil(m.Cc))
	decision, err := json.Marshal(m.Decision)
	if err != nil {
		return fmt.Errorf("encode decision: %w", err)
	}
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO messages (ticket, direction, kind, message_id, raw_sha256, content_sha256, raw,
		source, envelope_from, envelope_to, remote_addr, from_addr, from_name, to_addrs, cc_addrs, subject, date, text, decision, created_at)
		VALUES (?,?,?,?,?,?,?, ?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		nullInt(m.Ticket), string(m.Direction), string(m.Kind), m.MessageID, m.RawSHA256, m.ContentSHA256, m.Raw,
		m.Source, m.EnvelopeFrom, string(envTo), m.RemoteAddr, m.From, m.FromName, string(to), string(cc),
		m.Subject, ms(m.Date), m.Text, string(decision), ms(m.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert message: %w", err)
	}
	if m.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	for i, a := range m.Attachments {
		var sha sql.NullString
		if a.Refused == "" && a.SHA256 != "" {
			if _, err := tx.tx.ExecContext(ctx, `INSERT INTO blobs (sha256, size, data) VALUES (?, ?, ?)
				ON CONFLICT (sha256) DO NOTHING`, a.SHA256, len(a.Data), a.Data); err != nil {
				return fmt.Errorf("insert blob: %w", err)
			}
			sha = sql.NullString{String: a.SHA256, Valid: true}
		}
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO attachments (message, position, filename, content_type, size, sha256, inline, content_id, refused)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, m.ID, i, a.Filename, a.ContentType, a.Size, sha, a.Inline, a.ContentID, a.Refused); err != nil {
			return fmt.Errorf("insert attachment: %w", err)
		}
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// FindDuplicate implements helpmail.Tx.
func (tx *Tx) FindDuplicate(ctx context.Context, rawSHA, messageID, contentSHA string) (int64, error) {
	var id int64
	err := tx.tx.QueryRowContext(ctx, `SELECT id FROM messages WHERE raw_sha256 = ? AND direction = 'in' LIMIT 1`, rawSHA).Scan(&id)
	if err == nil {
		return id, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("find duplicate: %w", err)
	}
	if messageID == "" || contentSHA == "" {
		return 0, nil
	}
	err = tx.tx.QueryRowContext(ctx, `SELECT id FROM messages WHERE message_id = ? AND message_id != '' AND content_sha256 = ? AND direction = 'in' LIMIT 1`,
		messageID, contentSHA).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("find duplicate: %w", err)
	}
	return id, nil
}

const messageColumns = `id, COALESCE(ticket, 0), direction, kind, message_id, raw_sha256, content_sha256,
	source, envelope_from, envelope_to, remote_addr, from_addr, from_name, to_addrs, cc_addrs, subject, date, text, decision, created_at`

func scanMessage(s scanner, extra ...any) (*helpmail.Message, error) {
	var m helpmail.Message
	var envTo, to, cc, decision string
	var date, created int64
	dest := []any{&m.ID, &m.Ticket, &m.Direction, &m.Kind, &m.MessageID, &m.RawSHA256, &m.ContentSHA256,
		&m.Source, &m.EnvelopeFrom, &envTo, &m.RemoteAddr, &m.From, &m.FromName, &to, &cc, &m.Subject, &date, &m.Text, &decision, &created}
	if err := s.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	m.Date, m.CreatedAt = fromMS(date), fromMS(created)
	_ = json.Unmarshal([]byte(envTo), &m.EnvelopeTo)
	_ = json.Unmarshal([]byte(to), &m.To)
	_ = json.Unmarshal([]byte(cc), &m.Cc)
	_ = json.Unmarshal([]byte(decision), &m.Decision)
	return &m, nil
}

// FindMessage implements helpmail.Tx.
func (tx *Tx) FindMessage(ctx context.Context, id int64) (*helpmail.Message, error) {
	var raw []byte
	m, err := scanMessage(tx.tx.QueryRowContext(ctx, `SELECT `+messageColumns+`, raw FROM messages WHERE id = ?`, id), &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, helpmail.Errorf(helpmail.ENOTFOUND, "message %d not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("find message %d: %w", id, err)
	}
	m.Raw = raw
	if err := tx.loadAttachments(ctx, []*helpmail.Message{m}); err != nil {
		return nil, err
	}
	return m, nil
}

// FindMessages implements helpmail.Tx.
func (tx *Tx) FindMessages(ctx context.Context, ticket int64) ([]*helpmail.Message, error) {
	return tx.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages WHERE ticket = ? ORDER BY id`, ticket)
}

// Unthreaded returns the inbound messages stored on no ticket, newest
// first, at most limit.
func (tx *Tx) Unthreaded(ctx context.Context, limit int) ([]*helpmail.Message, error) {
	if limit <= 0 {
		limit = 50
	}
	return tx.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages WHERE ticket IS NULL AND direction = 'in'
		ORDER BY id DESC LIMIT ?`, limit)
}

// FindMessagesByMessageID implements helpmail.Tx.
func (tx *Tx) FindMessagesByMessageID(ctx context.Context, messageID string) ([]*helpmail.Message, error) {
	return tx.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages WHERE message_id = ? AND message_id != '' ORDER BY id DESC`, messageID)
}

func (tx *Tx) queryMessages(ctx context.Context, q string, args ...any) ([]*helpmail.Message, error) {
	rows, err := tx.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find messages: %w", err)
	}
	defer rows.Close()
	var out []*helpmail.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("scan message: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, tx.loadAttachments(ctx, out)
}

func (tx *Tx) loadAttachments(ctx context.Context, msgs []*helpmail.Message) error {
	for _, m := range msgs {
		rows, err := tx.tx.QueryContext(ctx, `SELECT filename, content_type, size, COALESCE(sha256, ''), inline, content_id, refused
			FROM attachments WHERE message = ? ORDER BY position`, m.ID)
		if err != nil {
			return fmt.Errorf("attachments of message %d: %w", m.ID, err)
		}
		m.Attachments = []helpmail.Attachment{}
		for rows.Next() {
			var a helpmail.Attachment
			if err := rows.Scan(&a.Filename, &a.ContentType, &a.Size, &a.SHA256, &a.Inline, &a.ContentID, &a.Refused); err != nil {
				rows.Close()
				return err
			}
			m.Attachments = append(m.Attachments, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// Blob returns the stored content of an attachment by SHA-256.
func (tx *Tx) Blob(ctx context.Context, sha string) ([]byte, error) {
	var data []byte
	err := tx.tx.QueryRowContext(ctx, `SELECT data FROM blobs WHERE sha256 = ?`, sha).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, helpmail.Errorf(helpmail.ENOTFOUND, "no stored file %s", sha)
	}
	return data, err
}

// TicketByMessageID implements helpmail.Tx.
func (tx *Tx) TicketByMessageID(ctx context.Context, messageID string) (int64, error) {
	if messageID == "" {
		return 0, nil
	}
	var n int64
	err := tx.tx.QueryRowContext(ctx, `SELECT ticket FROM messages WHERE message_id = ? AND message_id != '' AND ticket IS NOT NULL ORDER BY id DESC LIMIT 1`,
		messageID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("ticket by message id: %w", err)
	}
	return n, nil
}

// UpdateMessageDecision implements helpmail.Tx.
func (tx *Tx) UpdateMessageDecision(ctx context.Context, id int64, d helpmail.Decision) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = tx.tx.ExecContext(ctx, `UPDATE messages SET decision = ? WHERE id = ?`, string(b), id)
	return err
}
