package runbook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/vigil-ir/vigil/engine/action"
)

// startUnit prepares one instance on the owner goroutine: what the journal
// says of it, its condition, its arguments held to the plan, its approval;
// then hands it to a worker.
func (ex *execution) startUnit(sr *stepRun, inst instance) {
	s, spec := sr.s, sr.spec
	addr := Address(s.Name, inst.key)
	nullOuts := outputsObject(spec, nil)
	st := ex.state.unit(addr)
	switch st.status {
	case "succeeded":
		ex.unitFinished(sr, inst.key, "succeeded", ex.restoreOutputs(spec, st.outputs))
		return
	case "skipped":
		ex.unitFinished(sr, inst.key, "skipped", nullOuts)
		return
	}
	fail := func(err error) {
		ex.recordFailure(addr, 0, err)
		ex.unitFinished(sr, inst.key, "failed", nullOuts)
	}
	ps := ex.plan.Step(addr)
	if ps == nil && ex.plan.Step(s.Name+"[*]") == nil {
		fail(&StaleError{New: []string{"step." + addr}})
		return
	}
	ectx := ex.sc.ctx(inst.each)
	if s.When != nil {
		w, d := s.When.Value(ectx)
		if d.HasErrors() {
			fail(diagError(ex.red.diags(d)))
			return
		}
		w, _ = w.Unmark()
		run := w.IsKnown() && !w.IsNull() && w.True()
		if run && ps != nil && ps.Skipped {
			fail(fmt.Errorf("the plan is stale: step.%s was skipped in the plan (%s) and would run now; make a new plan", addr, ps.SkipReason))
			return
		}
		if !run {
			reason := "when is false"
			if ps != nil && !ps.Skipped && !ps.Unknown {
				reason += " now (it was true in the plan)"
			}
			if ex.journal("", &Entry{Kind: EntryStepSkipped, Step: addr, Detail: mustJSON(map[string]string{"reason": reason})}) != nil {
				ex.unitFinished(sr, inst.key, "interrupted", nullOuts)
				return
			}
			ex.event("skipped", addr, reason, 0)
			ex.unitFinished(sr, inst.key, "skipped", nullOuts)
			return
		}
	}
	args, d := ex.sc.args(s, spec, ectx)
	if d.HasErrors() {
		fail(diagError(ex.red.diags(d)))
		return
	}
	ex.red.learnAll(args)
	if !allKnown(args) {
		fail(errors.New("an argument is still unknown at apply"))
		return
	}
	encArgs := EncodeMap(args)
	if err := pinnedArgs(ps, encArgs); err != nil {
		fail(err)
		return
	}
	u := &unit{sr: sr, key: inst.key, addr: addr, planned: ps, encArgs: encArgs, reason: ex.red.text(approvalReason(s, ectx)), state: *st,
		req: &action.Request{Args: unmarkAll(args), Sensitive: sensitiveArgs(args), KeyedHash: ex.keyedHash, RunID: ex.run.ID, Step: addr, Env: ex.env, Incident: incidentOf(ex.vars),
			Checkpoints: append([]json.RawMessage(nil), st.checkpoints...)}}
	u.req.Checkpoint = func(raw json.RawMessage) error { return ex.checkpoint(u, raw) }
	u.req.Progress = func(msg string) { ex.emit("progress", addr, msg, 0) }

	needs := s.Approval != nil || spec.Effect == action.Destructive || spec.Gate
	if needs && !st.approved && ex.distinct(u) {
		// The two-person rule: neither the flags nor the terminal of this
		// process count; a decision through vigil serve does.
		if ex.x.AutoApprove || approvedBy(ex.approve, ex.plan, s.Name, addr) != "" {
			ex.event("waiting", addr, "--approve and --auto-approve do not approve this step: it needs a second person's approval through vigil serve (distinct_approver)", 0)
		}
		switch {
		case ex.recorded(u):
		case ex.x.Approvals != nil && ex.x.Wait != WaitNone:
			ex.awaitDecision(u)
		default:
			ex.awaitApproval(u)
		}
		return
	}
	if needs && !st.approved {
		switch {
		case ex.recorded(u):
		case ex.x.AutoApprove:
			ex.approved(u, "--auto-approve")
		case approvedBy(ex.approve, ex.plan, s.Name, addr) != "":
			ex.approved(u, "--approve "+approvedBy(ex.approve, ex.plan, s.Name, addr))
		case ex.x.Prompt != nil:
			ex.pending++
			ex.prompts.push(u)
		case ex.x.Approvals != nil && ex.x.Wait == WaitAll:
			ex.awaitDecision(u)
		default:
			ex.awaitApproval(u)
		}
		return
	}
	ex.dispatch(u)
}

