package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
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
	ID         int64     `json:"id"`
	Schedule   string    `json:"schedule,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Sources    []string  `json:"sources"`
	// Inputs are the files and live scopes the scan read, sorted, one a
	// name; nil when not known (a scan recorded before history kept
	// them, or one of an in-memory inventory). Scans of other inputs are
	// not compared: what one did not read would show as resolved.
	Inputs     []string       `json:"inputs,omitempty"`
	PolicySet  string         `json:"policy_set"`
	Assets     int            `json:"assets"`
	Findings   int            `json:"findings"`
	Waived     int            `json:"waived"`
	BySeverity map[string]int `json:"by_severity"`
}

// Duration is how long the scan took.
func (s *ScanRecord) Duration() time.Duration { return s.FinishedAt.Sub(s.StartedAt) }

// StoredFinding is a finding as history keeps it. A finding is the same
// finding across scans when its policy, asset and message are; findings
// of one policy on one asset whose messages changed are paired one to one
// (see history.Compare).
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
	// WaiverExpired marks an open finding whose waiver expired before the
	// scan (WaiverReason is that waiver's, WaiverExpires its date).
	WaiverExpired bool   `json:"waiver_expired,omitempty"`
	WaiverExpires string `json:"waiver_expires,omitempty"`
	Runbook       string `json:"runbook,omitempty"`
	// Controls are the framework controls the finding breaks, as its
	// policy's details.controls named them; nil when it did not (a policy
	// of one control, or a finding recorded before history kept them).
	Controls []string `json:"controls,omitempty"`
	// Instance is the VM a finding on another asset is about, as its
	// policy's details.instance named it (a vulnerability report's
	// instance), for the remediation runbook's "instance"; "" when not.
	Instance string `json:"instance,omitempty"`
}

// Fingerprint tells the findings of one policy on one asset apart: a hash
// of the message. A Config Validator constraint, or a vigil policy, may
// find several things wrong with one asset.
func (f *StoredFinding) Fingerprint() string {
	h := sha256.Sum256([]byte(f.Message))
	return hex.EncodeToString(h[:16])
}

// ID identifies the finding across scans.
func (f *StoredFinding) ID() FindingID {
	return FindingID{PolicyID: f.PolicyID, AssetID: f.AssetID, Fingerprint: f.Fingerprint()}
}

// Key is ID as one string.
func (f *StoredFinding) Key() string { return f.ID().String() }

// FindingID identifies a finding across scans: its policy, its asset and
// its message's fingerprint.
type FindingID struct {
	PolicyID, AssetID string
	// Fingerprint is "" for a finding recorded before history told the
	// findings of one policy on one asset apart: one of them, not known
	// which.
	Fingerprint string
}

func (id FindingID) String() string { return id.PolicyID + " " + id.AssetID + " " + id.Fingerprint } // policy ids have no spaces

// Subject is the policy and asset, without the fingerprint.
func (id FindingID) Subject() FindingID { return FindingID{PolicyID: id.PolicyID, AssetID: id.AssetID} }

// History records scans. SQLite (the journal's file) and PostgreSQL
// implement it with the same SQL.
type History interface {
	RecordScan(ctx context.Context, s *ScanRecord, findings []StoredFinding) (int64, error)
	// Scans lists recorded scans, newest first (limit <= 0: all).
	Scans(ctx context.Context, schedule string, limit int) ([]*ScanRecord, error)
	Scan(ctx context.Context, id int64) (*ScanRecord, error)
	Findings(ctx context.Context, scanID int64) ([]StoredFinding, error)
	// Notified lists the findings a notifier has announced.
	Notified(ctx context.Context, notifier string) ([]FindingID, error)
	// MarkNotified records findings as announced, and forgets those they
	// replace (the same findings, announced with other messages).
	MarkNotified(ctx context.Context, notifier string, sent, replaced []FindingID) error
	Close() error
}

// ErrNoScans is returned when history holds fewer scans than asked for.
var ErrNoScans = errors.New("no scans recorded yet: run 'vigil scan --history' first")

// UnknownScanError is a scan id the history does not hold (an API answers
// 404 to it).
type UnknownScanError struct{ ID int64 }

func (e *UnknownScanError) Error() string { return fmt.Sprintf("no scan %d in the history", e.ID) }

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

// Version 2 of the history keeps every finding. Version 1 keyed findings by
// (scan, policy, asset) and dropped the second finding of one policy on
// one asset; version 2 adds the message's fingerprint to the key, of
// findings and of what notifiers sent. Rows kept from version 1 were unique
// without it and get "" (see FindingID). Each database is upgraded when it
// is opened, in one transaction, whatever its schema version number: the
// column is what is checked.
const notifiedV2 = `
CREATE TABLE notified_v2 (
	notifier    TEXT NOT NULL,
	policy_id   TEXT NOT NULL,
	asset_id    TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	sent_at     TEXT NOT NULL,
	PRIMARY KEY (notifier, policy_id, asset_id, fingerprint)
);
INSERT INTO notified_v2 (notifier, policy_id, asset_id, fingerprint, sent_at)
	SELECT notifier, POLICY, ASSET, '', sent_at FROM notified WHERE FOUND > 0;
