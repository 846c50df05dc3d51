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
	"sync"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
)

// RunStore is where runs, their journals and their leases live: the
// SQLite file or a PostgreSQL database.
type RunStore interface {
	runbook.Store
	// Path is the SQLite file ("" for a server): defaults such as the
	// journal's anchor file sit beside it.
	Path() string
	// Name says where the state is, for messages (a server URL without its
	// password).
	Name() string
	// SetFailpoint installs a hook called inside each append's transaction
	// after each entry's row ("insert:<seq>"), for crash tests.
	SetFailpoint(func(string))
	DB() *sql.DB
	Close() error
}

// IsPostgres reports whether a --state value names a PostgreSQL server.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// OpenRuns opens the run store a --state value names: a postgres:// URL or
// a SQLite file ("" for the default).
func OpenRuns(ctx context.Context, dsn string) (RunStore, error) {
	if IsPostgres(dsn) {
		return OpenPostgresRuns(ctx, dsn)
	}
	if dsn == "" {
		dsn = DefaultPath()
	}
	return OpenSQLite(dsn)
}

// runsSQL implements runbook.Store over database/sql, for SQLite and
// PostgreSQL alike. Times of leases are the database's clock, in
// milliseconds, so that holders on different machines agree on expiry.
type runsSQL struct {
	db *sql.DB
	pg bool
	// mu serializes this process's writes to SQLite (one connection);
	// PostgreSQL relies on row locks.
	mu        sync.Mutex
	failpoint func(string)
}

// runsSchema is what the runbook store needs beyond the first migration:
// run leases and entry signatures. It is idempotent, and applied on every
// open, after the versioned migrations.
const leasesTable = `CREATE TABLE IF NOT EXISTS run_leases (
	run_id       TEXT PRIMARY KEY REFERENCES runs(id),
	token        TEXT NOT NULL,
	holder       TEXT NOT NULL,
	host         TEXT NOT NULL,
	pid          BIGINT NOT NULL,
	node         TEXT NOT NULL,
	acquired_at  BIGINT NOT NULL,
	heartbeat_at BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	ttl_ms       BIGINT NOT NULL
)`

// postgresRunsSchema is the runs schema in PostgreSQL's dialect.
var postgresRunsSchema = []string{
	strings.Replace(migrations[0][:strings.Index(migrations[0], "CREATE TABLE journal")], "CREATE TABLE runs", "CREATE TABLE IF NOT EXISTS runs", 1),
	strings.NewReplacer("CREATE TABLE journal", "CREATE TABLE IF NOT EXISTS journal", "seq INTEGER", "seq BIGINT").
		Replace(migrations[0][strings.Index(migrations[0], "CREATE TABLE journal"):]),
	`ALTER TABLE journal ADD COLUMN IF NOT EXISTS sig TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE runs ADD COLUMN IF NOT EXISTS plan_sha256 TEXT`,
	plansIndex,
	leasesTable,
	approvalsTable,
	approvalsAttestation,
}

// plansIndex makes a plan applicable once (older runs have no hash).
const plansIndex = `CREATE UNIQUE INDEX IF NOT EXISTS runs_plan_sha256 ON runs(plan_sha256)`

// ensureSQLiteRuns adds leases, entry signatures and plan hashes to a
// SQLite state (inside migrate's transaction).
func ensureSQLiteRuns(tx *sql.Tx) error {
	for _, c := range []struct{ table, column, add string }{
		{"journal", "sig", `ALTER TABLE journal ADD COLUMN sig TEXT NOT NULL DEFAULT ''`},
		{"runs", "plan_sha256", `ALTER TABLE runs ADD COLUMN plan_sha256 TEXT`},
	} {
		has, err := hasColumn(tx, c.table, c.column)
		if err != nil {
			return err
		}
		if !has {
			if _, err := tx.Exec(c.add); err != nil {
				return err
			}
		}
	}
	for _, stmt := range []string{plansIndex, leasesTable, approvalsTable} {
		if _, err := tx.Exec(stmt); err != nil {
			return err
		}
	}
	has, err := hasColumn(tx, "run_approvals", "attestation")
	if err != nil {
		return err
	}
	if !has {
		if _, err := tx.Exec(strings.Replace(approvalsAttestation, " IF NOT EXISTS", "", 1)); err != nil {
			return err
		}
	}
	return nil
}

