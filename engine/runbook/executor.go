package runbook

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-ir/vigil/engine/action"
)

// Executor applies plans, resumes and unlocks runs.
type Executor struct {
	Registry *action.Registry
	Env      *action.Env
	Data     *Data
	Store    Store
	// Key signs every journal entry; its public half is in the run's first
	// entry. Anchor receives each new head (nil: no anchor).
	Key    ed25519.PrivateKey
	Anchor Anchor
	// Actor is who runs it (the OS user, or --actor).
	Actor string
	// Holder identifies this process in the run's lease (Name defaults to
	// Actor); LeaseTTL is how long the lease outlives a heartbeat.
	Holder   Holder
	LeaseTTL time.Duration
	// HolderGone reports whether a lease's holder is known to be gone (a
	// process on this node that no longer exists): its lease is taken
	// over, as a file lock would have been released. Nil: leases are only
	// taken once expired or broken with Unlock.
	HolderGone func(*Lease) bool
	// Approve lists addresses and patterns approved up front: isolate,
	// revoke["sg-0a1"], revoke[*].
	Approve     []string
	AutoApprove bool
	// Prompt asks a responder to approve one step instance; prompts come one
	// at a time. Nil when there is no terminal (the run then stops in
	// awaiting_approval).
	Prompt func(ctx context.Context, req *ApprovalRequest) (bool, error)
	// Starter is who starts the run (recorded in its first entry; default:
	// Actor, not verified). Approvals reads decisions given through vigil
	// serve; Wait says which waiting instances poll it (every ApprovalPoll,
	// default 2s) instead of stopping the run in awaiting_approval.
	Starter   Identity
	Approvals ApprovalSource
	// ServeKey is vigil serve's public signing key, pinned by the operator
	// (never fetched from the server): a run with a step needing a second
	// person starts only with a starter serve vouched for (Starter's
	// Attestation), and such a step takes only decisions serve signed.
	ServeKey     ed25519.PublicKey
	Wait         WaitMode
	ApprovalPoll time.Duration
	// Started, when set, is told the run once it is stored (before any
	// step runs).
	Started func(*Run)
	// Parallel bounds how many step instances run at once (default 4).
	Parallel int
	// Progress reports what happens, for the console; it is called from one
	// goroutine at a time.
	Progress func(Event)
	Now      func() time.Time
	// Failpoint is called at named points ("before:<addr>", "during:<addr>"
	// after the action took effect but before the journal says so,
	// "after:<addr>", "sealed:<seq>" after an entry is stored but before
	// its head is anchored); crash tests use it to stop the process.
	Failpoint func(point string)
	// Sleep waits between retries (tests shorten it).
	Sleep func(ctx context.Context, d time.Duration) error
	// State is provider state to record on the run (the simulated cloud).
	State string
	// Reanchor lets Resume continue a run whose anchor has no record of its
	// journal (the anchor was lost, or the run was written on a machine
	// whose anchor file this one does not see); the resume journals that
	// it re-anchored the run, and by whom. It is the reason given.
	Reanchor string
}

// Event is a progress report.
type Event struct {
	Kind    string // started, succeeded, failed, skipped, waiting, retry, recovered, approved, unknown
	Step    string
	Message string
	Elapsed time.Duration
}

// Result is how a run ended (for now: a run awaiting approval continues
// with Resume).
type Result struct {
	Run     *Run
	Status  string
	Outputs map[string]any
	Waiting []string
	Failed  []string
}

// NewRunID makes a sortable, unique run id.
func NewRunID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "run-" + now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

func (x *Executor) now() time.Time {
	if x.Now != nil {
		return x.Now().UTC()
	}
	return time.Now().UTC()
}

func (x *Executor) ttl() time.Duration {
	if x.LeaseTTL > 0 {
		return x.LeaseTTL
	}
	return DefaultLeaseTTL
}

func (x *Executor) holder() Holder {
	h := x.Holder
	if h.Name == "" {
		h.Name = x.Actor
	}
	return h
}

func (x *Executor) publicKey() ed25519.PublicKey {
	if x.Key == nil {
		return nil
	}
	return x.Key.Public().(ed25519.PublicKey)
}

