package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// AuditEntry is one thing someone did, or tried to do, through vigil
// serve: a sign-in, a run started, a step approved, a request refused.
type AuditEntry struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Subject string    `json:"subject,omitempty"`
	Name    string    `json:"name,omitempty"`
	Role    string    `json:"role,omitempty"`
	// Action is what was done (sign-in, run.start, step.approve, ...), on
	// Target (a run, a step address).
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	// Outcome is ok, refused or error.
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
	Remote  string `json:"remote,omitempty"`
	Method  string `json:"method,omitempty"`
	Path    string `json:"path,omitempty"`
}

// AuditFieldMax bounds each field of an audit row, in bytes: a request's
// path, a target or a detail is the caller's to make long, and the audit
// log must not become the way to fill the database.
const AuditFieldMax = 1024

// Bound cuts each field of e to AuditFieldMax bytes (on a rune boundary),
// with a marker saying how long it was.
func (e *AuditEntry) Bound() {
	for _, f := range []*string{&e.Subject, &e.Name, &e.Role, &e.Action, &e.Target, &e.Outcome, &e.Detail, &e.Remote, &e.Method, &e.Path} {
		*f = boundField(*f)
	}
}

func boundField(s string) string {
	if len(s) <= AuditFieldMax {
		return s
	}
	marker := fmt.Sprintf("…[truncated: %d bytes]", len(s))
	cut := AuditFieldMax - len(marker)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + marker
}

// AuditLog keeps the audit entries beside the history, in the same
// database: every replica writes to one log.
type AuditLog interface {
	Audit(ctx context.Context, e *AuditEntry) error
	// AuditEntries lists entries, newest first (limit <= 0: 100).
	AuditEntries(ctx context.Context, limit int) ([]*AuditEntry, error)
}

const auditSchema = `CREATE TABLE IF NOT EXISTS audit_log (
	id      BIGSERIAL_OR_AUTO,
	at      TEXT NOT NULL,
	subject TEXT NOT NULL,
	name    TEXT NOT NULL,
	role    TEXT NOT NULL,
	action  TEXT NOT NULL,
	target  TEXT NOT NULL,
	outcome TEXT NOT NULL,
	detail  TEXT NOT NULL,
	remote  TEXT NOT NULL,
	method  TEXT NOT NULL,
	path    TEXT NOT NULL
)`

var auditOnce sync.Map // *sql.DB -> error of creating the table

// AuditLogOf returns the audit log kept next to a history, creating its
// table if needed.
func AuditLogOf(ctx context.Context, h History) (AuditLog, error) {
	sh, ok := h.(*sqlHistory)
	if !ok {
		return nil, fmt.Errorf("open audit log: %T keeps no audit log", h)
	}
	if err := sh.ensure(ctx, "audit_log", auditSchema); err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	return sh, nil
}

// ensure creates a table once per database handle, under the advisory
// lock two PostgreSQL servers starting together share.
func (h *sqlHistory) ensure(ctx context.Context, name, schema string) error {
	key := fmt.Sprintf("%p/%s", h.db, name)
	if v, ok := auditOnce.Load(key); ok && v == nil {
		return nil
	}
	auto := "INTEGER PRIMARY KEY AUTOINCREMENT"
	if h.pg {
		auto = "BIGSERIAL PRIMARY KEY"
	}
	schema = replaceAll(schema, "BIGSERIAL_OR_AUTO", auto)
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if h.pg {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7319002)`); err != nil {
			return err
		}
	}
	for _, stmt := range splitSQL(schema) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	auditOnce.Store(key, nil)
	return nil
}

func (h *sqlHistory) Audit(ctx context.Context, e *AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.Bound()
	return h.db.QueryRowContext(ctx, h.q(`INSERT INTO audit_log (at, subject, name, role, action, target, outcome, detail, remote, method, path)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		e.At.UTC().Format(ts), e.Subject, e.Name, e.Role, e.Action, e.Target, e.Outcome, e.Detail, e.Remote, e.Method, e.Path).Scan(&e.ID)
}

func (h *sqlHistory) AuditEntries(ctx context.Context, limit int) ([]*AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := h.db.QueryContext(ctx, h.q(`SELECT id, at, subject, name, role, action, target, outcome, detail, remote, method, path
		FROM audit_log ORDER BY id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*AuditEntry
	for rows.Next() {
		e := &AuditEntry{}
		var at string
		if err := rows.Scan(&e.ID, &at, &e.Subject, &e.Name, &e.Role, &e.Action, &e.Target, &e.Outcome, &e.Detail, &e.Remote, &e.Method, &e.Path); err != nil {
			return nil, err
		}
		e.At, _ = time.Parse(ts, at)
		out = append(out, e)
	}
	return out, rows.Err()
}

func replaceAll(s, old, new string) string { return strings.ReplaceAll(s, old, new) }

// splitSQL splits a script of statements separated by ";\n".
func splitSQL(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";\n") {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out
}