func hasColumn(tx *sql.Tx, table, column string) (bool, error) {
	rows, err := tx.Query(`PRAGMA table_info(` + table + `)`)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var cid, notnull, pk int
		var name, typ string
		var def sql.NullString
		if err := rows.Scan(&cid, &name, &typ, &notnull, &def, &pk); err != nil {
			return false, err
		}
		found = found || name == column
	}
	return found, rows.Err()
}

// q rewrites ? placeholders to PostgreSQL's $n.
func (s *runsSQL) q(query string) string {
	if !s.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// now is the database's clock in milliseconds since the epoch.
func (s *runsSQL) now() string {
	if s.pg {
		return `(extract(epoch from now()) * 1000)::bigint`
	}
	return `CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)`
}

func (s *runsSQL) forUpdate() string {
	if s.pg {
		return " FOR UPDATE"
	}
	return ""
}

func (s *runsSQL) lock() func() {
	if s.pg {
		return func() {}
	}
	s.mu.Lock()
	return s.mu.Unlock
}

func (s *runsSQL) SetFailpoint(f func(string)) { s.failpoint = f }

func (s *runsSQL) DB() *sql.DB { return s.db }

const ts = time.RFC3339Nano

func nullable(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

// CreateRun implements runbook.Store.
func (s *runsSQL) CreateRun(ctx context.Context, r *runbook.Run, l *runbook.Lease, first *runbook.Entry) error {
	defer s.lock()()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	sum := sha256.Sum256(r.Plan)
	planHash := hex.EncodeToString(sum[:])
	applied := func() error {
		var id string
		err := s.db.QueryRowContext(ctx, s.q(`SELECT id FROM runs WHERE plan_sha256 = ?`), planHash).Scan(&id)
		if err == nil {
			return &runbook.PlanAppliedError{RunID: id}
		}
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO runs (id, runbook, file, runbook_hash, provider, actor, status, created_at, updated_at, plan, state, plan_sha256)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		r.ID, r.Runbook, r.File, r.Hash, r.Provider, r.Actor, r.Status, r.CreatedAt.UTC().Format(ts), r.UpdatedAt.UTC().Format(ts), string(r.Plan), r.State, planHash); err != nil {
		tx.Rollback()
		if aerr := applied(); aerr != nil {
			return aerr // the unique index: another apply of this plan got there first
		}
		return err
	}
	if err := s.grant(ctx, tx, r.ID, l, false); err != nil {
		return err
	}
	if err := s.insert(ctx, tx, first); err != nil {
		return err
	}
	return tx.Commit()
}

// grant writes a lease row for l; with onlyIfExpired an existing lease is
// replaced only when it has expired. It fills in l's token and times, and
// returns errHeld when the row was not replaced.
func (s *runsSQL) grant(ctx context.Context, tx *sql.Tx, runID string, l *runbook.Lease, onlyIfExpired bool) error {
	token := runbook.NewToken()
	ttl := l.TTL.Milliseconds()
	query := `INSERT INTO run_leases (run_id, token, holder, host, pid, node, acquired_at, heartbeat_at, expires_at, ttl_ms)
		VALUES (?, ?, ?, ?, ?, ?, ` + s.now() + `, ` + s.now() + `, ` + s.now() + ` + ?, ?)`
	if onlyIfExpired {
		query += ` ON CONFLICT (run_id) DO UPDATE SET token = excluded.token, holder = excluded.holder, host = excluded.host, pid = excluded.pid,
			node = excluded.node, acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at, ttl_ms = excluded.ttl_ms
			WHERE run_leases.expires_at <= excluded.acquired_at`
	}
	query += ` RETURNING acquired_at, heartbeat_at, expires_at`
	var acq, hb, exp int64
	err := tx.QueryRowContext(ctx, s.q(query), runID, token, l.Holder.Name, l.Holder.Host, l.Holder.PID, l.Holder.Node, ttl, ttl).Scan(&acq, &hb, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return errHeld
	}
	if err != nil {
		return err
	}
	l.RunID, l.Token = runID, token
	l.AcquiredAt, l.HeartbeatAt, l.ExpiresAt = time.UnixMilli(acq).UTC(), time.UnixMilli(hb).UTC(), time.UnixMilli(exp).UTC()
	return nil
}

var errHeld = errors.New("lease held")

func (s *runsSQL) insert(ctx context.Context, tx *sql.Tx, e *runbook.Entry) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO journal (run_id, seq, kind, step, attempt, args, outputs, error, actor, at, detail, prev_hash, hash, sig)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		e.RunID, e.Seq, e.Kind, e.Step, e.Attempt, nullable(e.Args), nullable(e.Outputs), e.Error, e.Actor, e.At.UTC().Format(ts), nullable(e.Detail), e.Prev, e.Hash, e.Sig)
	return err
}

