package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the PostgreSQL driver, as database/sql "pgx"
)

// ScanRecord is one recorded scan.
type ScanRecord struct {
	ID         int64          `json:"id"`
	Schedule   string         `json:"schedule,omitempty"`
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt time.Time      `json:"finished_at"`
	Sources    []string       `json:"sources"`
	PolicySet  string         `json:"policy_set"`
	Assets     int            `json:"assets"`
	Findings   int            `json:"findings"`
	Waived     int            `json:"waived"`
	BySeverity map[string]int `json:"by_severity"`
}

// Duration is how long the scan took.
func (s *ScanRecord) Duration() time.Duration { return s.FinishedAt.Sub(s.StartedAt) }

// StoredFinding is a finding as history keeps it. A finding is the same
// finding across scans when its policy and asset are.
type StoredFinding struct {
	PolicyID     string `json:"policy_id"`
	AssetID      string `json:"asset_id"`
	Severity     string `json:"severity"`
	Title        string `json:"title"`
	Message      string `json:"message"`
	Kind         string `json:"kind"`
	Provider     string `json:"provider"`
	Scope        string `json:"scope"`
	Region       string `json:"region"`
	Phase        string `json:"phase,omitempty"`
	Waived       bool   `json:"waived"`
	WaiverReason string `json:"waiver_reason,omitempty"`
	Runbook      string `json:"runbook,omitempty"`
}

// Key identifies a finding across scans.
func (f *StoredFinding) Key() string { return f.PolicyID + " " + f.AssetID } // policy ids have no spaces

// History records scans. SQLite (the journal's file) and PostgreSQL
// implement it with the same SQL.
type History interface {
	RecordScan(ctx context.Context, s *ScanRecord, findings []StoredFinding) (int64, error)
	// Scans lists recorded scans, newest first (limit <= 0: all).
	Scans(ctx context.Context, schedule string, limit int) ([]*ScanRecord, error)
	Scan(ctx context.Context, id int64) (*ScanRecord, error)
	Findings(ctx context.Context, scanID int64) ([]StoredFinding, error)
	// Unnotified returns which of keys a notifier has not sent yet.
	Unnotified(ctx context.Context, notifier string, keys []string) ([]string, error)
	MarkNotified(ctx context.Context, notifier string, keys []string) error
	Close() error
}

// ErrNoScans is returned when history holds fewer scans than asked for.
var ErrNoScans = errors.New("no scans recorded yet: run 'vigil scan --store' first")

var historyMigrations = []string{`
CREATE TABLE scans (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	schedule    TEXT NOT NULL DEFAULT '',
	started_at  TEXT NOT NULL,
	finished_at TEXT NOT NULL,
	sources     TEXT NOT NULL,
	policy_set  TEXT NOT NULL,
	assets      INTEGER NOT NULL,
	findings    INTEGER NOT NULL,
	waived      INTEGER NOT NULL,
	by_severity TEXT NOT NULL
);
CREATE TABLE scan_findings (
	scan_id       INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
	policy_id     TEXT NOT NULL,
	asset_id      TEXT NOT NULL,
	severity      TEXT NOT NULL,
	title         TEXT NOT NULL,
	message       TEXT NOT NULL,
	kind          TEXT NOT NULL,
	provider      TEXT NOT NULL,
	scope         TEXT NOT NULL,
	region        TEXT NOT NULL,
	phase         TEXT NOT NULL,
	waived        INTEGER NOT NULL,
	waiver_reason TEXT NOT NULL,
	runbook       TEXT NOT NULL,
	PRIMARY KEY (scan_id, policy_id, asset_id)
);
CREATE TABLE notified (
	notifier  TEXT NOT NULL,
	finding   TEXT NOT NULL,
	sent_at   TEXT NOT NULL,
	PRIMARY KEY (notifier, finding)
);
CREATE INDEX scans_schedule ON scans(schedule, id);
`}

// postgresSchema is the same schema in PostgreSQL's dialect.
var postgresSchema = strings.NewReplacer("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY", "scan_id       INTEGER", "scan_id       BIGINT").Replace(historyMigrations[0])

// sqlHistory implements History over database/sql.
type sqlHistory struct {
	db    *sql.DB
	pg    bool
	close func() error
}

// History returns the scan history kept in the journal's SQLite file.
func (s *SQLite) History() History { return &sqlHistory{db: s.db, close: s.Close} }

// OpenHistory opens a history: a postgres:// (or postgresql://) URL, or
// the path of a SQLite file ("" for the default).
func OpenHistory(ctx context.Context, dsn string) (History, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return OpenPostgres(ctx, dsn)
	}
	if dsn == "" {
		dsn = DefaultPath()
	}
	s, err := OpenSQLite(dsn)
	if err != nil {
		return nil, err
	}
	return s.History(), nil
}

// OpenPostgres connects to PostgreSQL and creates the tables it lacks.
func OpenPostgres(ctx context.Context, url string) (History, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", redactURL(url), err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", redactURL(url), err)
	}
	h := &sqlHistory{db: db, pg: true, close: db.Close}
	if err := h.migratePostgres(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare %s: %w", redactURL(url), err)
	}
	return h, nil
}

func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if at := strings.LastIndex(u, "@"); at > i {
			return u[:i+3] + "***@" + u[at+1:]
		}
	}
	return u
}