// approved journals an approval (with the plan's hash and the address) and
// runs the instance.
func (ex *execution) approved(u *unit, via string) {
	detail := map[string]any{"via": via, "plan_sha256": ex.planHash, "address": u.addr}
	if u.planned == nil {
		detail["expanded_at_apply"] = true
	}
	if ex.journal("", &Entry{Kind: EntryApproved, Step: u.addr, Detail: mustJSON(detail)}) != nil {
		ex.unitFinished(u.sr, u.key, "interrupted", outputsObject(u.sr.spec, nil))
		return
	}
	ex.event("approved", u.addr, "approved ("+via+")", 0)
	ex.dispatch(u)
}

// awaitApproval leaves the instance waiting: resume --approve runs it.
func (ex *execution) awaitApproval(u *unit) {
	if !u.state.awaiting {
		detail := map[string]any{"reason": u.reason, "plan_sha256": ex.planHash}
		if u.planned == nil {
			detail["expanded_at_apply"] = true
		}
		if ex.journal("", &Entry{Kind: EntryApprovalRequired, Step: u.addr, Detail: mustJSON(detail)}) != nil {
			ex.unitFinished(u.sr, u.key, "interrupted", outputsObject(u.sr.spec, nil))
			return
		}
	}
	ex.event("waiting", u.addr, "awaiting approval", 0)
	ex.waiting = append(ex.waiting, u.addr)
	ex.unitFinished(u.sr, u.key, "waiting", outputsObject(u.sr.spec, nil))
}

func (ex *execution) dispatch(u *unit) {
	ex.pending++
	go ex.work(u)
}

// recordFailure journals a failed instance (on the owner goroutine).
func (ex *execution) recordFailure(addr string, attempt int, err error, also ...*Entry) {
	msg := ex.red.text(err.Error())
	if ex.journal("", append(also, &Entry{Kind: EntryStepFailed, Step: addr, Attempt: attempt, Error: msg})...) != nil {
		return
	}
	ex.event("failed", addr, msg, 0)
	ex.failed = append(ex.failed, addr)
}

// work runs one instance on a worker goroutine and reports to the owner.
func (ex *execution) work(u *unit) {
	ex.sem <- struct{}{}
	outcome, outs := ex.attempts(u)
	<-ex.sem
	ex.inbox <- func() {
		ex.pending--
		ex.unitFinished(u.sr, u.key, outcome, outs)
	}
}

// write journals from a worker.
func (ex *execution) write(entries ...*Entry) error {
	var err error
	ex.owner(func() { err = ex.journal("", entries...) })
	return err
}

func (ex *execution) emit(kind, step, msg string, d time.Duration) {
	ex.owner(func() { ex.event(kind, step, msg, d) })
}

func (ex *execution) point(p string) {
	if ex.x.Failpoint != nil {
		ex.x.Failpoint(p)
	}
}