func scanRun(row interface{ Scan(...any) error }) (*runbook.Run, error) {
	var r runbook.Run
	var created, updated, plan string
	var planSum sql.NullString
	if err := row.Scan(&r.ID, &r.Runbook, &r.File, &r.Hash, &r.Provider, &r.Actor, &r.Status, &created, &updated, &plan, &r.State, &planSum); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, runbook.ErrRunNotFound
		}
		return nil, err
	}
	r.CreatedAt, _ = time.Parse(ts, created)
	r.UpdatedAt, _ = time.Parse(ts, updated)
	r.Plan = json.RawMessage(plan)
	r.PlanSHA256 = planSum.String
	return &r, nil
}

const runColumns = `id, runbook, file, runbook_hash, provider, actor, status, created_at, updated_at, plan, state, plan_sha256`

// GetRun implements runbook.Store.
func (s *runsSQL) GetRun(ctx context.Context, id string) (*runbook.Run, error) {
	return scanRun(s.db.QueryRowContext(ctx, s.q(`SELECT `+runColumns+` FROM runs WHERE id = ?`), id))
}

// ListRuns implements runbook.Store.
func (s *runsSQL) ListRuns(ctx context.Context) ([]*runbook.Run, error) {
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

// Append implements runbook.Store: under the run's lease row (locked in
// PostgreSQL, the whole file in SQLite) it checks the lease and the chain's
// next sequence number, inserts the entries, sets the status and renews
// the lease, in one transaction.
func (s *runsSQL) Append(ctx context.Context, l *runbook.Lease, status string, entries ...*runbook.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	defer s.lock()()
	runID := entries[0].RunID
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var token string
	err = tx.QueryRowContext(ctx, s.q(`SELECT token FROM run_leases WHERE run_id = ?`+s.forUpdate()), runID).Scan(&token)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && token != l.Token) {
		return runbook.ErrLeaseLost
	}
	if err != nil {
		return err
	}
	var last sql.NullInt64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT max(seq) FROM journal WHERE run_id = ?`), runID).Scan(&last); err != nil {
		return err
	}
	for i, e := range entries {
		if e.Seq != last.Int64+1+int64(i) || e.RunID != runID {
			return fmt.Errorf("%w: entry %d of run %s does not follow entry %d", runbook.ErrSeqConflict, e.Seq, e.RunID, last.Int64+int64(i))
		}
	}
	for _, e := range entries {
		if err := s.insert(ctx, tx, e); err != nil {
			return fmt.Errorf("insert entry %d: %w", e.Seq, err)
		}
		if s.failpoint != nil {
			s.failpoint("insert:" + strconv.FormatInt(e.Seq, 10))
		}
	}
	at := entries[len(entries)-1].At.UTC().Format(ts)
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE runs SET updated_at = ?, status = CASE WHEN ? = '' THEN status ELSE ? END WHERE id = ?`), at, status, status, runID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE run_leases SET heartbeat_at = `+s.now()+`, expires_at = `+s.now()+` + ttl_ms WHERE run_id = ? AND token = ?`), runID, l.Token); err != nil {
		return err
	}
	return tx.Commit()
}

// Entries implements runbook.Store.
func (s *runsSQL) Entries(ctx context.Context, runID string) ([]*runbook.Entry, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT run_id, seq, kind, step, attempt, args, outputs, error, actor, at, detail, prev_hash, hash, sig
		FROM journal WHERE run_id = ? ORDER BY seq`), runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*runbook.Entry
	for rows.Next() {
		var e runbook.Entry
		var args, outputs, detail sql.NullString
		var at string
		if err := rows.Scan(&e.RunID, &e.Seq, &e.Kind, &e.Step, &e.Attempt, &args, &outputs, &e.Error, &e.Actor, &at, &detail, &e.Prev, &e.Hash, &e.Sig); err != nil {
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

// AcquireLease implements runbook.Store: one statement that inserts the
// lease, or replaces it only when it has expired by the database's clock;
// concurrent callers serialize on the row, so exactly one wins.
func (s *runsSQL) AcquireLease(ctx context.Context, runID string, h runbook.Holder, ttl time.Duration) (*runbook.Lease, error) {
	defer s.lock()()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var one int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM runs WHERE id = ?`), runID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return nil, runbook.ErrRunNotFound
	} else if err != nil {
		return nil, err
	}
	l := &runbook.Lease{Holder: h, TTL: ttl}
	err = s.grant(ctx, tx, runID, l, true)
	if errors.Is(err, errHeld) {
		// In PostgreSQL the row may also have gone between the upsert and this
		// read (released by its holder): then the caller may simply try again.
		cur, err := s.lease(ctx, tx, runID)
		if err != nil {
			return nil, err
		}
		if cur == nil {
			cur = &runbook.Lease{RunID: runID, Holder: runbook.Holder{Name: "another process, which has just released it"}}
		}
		return nil, &runbook.LeaseHeldError{Lease: cur}
	}
	if err != nil {
		return nil, err
	}
	return l, tx.Commit()
}

// RenewLease implements runbook.Store.
func (s *runsSQL) RenewLease(ctx context.Context, l *runbook.Lease) error {
	defer s.lock()()
	var hb, exp int64
	err := s.db.QueryRowContext(ctx, s.q(`UPDATE run_leases SET heartbeat_at = `+s.now()+`, expires_at = `+s.now()+` + ttl_ms
		WHERE run_id = ? AND token = ? RETURNING heartbeat_at, expires_at`), l.RunID, l.Token).Scan(&hb, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return runbook.ErrLeaseLost
	}
	if err != nil {
		return err
	}
	l.HeartbeatAt, l.ExpiresAt = time.UnixMilli(hb).UTC(), time.UnixMilli(exp).UTC()
	return nil
}

// ReleaseLease implements runbook.Store.
func (s *runsSQL) ReleaseLease(ctx context.Context, l *runbook.Lease) error {
	defer s.lock()()
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM run_leases WHERE run_id = ? AND token = ?`), l.RunID, l.Token)
	return err
}