// migratePostgres creates the schema once; an advisory lock keeps two
// servers starting together from racing.
func (h *sqlHistory) migratePostgres(ctx context.Context) error {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7319001)`); err != nil {
		return err
	}
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_name = 'scans')`).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := tx.ExecContext(ctx, postgresSchema); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// q rewrites ? placeholders to PostgreSQL's $n.
func (h *sqlHistory) q(s string) string {
	if !h.pg {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// RecordScan stores a scan and its findings in one transaction: a scan is
// recorded whole or not at all.
func (h *sqlHistory) RecordScan(ctx context.Context, s *ScanRecord, findings []StoredFinding) (int64, error) {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	id, err := h.insertScan(ctx, tx, s, findings)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	s.ID = id
	return id, nil
}

// insertScan inserts a scan and its findings in a transaction (watch.go
// records events with their scans in one).
func (h *sqlHistory) insertScan(ctx context.Context, tx *sql.Tx, s *ScanRecord, findings []StoredFinding) (int64, error) {
	sources, _ := json.Marshal(s.Sources)
	sev, _ := json.Marshal(s.BySeverity)
	var id int64
	err := tx.QueryRowContext(ctx, h.q(`INSERT INTO scans (schedule, started_at, finished_at, sources, policy_set, assets, findings, waived, by_severity)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		s.Schedule, s.StartedAt.UTC().Format(ts), s.FinishedAt.UTC().Format(ts), string(sources), s.PolicySet, s.Assets, s.Findings, s.Waived, string(sev)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record scan: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, h.q(`INSERT INTO scan_findings (scan_id, policy_id, asset_id, severity, title, message, kind, provider, scope, region, phase, waived, waiver_reason, runbook)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`))
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	for _, f := range findings {
		if _, err := stmt.ExecContext(ctx, id, f.PolicyID, f.AssetID, f.Severity, f.Title, f.Message, f.Kind, f.Provider, f.Scope, f.Region, f.Phase,
			b2i(f.Waived), f.WaiverReason, f.Runbook); err != nil {
			return 0, fmt.Errorf("record finding %s %s: %w", f.PolicyID, f.AssetID, err)
		}
	}
	return id, nil
}

const scanCols = `id, schedule, started_at, finished_at, sources, policy_set, assets, findings, waived, by_severity`

func scanRow(row interface{ Scan(...any) error }) (*ScanRecord, error) {
	var s ScanRecord
	var started, finished, sources, sev string
	if err := row.Scan(&s.ID, &s.Schedule, &started, &finished, &sources, &s.PolicySet, &s.Assets, &s.Findings, &s.Waived, &sev); err != nil {
		return nil, err
	}
	s.StartedAt, _ = time.Parse(ts, started)
	s.FinishedAt, _ = time.Parse(ts, finished)
	_ = json.Unmarshal([]byte(sources), &s.Sources)
	_ = json.Unmarshal([]byte(sev), &s.BySeverity)
	return &s, nil
}

func (h *sqlHistory) Scans(ctx context.Context, schedule string, limit int) ([]*ScanRecord, error) {
	query := `SELECT ` + scanCols + ` FROM scans`
	var args []any
	if schedule != "" {
		query += ` WHERE schedule = ?`
		args = append(args, schedule)
	}
	query += ` ORDER BY id DESC`
	if limit > 0 {
		query += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := h.db.QueryContext(ctx, h.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ScanRecord
	for rows.Next() {
		s, err := scanRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (h *sqlHistory) Scan(ctx context.Context, id int64) (*ScanRecord, error) {
	s, err := scanRow(h.db.QueryRowContext(ctx, h.q(`SELECT `+scanCols+` FROM scans WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("no scan %d in the history", id)
	}
	return s, err
}

func (h *sqlHistory) Findings(ctx context.Context, scanID int64) ([]StoredFinding, error) {
	rows, err := h.db.QueryContext(ctx, h.q(`SELECT policy_id, asset_id, severity, title, message, kind, provider, scope, region, phase, waived, waiver_reason, runbook
		FROM scan_findings WHERE scan_id = ? ORDER BY policy_id, asset_id`), scanID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredFinding
	for rows.Next() {
		var f StoredFinding
		var waived int
		if err := rows.Scan(&f.PolicyID, &f.AssetID, &f.Severity, &f.Title, &f.Message, &f.Kind, &f.Provider, &f.Scope, &f.Region, &f.Phase, &waived, &f.WaiverReason, &f.Runbook); err != nil {
			return nil, err
		}
		f.Waived = waived != 0
		out = append(out, f)
	}
	return out, rows.Err()
}

// Unnotified reads the notifier's sent findings in one query: a scan may
// hold hundreds of thousands of findings, one query each would not do.
func (h *sqlHistory) Unnotified(ctx context.Context, notifier string, keys []string) ([]string, error) {
	rows, err := h.db.QueryContext(ctx, h.q(`SELECT finding FROM notified WHERE notifier = ?`), notifier)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	sent := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		sent[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		if !sent[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

func (h *sqlHistory) MarkNotified(ctx context.Context, notifier string, keys []string) error {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := time.Now().UTC().Format(ts)
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, h.q(`INSERT INTO notified (notifier, finding, sent_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`), notifier, k, now); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (h *sqlHistory) Close() error { return h.close() }
