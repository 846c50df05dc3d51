package store

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite" // the pure-Go SQLite driver
	sqlite3 "modernc.org/sqlite/lib"
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

// SQLite is the embedded store: runs, journals and leases (runbook.Store)
// and, through History, scan history.
type SQLite struct {
	*runsSQL
	db   *sql.DB
	path string
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
	// The state holds journals and provider state: its owner's only. SQLite
	// gives its -wal and -shm files the database file's mode.
	if fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		fh.Close()
	} else if !os.IsExist(err) {
		return nil, fmt.Errorf("create state %s: %w", path, err)
	}
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; the database is local
	s := &SQLite{runsSQL: &runsSQL{db: db}, db: db, path: path}
	// Processes opening a new file together race to switch it to WAL, and
	// SQLite answers that race with SQLITE_BUSY without calling the busy
	// handler: take turns for a while rather than fail the command.
	for delay := 10 * time.Millisecond; ; delay *= 2 {
		err := s.migrate()
		if err == nil {
			return s, nil
		}
		if !isBusy(err) || delay > 2*time.Second {
			db.Close()
			return nil, fmt.Errorf("open state %s: %w", path, err)
		}
		time.Sleep(delay)
	}
}

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED)
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
			if err := ensureSQLiteRuns(tx); err != nil {
				tx.Rollback()
				return fmt.Errorf("add run leases: %w", err)
			}
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

// Name says where the state is.
func (s *SQLite) Name() string { return s.path }

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }
