package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver

	"github.com/vigil-ir/vigil/engine/runbook"
)

// DefaultPath is where state lives when --state is not given: the user's
// state directory ($XDG_STATE_HOME/vigil/vigil.db, ~/.local/state/...).
func DefaultPath() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "vigil", "vigil.db")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "vigil", "vigil.db")
	}
	return "vigil.db"
}

// SQLite is the embedded store.
type SQLite struct {
	db   *sql.DB
	path string
	mu   sync.Mutex // serializes appends within the process
}

var migrations = []string{
	`CREATE TABLE runs (
		id TEXT PRIMARY KEY,
		runbook TEXT NOT NULL,
		file TEXT NOT NULL,
		runbook_hash TEXT NOT NULL,
		provider TEXT NOT NULL,
		actor TEXT NOT NULL,
		status TEXT NOT NULL,
		created_at TEXT NOT NULL,
		updated_at TEXT NOT NULL,
		plan TEXT NOT NULL,
		state TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE journal (
		run_id TEXT NOT NULL REFERENCES runs(id),
		seq INTEGER NOT NULL,
		kind TEXT NOT NULL,
		step TEXT NOT NULL,
		attempt INTEGER NOT NULL,
		args TEXT,
		outputs TEXT,
		error TEXT NOT NULL,
		actor TEXT NOT NULL,
		at TEXT NOT NULL,
		detail TEXT,
		prev_hash TEXT NOT NULL,
		hash TEXT NOT NULL,
		PRIMARY KEY (run_id, seq)
	);`,
}

// OpenSQLite opens (creating if needed) the state database.
func OpenSQLite(path string) (*SQLite, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create state directory: %w", err)
		}
	}
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; the database is local
	s := &SQLite{db: db, path: path}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	return s, nil
}

// migrate brings the schema up to date. Each step runs in an IMMEDIATE
// transaction that re-reads the version, so two processes opening a new
// state file at once (an apply and a status, say) take turns instead of
// both creating the same tables.
func (s *SQLite) migrate() error {
	all := allMigrations()
	for {
		tx, err := s.db.Begin()
		if err != nil {
			return err
		}
		var v int
		if err := tx.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
			tx.Rollback()
			return err
		}
		if v >= len(all) {
			return tx.Commit()
		}
		if _, err := tx.Exec(all[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
}

// allMigrations lets other files of the package add their tables.
func allMigrations() []string {
	return append(append([]string(nil), migrations...), historyMigrations...)
}

// Path returns the database file.
func (s *SQLite) Path() string { return s.path }

// DB exposes the database for tests that tamper with rows.
func (s *SQLite) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

const ts = time.RFC3339Nano

// CreateRun implements runbook.Journal.
func (s *SQLite) CreateRun(ctx context.Context, r *runbook.Run) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO runs (id, runbook, file, runbook_hash, provider, actor, status, created_at, updated_at, plan, state)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Runbook, r.File, r.Hash, r.Provider, r.Actor, r.Status, r.CreatedAt.UTC().Format(ts), r.UpdatedAt.UTC().Format(ts), string(r.Plan), r.State)
	return err
}

// UpdateRun implements runbook.Journal.
func (s *SQLite) UpdateRun(ctx context.Context, id, status string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET status = ?, updated_at = ? WHERE id = ?`, status, at.UTC().Format(ts), id)
	return notFound(res, err)
}

// SetRunState implements runbook.Journal.
func (s *SQLite) SetRunState(ctx context.Context, id, state string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET state = ? WHERE id = ?`, state, id)
	return notFound(res, err)
}

func notFound(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return runbook.ErrRunNotFound
	}
	return nil
}

func scanRun(row interface{ Scan(...any) error }) (*runbook.Run, error) {
	var r runbook.Run
	var created, updated, plan string
	if err := row.Scan(&r.ID, &r.Runbook, &r.File, &r.Hash, &r.Provider, &r.Actor, &r.Status, &created, &updated, &plan, &r.State); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, runbook.ErrRunNotFound
		}
		return nil, err
	}
	r.CreatedAt, _ = time.Parse(ts, created)
	r.UpdatedAt, _ = time.Parse(ts, updated)
	r.Plan = json.RawMessage(plan)
	return &r, nil
}

const runColumns = `id, runbook, file, runbook_hash, provider, actor, status, created_at, updated_at, plan, state`

// GetRun implements runbook.Journal.
func (s *SQLite) GetRun(ctx context.Context, id string) (*runbook.Run, error) {
	return scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
}

// ListRuns implements runbook.Journal.
func (s *SQLite) ListRuns(ctx context.Context) ([]*runbook.Run, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+runColumns+` FROM runs ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*runbook.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func nullable(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

// Append implements runbook.Journal: in one transaction it reads the run's
// last hash, chains the entry to it and inserts it.
func (s *SQLite) Append(ctx context.Context, e *runbook.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var seq int64
	var prev string
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM journal WHERE run_id = ? ORDER BY seq DESC LIMIT 1`, e.RunID).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	e.Seq, e.Prev = seq+1, prev
	e.At = e.At.UTC()
	e.Hash = e.ComputeHash()
	_, err = tx.ExecContext(ctx, `INSERT INTO journal (run_id, seq, kind, step, attempt, args, outputs, error, actor, at, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.RunID, e.Seq, e.Kind, e.Step, e.Attempt, nullable(e.Args), nullable(e.Outputs), e.Error, e.Actor, e.At.Format(ts), nullable(e.Detail), e.Prev, e.Hash)
	if err != nil {
		return err
	}
	return tx.Commit()
}

// Entries implements runbook.Journal.
func (s *SQLite) Entries(ctx context.Context, runID string) ([]*runbook.Entry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT run_id, seq, kind, step, attempt, args, outputs, error, actor, at, detail, prev_hash, hash
		FROM journal WHERE run_id = ? ORDER BY seq`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*runbook.Entry
	for rows.Next() {
		var e runbook.Entry
		var args, outputs, detail sql.NullString
		var at string
		if err := rows.Scan(&e.RunID, &e.Seq, &e.Kind, &e.Step, &e.Attempt, &args, &outputs, &e.Error, &e.Actor, &at, &detail, &e.Prev, &e.Hash); err != nil {
			return nil, err
		}
		e.At, _ = time.Parse(ts, at)
		if args.Valid {
			e.Args = json.RawMessage(args.String)
		}
		if outputs.Valid {
			e.Outputs = json.RawMessage(outputs.String)
		}
		if detail.Valid {
			e.Detail = json.RawMessage(detail.String)
		}
		out = append(out, &e)
	}
	return out, rows.Err()
}
