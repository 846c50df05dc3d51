package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
)

func open(t *testing.T) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state", "vigil.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestJournalChainAndTamper(t *testing.T) {
	s, path := open(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	run := &runbook.Run{ID: "run-1", Runbook: "rb", File: "f.hcl", Hash: "h", Provider: "sim", Actor: "ann", Status: runbook.RunRunning, CreatedAt: now, UpdatedAt: now, Plan: json.RawMessage(`{"format_version":"1"}`)}
	if err := s.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	// Concurrent appends stay one chain.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := s.Append(ctx, &runbook.Entry{RunID: "run-1", Kind: runbook.EntryStepSucceeded, Step: fmt.Sprintf("s%d", i), Actor: "ann", At: now,
				Outputs: json.RawMessage(`{"ids": ["snap-1"]}`)})
			if err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	es, err := s.Entries(ctx, "run-1")
	if err != nil || len(es) != 20 {
		t.Fatalf("%d entries, %v", len(es), err)
	}
	if tam := runbook.Verify(es); tam != nil {
		t.Fatalf("fresh journal: %v", tam)
	}
	// Survives a reopen.
	s.Close()
	s2, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.GetRun(ctx, "run-1")
	if err != nil || got.Actor != "ann" || !got.CreatedAt.Equal(now) {
		t.Fatalf("run after reopen: %+v %v", got, err)
	}
	if err := s2.UpdateRun(ctx, "run-1", runbook.RunCompleted, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s2.UpdateRun(ctx, "nope", runbook.RunCompleted, now); err != runbook.ErrRunNotFound {
		t.Errorf("unknown run: %v", err)
	}
	// Someone edits a row in the database: verify names that entry.
	if _, err := s2.DB().Exec(`UPDATE journal SET outputs = '{"ids": ["snap-forged"]}' WHERE run_id = 'run-1' AND seq = 7`); err != nil {
		t.Fatal(err)
	}
	es, _ = s2.Entries(ctx, "run-1")
	tam := runbook.Verify(es)
	if tam == nil || tam.Seq != 7 {
		t.Fatalf("tampered entry 7: %v", tam)
	}
	// Deleting a row is found too.
	s2.DB().Exec(`UPDATE journal SET outputs = '{"ids": ["snap-1"]}' WHERE run_id = 'run-1' AND seq = 7`)
	s2.DB().Exec(`DELETE FROM journal WHERE run_id = 'run-1' AND seq = 12`)
	es, _ = s2.Entries(ctx, "run-1")
	if tam := runbook.Verify(es); tam == nil || tam.Seq != 13 {
		t.Fatalf("deleted entry: %v", tam)
	}
	runs, err := s2.ListRuns(ctx)
	if err != nil || len(runs) != 1 || runs[0].Status != runbook.RunCompleted {
		t.Errorf("runs: %v %v", runs, err)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/tmp/xdg")
	if p := DefaultPath(); p != "/tmp/xdg/vigil/vigil.db" {
		t.Errorf("DefaultPath = %s", p)
	}
}

// Several processes may open a state file that does not exist yet (an apply
// and a status started together): each must get a migrated schema, not an
// error from racing to create the same tables.
func TestConcurrentOpenOfNewState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := OpenSQLite(path)
			if err != nil {
				errs <- err
				return
			}
			defer st.Close()
			_, err = st.ListRuns(context.Background())
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	st, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var v int
	st.DB().QueryRow(`PRAGMA user_version`).Scan(&v)
	if v != len(allMigrations()) {
		t.Errorf("schema version %d, want %d", v, len(allMigrations()))
	}
}
