// Package store keeps helpmail's state in one SQLite file: tickets, every
// message byte for byte, participants, history, the outbox, suppressions,
// IMAP checkpoints and SLA marks. It implements helpmail.Store.
//
// All SQL lives here. There is one write connection (SQLite allows one
// writer; a pool would only queue on the lock) and a small pool of readers;
// WAL lets readers work while the writer commits. Per-connection settings
// (busy_timeout, foreign_keys, synchronous) are in the DSN so that every
// connection has them. Migrations are embedded, numbered .sql files, each
// applied once in its own transaction.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/helpmail/helpmail"
	sqlite3 "github.com/mattn/go-sqlite3"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Synchronous values for Options.Synchronous.
const (
	// SyncFull syncs the WAL on every commit: a message acknowledged with
	// 250 survives a power loss. The default.
	SyncFull = "full"
	// SyncNormal syncs only at checkpoints: faster, survives a process
	// crash, but a power loss may lose the last commits.
	SyncNormal = "normal"
)

// Options configure Open. The zero value is usable.
type Options struct {
	// Synchronous is SyncFull (default) or SyncNormal.
	Synchronous string
	// BusyTimeout is how long a connection waits for a lock; 0 = 10 s.
	BusyTimeout time.Duration
	// Readers is the size of the read pool; 0 = 4.
	Readers int
}

// DB is an open helpmail database.
type DB struct {
	path   string
	writer *sql.DB
	reader *sql.DB
}

var _ helpmail.Store = (*DB)(nil)

// Open opens (creating if needed) the database at path and brings its
// schema up to date.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("store: empty database path")
	}
	sync := strings.ToLower(opts.Synchronous)
	switch sync {
	case "":
		sync = SyncFull
	case SyncFull, SyncNormal:
	default:
		return nil, fmt.Errorf("store: synchronous must be %q or %q, not %q", SyncFull, SyncNormal, opts.Synchronous)
	}
	busy := opts.BusyTimeout
	if busy == 0 {
		busy = 10 * time.Second
	}
	readers := opts.Readers
	if readers <= 0 {
		readers = 4
	}
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(busy.Milliseconds(), 10))
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", strings.ToUpper(sync))
	q.Set("_journal_mode", "WAL")
	wq := cloneValues(q)
	wq.Set("_txlock", "immediate")
	writer, err := sql.Open("sqlite3", "file:"+path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetConnMaxIdleTime(0)
	db := &DB{path: path, writer: writer}
	var mode string
	if err := writer.QueryRowContext(ctx, "PRAGMA journal_mode = wal").Scan(&mode); err != nil {
		writer.Close()
		return nil, fmt.Errorf("store: enable wal on %s: %w", path, err)
	} else if mode != "wal" {
		writer.Close()
		return nil, fmt.Errorf("store: journal mode of %s is %q, want wal", path, mode)
	}
	if err := db.migrate(ctx); err != nil {
		writer.Close()
		return nil, err
	}
	rq := cloneValues(q)
	rq.Del("_journal_mode")
	rq.Set("mode", "ro")
	reader, err := sql.Open("sqlite3", "file:"+path+"?"+rq.Encode())
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("store: open reader %s: %w", path, err)
	}
	reader.SetMaxOpenConns(readers)
	db.reader = reader
	return db, nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Close closes both pools.
func (db *DB) Close() error {
	var errs []error
	if db.reader != nil {
		errs = append(errs, db.reader.Close())
	}
	if db.writer != nil {
		errs = append(errs, db.writer.Close())
	}
	return errors.Join(errs...)
}

// migrate applies, in order, every embedded migration not yet recorded in
// the migrations table, each in its own transaction.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.writer.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: create migrations table: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("store: list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := db.migrateFile(ctx, name); err != nil {
			if strings.Contains(err.Error(), "no such module: fts5") {
				return fmt.Errorf("store: migration %s: %w (build helpmail with -tags sqlite_fts5)", name, err)
			}
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
	}
	return nil
}

func (db *DB) migrateFile(ctx context.Context, name string) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	} else if n > 0 {
		return nil
	}
	body, err := migrationFS.ReadFile(name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES (?, ?)`,
		name, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

// Update runs fn in a write transaction (BEGIN IMMEDIATE, so the write lock
// is taken up front and a busy database waits instead of failing half-way)
// and commits when fn returns nil. A panic in fn rolls back and re-panics.
func (db *DB) Update(ctx context.Context, fn func(helpmail.Tx) error) error {
	return db.run(ctx, db.writer, fn)
}

// UpdateTx is Update for callers inside this module that need the concrete
// *Tx (the CLI's maintenance commands, checkpoints).
func (db *DB) UpdateTx(ctx context.Context, fn func(*Tx) error) error {
	return db.run(ctx, db.writer, func(tx helpmail.Tx) error { return fn(tx.(*Tx)) })
}

// View runs fn in a read-only transaction on the reader pool.
func (db *DB) View(ctx context.Context, fn func(helpmail.Tx) error) error {
	return db.run(ctx, db.reader, fn)
}

// ViewTx is View with the concrete *Tx.
func (db *DB) ViewTx(ctx context.Context, fn func(*Tx) error) error {
	return db.run(ctx, db.reader, func(tx helpmail.Tx) error { return fn(tx.(*Tx)) })
}

func (db *DB) run(ctx context.Context, pool *sql.DB, fn func(helpmail.Tx) error) (err error) {
	stx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			stx.Rollback()
		}
	}()
	if err := fn(&Tx{tx: stx}); err != nil {
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	committed = true
	return nil
}

// Tx is one transaction. It implements helpmail.Tx.
type Tx struct {
	tx *sql.Tx
}

var _ helpmail.Tx = (*Tx)(nil)

// ms converts a time to the stored form: Unix milliseconds, 0 for zero.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS converts a stored time back; 0 is the zero time.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// nullInt stores 0 as NULL (for optional foreign keys).
func nullInt(v int64) sql.NullInt64 { return sql.NullInt64{Int64: v, Valid: v != 0} }

// IsBusy reports whether err is SQLite telling that the database is locked
// or busy: a temporary condition.
func IsBusy(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	return false
}