// attempts runs an instance's action: after asking Recover when an earlier
// attempt's outcome is not known, then attempt after attempt.
func (ex *execution) attempts(u *unit) (string, cty.Value) {
	ctx := ex.ctx
	s, spec, a, addr := u.sr.s, u.sr.spec, u.sr.a, u.addr
	nullOuts := outputsObject(spec, nil)
	failed := func(attempt int, err error, also ...*Entry) (string, cty.Value) {
		ex.owner(func() { ex.recordFailure(addr, attempt, err, also...) })
		return "failed", nullOuts
	}
	attempt := u.state.attempts

	// A crash while the step ran, or a call whose outcome was not known:
	// ask the action whether it took effect before acting again.
	if u.state.inFlight || u.state.unknown {
		res, took, err := recoverAttempt(ex, u)
		switch {
		case err != nil:
			unknown := &Entry{Kind: EntryOutcomeUnknown, Step: addr, Attempt: attempt, Error: err.Error()}
			return failed(attempt, fmt.Errorf("cannot tell whether the interrupted attempt took effect: %w; resume again to retry", err), unknown)
		case took:
			return ex.succeeded(u, attempt, res, 0, "the interrupted attempt had taken effect")
		}
	}

	// What it would do now: held to the plan's targets, and the evidence
	// rule (never delete an asset before its forensic copies exist).
	ch, err := a.Plan(ctx, u.req)
	if err != nil {
		return failed(attempt, err)
	}
	if ps := u.planned; ps != nil && len(ps.Targets) > 0 {
		if now := ex.red.texts(ch.Targets); !sameSet(now, ps.Targets) {
			return failed(attempt, fmt.Errorf("the plan is stale: step.%s would act on %s, the plan showed %s; make a new plan",
				addr, strings.Join(now, ", "), strings.Join(ps.Targets, ", ")))
		}
	}
	if err := ex.gate(ch); err != nil {
		return failed(attempt, err)
	}

	maxAttempts, backoff := 1, time.Second
	if s.Retry != nil {
		maxAttempts, backoff = s.Retry.Attempts, s.Retry.Backoff
	}
	for try := 1; ; try++ {
		attempt++
		u.req.Attempt = attempt
		ex.point("before:" + addr)
		if err := ex.write(&Entry{Kind: EntryStepStarted, Step: addr, Attempt: attempt, Args: mustJSON(u.encArgs)}); err != nil {
			return "interrupted", cty.DynamicVal
		}
		ex.emit("started", addr, s.Action, 0)
		start := time.Now()
		actx, cancel := ctx, func() {}
		if s.Timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, s.Timeout)
		}
		res, err := a.Apply(actx, u.req)
		timedOut := actx.Err() != nil && ctx.Err() == nil
		cancel()
		elapsed := time.Since(start)
		if err == nil {
			ex.point("during:" + addr)
			return ex.succeeded(u, attempt, res, elapsed, "")
		}
		if ctx.Err() != nil {
			// Ctrl-C, or the lease was lost: leave the attempt open; resume
			// asks the action.
			ex.emit("failed", addr, "interrupted: "+err.Error(), elapsed)
			return "interrupted", cty.DynamicVal
		}
		if timedOut {
			err = fmt.Errorf("timed out after %s: %w", s.Timeout, err)
		}
		retry := try < maxAttempts
		if outcomeUnknown(spec, err, timedOut) {
			// The call may have taken effect: record that, and ask the action
			// before anything is retried, exactly as after a crash.
			if werr := ex.write(&Entry{Kind: EntryOutcomeUnknown, Step: addr, Attempt: attempt, Error: err.Error()}); werr != nil {
				return "interrupted", cty.DynamicVal
			}
			ex.emit("unknown", addr, unknownText(err)+"; asking whether it took effect", elapsed)
			res, took, rerr := recoverAttempt(ex, u)
			switch {
			case rerr != nil:
				return failed(attempt, fmt.Errorf("%w; and cannot tell whether it took effect: %v (resume asks again)", err, rerr))
			case took:
				return ex.succeeded(u, attempt, res, elapsed, "the attempt whose outcome was unknown had taken effect")
			case !retry:
				return failed(attempt, fmt.Errorf("%s; resume asks the action again before retrying", unknownText(err)))
			}
		} else if !action.IsRetryable(err) || !retry {
			return failed(attempt, err)
		}
		wait := backoff << (try - 1)
		msg := err.Error()
		if werr := ex.write(&Entry{Kind: EntryStepRetry, Step: addr, Attempt: attempt, Error: msg, Detail: mustJSON(map[string]string{"wait": wait.String()})}); werr != nil {
			return "interrupted", cty.DynamicVal
		}
		ex.emit("retry", addr, fmt.Sprintf("%s; retrying in %s", msg, wait), elapsed)
		sleep := ex.x.Sleep
		if sleep == nil {
			sleep = sleepCtx
		}
		if err := sleep(ctx, wait); err != nil {
			return "interrupted", cty.DynamicVal
		}
	}
}

// gate is the evidence rule: a step that deletes runs only when evidence
// steps of the same run recorded what it needs (a snapshot or content
// hash of each disk of an instance; a record of a firewall rule or key).
// The refusal names what is missing.
func (ex *execution) gate(ch *action.Change) error {
	needs := ch.Requires
	deletes := ex.red.texts(ch.Deletes)
	if len(needs) == 0 {
		for _, id := range deletes {
			needs = append(needs, action.Need{Asset: id, Kinds: []string{action.EvidenceRecord, action.EvidenceSnapshot, action.EvidenceContent},
				What: "a record of " + id})
		}
	}
	if len(needs) == 0 {
		return nil
	}
	var missing []string
	ex.owner(func() {
		for _, n := range needs {
			if !ex.evidence.has(ex.red.text(n.Asset), n.Kinds) {
				what := n.What
				if what == "" {
					what = strings.Join(n.Kinds, " or ") + " of " + n.Asset
				}
				missing = append(missing, ex.red.text(what))
			}
		}
	})
	if len(missing) == 0 {
		return nil
	}
	target := strings.Join(deletes, ", ")
	if target == "" {
		target = "this step"
	}
	return fmt.Errorf("refusing to delete %s: no evidence step of this run recorded %s. A hash of a record is not a copy of a disk: add a snapshot step with evidence = true, or a content hash step, before this one", target, strings.Join(missing, "; "))
}