DROP TABLE notified;
ALTER TABLE notified_v2 RENAME TO notified;
`

// SQLite cannot change a primary key: the table is made anew.
var sqliteHistoryV2 = `
CREATE TABLE scan_findings_v2 (
	scan_id       INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
	policy_id     TEXT NOT NULL,
	asset_id      TEXT NOT NULL,
	fingerprint   TEXT NOT NULL,
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
	PRIMARY KEY (scan_id, policy_id, asset_id, fingerprint)
);
INSERT INTO scan_findings_v2 (scan_id, policy_id, asset_id, fingerprint, severity, title, message, kind, provider, scope, region, phase, waived, waiver_reason, runbook)
	SELECT scan_id, policy_id, asset_id, '', severity, title, message, kind, provider, scope, region, phase, waived, waiver_reason, runbook FROM scan_findings;
DROP TABLE scan_findings;
ALTER TABLE scan_findings_v2 RENAME TO scan_findings;
` + strings.NewReplacer("POLICY", "substr(finding, 1, instr(finding, ' ') - 1)", "ASSET", "substr(finding, instr(finding, ' ') + 1)",
	"FOUND", "instr(finding, ' ')").Replace(notifiedV2)

var postgresHistoryV2 = `
ALTER TABLE scan_findings ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE scan_findings DROP CONSTRAINT scan_findings_pkey;
ALTER TABLE scan_findings ADD PRIMARY KEY (scan_id, policy_id, asset_id, fingerprint);
` + strings.NewReplacer("POLICY", "split_part(finding, ' ', 1)", "ASSET", "substr(finding, strpos(finding, ' ') + 1)",
	"FOUND", "strpos(finding, ' ')").Replace(notifiedV2)

// Version 3 keeps, for a finding whose waiver expired, that it did and
// when: the report lists expired waivers and what they used to cover.
// Adding columns is the same SQL in both dialects.
const historyV3 = `
ALTER TABLE scan_findings ADD COLUMN waiver_expired INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scan_findings ADD COLUMN waiver_expires TEXT NOT NULL DEFAULT '';
`

// Version 4 keeps the controls a finding breaks (details.controls), which
// the compliance tables of the HTML report read; rows recorded before have
// ” (not known).
const historyV4 = `ALTER TABLE scan_findings ADD COLUMN controls TEXT NOT NULL DEFAULT '';`

// Version 5 keeps the inputs each scan read (ScanRecord.Inputs, as a JSON
// array), which diff and the trend compare; scans recorded before have ”
// (not known).
const historyV5 = `ALTER TABLE scans ADD COLUMN inputs TEXT NOT NULL DEFAULT '';`

// Version 6 keeps the instance a finding is about (StoredFinding.Instance),
// which the report's remediation commands fill "instance" from; rows
// recorded before have ” (the report says to set it by hand).
const historyV6 = `ALTER TABLE scan_findings ADD COLUMN instance TEXT NOT NULL DEFAULT '';`

// historyUpgrade is one step of the history's schema, in order: a step is
// done when its column exists (each database is checked, whatever its
// schema version number says).
type historyUpgrade struct {
	table, column, what string
	sqlite, postgr      string
}

var historyUpgrades = []historyUpgrade{
	{"scan_findings", "fingerprint", "keep every finding", sqliteHistoryV2, postgresHistoryV2},
	{"scan_findings", "waiver_expired", "keep expired waivers", historyV3, historyV3},
	{"scan_findings", "controls", "keep the controls findings break", historyV4, historyV4},
	{"scans", "inputs", "keep the inputs each scan read", historyV5, historyV5},
	{"scan_findings", "instance", "keep the instance findings are about", historyV6, historyV6},
}

// upgrade brings a history to the latest version, step by step in order;
// tx holds the lock that keeps two processes from both doing it.
func (h *sqlHistory) upgrade(ctx context.Context, tx *sql.Tx) error {
	for _, u := range historyUpgrades {
		q, script := `SELECT COUNT(*) FROM pragma_table_info('`+u.table+`') WHERE name = '`+u.column+`'`, u.sqlite
		if h.pg {
			q, script = `SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '`+u.table+`' AND column_name = '`+u.column+`'`, u.postgr
		}
		var n int
		if err := tx.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return fmt.Errorf("read the history schema: %w", err)
		}
		if n > 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, script); err != nil {
			return fmt.Errorf("upgrade the history to %s: %w", u.what, err)
		}
	}
	return nil
}

// sqlHistory implements History over database/sql.
type sqlHistory struct {
	db    *sql.DB
	pg    bool
	close func() error
	// path is the SQLite file ("" for PostgreSQL).
	path string
}

// History returns the scan history kept in the journal's SQLite file.
func (s *SQLite) History() History { return &sqlHistory{db: s.db, close: s.Close, path: s.path} }

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
	h := s.History().(*sqlHistory)
	tx, err := h.db.BeginTx(ctx, nil) // IMMEDIATE: one process upgrades
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open history %s: %w", dsn, err)
	}
	defer tx.Rollback()
	if err := h.upgrade(ctx, tx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open history %s: %w", dsn, err)
	}
	if err := tx.Commit(); err != nil {
		s.Close()
		return nil, fmt.Errorf("open history %s: %w", dsn, err)
	}
	return h, nil
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
	if err := h.upgrade(ctx, tx); err != nil {
		return err
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
	inputs := "" // not known
	if s.Inputs != nil {
		b, _ := json.Marshal(s.Inputs)
		inputs = string(b)
	}
	var id int64
	err := tx.QueryRowContext(ctx, h.q(`INSERT INTO scans (schedule, started_at, finished_at, sources, policy_set, assets, findings, waived, by_severity, inputs)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		s.Schedule, s.StartedAt.UTC().Format(ts), s.FinishedAt.UTC().Format(ts), string(sources), s.PolicySet, s.Assets, s.Findings, s.Waived, string(sev), inputs).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record scan: %w", err)
	}
	// Every finding is stored: two with the same policy, asset and message
	// are one finding given twice, an error rather than one dropped.
	stmt, err := tx.PrepareContext(ctx, h.q(`INSERT INTO scan_findings (scan_id, policy_id, asset_id, fingerprint, severity, title, message, kind, provider, scope, region, phase, waived, waiver_reason, runbook, waiver_expired, waiver_expires, controls, instance)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`))
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	for _, f := range findings {
		if _, err := stmt.ExecContext(ctx, id, f.PolicyID, f.AssetID, f.Fingerprint(), f.Severity, f.Title, f.Message, f.Kind, f.Provider, f.Scope, f.Region, f.Phase,
			b2i(f.Waived), f.WaiverReason, f.Runbook, b2i(f.WaiverExpired), f.WaiverExpires, controlsText(f.Controls), f.Instance); err != nil {
			return 0, fmt.Errorf("record finding %s %s %q: %w", f.PolicyID, f.AssetID, f.Message, err)
		}
	}
	return id, nil
}

