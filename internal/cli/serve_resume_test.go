package cli

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/store"
)

// A decision can land while this replica's own executor is stopping at
// the step decided: the run's status already says awaiting_approval, the
// lease is not yet released. Resume waits for that executor to let go
// instead of answering "held" and leaving the run stuck (CI saw
// resumed:false on a loaded machine). A lease held by anyone else is
// still refused at once.
func TestResumeWaitsForThisProcesssStoppingExecutor(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenRuns(ctx, filepath.Join(t.TempDir(), "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	run := &runbook.Run{ID: "run-20261202-000000-abcdef", Runbook: "r", Status: runbook.RunAwaitingApproval, Plan: []byte("{}")}
	if err := st.CreateRun(ctx, run, &runbook.Lease{RunID: run.ID, Holder: localHolder("carol"), TTL: time.Minute}, &runbook.Entry{RunID: run.ID, Seq: 1, Kind: runbook.EntryRunStarted}); err != nil {
		t.Fatal(err)
	}
	l, err := st.Lease(ctx, run.ID)
	if err != nil || l == nil {
		t.Fatalf("lease: %v %v", l, err)
	}
	rs := &runService{st: st, cfg: &config.Config{}}

	// Nobody in this process runs it: the live lease is refused at once.
	if err := rs.Resume(ctx, nil, run.ID); !runbook.IsLeaseHeld(err) {
		t.Fatalf("a lease held elsewhere: %v, want a LeaseHeldError", err)
	}

	// This process's executor lets go 300 ms later: Resume waits for it,
	// then finds the lease free (and goes on to read the plan, which this
	// bare run does not hold: that error, not "held", is the answer).
	untrack := rs.track(run.ID)
	released := make(chan time.Time, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		if err := st.ReleaseLease(ctx, l); err != nil {
			t.Error(err)
		}
		released <- time.Now()
		untrack()
	}()
	err = rs.Resume(ctx, nil, run.ID)
	returned := time.Now()
	if err == nil || runbook.IsLeaseHeld(err) {
		t.Fatalf("resume after this process let go: %v, want past the lease", err)
	}
	if at := <-released; returned.Before(at) {
		t.Errorf("Resume returned before the executor let go")
	}
	var held *runbook.LeaseHeldError
	if errors.As(err, &held) {
		t.Errorf("still held: %v", held)
	}
}
