package runbook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
)

// execution is one run of a plan. One goroutine, the owner (execute's),
// holds its state and makes every journal write; step instances run on
// worker goroutines, which hand what they need done to the owner through
// inbox and report back there when they finish.
type execution struct {
	x        *Executor
	ctx      context.Context // cancelled by the caller, or when the lease is lost
	cancel   context.CancelCauseFunc
	run      *Run
	rb       *Runbook
	plan     *Plan
	planHash string
	vars     map[string]*VarValue
	sc       *scope
	g        *graph
	red      *redactor
	env      *action.Env
	approve  []approvalPattern
	j        *sealer
	// starter is who started the run (the two-person rule); waitCtx ends
	// the waits for decisions when the run halts.
	starter Identity
	// starterErr says why serve's statement about the starter does not
	// verify (a resumed run): its steps that need a second person take no
	// decision.
	starterErr error
	waitCtx    context.Context
	stopWaits  context.CancelCauseFunc

	inbox    chan func()
	sem      chan struct{}
	prompts  *promptQueue
	stopping atomic.Bool // read by the prompt goroutine

	// Owned by the owner goroutine.
	state    *replayed
	started  map[string]bool
	steps    map[string]*stepRun
	outcome  map[string]string // step -> succeeded, skipped, failed, failed-continue, waiting, rejected, interrupted
	evidence custody
	waiting  []string
	failed   []string
	stop     bool
	fatal    error
	phase    int
	pending  int // workers and prompts that have not reported back
}

// stepRun is a step whose instances are running.
type stepRun struct {
	s       *Step
	a       action.Action
	spec    *action.Spec
	open    int
	results map[string]unitResult
	order   []string
}

type unitResult struct {
	outcome string
	outputs cty.Value
}

// unit is one step instance on its way to a worker.
type unit struct {
	sr      *stepRun
	key     string
	addr    string
	planned *PlannedStep // nil: expanded at apply
	req     *action.Request
	encArgs map[string]any
	reason  string
	state   unitState
}

func (x *Executor) prepare(ctx context.Context, rb *Runbook, plan *Plan, vars map[string]*VarValue, patterns []approvalPattern) (*execution, error) {
	g, diags := validate(rb, x.Registry)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	sc, diags := newScope(ctx, rb, vars, x.Data, ValueKey(x.Key))
	red := newRedactor(vars)
	if diags.HasErrors() {
		return nil, diagError(red.diags(diags))
	}
	par := x.Parallel
	if par <= 0 {
		par = 4
	}
	env := &action.Env{}
	if x.Env != nil {
		c := *x.Env
		env = &c
	}
	env.Log = red.logger(env.Log)
	return &execution{x: x, ctx: ctx, cancel: func(error) {}, rb: rb, plan: plan, planHash: plan.Hash(), vars: vars, sc: sc, g: g, red: red, env: env, approve: patterns,
		inbox: make(chan func()), sem: make(chan struct{}, par), started: map[string]bool{}, steps: map[string]*stepRun{},
		outcome: map[string]string{}, evidence: custody{}}, nil
}

// execute runs the plan from the replayed state to the end (or as far as
// approvals, failures or an interruption allow) and gives up the lease.
func (ex *execution) execute(parent context.Context, st *replayed) (*Result, error) {
	ex.state = st
	for a, kinds := range st.evidence {
		for k := range kinds {
			ex.evidence.add(a, k)
		}
	}
	ex.ctx, ex.cancel = context.WithCancelCause(parent)
	defer ex.cancel(nil)
	ex.waitCtx, ex.stopWaits = context.WithCancelCause(ex.ctx)
	defer ex.stopWaits(nil)
	stopBeat := ex.x.heartbeat(ex.ctx, *ex.j.lease, func(err error) { ex.cancel(err) })
	ex.prompts = newPromptQueue()
	if ex.x.Prompt != nil {
		go ex.prompts.serve(ex.askApproval)
	}

	ex.schedule()
	for ex.pending > 0 {
		f := <-ex.inbox
		f()
		ex.schedule()
	}
	ex.prompts.close()
	stopBeat()
	res, err := ex.finish()
	if !errors.Is(err, ErrLeaseLost) {
		_ = ex.x.Store.ReleaseLease(context.WithoutCancel(parent), ex.j.lease)
	}
	return res, err
}

// halted says no new step may start.
func (ex *execution) halted() bool {
	return ex.stop || ex.fatal != nil || ex.ctx.Err() != nil
}

func (ex *execution) halt() {
	ex.stop = true
	ex.stopping.Store(true)
	if ex.stopWaits != nil {
		ex.stopWaits(errHalted)
	}
}

