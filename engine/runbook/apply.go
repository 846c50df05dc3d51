package runbook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/vigil-ir/vigil/engine/action"
)

// Executor applies plans and resumes runs.
type Executor struct {
	Registry *action.Registry
	Env      *action.Env
	Data     *Data
	Journal  Journal
	// Actor is who runs it (the OS user, or --actor).
	Actor string
	// Approve lists steps (names or addresses) approved up front.
	Approve     []string
	AutoApprove bool
	// Prompt asks a responder to approve a step; nil when there is no
	// terminal (the run then stops in awaiting_approval).
	Prompt func(ctx context.Context, ps *PlannedStep) (bool, error)
	// Parallel bounds how many independent steps run at once (default 4).
	Parallel int
	// Progress reports what happens, for the console.
	Progress func(Event)
	Now      func() time.Time
	// Failpoint is called at named points of a step ("before:<addr>",
	// "during:<addr>" after the action took effect but before the journal
	// says so, "after:<addr>"); crash tests use it to stop the process.
	Failpoint func(point string)
	// Sleep waits between retries (tests shorten it).
	Sleep func(ctx context.Context, d time.Duration) error
	// State is provider state to record on the run (the simulated cloud).
	State string
}

// Event is a progress report.
type Event struct {
	Kind    string // started, succeeded, failed, skipped, waiting, retry, recovered, approved
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

// Start creates a run for a plan and executes it.
func (x *Executor) Start(ctx context.Context, rb *Runbook, plan *Plan, vars map[string]*VarValue) (*Result, error) {
	if plan.Runbook.Hash != rb.Hash() {
		return nil, fmt.Errorf("the runbook %s changed since the plan was made (plan %.12s, now %.12s); make a new plan", plan.Runbook.File, plan.Runbook.Hash, rb.Hash())
	}
	if err := plan.CheckVariables(vars); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(plan)
	if err != nil {
		return nil, err
	}
	now := x.now()
	run := &Run{ID: NewRunID(now), Runbook: rb.ID, File: plan.Runbook.File, Hash: plan.Runbook.Hash, Provider: plan.Provider,
		Actor: x.Actor, Status: RunRunning, CreatedAt: now, UpdatedAt: now, Plan: raw, State: x.State}
	if err := x.Journal.CreateRun(ctx, run); err != nil {
		return nil, fmt.Errorf("create run: %w", err)
	}
	if err := x.append(ctx, &Entry{RunID: run.ID, Kind: EntryRunStarted, Detail: mustJSON(map[string]any{
		"runbook": rb.ID, "file": plan.Runbook.File, "runbook_sha256": plan.Runbook.Hash, "provider": plan.Provider, "variables": plan.Variables,
	})}); err != nil {
		return nil, err
	}
	return x.execute(ctx, run, rb, plan, vars, nil)
}

// Resume continues a run: steps awaiting approval that are now approved,
// steps interrupted by a crash (after asking the action whether the first
// attempt took effect) and failed steps run again; finished steps do not.
func (x *Executor) Resume(ctx context.Context, runID string, rb *Runbook, vars map[string]*VarValue) (*Result, error) {
	run, err := x.Journal.GetRun(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", runID, err)
	}
	if run.Hash != rb.Hash() {
		return nil, fmt.Errorf("the runbook %s changed since run %s started; resume needs the same runbook", run.File, run.ID)
	}
	var plan Plan
	if err := json.Unmarshal(run.Plan, &plan); err != nil {
		return nil, fmt.Errorf("run %s: read its plan: %w", run.ID, err)
	}
	if err := plan.CheckVariables(vars); err != nil {
		return nil, err
	}
	if run.Status == RunCompleted {
		return &Result{Run: run, Status: RunCompleted}, nil
	}
	entries, err := x.Journal.Entries(ctx, runID)
	if err != nil {
		return nil, err
	}
	if t := Verify(entries); t != nil {
		return nil, fmt.Errorf("run %s: the journal is not intact, refusing to resume: %w", runID, t)
	}
	if err := x.append(ctx, &Entry{RunID: run.ID, Kind: EntryRunResumed}); err != nil {
		return nil, err
	}
	_ = x.Journal.UpdateRun(ctx, run.ID, RunRunning, x.now())
	return x.execute(ctx, run, rb, &plan, vars, entries)
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

func (x *Executor) append(ctx context.Context, e *Entry) error {
	e.Actor = x.Actor
	e.At = x.now()
	if err := x.Journal.Append(context.WithoutCancel(ctx), e); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	return nil
}

func (x *Executor) event(kind, step, msg string, d time.Duration) {
	if x.Progress != nil {
		x.Progress(Event{Kind: kind, Step: step, Message: msg, Elapsed: d})
	}
}

func (x *Executor) failpoint(p string) {
	if x.Failpoint != nil {
		x.Failpoint(p)
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// unitState is what the journal says of one step instance.
type unitState struct {
	status   string // "", succeeded, failed, skipped, rejected
	attempts int
	approved bool
	awaiting bool
	inFlight bool
	outputs  json.RawMessage
	targets  []string
}

type replayed struct {
	units    map[string]*unitState
	expanded map[string][]string
}

func replay(entries []*Entry) *replayed {
	r := &replayed{units: map[string]*unitState{}, expanded: map[string][]string{}}
	u := func(addr string) *unitState {
		s, ok := r.units[addr]
		if !ok {
			s = &unitState{}
			r.units[addr] = s
		}
		return s
	}
	for _, e := range entries {
		switch e.Kind {
		case EntryStepExpanded:
			var d struct {
				Keys []string `json:"keys"`
			}
			_ = json.Unmarshal(e.Detail, &d)
			r.expanded[e.Step] = d.Keys
		case EntryStepSkipped:
			u(e.Step).status = "skipped"
		case EntryApprovalRequired:
			u(e.Step).awaiting = true
		case EntryApproved:
			s := u(e.Step)
			s.approved, s.awaiting = true, false
			if s.status == "rejected" {
				s.status = ""
			}
		case EntryRejected:
			u(e.Step).status = "rejected"
		case EntryStepStarted:
			s := u(e.Step)
			s.inFlight, s.attempts = true, e.Attempt
		case EntryStepRetry:
			u(e.Step).inFlight = false
		case EntryStepSucceeded:
			s := u(e.Step)
			s.status, s.inFlight, s.outputs = "succeeded", false, e.Outputs
			var d struct {
				Targets []string `json:"targets"`
			}
			_ = json.Unmarshal(e.Detail, &d)
			s.targets = d.Targets
		case EntryStepFailed:
			s := u(e.Step)
			s.status, s.inFlight = "failed", false
		}
	}
	return r
}

// run is the state of one execution.
type execution struct {
	x     *Executor
	run   *Run
	rb    *Runbook
	plan  *Plan
	vars  map[string]*VarValue
	sc    *scope
	g     *graph
	state *replayed
	sem   chan struct{}

	mu       sync.Mutex
	outcome  map[string]string // step name -> succeeded, skipped, failed, waiting, rejected, interrupted
	waiting  []string
	failed   []string
	stopRun  bool
	evidence map[string]bool // asset ids with a succeeded evidence step
	red      *redactor
}

func (x *Executor) execute(ctx context.Context, run *Run, rb *Runbook, plan *Plan, vars map[string]*VarValue, entries []*Entry) (*Result, error) {
	g, diags := validate(rb, x.Registry)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	sc, diags := newScope(ctx, rb, vars, x.Data)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	par := x.Parallel
	if par <= 0 {
		par = 4
	}
	ex := &execution{x: x, run: run, rb: rb, plan: plan, vars: vars, sc: sc, g: g, state: replay(entries),
		sem: make(chan struct{}, par), outcome: map[string]string{}, evidence: map[string]bool{}, red: newRedactor(vars)}
	for addr, u := range ex.state.units {
		if u.status == "succeeded" && ex.isEvidenceStep(stepOf(addr)) {
			for _, t := range u.targets {
				ex.evidence[t] = true
			}
		}
	}

	interrupted := false
phases:
	for _, ph := range rb.Phases {
		var pending []*Step
		for _, s := range g.order {
			if s.Phase == ph {
				pending = append(pending, s)
			}
		}
		for len(pending) > 0 {
			var wave, rest []*Step
			for _, s := range pending {
				switch ex.depsState(s) {
				case "ready":
					wave = append(wave, s)
				case "blocked":
					// a dependency failed (on_error = "continue"): skip it
					ex.skipStep(ctx, s, "a step it depends on failed")
				default:
					rest = append(rest, s)
				}
			}
			if len(wave) == 0 {
				break
			}
			var wg sync.WaitGroup
			for _, s := range wave {
				wg.Add(1)
				go func(s *Step) {
					defer wg.Done()
					ex.runStep(ctx, s)
				}(s)
			}
			wg.Wait()
			pending = rest
			if ctx.Err() != nil {
				interrupted = true
				break phases
			}
			if ex.stopRun {
				break phases
			}
		}
		// A phase is a barrier: the next starts only when this one is done.
		for _, s := range ph.Steps {
			switch ex.outcome[s.Name] {
			case "succeeded", "skipped", "failed-continue":
			default:
				break phases
			}
		}
	}

	status := RunCompleted
	switch {
	case interrupted:
		status = RunInterrupted
	case len(ex.failed) > 0 && ex.stopRun:
		status = RunFailed
	case len(ex.waiting) > 0:
		status = RunAwaitingApproval
	case len(ex.failed) > 0:
		status = RunCompleted // failures with on_error = "continue"
	}
	for _, s := range rb.Steps {
		if _, ok := ex.outcome[s.Name]; !ok && status == RunCompleted {
			status = RunFailed // something did not run
		}
	}
	res := &Result{Run: run, Status: status, Waiting: ex.waiting, Failed: ex.failed}
	detail := map[string]any{"status": status}
	if status == RunCompleted {
		res.Outputs = map[string]any{}
		for _, o := range rb.Outputs {
			v, d := o.Value.Value(sc.ctx(nil))
			if d.HasErrors() {
				res.Outputs[o.Name] = "error: " + d.Error()
				continue
			}
			if o.Sensitive {
				v = v.Mark(sensitive)
			}
			res.Outputs[o.Name] = ex.red.value(Encode(v))
		}
		detail["outputs"] = res.Outputs
	}
	if len(ex.waiting) > 0 {
		detail["awaiting_approval"] = ex.waiting
	}
	if len(ex.failed) > 0 {
		detail["failed"] = ex.failed
	}
	if err := x.append(ctx, &Entry{RunID: run.ID, Kind: EntryRunFinished, Detail: mustJSON(detail)}); err != nil {
		return nil, err
	}
	if err := x.Journal.UpdateRun(context.WithoutCancel(ctx), run.ID, status, x.now()); err != nil {
		return nil, err
	}
	run.Status = status
	if interrupted {
		return res, fmt.Errorf("run %s interrupted: %w", run.ID, context.Cause(ctx))
	}
	return res, nil
}

func stepOf(addr string) string {
	if i := strings.IndexByte(addr, '['); i >= 0 {
		return addr[:i]
	}
	return addr
}

func (ex *execution) isEvidenceStep(name string) bool {
	s := ex.rb.Step(name)
	return s != nil && (s.Evidence || s.Action == "core.evidence")
}

// depsState is "ready" when every dependency succeeded or was skipped,
// "blocked" when one failed, "wait" otherwise.
func (ex *execution) depsState(s *Step) string {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	for _, d := range ex.g.deps[s.Name] {
		switch ex.outcome[d] {
		case "succeeded", "skipped":
		case "failed-continue":
			return "blocked"
		default:
			return "wait"
		}
	}
	return "ready"
}

func (ex *execution) setOutcome(step, outcome string) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.outcome[step] = outcome
}

func (ex *execution) skipStep(ctx context.Context, s *Step, reason string) {
	if u := ex.state.units[s.Name]; u == nil || u.status != "skipped" {
		_ = ex.x.append(ctx, &Entry{RunID: ex.run.ID, Kind: EntryStepSkipped, Step: s.Name, Detail: mustJSON(map[string]string{"reason": reason})})
	}
	ex.x.event("skipped", s.Name, reason, 0)
	ex.setOutcome(s.Name, "skipped")
	spec := specOf(ex.x.Registry, s.Action)
	if s.ForEach != nil {
		ex.sc.setInstances(s, map[string]cty.Value{})
	} else if spec != nil {
		ex.sc.setStep(s, nil, false, spec)
	}
}

// runStep runs every instance of a step and records its outcome.
func (ex *execution) runStep(ctx context.Context, s *Step) {
	a, _, ok := ex.x.Registry.Resolve(s.Action)
	if !ok {
		ex.fail(ctx, s, s.Name, 0, fmt.Errorf("no provider implements %s", s.Action))
		return
	}
	spec := a.Spec()
	keys, err := ex.instances(ctx, s)
	if err != nil {
		ex.fail(ctx, s, s.Name, 0, err)
		return
	}
	type res struct {
		key, outcome string
		outputs      cty.Value
	}
	results := make([]res, len(keys))
	var wg sync.WaitGroup
	for i, inst := range keys {
		wg.Add(1)
		go func(i int, inst instance) {
			defer wg.Done()
			ex.sem <- struct{}{}
			defer func() { <-ex.sem }()
			outcome, outs := ex.runUnit(ctx, s, a, spec, inst)
			results[i] = res{inst.key, outcome, outs}
		}(i, inst)
	}
	wg.Wait()
	outcome := "succeeded"
	allSkipped := len(results) > 0
	byKey := map[string]cty.Value{}
	for _, r := range results {
		byKey[r.key] = cty.ObjectVal(map[string]cty.Value{"outputs": r.outputs})
		if r.outcome != "skipped" {
			allSkipped = false
		}
		switch r.outcome {
		case "failed", "rejected":
			outcome = "failed"
		case "waiting":
			if outcome != "failed" {
				outcome = "waiting"
			}
		case "interrupted":
			outcome = "interrupted"
		}
	}
	if outcome == "succeeded" && allSkipped {
		outcome = "skipped"
	}
	if s.ForEach != nil {
		ex.sc.setInstances(s, byKey)
	} else if len(results) == 1 {
		ex.sc.mu.Lock()
		ex.sc.steps[s.Name] = byKey[""]
		ex.sc.mu.Unlock()
	}
	if outcome == "failed" && s.OnError == "continue" {
		outcome = "failed-continue"
	}
	if outcome == "failed" {
		ex.mu.Lock()
		ex.stopRun = true
		ex.mu.Unlock()
	}
	ex.setOutcome(s.Name, outcome)
}

// instances expands a step, reusing the expansion the journal recorded so
// that a resumed run acts on the same set.
func (ex *execution) instances(ctx context.Context, s *Step) ([]instance, error) {
	insts, unknown, diags := ex.sc.expand(s)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	if unknown {
		return nil, fmt.Errorf("for_each of step %s is still unknown at apply", s.Name)
	}
	if s.ForEach == nil {
		return insts, nil
	}
	if keys, ok := ex.state.expanded[s.Name]; ok {
		byKey := map[string]instance{}
		for _, in := range insts {
			byKey[in.key] = in
		}
		var out []instance
		for _, k := range keys {
			in, ok := byKey[k]
			if !ok {
				return nil, fmt.Errorf("step %s: instance %q of the run no longer exists in for_each; the inventory changed since the run started", s.Name, k)
			}
			out = append(out, in)
		}
		return out, nil
	}
	keys := make([]string, len(insts))
	for i, in := range insts {
		keys[i] = in.key
	}
	if err := ex.x.append(ctx, &Entry{RunID: ex.run.ID, Kind: EntryStepExpanded, Step: s.Name, Detail: mustJSON(map[string]any{"keys": keys})}); err != nil {
		return nil, err
	}
	ex.state.expanded[s.Name] = keys
	return insts, nil
}

func (ex *execution) fail(ctx context.Context, s *Step, addr string, attempt int, err error) {
	msg := ex.red.text(err.Error())
	_ = ex.x.append(ctx, &Entry{RunID: ex.run.ID, Kind: EntryStepFailed, Step: addr, Attempt: attempt, Error: msg})
	ex.x.event("failed", addr, msg, 0)
	ex.mu.Lock()
	ex.failed = append(ex.failed, addr)
	if s.OnError != "continue" {
		ex.stopRun = true
	}
	ex.mu.Unlock()
	ex.setOutcome(s.Name, "failed")
}

// runUnit runs one instance; it returns its outcome and outputs.
func (ex *execution) runUnit(ctx context.Context, s *Step, a action.Action, spec *action.Spec, inst instance) (string, cty.Value) {
	addr := Address(s.Name, inst.key)
	nullOuts := outputsObject(spec, nil)
	u := ex.state.units[addr]
	if u == nil {
		u = &unitState{}
	}
	switch u.status {
	case "succeeded":
		return "succeeded", ex.restoreOutputs(spec, u.outputs)
	case "skipped":
		return "skipped", nullOuts
	}
	ectx := ex.sc.ctx(inst.each)
	if s.When != nil {
		w, d := s.When.Value(ectx)
		if d.HasErrors() {
			return ex.unitFailed(ctx, s, addr, 0, diagError(d)), nullOuts
		}
		w, _ = w.Unmark()
		if w.IsNull() || !w.IsKnown() || w.False() {
			_ = ex.x.append(ctx, &Entry{RunID: ex.run.ID, Kind: EntryStepSkipped, Step: addr, Detail: mustJSON(map[string]string{"reason": "when is false"})})
			ex.x.event("skipped", addr, "when is false", 0)
			return "skipped", nullOuts
		}
	}
	args, d := ex.sc.args(s, spec, ectx)
	if d.HasErrors() {
		return ex.unitFailed(ctx, s, addr, 0, diagError(d)), nullOuts
	}
	if !allKnown(args) {
		return ex.unitFailed(ctx, s, addr, 0, errors.New("an argument is still unknown at apply")), nullOuts
	}
	encArgs := EncodeMap(args)
	if ps := ex.plan.Step(addr); ps != nil {
		for _, name := range slices.Sorted(maps.Keys(ps.Args)) {
			if !consistent(ps.Args[name], encArgs[name]) {
				return ex.unitFailed(ctx, s, addr, 0, fmt.Errorf("the plan is stale: argument %s was %s in the plan and is %s now; make a new plan",
					name, canonicalJSON(ps.Args[name]), canonicalJSON(encArgs[name]))), nullOuts
			}
		}
	}
	req := &action.Request{Args: unmarkAll(args), RunID: ex.run.ID, Step: addr, Env: ex.x.Env, Incident: incidentOf(ex.vars)}

	// Approval.
	needs := s.Approval != nil || spec.Effect == action.Destructive || spec.Gate
	if needs && !u.approved {
		via := ""
		switch {
		case ex.x.AutoApprove:
			via = "--auto-approve"
		case slices.Contains(ex.x.Approve, s.Name) || slices.Contains(ex.x.Approve, addr):
			via = "--approve"
		case ex.x.Prompt != nil:
			ps := ex.plannedFor(s, addr, spec, encArgs)
			ok, err := ex.x.Prompt(ctx, ps)
			if err != nil {
				return ex.unitInterrupted(ctx, addr, err)
			}
			if !ok {
				_ = ex.x.append(ctx, &Entry{RunID: ex.run.ID, Kind: EntryRejected, Step: addr})
				ex.x.event("failed", addr, "approval refused", 0)
				ex.mu.Lock()
				ex.failed = append(ex.failed, addr)
				ex.stopRun = true
				ex.mu.Unlock()
				return "rejected", nullOuts
			}
			via = "prompt"
		}
		if via == "" {
			if !u.awaiting {
				reason := approvalReason(s, ectx)
				_ = ex.x.append(ctx, &Entry{RunID: ex.run.ID, Kind: EntryApprovalRequired, Step: addr, Detail: mustJSON(map[string]string{"reason": reason})})
			}
			ex.x.event("waiting", addr, "awaiting approval", 0)
			ex.mu.Lock()
			ex.waiting = append(ex.waiting, addr)
			ex.mu.Unlock()
			return "waiting", nullOuts
		}
		if err := ex.x.append(ctx, &Entry{RunID: ex.run.ID, Kind: EntryApproved, Step: addr, Detail: mustJSON(map[string]string{"via": via})}); err != nil {
			return ex.unitInterrupted(ctx, addr, err)
		}
		ex.x.event("approved", addr, "approved ("+via+")", 0)
	}

	// The evidence rule: never delete an asset before its forensic copies
	// exist.
	ch, err := a.Plan(ctx, req)
	if err != nil {
		return ex.unitFailed(ctx, s, addr, u.attempts, err), nullOuts
	}
	var missing []string
	ex.mu.Lock()
	for _, id := range ch.Deletes {
		if !ex.evidence[id] {
			missing = append(missing, id)
		}
	}
	ex.mu.Unlock()
	if len(missing) > 0 {
		return ex.unitFailed(ctx, s, addr, u.attempts, fmt.Errorf("refusing to delete %s: no evidence step of this run has succeeded for it (add a snapshot or core.evidence step with evidence = true before this one)", strings.Join(missing, ", "))), nullOuts
	}

	// A crash while the step ran: ask the action whether it took effect.
	if u.inFlight {
		if rec, ok := a.(action.Recoverer); ok {
			res, took, err := rec.Recover(ctx, req)
			if err == nil && took {
				_ = ex.x.append(ctx, &Entry{RunID: ex.run.ID, Kind: EntryStepRecovered, Step: addr, Attempt: u.attempts})
				ex.x.event("recovered", addr, "the interrupted attempt had taken effect", 0)
				return ex.succeed(ctx, s, addr, u.attempts, spec, res, 0)
			}
		}
	}

	maxAttempts := 1
	backoff := time.Second
	if s.Retry != nil {
		maxAttempts, backoff = s.Retry.Attempts, s.Retry.Backoff
	}
	attempt := u.attempts
	for try := 1; ; try++ {
		attempt++
		ex.x.failpoint("before:" + addr)
		if err := ex.x.append(ctx, &Entry{RunID: ex.run.ID, Kind: EntryStepStarted, Step: addr, Attempt: attempt, Args: mustJSON(encArgs)}); err != nil {
			return ex.unitInterrupted(ctx, addr, err)
		}
		ex.x.event("started", addr, s.Action, 0)
		start := time.Now()
		actx := ctx
		cancel := func() {}
		if s.Timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, s.Timeout)
		}
		res, err := a.Apply(actx, req)
		timedOut := actx.Err() == context.DeadlineExceeded && ctx.Err() == nil
		cancel()
		elapsed := time.Since(start)
		if err == nil {
			ex.x.failpoint("during:" + addr)
			return ex.succeed(ctx, s, addr, attempt, spec, res, elapsed)
		}
		if ctx.Err() != nil {
			// Ctrl-C: leave the attempt open; resume asks the action.
			return ex.unitInterrupted(ctx, addr, ctx.Err())
		}
		if timedOut {
			err = fmt.Errorf("timed out after %s: %w", s.Timeout, err)
		}
		if action.IsRetryable(err) && try < maxAttempts {
			wait := backoff << (try - 1)
			msg := ex.red.text(err.Error())
			_ = ex.x.append(ctx, &Entry{RunID: ex.run.ID, Kind: EntryStepRetry, Step: addr, Attempt: attempt, Error: msg, Detail: mustJSON(map[string]string{"wait": wait.String()})})
			ex.x.event("retry", addr, fmt.Sprintf("%s; retrying in %s", msg, wait), elapsed)
			sleep := ex.x.Sleep
			if sleep == nil {
				sleep = sleepCtx
			}
			if err := sleep(ctx, wait); err != nil {
				return ex.unitInterrupted(ctx, addr, err)
			}
			continue
		}
		return ex.unitFailed(ctx, s, addr, attempt, err), nullOuts
	}
}

func (ex *execution) succeed(ctx context.Context, s *Step, addr string, attempt int, spec *action.Spec, res *action.Result, elapsed time.Duration) (string, cty.Value) {
	if res == nil {
		res = &action.Result{}
	}
	outs := outputsObject(spec, res.Outputs)
	enc := ex.red.value(Encode(outs))
	res.Summary = ex.red.text(res.Summary)
	detail := map[string]any{"summary": res.Summary, "targets": res.Targets, "deletes": res.Deletes, "duration_ms": elapsed.Milliseconds()}
	if err := ex.x.append(ctx, &Entry{RunID: ex.run.ID, Kind: EntryStepSucceeded, Step: addr, Attempt: attempt, Outputs: mustJSON(enc), Detail: mustJSON(detail)}); err != nil {
		return ex.unitInterrupted(ctx, addr, err)
	}
	if ex.isEvidenceStep(s.Name) {
		items := append([]action.Evidence{{Item: "outputs of step." + addr, SHA256: HashValue(enc), Note: s.Action}}, res.Evidence...)
		_ = ex.x.append(ctx, &Entry{RunID: ex.run.ID, Kind: EntryEvidence, Step: addr, Detail: mustJSON(map[string]any{"items": items, "targets": res.Targets})})
		ex.mu.Lock()
		for _, t := range res.Targets {
			ex.evidence[t] = true
		}
		ex.mu.Unlock()
	}
	ex.x.failpoint("after:" + addr)
	msg := res.Summary
	if msg == "" {
		msg = "done"
	}
	ex.x.event("succeeded", addr, msg, elapsed)
	return "succeeded", outs
}

func (ex *execution) unitFailed(ctx context.Context, s *Step, addr string, attempt int, err error) string {
	msg := ex.red.text(err.Error())
	_ = ex.x.append(ctx, &Entry{RunID: ex.run.ID, Kind: EntryStepFailed, Step: addr, Attempt: attempt, Error: msg})
	ex.x.event("failed", addr, msg, 0)
	ex.mu.Lock()
	ex.failed = append(ex.failed, addr)
	ex.mu.Unlock()
	return "failed"
}

func (ex *execution) unitInterrupted(ctx context.Context, addr string, err error) (string, cty.Value) {
	ex.x.event("failed", addr, "interrupted: "+err.Error(), 0)
	return "interrupted", cty.DynamicVal
}

func (ex *execution) restoreOutputs(spec *action.Spec, raw json.RawMessage) cty.Value {
	if len(raw) == 0 {
		return outputsObject(spec, nil)
	}
	v, err := ctyjson.Unmarshal(raw, spec.OutputsType())
	if err != nil {
		return outputsObject(spec, nil)
	}
	return v
}

func (ex *execution) plannedFor(s *Step, addr string, spec *action.Spec, args map[string]any) *PlannedStep {
	if ps := ex.plan.Step(addr); ps != nil {
		c := *ps
		c.Args = args
		return &c
	}
	return &PlannedStep{Address: addr, Step: s.Name, Phase: s.Phase.Name, Action: s.Action, Effect: spec.Effect, Args: args, NeedsApproval: true}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DiagError carries diagnostics through error returns.
type DiagError struct{ Diags hcl.Diagnostics }

func (e *DiagError) Error() string { return e.Diags.Error() }

func diagError(d hcl.Diagnostics) error { return &DiagError{Diags: d} }

// Waiting returns the steps of a run that wait for approval, per the
// journal.
func Waiting(entries []*Entry) []string {
	st := replay(entries)
	var out []string
	for addr, u := range st.units {
		if u.awaiting && !u.approved && u.status == "" {
			out = append(out, addr)
		}
	}
	sort.Strings(out)
	return out
}