const scanCols = `id, schedule, started_at, finished_at, sources, policy_set, assets, findings, waived, by_severity, inputs`

func scanRow(row interface{ Scan(...any) error }) (*ScanRecord, error) {
	var s ScanRecord
	var started, finished, sources, sev, inputs string
	if err := row.Scan(&s.ID, &s.Schedule, &started, &finished, &sources, &s.PolicySet, &s.Assets, &s.Findings, &s.Waived, &sev, &inputs); err != nil {
		return nil, err
	}
	if inputs != "" {
		if err := json.Unmarshal([]byte(inputs), &s.Inputs); err != nil {
			return nil, fmt.Errorf("scan %d: its inputs: %w", s.ID, err)
		}
		if s.Inputs == nil {
			s.Inputs = []string{} // known: none
		}
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
		return nil, &UnknownScanError{ID: id}
	}
	return s, err
}

func (h *sqlHistory) Findings(ctx context.Context, scanID int64) ([]StoredFinding, error) {
	rows, err := h.db.QueryContext(ctx, h.q(`SELECT policy_id, asset_id, severity, title, message, kind, provider, scope, region, phase, waived, waiver_reason, runbook, waiver_expired, waiver_expires, controls, instance
		FROM scan_findings WHERE scan_id = ? ORDER BY policy_id, asset_id, message`), scanID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredFinding
	for rows.Next() {
		var f StoredFinding
		var waived, expired int
		var controls string
		if err := rows.Scan(&f.PolicyID, &f.AssetID, &f.Severity, &f.Title, &f.Message, &f.Kind, &f.Provider, &f.Scope, &f.Region, &f.Phase, &waived, &f.WaiverReason, &f.Runbook,
			&expired, &f.WaiverExpires, &controls, &f.Instance); err != nil {
			return nil, err
		}
		f.Waived, f.WaiverExpired = waived != 0, expired != 0
		f.Controls = controlsOf(controls)
		out = append(out, f)
	}
	return out, rows.Err()
}

// Notified reads the notifier's sent findings in one query: a scan may
// hold hundreds of thousands of findings, one query each would not do.
func (h *sqlHistory) Notified(ctx context.Context, notifier string) ([]FindingID, error) {
	rows, err := h.db.QueryContext(ctx, h.q(`SELECT policy_id, asset_id, fingerprint FROM notified WHERE notifier = ? ORDER BY policy_id, asset_id, fingerprint`), notifier)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FindingID
	for rows.Next() {
		var id FindingID
		if err := rows.Scan(&id.PolicyID, &id.AssetID, &id.Fingerprint); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (h *sqlHistory) MarkNotified(ctx context.Context, notifier string, sent, replaced []FindingID) error {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := h.markNotified(ctx, tx, notifier, sent, replaced); err != nil {
		return err
	}
	return tx.Commit()
}

func (h *sqlHistory) markNotified(ctx context.Context, tx *sql.Tx, notifier string, sent, replaced []FindingID) error {
	for _, id := range replaced {
		if _, err := tx.ExecContext(ctx, h.q(`DELETE FROM notified WHERE notifier = ? AND policy_id = ? AND asset_id = ? AND fingerprint = ?`),
			notifier, id.PolicyID, id.AssetID, id.Fingerprint); err != nil {
			return err
		}
	}
	now := time.Now().UTC().Format(ts)
	for _, id := range sent {
		if _, err := tx.ExecContext(ctx, h.q(`INSERT INTO notified (notifier, policy_id, asset_id, fingerprint, sent_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
			notifier, id.PolicyID, id.AssetID, id.Fingerprint, now); err != nil {
			return err
		}
	}
	return nil
}

func (h *sqlHistory) Close() error { return h.close() }

// controlsText stores a finding's controls as a JSON list (” when not
// known, "[]" when it breaks none of its policy's controls).
func controlsText(cs []string) string {
	if cs == nil {
		return ""
	}
	b, _ := json.Marshal(cs)
	return string(b)
}

func controlsOf(s string) []string {
	if s == "" {
		return nil
	}
	out := []string{}
	if json.Unmarshal([]byte(s), &out) != nil {
		return nil
	}
	return out
}
