package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// A scan sharded over a Kubernetes Indexed Job (vigil scan --shard I/N)
// is recorded as one scan: each shard's result waits in staging tables
// until all N have reported, and the last one assembles the scan in the
// history, in its own transaction. Until then the scan is nowhere in
// the history, so diffs, reports and notifications wait for it.
const shardsSchema = `CREATE TABLE IF NOT EXISTS scan_shard_groups (
	grp        TEXT PRIMARY KEY,
	shards     INTEGER NOT NULL,
	schedule   TEXT NOT NULL,
	policy_set TEXT NOT NULL,
	created_at TEXT NOT NULL,
	scan_id    BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS scan_shards (
	grp         TEXT NOT NULL,
	shard       INTEGER NOT NULL,
	started_at  TEXT NOT NULL,
	finished_at TEXT NOT NULL,
	sources     TEXT NOT NULL,
	assets      INTEGER NOT NULL,
	findings    TEXT NOT NULL,
	reported_at TEXT NOT NULL,
	PRIMARY KEY (grp, shard)
);
CREATE TABLE IF NOT EXISTS scan_shard_inputs (
	grp    TEXT PRIMARY KEY,
	inputs TEXT NOT NULL
)`

// ShardReport is where a sharded scan stands after a shard reported.
type ShardReport struct {
	Group    string `json:"group"`
	Shards   int    `json:"shards"`
	Reported int    `json:"reported"`
	// Scan is the assembled scan once every shard reported.
	Scan *ScanRecord `json:"scan,omitempty"`
	// Findings are the assembled scan's (for notifying), and Completed
	// says this report completed it (the others must not notify again).
	Findings  []StoredFinding `json:"-"`
	Completed bool            `json:"completed"`
}

// Shards records the shards of sharded scans.
type Shards interface {
	RecordShard(ctx context.Context, group string, index, count int, inputs string, rec *ScanRecord, findings []StoredFinding) (*ShardReport, error)
}

// ShardsOf returns the shard tables kept next to a history.
func ShardsOf(ctx context.Context, h History) (Shards, error) {
	sh, ok := h.(*sqlHistory)
	if !ok {
		return nil, fmt.Errorf("open scan shards: %T keeps none", h)
	}
	if err := sh.ensure(ctx, "scan_shards", shardsSchema); err != nil {
		return nil, fmt.Errorf("open scan shards: %w", err)
	}
	return sh, nil
}

