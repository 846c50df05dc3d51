package runbooktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
)

// Open returns a handle on the store under test. Every call must reach the
// same stored data through a handle of its own (a new connection pool, as
// a second process would have), so that concurrency is tested between
// handles.
type Open func(t *testing.T) runbook.Store

var (
	ann = runbook.Holder{Name: "ann", Host: "ws-1", PID: 101, Node: "node-a"}
	bob = runbook.Holder{Name: "bob", Host: "ws-2", PID: 202, Node: "node-b"}
	t0  = time.Date(2026, 11, 27, 9, 0, 0, 123456789, time.UTC)
)

// entry makes an entry chained to prev, as the engine would seal it (the
// store does not check signatures).
func entry(runID string, seq int64, prev, kind string) *runbook.Entry {
	e := &runbook.Entry{RunID: runID, Seq: seq, Kind: kind, Step: fmt.Sprintf("s%d", seq), Attempt: 1, Actor: "ann",
		At: t0.Add(time.Duration(seq) * time.Second), Prev: prev,
		Args: json.RawMessage(`{"n":12345678901234567890,"s":"x"}`), Outputs: json.RawMessage(`{"ids":["snap-1"]}`), Detail: json.RawMessage(`{"k":true}`),
		Error: "", Sig: "c2ln"}
	e.Hash = e.ComputeHash()
	return e
}

func newRun(id string) *runbook.Run {
	return &runbook.Run{ID: id, Runbook: "rb", File: "builtin:rb", Hash: "h", Provider: "sim", Actor: "ann", Status: runbook.RunRunning,
		CreatedAt: t0, UpdatedAt: t0, Plan: json.RawMessage(`{"format_version":"1","created_for":"` + id + `","steps":[]}`), State: "/tmp/sim.json"}
}

