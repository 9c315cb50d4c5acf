package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LoadCheckpoint returns the UIDVALIDITY and last processed UID of an IMAP
// account's mailbox, zeroes when it was never polled. It satisfies the IMAP
// poller's Checkpoints interface.
func (db *DB) LoadCheckpoint(ctx context.Context, account, mailbox string) (uidValidity, lastUID uint32, err error) {
	err = db.reader.QueryRowContext(ctx, `SELECT uid_validity, last_uid FROM checkpoints WHERE account = ? AND mailbox = ?`,
		account, mailbox).Scan(&uidValidity, &lastUID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	} else if err != nil {
		return 0, 0, fmt.Errorf("store: load checkpoint %s/%s: %w", account, mailbox, err)
	}
	return uidValidity, lastUID, nil
}

// SaveCheckpoint records the UIDVALIDITY and last processed UID.
func (db *DB) SaveCheckpoint(ctx context.Context, account, mailbox string, uidValidity, lastUID uint32) error {
	_, err := db.writer.ExecContext(ctx, `INSERT INTO checkpoints (account, mailbox, uid_validity, last_uid, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (account, mailbox) DO UPDATE SET
		uid_validity = excluded.uid_validity, last_uid = excluded.last_uid, updated_at = excluded.updated_at`,
		account, mailbox, uidValidity, lastUID, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("store: save checkpoint %s/%s: %w", account, mailbox, err)
	}
	return nil
}