// RecordShard stores shard index of count. A shard that reports again (a
// retried pod) replaces its earlier result; once the scan is assembled,
// reports change nothing. inputs names what the shard read: every shard of
// a group must name the same (the first one's is kept).
func (h *sqlHistory) RecordShard(ctx context.Context, group string, index, count int, inputs string, rec *ScanRecord, findings []StoredFinding) (*ShardReport, error) {
	if count < 1 || index < 0 || index >= count {
		return nil, fmt.Errorf("shard %d/%d: the index must be from 0 to %d", index, count, count-1)
	}
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if h.pg {
		// The shards of one group take turns (SQLite: the file's lock).
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("shards:"+group)); err != nil {
			return nil, err
		}
	}
	now := time.Now().UTC().Format(ts)
	if _, err := tx.ExecContext(ctx, h.q(`INSERT INTO scan_shard_groups (grp, shards, schedule, policy_set, created_at, scan_id) VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING`),
		group, count, rec.Schedule, rec.PolicySet, now); err != nil {
		return nil, fmt.Errorf("record shard: %w", err)
	}
	var shards int
	var schedule, policySet string
	var scanID int64
	if err := tx.QueryRowContext(ctx, h.q(`SELECT shards, schedule, policy_set, scan_id FROM scan_shard_groups WHERE grp = ?`), group).Scan(&shards, &schedule, &policySet, &scanID); err != nil {
		return nil, err
	}
	switch {
	case shards != count:
		return nil, fmt.Errorf("shard %d/%d: scan group %q was started with %d shards; every shard of a group must say the same N", index, count, group, shards)
	case policySet != rec.PolicySet:
		return nil, fmt.Errorf("shard %d/%d: scan group %q runs %s, this shard %s: every shard must run the same policies", index, count, group, policySet, rec.PolicySet)
	case schedule != rec.Schedule:
		return nil, fmt.Errorf("shard %d/%d: scan group %q is of schedule %q, this shard of %q", index, count, group, schedule, rec.Schedule)
	}
	if _, err := tx.ExecContext(ctx, h.q(`INSERT INTO scan_shard_inputs (grp, inputs) VALUES (?, ?) ON CONFLICT DO NOTHING`), group, inputs); err != nil {
		return nil, fmt.Errorf("record shard: %w", err)
	}
	var groupInputs string
	if err := tx.QueryRowContext(ctx, h.q(`SELECT inputs FROM scan_shard_inputs WHERE grp = ?`), group).Scan(&groupInputs); err != nil {
		return nil, err
	}
	if groupInputs != inputs {
		return nil, fmt.Errorf("shard %d/%d: scan group %q reads %s, this shard %s: every shard must read the same inputs (each judges its part of the scopes with the others as context); nothing was recorded", index, count, group, orNothing(groupInputs), orNothing(inputs))
	}
	rep := &ShardReport{Group: group, Shards: count}
	if scanID != 0 {
		rep.Reported = count
		rep.Scan, err = h.scanIn(ctx, tx, scanID)
		return rep, err
	}
	sources, _ := json.Marshal(rec.Sources)
	fs, _ := json.Marshal(findings)
	if _, err := tx.ExecContext(ctx, h.q(`DELETE FROM scan_shards WHERE grp = ? AND shard = ?`), group, index); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, h.q(`INSERT INTO scan_shards (grp, shard, started_at, finished_at, sources, assets, findings, reported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		group, index, rec.StartedAt.UTC().Format(ts), rec.FinishedAt.UTC().Format(ts), string(sources), rec.Assets, string(fs), now); err != nil {
		return nil, fmt.Errorf("record shard %d: %w", index, err)
	}
	if err := tx.QueryRowContext(ctx, h.q(`SELECT COUNT(*) FROM scan_shards WHERE grp = ?`), group).Scan(&rep.Reported); err != nil {
		return nil, err
	}
	if rep.Reported < count {
		return rep, tx.Commit()
	}
	scan, all, err := h.assemble(ctx, tx, group, schedule, policySet)
	if err != nil {
		return nil, err
	}
	id, err := h.insertScan(ctx, tx, scan, all)
	if err != nil {
		return nil, err
	}
	scan.ID = id
	if _, err := tx.ExecContext(ctx, h.q(`UPDATE scan_shard_groups SET scan_id = ? WHERE grp = ?`), id, group); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, h.q(`DELETE FROM scan_shards WHERE grp = ?`), group); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	rep.Scan, rep.Findings, rep.Completed = scan, all, true
	return rep, nil
}

// assemble makes one scan of a group's shards.
func (h *sqlHistory) assemble(ctx context.Context, tx *sql.Tx, group, schedule, policySet string) (*ScanRecord, []StoredFinding, error) {
	rows, err := tx.QueryContext(ctx, h.q(`SELECT started_at, finished_at, sources, assets, findings FROM scan_shards WHERE grp = ? ORDER BY shard`), group)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	scan := &ScanRecord{Schedule: schedule, PolicySet: policySet, BySeverity: map[string]int{}}
	seenSource := map[string]bool{}
	seen := map[FindingID]bool{}
	var all []StoredFinding
	for rows.Next() {
		var started, finished, sources, fs string
		var assets int
		if err := rows.Scan(&started, &finished, &sources, &assets, &fs); err != nil {
			return nil, nil, err
		}
		st, _ := time.Parse(ts, started)
		fin, _ := time.Parse(ts, finished)
		if scan.StartedAt.IsZero() || st.Before(scan.StartedAt) {
			scan.StartedAt = st
		}
		if fin.After(scan.FinishedAt) {
			scan.FinishedAt = fin
		}
		scan.Assets += assets
		var srcs []string
		_ = json.Unmarshal([]byte(sources), &srcs)
		for _, s := range srcs {
			if !seenSource[s] {
				seenSource[s] = true
				scan.Sources = append(scan.Sources, s)
			}
		}
		var shardFindings []StoredFinding
		if err := json.Unmarshal([]byte(fs), &shardFindings); err != nil {
			return nil, nil, fmt.Errorf("read a shard's findings: %w", err)
		}
		for _, f := range shardFindings {
			// Each asset is judged by one shard; an asset two sources both
			// hold is still one finding.
			if id := f.ID(); !seen[id] {
				seen[id] = true
				all = append(all, f)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	sort.Strings(scan.Sources)
	for _, f := range all {
		if f.Waived {
			scan.Waived++
		} else {
			scan.Findings++
			scan.BySeverity[f.Severity]++
		}
	}
	return scan, all, nil
}

func (h *sqlHistory) scanIn(ctx context.Context, tx querier, id int64) (*ScanRecord, error) {
	s, err := scanRow(tx.QueryRowContext(ctx, h.q(`SELECT `+scanCols+` FROM scans WHERE id = ?`), id))
	if err != nil {
		return nil, errors.New("read the assembled scan: " + err.Error())
	}
	return s, nil
}

// orNothing shows an empty inputs list.
func orNothing(inputs string) string {
	if inputs == "" {
		return "nothing"
	}
	return inputs
}