// StoreContract is what every runbook.Store must do: keep runs and their
// journals exactly, append atomically under the run's lease, refuse a
// fork of the chain, and give a run's lease to one holder at a time, by
// the store's clock.
func StoreContract(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t)

	t.Run("runs and entries round-trip", func(t *testing.T) {
		run := newRun("run-rt")
		lease := &runbook.Lease{Holder: ann, TTL: time.Minute}
		first := entry(run.ID, 1, "", runbook.EntryRunStarted)
		if err := s.CreateRun(ctx, run, lease, first); err != nil {
			t.Fatal(err)
		}
		if lease.Token == "" || lease.RunID != run.ID || lease.ExpiresAt.Sub(lease.AcquiredAt) != time.Minute {
			t.Errorf("the new run's lease: %+v", lease)
		}
		got, err := s.GetRun(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != run.ID || got.Runbook != "rb" || got.File != "builtin:rb" || got.Hash != "h" || got.Provider != "sim" || got.Actor != "ann" ||
			got.Status != runbook.RunRunning || !got.CreatedAt.Equal(t0) || string(got.Plan) != string(run.Plan) || got.State != "/tmp/sim.json" {
			t.Errorf("run: %+v", got)
		}
		e2, e3 := entry(run.ID, 2, first.Hash, runbook.EntryStepSucceeded), entry(run.ID, 3, "", runbook.EntryEvidence)
		e3.Prev = e2.Hash
		e3.Hash = e3.ComputeHash()
		if err := s.Append(ctx, lease, runbook.RunAwaitingApproval, e2, e3); err != nil {
			t.Fatal(err)
		}
		es, err := s.Entries(ctx, run.ID)
		if err != nil || len(es) != 3 {
			t.Fatalf("entries: %d %v", len(es), err)
		}
		for i, want := range []*runbook.Entry{first, e2, e3} {
			g := es[i]
			if g.Seq != want.Seq || g.Kind != want.Kind || g.Step != want.Step || g.Attempt != 1 || g.Actor != "ann" || !g.At.Equal(want.At) ||
				string(g.Args) != string(want.Args) || string(g.Outputs) != string(want.Outputs) || string(g.Detail) != string(want.Detail) ||
				g.Prev != want.Prev || g.Hash != want.Hash || g.Sig != "c2ln" || g.ComputeHash() != want.Hash {
				t.Errorf("entry %d: %+v", i+1, g)
			}
		}
		if got, _ := s.GetRun(ctx, run.ID); got.Status != runbook.RunAwaitingApproval || !got.UpdatedAt.Equal(e3.At) {
			t.Errorf("the append set the status and time: %s %s", got.Status, got.UpdatedAt)
		}
		e4 := entry(run.ID, 4, e3.Hash, runbook.EntryLog)
		if err := s.Append(ctx, lease, "", e4); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetRun(ctx, run.ID); got.Status != runbook.RunAwaitingApproval {
			t.Errorf("an append without status keeps it: %s", got.Status)
		}
		if _, err := s.GetRun(ctx, "run-nope"); !errors.Is(err, runbook.ErrRunNotFound) {
			t.Errorf("unknown run: %v", err)
		}
		if _, err := s.AcquireLease(ctx, "run-nope", bob, time.Minute); !errors.Is(err, runbook.ErrRunNotFound) {
			t.Errorf("lease of an unknown run: %v", err)
		}
		runs, err := s.ListRuns(ctx)
		if err != nil || len(runs) == 0 {
			t.Errorf("list: %v %v", runs, err)
		}
	})

	t.Run("a plan is applied once", func(t *testing.T) {
		run := newRun("run-plan-1")
		if err := s.CreateRun(ctx, run, &runbook.Lease{Holder: ann, TTL: time.Minute}, entry(run.ID, 1, "", runbook.EntryRunStarted)); err != nil {
			t.Fatal(err)
		}
		again := newRun("run-plan-2")
		again.Plan = run.Plan
		err := open(t).CreateRun(ctx, again, &runbook.Lease{Holder: bob, TTL: time.Minute}, entry(again.ID, 1, "", runbook.EntryRunStarted))
		var applied *runbook.PlanAppliedError
		if !errors.As(err, &applied) || applied.RunID != run.ID {
			t.Fatalf("a second run of the plan: %v", err)
		}
		if _, err := s.GetRun(ctx, again.ID); !errors.Is(err, runbook.ErrRunNotFound) {
			t.Errorf("the refused run was stored: %v", err)
		}
		// Two at once: one run.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := newRun(fmt.Sprintf("run-plan-race-%d", i))
				r.Plan = json.RawMessage(`{"format_version":"1","created_for":"race"}`)
				errs[i] = open(t).CreateRun(ctx, r, &runbook.Lease{Holder: ann, TTL: time.Minute}, entry(r.ID, 1, "", runbook.EntryRunStarted))
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) || (!errors.As(errs[0], &applied) && !errors.As(errs[1], &applied)) {
			t.Errorf("two runs of one plan at once: %v, %v", errs[0], errs[1])
		}
	})

	t.Run("appends cannot fork the chain", func(t *testing.T) {
		run := newRun("run-fork")
		lease := &runbook.Lease{Holder: ann, TTL: time.Minute}
		first := entry(run.ID, 1, "", runbook.EntryRunStarted)
		if err := s.CreateRun(ctx, run, lease, first); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, lease, "", entry(run.ID, 3, first.Hash, runbook.EntryLog)); !errors.Is(err, runbook.ErrSeqConflict) {
			t.Errorf("a gap: %v", err)
		}
		if err := s.Append(ctx, lease, "", entry(run.ID, 1, "", runbook.EntryLog)); !errors.Is(err, runbook.ErrSeqConflict) {
			t.Errorf("a second entry 1: %v", err)
		}
		// A batch is all or nothing.
		if err := s.Append(ctx, lease, runbook.RunFailed, entry(run.ID, 2, first.Hash, runbook.EntryLog), entry(run.ID, 2, first.Hash, runbook.EntryLog)); err == nil {
			t.Error("a batch repeating a sequence number was stored")
		}
		es, _ := s.Entries(ctx, run.ID)
		got, _ := s.GetRun(ctx, run.ID)
		if len(es) != 1 || got.Status != runbook.RunRunning {
			t.Errorf("a refused batch left %d entries, status %s", len(es), got.Status)
		}
		// Two writers with the same lease (a bug, or two goroutines) cannot
		// both append entry 2.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := open(t)
				errs[i] = h.Append(ctx, lease, "", entry(run.ID, 2, first.Hash, runbook.EntryLog))
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Errorf("two appends of entry 2: %v, %v", errs[0], errs[1])
		}
	})

	t.Run("one holder at a time", func(t *testing.T) {
		run := newRun("run-lease")
		lease := &runbook.Lease{Holder: ann, TTL: time.Minute}
		first := entry(run.ID, 1, "", runbook.EntryRunStarted)
		if err := s.CreateRun(ctx, run, lease, first); err != nil {
			t.Fatal(err)
		}
		_, err := s.AcquireLease(ctx, run.ID, bob, time.Minute)
		var held *runbook.LeaseHeldError
		if !errors.As(err, &held) || held.Lease.Holder != ann || held.Lease.Token != lease.Token {
			t.Fatalf("a held lease: %v", err)
		}
		before := lease.ExpiresAt
		time.Sleep(5 * time.Millisecond)
		if err := s.RenewLease(ctx, lease); err != nil || !lease.ExpiresAt.After(before) {
			t.Errorf("renew: %v, %s -> %s", err, before, lease.ExpiresAt)
		}
		if cur, err := s.Lease(ctx, run.ID); err != nil || cur.Token != lease.Token || cur.Holder != ann || cur.TTL != time.Minute {
			t.Errorf("current lease: %+v %v", cur, err)
		}
		if err := s.ReleaseLease(ctx, lease); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, lease, "", entry(run.ID, 2, first.Hash, runbook.EntryLog)); !errors.Is(err, runbook.ErrLeaseLost) {
			t.Errorf("append after release: %v", err)
		}
		if err := s.RenewLease(ctx, lease); !errors.Is(err, runbook.ErrLeaseLost) {
			t.Errorf("renew after release: %v", err)
		}
		if cur, _ := s.Lease(ctx, run.ID); cur != nil {
			t.Errorf("released, yet %+v", cur)
		}

		// Many handles race for a free lease: exactly one wins, the others
		// are told who.
		const n = 6
		var wg sync.WaitGroup
		got := make([]*runbook.Lease, n)
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := runbook.Holder{Name: fmt.Sprintf("racer-%d", i), Host: "ws", PID: i}
				got[i], errs[i] = open(t).AcquireLease(ctx, run.ID, h, time.Minute)
			}()
		}
		wg.Wait()
		winners := 0
		var winner runbook.Holder
		for i := range got {
			if errs[i] == nil {
				winners++
				winner = got[i].Holder
			}
		}
		if winners != 1 {
			t.Fatalf("%d holders won the lease: %v", winners, errs)
		}
		for _, err := range errs {
			if err != nil && (!errors.As(err, &held) || held.Lease.Holder != winner) {
				t.Errorf("a loser is told the holder: %v (winner %v)", err, winner)
			}
		}
	})

	t.Run("leases expire by the store's clock", func(t *testing.T) {
		run := newRun("run-expiry")
		short := &runbook.Lease{Holder: ann, TTL: 300 * time.Millisecond}
		first := entry(run.ID, 1, "", runbook.EntryRunStarted)
		if err := s.CreateRun(ctx, run, short, first); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AcquireLease(ctx, run.ID, bob, time.Minute); !runbook.IsLeaseHeld(err) {
			t.Fatalf("before expiry: %v", err)
		}
		time.Sleep(450 * time.Millisecond)
		taken, err := s.AcquireLease(ctx, run.ID, bob, time.Minute)
		if err != nil || taken.Holder != bob {
			t.Fatalf("after expiry: %v", err)
		}
		// The first holder finds out at its next write.
		if err := s.Append(ctx, short, "", entry(run.ID, 2, first.Hash, runbook.EntryLog)); !errors.Is(err, runbook.ErrLeaseLost) {
			t.Errorf("append by the expired holder: %v", err)
		}
		if err := s.RenewLease(ctx, short); !errors.Is(err, runbook.ErrLeaseLost) {
			t.Errorf("renew by the expired holder: %v", err)
		}
		if err := s.Append(ctx, taken, "", entry(run.ID, 2, first.Hash, runbook.EntryLog)); err != nil {
			t.Errorf("append by the new holder: %v", err)
		}
	})

	t.Run("unlock breaks any lease", func(t *testing.T) {
		run := newRun("run-break")
		lease := &runbook.Lease{Holder: ann, TTL: time.Hour}
		if err := s.CreateRun(ctx, run, lease, entry(run.ID, 1, "", runbook.EntryRunStarted)); err != nil {
			t.Fatal(err)
		}
		if old, err := s.BreakLease(ctx, run.ID, "not-the-token"); err != nil || old != nil {
			t.Errorf("break with another token: %v %v", old, err)
		}
		old, err := s.BreakLease(ctx, run.ID, "")
		if err != nil || old == nil || old.Holder != ann || old.Token != lease.Token {
			t.Fatalf("break: %+v %v", old, err)
		}
		if old, err := s.BreakLease(ctx, run.ID, ""); err != nil || old != nil {
			t.Errorf("break again: %v %v", old, err)
		}
		if l, err := s.AcquireLease(ctx, run.ID, bob, time.Minute); err != nil || l.Holder != bob {
			t.Errorf("acquire after break: %v", err)
		}
	})
}
