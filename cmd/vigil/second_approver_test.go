package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// secondApprover is the other person of the two-person rule in tests that
// run destructive steps against the fakes (provider cloud): nothing the
// CLI's user types approves those.
var secondApprover = runbook.Identity{Subject: "test:second-responder", Name: "second responder", Verified: true, Via: "vigil serve (test)"}

// applyWithSecondApprover runs vigil (an apply against the fakes) on a
// SQLite state and, while it waits, approves each step that needs a
// distinct approver as vigil serve records an approver's decision: in the
// run's store, bound to the plan hash and the address.
func applyWithSecondApprover(t *testing.T, env []string, state string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = testutil.Root(t)
	cmd.Env = append(append(os.Environ(), env...), "VIGIL_APPROVAL_POLL=100ms")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case err := <-done:
			return exitCode(t, err), out.String()
		case <-time.After(100 * time.Millisecond):
			approvePending(t, state)
		}
	}
}

func approvePending(t *testing.T, state string) {
	if _, err := os.Stat(state); err != nil {
		return // the CLI has not made it yet
	}
	st, err := store.OpenSQLite(state)
	if err != nil {
		return
	}
	defer st.Close()
	ap, ok := any(st).(store.Approvals)
	if !ok {
		t.Fatalf("%T keeps no decisions", st)
	}
	ctx := context.Background()
	runs, _ := st.ListRuns(ctx)
	for _, run := range runs {
		es, _ := st.Entries(ctx, run.ID)
		for _, e := range es {
			var d struct {
				Plan     string `json:"plan_sha256"`
				Distinct bool   `json:"distinct_approver"`
			}
			if e.Kind != runbook.EntryApprovalRequired || json.Unmarshal(e.Detail, &d) != nil || !d.Distinct {
				continue
			}
			if prev, err := ap.Decision(ctx, run.ID, e.Step, d.Plan); err != nil || prev != nil {
				continue
			}
			ap.RecordDecision(ctx, &store.StepDecision{RunID: run.ID, Address: e.Step, PlanHash: d.Plan,
				Decision: runbook.Decision{Approved: true, By: secondApprover, Comment: "parity test"}})
		}
	}
}