// schedule starts every step whose dependencies are done, phase by phase:
// a phase is a barrier, the next starts only when this one is done.
func (ex *execution) schedule() {
	for !ex.halted() && ex.phase < len(ex.rb.Phases) {
		ph := ex.rb.Phases[ex.phase]
		progressed := false
		for _, s := range ex.g.order {
			if s.Phase != ph || ex.started[s.Name] {
				continue
			}
			switch ex.depsState(s) {
			case "ready":
				ex.startStep(s)
				progressed = true
			case "blocked":
				// a dependency failed (on_error = "continue"): skip it
				ex.skipStep(s, "a step it depends on failed")
				progressed = true
			}
			if ex.halted() {
				return
			}
		}
		if progressed {
			continue
		}
		for _, s := range ph.Steps {
			switch ex.outcome[s.Name] {
			case "succeeded", "skipped", "failed-continue":
			default:
				return // still running, waiting or failed
			}
		}
		ex.phase++
	}
}

// depsState is "ready" when every dependency succeeded or was skipped,
// "blocked" when one failed, "wait" otherwise.
func (ex *execution) depsState(s *Step) string {
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

func (ex *execution) skipStep(s *Step, reason string) {
	ex.started[s.Name] = true
	if u := ex.state.units[s.Name]; u == nil || u.status != "skipped" {
		if ex.journal("", &Entry{Kind: EntryStepSkipped, Step: s.Name, Detail: mustJSON(map[string]string{"reason": reason})}) != nil {
			return
		}
	}
	ex.event("skipped", s.Name, reason, 0)
	ex.outcome[s.Name] = "skipped"
	spec := specOf(ex.x.Registry, s.Action)
	if s.ForEach != nil {
		ex.sc.setInstances(s, map[string]cty.Value{})
	} else if spec != nil {
		ex.sc.setStep(s, nil, false, spec)
	}
}

// startStep expands a step and starts each of its instances.
func (ex *execution) startStep(s *Step) {
	ex.started[s.Name] = true
	a, _, ok := ex.x.Registry.Resolve(s.Action)
	if !ok {
		ex.stepFailed(s, s.Name, fmt.Errorf("no provider implements %s", s.Action))
		return
	}
	insts, err := ex.instances(s)
	if err != nil {
		ex.stepFailed(s, s.Name, err)
		return
	}
	sr := &stepRun{s: s, a: a, spec: a.Spec(), open: len(insts), results: map[string]unitResult{}}
	ex.steps[s.Name] = sr
	for _, inst := range insts {
		sr.order = append(sr.order, inst.key)
		ex.startUnit(sr, inst)
		if ex.fatal != nil {
			break
		}
	}
	if sr.open == 0 {
		ex.finishStep(sr)
	}
}

// stepFailed fails a step before any instance ran.
func (ex *execution) stepFailed(s *Step, addr string, err error) {
	msg := ex.red.text(err.Error())
	if ex.journal("", &Entry{Kind: EntryStepFailed, Step: addr, Error: msg}) != nil {
		return
	}
	ex.event("failed", addr, msg, 0)
	ex.failed = append(ex.failed, addr)
	if s.OnError == "continue" {
		ex.outcome[s.Name] = "failed-continue"
		spec := specOf(ex.x.Registry, s.Action)
		if s.ForEach != nil {
			ex.sc.setInstances(s, map[string]cty.Value{})
		} else if spec != nil {
			ex.sc.setStep(s, nil, false, spec)
		}
		return
	}
	ex.outcome[s.Name] = "failed"
	ex.halt()
}

// unitFinished records an instance's outcome; the step is done when all
// its instances are.
func (ex *execution) unitFinished(sr *stepRun, key, outcome string, outs cty.Value) {
	if _, done := sr.results[key]; done {
		return
	}
	sr.results[key] = unitResult{outcome, outs}
	sr.open--
	if sr.open == 0 {
		ex.finishStep(sr)
	}
}

func (ex *execution) finishStep(sr *stepRun) {
	s := sr.s
	outcome := "succeeded"
	allSkipped := len(sr.results) > 0
	byKey := map[string]cty.Value{}
	for _, k := range sr.order {
		r, ok := sr.results[k]
		if !ok {
			r = unitResult{"interrupted", cty.DynamicVal}
		}
		byKey[k] = cty.ObjectVal(map[string]cty.Value{"outputs": r.outputs})
		if r.outcome != "skipped" {
			allSkipped = false
		}
		switch r.outcome {
		case "failed", "rejected":
			outcome = "failed"
		case "waiting":
			if outcome != "failed" && outcome != "interrupted" {
				outcome = "waiting"
			}
		case "interrupted":
			if outcome != "failed" {
				outcome = "interrupted"
			}
		}
	}
	if outcome == "succeeded" && allSkipped {
		outcome = "skipped"
	}
	if s.ForEach != nil {
		ex.sc.setInstances(s, byKey)
	} else if v, ok := byKey[""]; ok {
		ex.sc.mu.Lock()
		ex.sc.steps[s.Name] = v
		ex.sc.mu.Unlock()
	}
	if outcome == "failed" && s.OnError == "continue" {
		outcome = "failed-continue"
	}
	if outcome == "failed" {
		ex.halt()
	}
	ex.outcome[s.Name] = outcome
}

// instances expands a step, reusing the expansion the journal recorded so
// that a resumed run acts on the same set, and holding it to the plan.
func (ex *execution) instances(s *Step) ([]instance, error) {
	insts, unknown, diags := ex.sc.expand(s)
	if diags.HasErrors() {
		return nil, diagError(ex.red.diags(diags))
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
				return nil, fmt.Errorf("step %s: instance %s of the run no longer exists in for_each; the inventory changed since the run started", s.Name, Address(s.Name, k))
			}
			out = append(out, in)
		}
		return out, nil
	}
	atApply := ex.plan.Step(s.Name+"[*]") != nil
	if !atApply {
		if err := stale(ex.plan, []*Step{s}, map[string][]instance{s.Name: insts}); err != nil {
			return nil, err
		}
	}
	keys := make([]string, len(insts))
	for i, in := range insts {
		keys[i] = in.key
	}
	detail := map[string]any{"keys": keys}
	if atApply {
		detail["expanded_at_apply"] = true // the plan could not know them
	}
	if err := ex.journal("", &Entry{Kind: EntryStepExpanded, Step: s.Name, Detail: mustJSON(detail)}); err != nil {
		return nil, err
	}
	ex.state.expanded[s.Name] = keys
	return insts, nil
}