// checkpoint journals an action's progress (from its worker) and keeps it
// for the next attempt.
func (ex *execution) checkpoint(u *unit, raw json.RawMessage) error {
	if !json.Valid(raw) {
		return fmt.Errorf("checkpoint of step.%s is not JSON", u.addr)
	}
	if err := ex.write(&Entry{Kind: EntryStepCheckpoint, Step: u.addr, Attempt: u.req.Attempt, Detail: raw}); err != nil {
		return err
	}
	ex.owner(func() { u.req.Checkpoints = append(u.req.Checkpoints, raw) })
	ex.point("checkpoint:" + u.addr)
	return nil
}

// outcomeUnknown reports whether a failed call may have taken effect: the
// action says so, or a call that changes things timed out or lost its
// connection. A read cannot have an unknown outcome.
func outcomeUnknown(spec *action.Spec, err error, timedOut bool) bool {
	if action.IsOutcomeUnknown(err) {
		return true
	}
	if spec.Effect == action.Read {
		return false
	}
	return timedOut || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// unknownText says an error's outcome is unknown, once.
func unknownText(err error) string {
	if action.IsOutcomeUnknown(err) {
		return err.Error()
	}
	return "outcome unknown: " + err.Error()
}

// recoverAttempt asks the action whether the last attempt took effect. An
// action that cannot tell answers false: its Apply is idempotent.
func recoverAttempt(ex *execution, u *unit) (*action.Result, bool, error) {
	rec, ok := u.sr.a.(action.Recoverer)
	if !ok {
		return nil, false, nil
	}
	return rec.Recover(ex.ctx, u.req)
}

// succeeded journals an instance's result and its evidence in one
// transaction: a crash leaves both or neither.
func (ex *execution) succeeded(u *unit, attempt int, res *action.Result, elapsed time.Duration, recovered string) (string, cty.Value) {
	if res == nil {
		res = &action.Result{}
	}
	spec, s, addr := u.sr.spec, u.sr.s, u.addr
	outs := outputsObject(spec, res.Outputs)
	var err error
	ex.owner(func() {
		enc := ex.red.value(Encode(outs))
		summary := ex.red.text(res.Summary)
		targets := ex.red.texts(res.Targets)
		var entries []*Entry
		if recovered != "" {
			entries = append(entries, &Entry{Kind: EntryStepRecovered, Step: addr, Attempt: attempt})
		}
		entries = append(entries, &Entry{Kind: EntryStepSucceeded, Step: addr, Attempt: attempt, Outputs: mustJSON(enc),
			Detail: mustJSON(map[string]any{"summary": summary, "targets": targets, "deletes": ex.red.texts(res.Deletes), "duration_ms": elapsed.Milliseconds()})})
		evidence := ex.isEvidenceStep(s.Name)
		var custodyOf evidenceDetail
		if evidence {
			items := []action.Evidence{{Item: "outputs of step." + addr, SHA256: HashValue(enc), Note: s.Action, Kind: action.EvidenceOutputs}}
			for _, it := range res.Evidence {
				it.Item, it.Note, it.Ref = ex.red.text(it.Item), ex.red.text(it.Note), ex.red.text(it.Ref)
				it.Of = ex.red.texts(it.Of)
				items = append(items, it)
			}
			custodyOf = evidenceDetail{Items: items, Targets: targets}
			entries = append(entries, &Entry{Kind: EntryEvidence, Step: addr, Detail: mustJSON(custodyOf)})
		}
		if err = ex.journal("", entries...); err != nil {
			return
		}
		if evidence {
			ex.evidence.record(custodyOf)
		}
		if recovered != "" {
			ex.event("recovered", addr, recovered, 0)
		}
		msg := summary
		if msg == "" {
			msg = "done"
		}
		ex.event("succeeded", addr, msg, elapsed)
	})
	if err != nil {
		return "interrupted", cty.DynamicVal
	}
	ex.point("after:" + addr)
	return "succeeded", outs
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

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
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
