package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
)

// Secret returns the HMAC secret stored under name, generating and storing
// 32 random bytes the first time. A zero-config install thus keeps the
// same secret across restarts, so the reply tokens it handed out stay valid.
func (db *DB) Secret(ctx context.Context, name string) ([]byte, error) {
	var out []byte
	err := db.UpdateTx(ctx, func(tx *Tx) error {
		var v string
		err := tx.tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, "secret:"+name).Scan(&v)
		if err == nil {
			out, err = hex.DecodeString(v)
			return err
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		out = make([]byte, 32)
		if _, err := rand.Read(out); err != nil {
			return err
		}
		_, err = tx.tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)`, "secret:"+name, hex.EncodeToString(out))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: secret %s: %w", name, err)
	}
	return out, nil
}