// journal writes entries (on the owner goroutine). The first failure stops
// the run: nothing may happen that the journal cannot record.
func (ex *execution) journal(status string, entries ...*Entry) error {
	if ex.fatal != nil {
		return ex.fatal
	}
	for _, e := range entries {
		if e.Actor == "" { // an approval names its approver
			e.Actor = ex.x.Actor
		}
		e.At = ex.x.now()
		e.Error = ex.red.text(e.Error)
		e.Args, e.Outputs, e.Detail = ex.redactJSON(e.Args), ex.redactJSON(e.Outputs), ex.redactJSON(e.Detail)
	}
	if err := ex.j.append(ex.ctx, status, entries...); err != nil {
		ex.fatal = err
		ex.halt()
		ex.cancel(err)
		return err
	}
	return nil
}

// redactJSON is the last guard before the journal: no learned secret is
// written, whatever field it hides in.
func (ex *execution) redactJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	return mustJSON(ex.red.value(v))
}

func (ex *execution) event(kind, step, msg string, d time.Duration) {
	if ex.x.Progress != nil {
		ex.x.Progress(Event{Kind: kind, Step: step, Message: ex.red.text(msg), Elapsed: d})
	}
}

// owner runs f on the owner goroutine and waits for it (workers call it).
func (ex *execution) owner(f func()) {
	done := make(chan struct{})
	ex.inbox <- func() { f(); close(done) }
	<-done
}

// finish decides the run's status and journals it.
func (ex *execution) finish() (*Result, error) {
	run := ex.run
	interrupted := ex.ctx.Err() != nil
	status := RunCompleted
	switch {
	case interrupted:
		status = RunInterrupted
	case len(ex.failed) > 0 && ex.stop:
		status = RunFailed
	case len(ex.waiting) > 0:
		status = RunAwaitingApproval
	case len(ex.failed) > 0:
		status = RunCompleted // failures with on_error = "continue"
	}
	for _, s := range ex.rb.Steps {
		if _, ok := ex.outcome[s.Name]; !ok && status == RunCompleted {
			status = RunFailed // something did not run
		}
	}
	if ex.fatal != nil {
		return nil, ex.fatal // the journal cannot record an ending
	}
	res := &Result{Run: run, Status: status, Waiting: ex.waiting, Failed: ex.failed}
	detail := map[string]any{"status": status}
	if status == RunCompleted {
		res.Outputs = map[string]any{}
		for _, o := range ex.rb.Outputs {
			v, d := o.Value.Value(ex.sc.ctx(nil))
			if d.HasErrors() {
				res.Outputs[o.Name] = "error: " + ex.red.text(d.Error())
				continue
			}
			if o.Sensitive {
				v = v.Mark(sensitive)
			}
			ex.red.learn(v)
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
	if cause := context.Cause(ex.ctx); interrupted && cause != nil {
		detail["reason"] = ex.red.text(cause.Error())
	}
	if err := ex.journal(status, &Entry{Kind: EntryRunFinished, Detail: mustJSON(detail)}); err != nil {
		return nil, err
	}
	run.Status = status
	if interrupted {
		return res, fmt.Errorf("run %s interrupted: %w", run.ID, context.Cause(ex.ctx))
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

// DiagError carries diagnostics through error returns.
type DiagError struct{ Diags hcl.Diagnostics }

func (e *DiagError) Error() string { return e.Diags.Error() }

func diagError(d hcl.Diagnostics) error { return &DiagError{Diags: d} }