// Start creates a run for a plan and executes it.
func (x *Executor) Start(ctx context.Context, rb *Runbook, plan *Plan, vars map[string]*VarValue) (*Result, error) {
	if x.Key == nil {
		return nil, errors.New("no journal key: the journal is signed entry by entry")
	}
	if plan.Runbook.Hash != rb.Hash() {
		return nil, fmt.Errorf("the runbook %s changed since the plan was made (plan %.12s, now %.12s); make a new plan", plan.Runbook.File, plan.Runbook.Hash, rb.Hash())
	}
	if err := plan.CheckVariables(vars, ValueKey(x.Key)); err != nil {
		return nil, err
	}
	patterns, err := parseApprovals(x.Approve, plan)
	if err != nil {
		return nil, err
	}
	raw := plan.Canonical()
	if err := x.appliedBefore(ctx, raw); err != nil {
		return nil, x.heldOr(ctx, err)
	}
	ex, err := x.prepare(ctx, rb, plan, vars, patterns)
	if err != nil {
		return nil, err
	}
	// The plan is a contract: refuse before anything runs when the steps it
	// pinned would expand differently now.
	if err := ex.checkContract(); err != nil {
		return nil, err
	}
	if err := ex.checkPinned(ctx); err != nil {
		return nil, err
	}
	starter := x.Starter
	if starter.Subject == "" {
		starter = Identity{Subject: "actor:" + x.Actor, Name: x.Actor}
	}
	// The two-person rule compares the approver with the starter: both
	// must be known, or one person could be both under two names.
	now := x.now()
	if addr := FirstDistinct(plan); addr != "" {
		if !starter.Verified {
			return nil, &UnverifiedStarterError{Step: addr, Starter: starter}
		}
		if _, err := VerifyStarter(x.ServeKey, starter, planHash(raw), now); err != nil {
			return nil, &UnverifiedStarterError{Step: addr, Starter: starter, Why: err}
		}
	}
	run := &Run{ID: NewRunID(now), Runbook: rb.ID, File: plan.Runbook.File, Hash: plan.Runbook.Hash, Provider: plan.Provider,
		Actor: x.Actor, Status: RunRunning, CreatedAt: now, UpdatedAt: now, Plan: raw, PlanSHA256: planHash(raw), State: x.State}
	b := Binding{Run: run.ID, Runbook: run.Runbook, File: run.File, RunbookSHA256: run.Hash, Provider: run.Provider, Actor: run.Actor,
		CreatedAt: run.CreatedAt, State: run.State, PlanSHA256: planHash(raw), VariablesSHA256: variablesHash(plan.Variables),
		Variables: plan.Variables, PublicKey: EncodePublicKey(x.publicKey()), Holder: x.holder(), JournalFormat: JournalFormat}
	b.Starter = &starter
	first := &Entry{Kind: EntryRunStarted, Actor: x.Actor, At: now, Detail: mustJSON(b)}
	lease := &Lease{Holder: x.holder(), TTL: x.ttl()}
	j := &sealer{store: x.Store, lease: lease, key: x.Key, anchor: x.Anchor, runID: run.ID, failpoint: x.Failpoint}
	j.seal(first, 1, "")
	// The anchor knows of the run before the database does: an existing run
	// with no heads was then always tampered with (see VerifyRun).
	if err := j.anchorIntent(context.WithoutCancel(ctx), first); err != nil {
		return nil, fmt.Errorf("create run: %w", err)
	}
	if err := x.Store.CreateRun(context.WithoutCancel(ctx), run, lease, first); err != nil {
		var applied *PlanAppliedError
		if errors.As(err, &applied) {
			return nil, x.heldOr(ctx, err)
		}
		return nil, fmt.Errorf("create run: %w", err)
	}
	j.seq, j.head = 1, first.Hash
	j.point("sealed:1")
	if err := j.anchorHead(ctx); err != nil {
		_ = x.Store.ReleaseLease(context.WithoutCancel(ctx), lease)
		return nil, &JournalError{RunID: run.ID, Seq: 1, Err: err}
	}
	ex.run, ex.j, ex.starter = run, j, starter
	if x.Started != nil {
		x.Started(run)
	}
	return ex.execute(ctx, replay(nil))
}

// heldOr turns a *PlanAppliedError into a *LeaseHeldError when the run of
// the plan is running: a second apply of the plan while the first runs is
// told who holds it.
func (x *Executor) heldOr(ctx context.Context, err error) error {
	var applied *PlanAppliedError
	if errors.As(err, &applied) {
		if l, lerr := x.Store.Lease(ctx, applied.RunID); lerr == nil && l != nil && l.ExpiresAt.After(time.Now()) && (x.HolderGone == nil || !x.HolderGone(l)) {
			return &LeaseHeldError{Lease: l}
		}
	}
	return err
}

// appliedBefore finds a run of the same plan by its stored plan, not only
// by the plan_sha256 column the store's unique index guards: a column set
// to NULL must not let a saved plan be applied twice.
func (x *Executor) appliedBefore(ctx context.Context, raw []byte) error {
	runs, err := x.Store.ListRuns(ctx)
	if err != nil {
		return fmt.Errorf("list runs: %w", err)
	}
	want := planHash(raw)
	for _, r := range runs {
		if planHash(r.Plan) == want || r.PlanSHA256 == want {
			return &PlanAppliedError{RunID: r.ID}
		}
	}
	return nil
}