// BreakLease implements runbook.Store.
func (s *runsSQL) BreakLease(ctx context.Context, runID, token string) (*runbook.Lease, error) {
	defer s.lock()()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	cur, err := s.lease(ctx, tx, runID)
	if err != nil || cur == nil || (token != "" && cur.Token != token) {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM run_leases WHERE run_id = ? AND token = ?`), runID, cur.Token); err != nil {
		return nil, err
	}
	return cur, tx.Commit()
}

// Lease implements runbook.Store.
func (s *runsSQL) Lease(ctx context.Context, runID string) (*runbook.Lease, error) {
	return s.lease(ctx, s.db, runID)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *runsSQL) lease(ctx context.Context, tx querier, runID string) (*runbook.Lease, error) {
	l := &runbook.Lease{RunID: runID}
	var acq, hb, exp, ttl int64
	err := tx.QueryRowContext(ctx, s.q(`SELECT token, holder, host, pid, node, acquired_at, heartbeat_at, expires_at, ttl_ms FROM run_leases WHERE run_id = ?`), runID).
		Scan(&l.Token, &l.Holder.Name, &l.Holder.Host, &l.Holder.PID, &l.Holder.Node, &acq, &hb, &exp, &ttl)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	l.AcquiredAt, l.HeartbeatAt, l.ExpiresAt = time.UnixMilli(acq).UTC(), time.UnixMilli(hb).UTC(), time.UnixMilli(exp).UTC()
	l.TTL = time.Duration(ttl) * time.Millisecond
	return l, nil
}
