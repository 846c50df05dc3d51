package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
)

// A decision on a step instance given through vigil serve is kept in the
// run store, bound to the run's plan hash and the instance's address, so
// that whichever process holds the run (a replica, a CLI apply waiting
// for a second person) picks it up.
const approvalsTable = `CREATE TABLE IF NOT EXISTS run_approvals (
	run_id      TEXT NOT NULL REFERENCES runs(id),
	address     TEXT NOT NULL,
	plan_sha256 TEXT NOT NULL,
	id          TEXT NOT NULL,
	approved    INTEGER NOT NULL,
	identity    TEXT NOT NULL,
	comment     TEXT NOT NULL,
	decided_at  TEXT NOT NULL,
	PRIMARY KEY (run_id, address, plan_sha256)
)`

// approvalsAttestation keeps vigil serve's signature of each decision (a
// runbook.Attestation as JSON; ” for none): a step that needs a second
// person takes no decision without it.
const approvalsAttestation = `ALTER TABLE run_approvals ADD COLUMN IF NOT EXISTS attestation TEXT NOT NULL DEFAULT ''`

// StepDecision is a recorded decision.
type StepDecision struct {
	RunID     string    `json:"run_id"`
	Address   string    `json:"address"`
	PlanHash  string    `json:"plan_sha256"`
	DecidedAt time.Time `json:"decided_at"`
	runbook.Decision
}

// DecidedError says the instance was decided already (the first decision
// stands).
type DecidedError struct{ Decision *StepDecision }

func (e *DecidedError) Error() string {
	verb := "rejected"
	if e.Decision.Approved {
		verb = "approved"
	}
	return fmt.Sprintf("step.%s of run %s was %s already, by %s at %s", e.Decision.Address, e.Decision.RunID, verb, e.Decision.By, e.Decision.DecidedAt.UTC().Format(time.RFC3339))
}

// Approvals is what the run stores keep of decisions.
type Approvals interface {
	// RecordDecision stores a decision; a second one for the same
	// instance and plan fails with *DecidedError.
	RecordDecision(ctx context.Context, d *StepDecision) error
	// Decision returns the decision on an instance under a plan, nil if none.
	Decision(ctx context.Context, runID, address, planHash string) (*StepDecision, error)
	// Decisions lists a run's decisions, oldest first.
	Decisions(ctx context.Context, runID string) ([]*StepDecision, error)
	// ReplaceDecision puts d in the place of the decision with id old on
	// the same instance and plan (one vigil serve did not sign); false when
	// that decision is no longer there.
	ReplaceDecision(ctx context.Context, old string, d *StepDecision) (bool, error)
}

func (s *runsSQL) ReplaceDecision(ctx context.Context, old string, d *StepDecision) (bool, error) {
	defer s.lock()()
	by, _ := json.Marshal(d.By)
	att := ""
	if d.Attestation != nil {
		raw, _ := json.Marshal(d.Attestation)
		att = string(raw)
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE run_approvals SET id = ?, approved = ?, identity = ?, comment = ?, decided_at = ?, attestation = ?
		WHERE run_id = ? AND address = ? AND plan_sha256 = ? AND id = ?`),
		d.ID, b2i(d.Approved), string(by), d.Comment, d.DecidedAt.UTC().Format(ts), att, d.RunID, d.Address, d.PlanHash, old)
	if err != nil {
		return false, fmt.Errorf("replace the decision on step.%s: %w", d.Address, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *runsSQL) RecordDecision(ctx context.Context, d *StepDecision) error {
	defer s.lock()()
	if d.ID == "" {
		d.ID = runbook.NewToken()[:16]
	}
	if d.DecidedAt.IsZero() {
		d.DecidedAt = time.Now().UTC()
	}
	by, _ := json.Marshal(d.By)
	att := ""
	if d.Attestation != nil {
		raw, _ := json.Marshal(d.Attestation)
		att = string(raw)
	}
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO run_approvals (run_id, address, plan_sha256, id, approved, identity, comment, decided_at, attestation)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		d.RunID, d.Address, d.PlanHash, d.ID, b2i(d.Approved), string(by), d.Comment, d.DecidedAt.UTC().Format(ts), att)
	if err != nil {
		return fmt.Errorf("record the decision on step.%s: %w", d.Address, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		prev, err := s.decision(ctx, d.RunID, d.Address, d.PlanHash)
		if err != nil || prev == nil {
			return fmt.Errorf("record the decision on step.%s: it conflicts with another, unreadable: %v", d.Address, err)
		}
		return &DecidedError{Decision: prev}
	}
	return nil
}

func (s *runsSQL) Decision(ctx context.Context, runID, address, planHash string) (*StepDecision, error) {
	return s.decision(ctx, runID, address, planHash)
}

func (s *runsSQL) decision(ctx context.Context, runID, address, planHash string) (*StepDecision, error) {
	d, err := scanDecision(s.db.QueryRowContext(ctx, s.q(`SELECT run_id, address, plan_sha256, id, approved, identity, comment, decided_at, attestation
		FROM run_approvals WHERE run_id = ? AND address = ? AND plan_sha256 = ?`), runID, address, planHash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return d, err
}

func (s *runsSQL) Decisions(ctx context.Context, runID string) ([]*StepDecision, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT run_id, address, plan_sha256, id, approved, identity, comment, decided_at, attestation
		FROM run_approvals WHERE run_id = ? ORDER BY decided_at, address`), runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*StepDecision
	for rows.Next() {
		d, err := scanDecision(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func scanDecision(row interface{ Scan(...any) error }) (*StepDecision, error) {
	d := &StepDecision{}
	var approved int
	var by, at, att string
	if err := row.Scan(&d.RunID, &d.Address, &d.PlanHash, &d.ID, &approved, &by, &d.Comment, &at, &att); err != nil {
		return nil, err
	}
	if att != "" {
		d.Attestation = &runbook.Attestation{}
		if json.Unmarshal([]byte(att), d.Attestation) != nil {
			// Unreadable: kept as a signature that verifies with no key.
			d.Attestation = &runbook.Attestation{Statement: att}
		}
	}
	d.Approved = approved != 0
	_ = json.Unmarshal([]byte(by), &d.By)
	d.DecidedAt, _ = time.Parse(ts, at)
	return d, nil
}

// DecisionSource is the engine's ApprovalSource over a store.
type DecisionSource struct{ Store Approvals }

// Decision implements runbook.ApprovalSource.
func (d DecisionSource) Decision(ctx context.Context, runID string, req *runbook.ApprovalRequest) (*runbook.Decision, error) {
	sd, err := d.Store.Decision(ctx, runID, req.Address, req.PlanHash)
	if err != nil || sd == nil {
		return nil, err
	}
	return &sd.Decision, nil
}

// StoredDecisions lists a run's decisions as verify reads them.
func StoredDecisions(ctx context.Context, st any, runID string) ([]runbook.StoredDecision, error) {
	ap, ok := st.(Approvals)
	if !ok {
		return nil, nil
	}
	ds, err := ap.Decisions(ctx, runID)
	if err != nil {
		return nil, err
	}
	out := make([]runbook.StoredDecision, 0, len(ds))
	for _, d := range ds {
		out = append(out, runbook.StoredDecision{Address: d.Address, PlanHash: d.PlanHash, Decision: d.Decision})
	}
	return out, nil
}