// Resume continues a run: steps awaiting approval that are now approved,
// steps interrupted by a crash (after asking the action whether the first
// attempt took effect) and failed steps run again; finished steps do not.
// The run must not be held by another process, and its journal must
// verify.
func (x *Executor) Resume(ctx context.Context, runID string, rb *Runbook, vars map[string]*VarValue) (*Result, error) {
	own, err := x.own(ctx, runID)
	if err != nil {
		return nil, err
	}
	ex, err := x.resumable(ctx, own, rb, vars)
	if err != nil || ex == nil {
		// nothing ran: give the run back
		_ = x.Store.ReleaseLease(context.WithoutCancel(ctx), own.j.lease)
		if err != nil {
			return nil, err
		}
		return &Result{Run: own.run, Status: own.run.Status}, nil
	}
	detail := map[string]any{"holder": x.holder(), "previous_status": own.run.Status}
	if own.reanchored != nil {
		detail["reanchored"] = true
	}
	if own.took != nil {
		detail["took_over"] = map[string]any{"holder": own.took.Holder, "heartbeat_at": own.took.HeartbeatAt, "reason": "its process is gone"}
	}
	if err := ex.journal(RunRunning, &Entry{Kind: EntryRunResumed, Detail: mustJSON(detail)}); err != nil {
		_ = x.Store.ReleaseLease(context.WithoutCancel(ctx), own.j.lease)
		return nil, err
	}
	own.run.Status = RunRunning
	return ex.execute(ctx, replay(own.entries))
}

// owned is a run whose lease this process holds, its journal verified.
type owned struct {
	run     *Run
	entries []*Entry
	j       *sealer
	// took is the lease of a holder found gone, taken over.
	took *Lease
	// reanchored is the entry journaling that the run was re-anchored.
	reanchored *Entry
}

// own takes a run's lease and checks its journal before anything is
// written to it.
func (x *Executor) own(ctx context.Context, runID string) (*owned, error) {
	if x.Key == nil {
		return nil, errors.New("no journal key: the journal is signed entry by entry")
	}
	lease, took, err := x.acquire(ctx, runID)
	if err != nil {
		if errors.Is(err, ErrRunNotFound) {
			return nil, fmt.Errorf("run %s: %w", runID, err)
		}
		return nil, err
	}
	release := func() { _ = x.Store.ReleaseLease(context.WithoutCancel(ctx), lease) }
	run, err := x.Store.GetRun(ctx, runID)
	if err != nil {
		release()
		return nil, fmt.Errorf("run %s: %w", runID, err)
	}
	entries, err := x.Store.Entries(ctx, runID)
	if err != nil {
		release()
		return nil, fmt.Errorf("run %s: read its journal: %w", runID, err)
	}
	var heads []Head
	anchorName := ""
	if x.Anchor != nil {
		anchorName = x.Anchor.String()
		if heads, err = x.Anchor.Heads(ctx, runID); err != nil {
			release()
			return nil, fmt.Errorf("run %s: read the journal's anchor %s: %w", runID, x.Anchor, err)
		}
	}
	v := VerifyRun(run, entries, heads, nil, anchorName)
	unanchored := v.Tamper != nil && v.Tamper.What == TamperUnanchored
	switch {
	case unanchored && x.Reanchor == "":
		release()
		return nil, fmt.Errorf("run %s: refusing to continue it: %w. If you know why the anchor lost it (and only then), continue with --reanchor REASON: the journal then records who re-anchored it and why, and verify names that entry", runID, v.Tamper)
	case v.Tamper != nil && !unanchored:
		release()
		return nil, fmt.Errorf("run %s: the journal is not intact, refusing to continue it: %w", runID, v.Tamper)
	}
	if mine := KeyID(x.publicKey()); v.Key != mine {
		release()
		return nil, fmt.Errorf("run %s is signed with journal key %s, and this process's key is %s: continue it with the run's key (--journal-key or VIGIL_JOURNAL_KEY)", runID, v.Key, mine)
	}
	last := entries[len(entries)-1]
	j := &sealer{store: x.Store, lease: lease, key: x.Key, anchor: x.Anchor, runID: runID, seq: last.Seq, head: last.Hash, failpoint: x.Failpoint}
	if v.Anchored < last.Seq {
		// The process stopped between storing an entry and anchoring it (or,
		// re-anchoring, the anchor had none).
		if err := j.anchorHead(ctx); err != nil {
			release()
			return nil, &JournalError{RunID: runID, Seq: last.Seq, Err: err}
		}
	}
	own := &owned{run: run, entries: entries, j: j, took: took}
	if unanchored {
		e := &Entry{Kind: EntryRunReanchored, Actor: x.Actor, At: x.now(), Detail: mustJSON(map[string]any{
			"reason": x.Reanchor, "by": x.holder(), "anchor": anchorName, "anchored_before": v.Anchored, "entries": len(entries),
			"found": v.Tamper.Reason,
		})}
		if err := j.append(ctx, "", e); err != nil {
			release()
			return nil, err
		}
		own.reanchored = e
		own.entries = append(own.entries, e)
	}
	return own, nil
}

// acquire takes the run's lease, taking over one whose holder is gone.
func (x *Executor) acquire(ctx context.Context, runID string) (*Lease, *Lease, error) {
	l, err := x.Store.AcquireLease(ctx, runID, x.holder(), x.ttl())
	var held *LeaseHeldError
	if errors.As(err, &held) && x.HolderGone != nil && x.HolderGone(held.Lease) {
		old, berr := x.Store.BreakLease(ctx, runID, held.Lease.Token)
		if berr != nil {
			return nil, nil, berr
		}
		if old != nil {
			l, err = x.Store.AcquireLease(ctx, runID, x.holder(), x.ttl())
			if err == nil {
				return l, old, nil
			}
		}
	}
	return l, nil, err
}

// resumable checks that a run can continue with this runbook and these
// variables; nil (and no error) when it is already completed.
func (x *Executor) resumable(ctx context.Context, own *owned, rb *Runbook, vars map[string]*VarValue) (*execution, error) {
	run := own.run
	if run.Hash != rb.Hash() {
		return nil, fmt.Errorf("the runbook %s changed since run %s started; resume needs the same runbook", run.File, run.ID)
	}
	plan, err := DecodePlan(run.Plan)
	if err != nil {
		return nil, fmt.Errorf("run %s: read its plan: %w", run.ID, err)
	}
	if err := plan.CheckVariables(vars, ValueKey(x.Key)); err != nil {
		return nil, err
	}
	patterns, err := parseApprovals(x.Approve, plan)
	if err != nil {
		return nil, err
	}
	if run.Status == RunCompleted {
		return nil, nil
	}
	ex, err := x.prepare(ctx, rb, plan, vars, patterns)
	if err != nil {
		return nil, err
	}
	ex.run, ex.j, ex.starter = run, own.j, StarterOf(run, own.entries)
	if FirstDistinct(plan) != "" {
		if _, err := VerifyStarter(x.ServeKey, ex.starter, run.PlanSHA256, run.CreatedAt); err != nil {
			ex.starterErr = err
		}
	}
	return ex, nil
}

// Unlock breaks a run's lease, like terraform force-unlock, and journals
// it. It returns the lease it broke (nil when the run was not locked). A
// holder still running finds out at its next journal write and stops.
func (x *Executor) Unlock(ctx context.Context, runID string) (*Lease, error) {
	cur, err := x.Store.Lease(ctx, runID)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		if _, err := x.Store.GetRun(ctx, runID); err != nil {
			return nil, fmt.Errorf("run %s: %w", runID, err)
		}
		return nil, nil
	}
	old, err := x.Store.BreakLease(ctx, runID, cur.Token)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return nil, fmt.Errorf("run %s: its lease changed while unlocking; run unlock again", runID)
	}
	own, err := x.own(ctx, runID)
	if err != nil {
		return old, fmt.Errorf("broke the lease of %s, but cannot journal it: %w", old.Holder, err)
	}
	defer x.Store.ReleaseLease(context.WithoutCancel(ctx), own.j.lease)
	status := own.run.Status
	if status == RunRunning {
		status = RunInterrupted
	}
	e := &Entry{Kind: EntryRunUnlocked, Actor: x.Actor, At: x.now(), Detail: mustJSON(map[string]any{
		"status": status, "broken": old, "by": x.holder(),
	})}
	if err := own.j.append(ctx, status, e); err != nil {
		return old, err
	}
	return old, nil
}

// heartbeat renews the lease until stop; when the lease is lost it calls
// lost, which stops the run.
func (x *Executor) heartbeat(ctx context.Context, l Lease, lost func(error)) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	// Often enough that a lease broken with unlock stops this holder's
	// steps (their context is cancelled) within seconds, not a quarter of
	// the TTL.
	every := min(l.TTL/4, 5*time.Second)
	if every < 10*time.Millisecond {
		every = 10 * time.Millisecond
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			err := x.Store.RenewLease(context.WithoutCancel(ctx), &l)
			switch {
			case errors.Is(err, ErrLeaseLost):
				lost(err)
				return
			case err != nil && time.Now().After(l.ExpiresAt):
				lost(fmt.Errorf("%w: it could not be renewed before it expired: %v", ErrLeaseLost, err))
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

func variablesHash(vars map[string]*PlanVar) string {
	m := map[string]any{}
	for name, v := range vars {
		if v.Sensitive {
			m[name] = map[string]any{"sensitive": true, "hmac_sha256": v.HMAC}
			continue
		}
		m[name] = map[string]any{"value": compact(v.Value), "type": compact(v.Type)}
	}
	return HashValue(m)
}
