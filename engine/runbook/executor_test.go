package runbook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// plannedWith makes a harness over extra actions and data.
func plannedWith(t *testing.T, src string, extra []action.Action, data *Data, varArgs ...string) *harness {
	t.Helper()
	h := &harness{t: t, w: &world{applied: map[string]int{}}, j: NewMemoryStore(), key: testKey(t)}
	h.reg = coreRegistry(t)
	if err := h.reg.Register(h.w.provider()); err != nil {
		t.Fatal(err)
	}
	if len(extra) > 0 {
		if err := h.reg.Register(&action.StaticProvider{ProviderName: "extra", List: extra}); err != nil {
			t.Fatal(err)
		}
	}
	rb, _, diags := Parse([]byte(src), "test.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	h.rb = rb
	vars, _, diags := rb.ResolveVariables(Inputs{Vars: varArgs})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	h.vars = vars
	plan, diags := (&Planner{Registry: h.reg, Data: data, Provider: "test", Key: h.key}).Plan(context.Background(), rb, "test.hcl", vars)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	h.plan = plan
	return h
}

func kinds(es []*Entry, step string) []string {
	var out []string
	for _, e := range es {
		if e.Step == step {
			out = append(out, e.Kind)
		}
	}
	return out
}

const gated = `runbook "r" {
  phase "containment" {
    step "gated" {
      action   = "test.make"
      for_each = toset(["a", "b", "c", "d"])
      args     = { target = each.value }
      approval {
        reason = "changes ${each.value}"
      }
    }
  }
}`

// Parallel instances that need approval are asked one at a time, each
// prompt naming its full address, its targets and the plan's hash.
func TestApprovalsAreAskedOneAtATime(t *testing.T) {
	h := plannedWith(t, gated, nil, nil)
	x := h.executor()
	x.Parallel = 4
	var open, most atomic.Int32
	var mu sync.Mutex
	var asked []*ApprovalRequest
	x.Prompt = func(ctx context.Context, req *ApprovalRequest) (bool, error) {
		n := open.Add(1)
		defer open.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(5 * time.Millisecond) // a responder reading the prompt
		mu.Lock()
		asked = append(asked, req)
		mu.Unlock()
		return req.Address != `gated["c"]`, nil
	}
	res, err := x.Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil {
		t.Fatal(err)
	}
	if most.Load() != 1 {
		t.Errorf("%d prompts were open at once", most.Load())
	}
	var addrs []string
	for _, r := range asked {
		addrs = append(addrs, r.Address)
		if r.PlanHash != h.plan.Hash() || r.Reason != "changes "+r.Address[7:8] || r.AtApply || r.Action != "test.make" {
			t.Errorf("prompt: %+v", r)
		}
	}
	// The instances queue in whichever order their workers reach the
	// gate. "no" to c halts the run, so c is the last one asked and the
	// ones still queued behind it are never asked.
	if len(addrs) == 0 || addrs[len(addrs)-1] != `gated["c"]` {
		t.Errorf("asked for %v, want c last", addrs)
	}
	sorted := slices.Clone(addrs)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != len(addrs) {
		t.Errorf("an instance was asked twice: %v", addrs)
	}
	// "no" to c fails the run; what was approved ran, once each; what was
	// never asked never ran.
	if res.Status != RunFailed || h.w.count(`gated["c"]`) != 0 {
		t.Errorf("status %s, applied %v", res.Status, h.w.applied)
	}
	for _, k := range []string{"a", "b", "d"} {
		addr := `gated["` + k + `"]`
		want := 0
		if slices.Contains(addrs, addr) {
			want = 1
		}
		if got := h.w.count(addr); got != want {
			t.Errorf("%s ran %d times, want %d (asked %v)", addr, got, want, addrs)
		}
	}
	for _, e := range h.entries(res.Run.ID) {
		if e.Kind == EntryApproved {
			var d map[string]any
			json.Unmarshal(e.Detail, &d)
			if d["plan_sha256"] != h.plan.Hash() || d["address"] != e.Step || d["via"] != "prompt" {
				t.Errorf("approval entry: %s", e.Detail)
			}
		}
	}
}

// --approve takes addresses and patterns, checked against the plan.
func TestApprovePatterns(t *testing.T) {
	h := plannedWith(t, gated, nil, nil)
	for _, bad := range []struct{ pattern, want string }{
		{"isolate", `the plan has no step "isolate" (its steps: gated)`},
		{`gated["z"]`, `the plan has no instance gated["z"]`},
		{`gated["a"`, `write an address as`},
	} {
		_, err := h.executor(bad.pattern).Start(context.Background(), h.rb, h.plan, h.vars)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("--approve %s: %v", bad.pattern, err)
		}
	}
	if runs, _ := h.j.ListRuns(context.Background()); len(runs) != 0 {
		t.Errorf("a bad --approve started %d runs", len(runs))
	}
	res, err := h.executor(`step.gated["a"]`, `gated[b]`).Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != RunAwaitingApproval || strings.Join(res.Waiting, " ") != `gated["c"] gated["d"]` {
		t.Errorf("status %s waiting %v", res.Status, res.Waiting)
	}
	res, err = h.executor("gated[*]").Resume(context.Background(), res.Run.ID, h.rb, h.vars)
	if err != nil || res.Status != RunCompleted {
		t.Fatalf("resume with gated[*]: %v %v", res, err)
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		if n := h.w.count(`gated["` + k + `"]`); n != 1 {
			t.Errorf("gated[%s] applied %d times", k, n)
		}
	}
}

const laterKeys = `runbook "r" {
  phase "triage" {
    step "scan" {
      action = "test.make"
      args   = { target = "scan" }
    }
  }
  phase "containment" {
    step "fix" {
      action   = "test.make"
      for_each = toset([step.scan.outputs.value, "fixed-too"])
      args     = { target = each.value }
      approval {
        reason = "fix it"
      }
    }
  }
}`

// Instances whose keys only apply can know are expanded at apply, journaled
// as such, and need approval: a bare step name (which approves what the
// plan showed) does not cover them, name[*] does.
func TestInstancesExpandedAtApply(t *testing.T) {
	h := plannedWith(t, laterKeys, nil, nil)
	if ps := h.plan.Step("fix[*]"); ps == nil || !ps.Unknown {
		t.Fatalf("plan: %+v", h.plan.Steps)
	}
	res, err := h.executor("fix").Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != RunAwaitingApproval || len(res.Waiting) != 2 {
		t.Fatalf("a bare name approved instances nobody saw: %s %v", res.Status, res.Waiting)
	}
	es := h.entries(res.Run.ID)
	var expanded map[string]any
	for _, e := range es {
		if e.Kind == EntryStepExpanded && e.Step == "fix" {
			json.Unmarshal(e.Detail, &expanded)
		}
		if e.Kind == EntryApprovalRequired && !strings.Contains(string(e.Detail), `"expanded_at_apply":true`) {
			t.Errorf("approval request: %s", e.Detail)
		}
	}
	if expanded["expanded_at_apply"] != true || fmt.Sprint(expanded["keys"]) != "[fixed-too made-scan]" {
		t.Errorf("expansion entry: %v", expanded)
	}
	res, err = h.executor("fix[*]").Resume(context.Background(), res.Run.ID, h.rb, h.vars)
	if err != nil || res.Status != RunCompleted || h.w.count(`fix["made-scan"]`) != 1 {
		t.Fatalf("resume: %v %v %v", res, err, h.w.applied)
	}
}

// A saved plan is refused before anything runs when a for_each it pinned
// would now give another instance, naming it; planning again works.
func TestStalePlanNamesTheNewInstance(t *testing.T) {
	src := `runbook "r" {
  phase "containment" {
    step "fix" {
      action   = "test.make"
      for_each = toset([for a in assets({ kind = "firewall" }) : a.id])
      args     = { target = each.value }
    }
  }
}`
	inv := inventory.New(&asset.Asset{ID: "fw-1", Kind: "firewall", Name: "one"})
	data := &Data{Inventory: inv}
	h := plannedWith(t, src, nil, data)
	inv.Put(&asset.Asset{ID: "fw-new", Kind: "firewall", Name: "new"})
	x := h.executor()
	x.Data = data
	_, err := x.Start(context.Background(), h.rb, h.plan, h.vars)
	var stale *StaleError
	if !errors.As(err, &stale) || !strings.Contains(err.Error(), `Saved plan is stale: step.fix["fw-new"] would run but is not in the plan`) {
		t.Fatalf("stale plan: %v", err)
	}
	if runs, _ := h.j.ListRuns(context.Background()); len(runs) != 0 || h.w.count(`fix["fw-1"]`) != 0 {
		t.Fatalf("a stale plan ran: %d runs, %v", len(runs), h.w.applied)
	}
	plan, diags := (&Planner{Registry: h.reg, Data: data, Provider: "test", Key: h.key}).Plan(context.Background(), h.rb, "test.hcl", h.vars)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	res, err := x.Start(context.Background(), h.rb, plan, h.vars)
	if err != nil || res.Status != RunCompleted || h.w.count(`fix["fw-new"]`) != 1 {
		t.Fatalf("the new plan: %v %v", res, err)
	}
}

// A saved plan is plain JSON: read back, it has the hash it was saved with,
// and its list variables compare as values.
func TestSavedPlanRoundTrips(t *testing.T) {
	src := `runbook "r" {
  variable "ports" {
    type    = list(number)
    default = [22, 3389]
  }
  variable "labels" {
    type    = map(string)
    default = { incident = "INC-1" }
  }
  phase "triage" {
    step "a" {
      action = "test.make"
      args   = { target = join(",", var.ports) }
    }
  }
}`
	h := plannedWith(t, src, nil, nil)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(h.plan); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plan.json")
	os.WriteFile(path, buf.Bytes(), 0o644)
	back, err := ReadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Hash() != h.plan.Hash() {
		t.Errorf("hash %s read back, %s saved", back.Hash(), h.plan.Hash())
	}
	pv, err := back.PlanValues()
	if err != nil {
		t.Fatal(err)
	}
	vars, _, diags := h.rb.ResolveVariables(Inputs{Plan: pv})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if err := back.CheckVariables(vars, ValueKey(h.key)); err != nil {
		t.Errorf("the plan's own values: %v", err)
	}
	other, _, _ := h.rb.ResolveVariables(Inputs{Vars: []string{"ports=[22]"}})
	if err := back.CheckVariables(other, ValueKey(h.key)); err == nil || !strings.Contains(err.Error(), "variable ports is [22] now but [22,3389] in the plan") {
		t.Errorf("a changed list: %v", err)
	}
	res, err := h.executor().Start(context.Background(), h.rb, back, vars)
	if err != nil || res.Status != RunCompleted {
		t.Fatalf("apply the read-back plan: %v %v", res, err)
	}
}

// worldOf is a cloud whose one mutating action can fail in the ways a
// network does, and whose Recover looks at what was made.
type flakyCloud struct {
	mu       sync.Mutex
	made     map[string]int // step -> times the change took effect
	calls    int
	recovers int
	// fault returns the error of call n (1-based), and whether the change
	// takes effect before it.
	fault func(n int) (error, bool)
	block bool // block until the context ends after taking effect
}

func (c *flakyCloud) actions() []action.Action {
	spec := &action.Spec{Name: "test.write", Effect: action.Reversible,
		Args: map[string]action.Arg{"target": {Type: cty.String, Required: true}}, Outputs: map[string]cty.Type{"value": cty.String}}
	read := &action.Spec{Name: "test.read", Effect: action.Read,
		Args: map[string]action.Arg{"target": {Type: cty.String, Required: true}}, Outputs: map[string]cty.Type{"value": cty.String}}
	return []action.Action{
		&action.Func{S: spec,
			ApplyFn: func(ctx context.Context, r *action.Request) (*action.Result, error) {
				c.mu.Lock()
				c.calls++
				err, effect := error(nil), true
				if c.fault != nil {
					err, effect = c.fault(c.calls)
				}
				if effect {
					c.made[r.Step]++
				}
				block := c.block
				c.mu.Unlock()
				if block {
					<-ctx.Done()
					return nil, ctx.Err()
				}
				if err != nil {
					return nil, err
				}
				return &action.Result{Summary: "wrote"}, nil
			},
			RecoverFn: func(_ context.Context, r *action.Request) (*action.Result, bool, error) {
				c.mu.Lock()
				defer c.mu.Unlock()
				c.recovers++
				if c.made[r.Step] > 0 {
					return &action.Result{Summary: "found what the first attempt made"}, true, nil
				}
				return nil, false, nil
			}},
		&action.Func{S: read, ApplyFn: func(ctx context.Context, r *action.Request) (*action.Result, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}},
	}
}

// A call whose outcome is unknown (the provider says so, a timeout or a
// reset during a mutating call) is journaled as such, and the action's
// Recover is asked before anything is retried.
func TestOutcomeUnknownAsksRecoverFirst(t *testing.T) {
	step := func(extra string) string {
		return `runbook "r" {
  phase "containment" {
    step "w" {
      action = "test.write"
      args   = { target = "x" }
      ` + extra + `
    }
  }
}`
	}
	reset := &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}
	tests := []struct {
		name      string
		extra     string
		fault     func(n int) (error, bool)
		block     bool
		status    string
		made      int
		calls     int
		recovered bool
	}{
		{"took effect, said unknown", "", func(int) (error, bool) {
			return &action.OutcomeUnknownError{Err: errors.New("InternalError: 500")}, true
		}, false, RunCompleted, 1, 1, true},
		{"timed out after taking effect", `timeout = "30ms"`, nil, true, RunCompleted, 1, 1, true},
		{"reset before taking effect, retried", "retry {\n attempts = 2\n backoff = \"1s\"\n}", func(n int) (error, bool) {
			if n == 1 {
				return fmt.Errorf("post: %w", reset), false
			}
			return nil, true
		}, false, RunCompleted, 1, 2, false},
		{"unknown, not taken, no retries left", "", func(int) (error, bool) {
			return &action.OutcomeUnknownError{Err: errors.New("503 Service Unavailable")}, false
		}, false, RunFailed, 0, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &flakyCloud{made: map[string]int{}, fault: tt.fault, block: tt.block}
			h := plannedWith(t, step(tt.extra), c.actions(), nil)
			res, err := h.executor().Start(context.Background(), h.rb, h.plan, h.vars)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.status || c.made["w"] != tt.made || c.calls != tt.calls || c.recovers == 0 {
				t.Fatalf("status %s, made %d, calls %d, recovers %d", res.Status, c.made["w"], c.calls, c.recovers)
			}
			ks := kinds(h.entries(res.Run.ID), "w")
			if !slices.Contains(ks, EntryOutcomeUnknown) || slices.Contains(ks, EntryStepRecovered) != tt.recovered {
				t.Errorf("journal of w: %v", ks)
			}
			// A recovered attempt comes before its success, in one write.
			if tt.recovered && strings.Join(ks[len(ks)-2:], " ") != EntryStepRecovered+" "+EntryStepSucceeded {
				t.Errorf("journal of w: %v", ks)
			}
			if tt.status == RunFailed {
				// Resume asks again before it acts.
				before := c.recovers
				c.fault = nil
				res, err = h.executor().Resume(context.Background(), res.Run.ID, h.rb, h.vars)
				if err != nil || res.Status != RunCompleted || c.recovers != before+1 || c.made["w"] != 1 {
					t.Errorf("resume: %v %v, recovers %d->%d, made %d", res, err, before, c.recovers, c.made["w"])
				}
			}
		})
	}
	// A read that times out is a plain failure: nothing can have changed.
	c := &flakyCloud{made: map[string]int{}}
	h := plannedWith(t, strings.Replace(step(`timeout = "20ms"`), "test.write", "test.read", 1), c.actions(), nil)
	res, _ := h.executor().Start(context.Background(), h.rb, h.plan, h.vars)
	if ks := kinds(h.entries(res.Run.ID), "w"); slices.Contains(ks, EntryOutcomeUnknown) || c.recovers != 0 {
		t.Errorf("a read's timeout: %v, recovers %d", ks, c.recovers)
	}
}

// A journal write that fails stops the run: nothing happens that the
// journal cannot record.
func TestFailedJournalWriteStopsTheRun(t *testing.T) {
	src := `runbook "r" {
  phase "triage" {
    step "a" {
      action = "test.make"
      args   = { target = "a" }
    }
    step "b" {
      action     = "test.make"
      args       = { target = "b" }
      depends_on = [step.a]
    }
  }
}`
	h := plannedWith(t, src, nil, nil)
	h.j.BeforeAppend = func(es []*Entry) error {
		if es[len(es)-1].Kind == EntryStepSucceeded && es[len(es)-1].Step == "a" {
			return errors.New("disk I/O error")
		}
		return nil
	}
	res, err := h.executor().Start(context.Background(), h.rb, h.plan, h.vars)
	var je *JournalError
	if res != nil || !errors.As(err, &je) || !strings.Contains(err.Error(), "disk I/O error") || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("result %v, error %v", res, err)
	}
	if h.w.count("b") != 0 {
		t.Error("a step ran after the journal failed")
	}
}

// A run holds its lease while it runs: another executor is refused, naming
// the holder; a holder whose lease is broken stops at its next write.
func TestRunLease(t *testing.T) {
	src := `runbook "r" {
  phase "triage" {
    step "slow" {
      action = "test.slow"
      args   = { target = "x" }
      timeout = "400ms"
      on_error = "continue"
    }
    step "after" {
      action     = "test.make"
      args       = { target = "y" }
      depends_on = [step.slow]
    }
  }
}`
	h := plannedWith(t, src, nil, nil)
	x := h.executor()
	x.Holder = Holder{Name: "ann", Host: "ws-1", PID: 7}
	x.LeaseTTL = 100 * time.Millisecond
	started := make(chan *Run, 1)
	x.Progress = func(ev Event) {
		if ev.Kind == "started" && ev.Step == "slow" {
			runs, _ := h.j.ListRuns(context.Background())
			started <- runs[0]
		}
	}
	type out struct {
		res *Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := x.Start(context.Background(), h.rb, h.plan, h.vars)
		done <- out{res, err}
	}()
	run := <-started
	time.Sleep(250 * time.Millisecond) // past the TTL: the heartbeat keeps it
	_, err := h.executor().Resume(context.Background(), run.ID, h.rb, h.vars)
	if !IsLeaseHeld(err) || !strings.Contains(err.Error(), "locked by ann (pid 7 on ws-1)") {
		t.Fatalf("a second executor: %v", err)
	}
	if _, err := h.j.BreakLease(context.Background(), run.ID, ""); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if !errors.Is(o.err, ErrLeaseLost) {
		t.Fatalf("the holder whose lease was broken: %v %v", o.res, o.err)
	}
	if h.w.count("after") != 0 {
		t.Error("a step ran without the lease")
	}
}

// A sensitive value never shows: not through function results, templates,
// for_each keys (in addresses), what an action echoes, logs or outputs.
func TestSensitiveValuesNeverShow(t *testing.T) {
	const canary = "Canary-7f3a9Secret"
	src := `runbook "r" {
  variable "token" {
    type      = string
    sensitive = true
  }
  phase "triage" {
    step "echo" {
      action = "test.echo"
      args   = { target = "${upper(var.token)}-suffix" }
    }
    step "log" {
      action = "core.log"
      args   = { message = "token is ${replace(var.token, "Secret", "Hidden")}" }
    }
    step "keyed" {
      action   = "test.echo"
      for_each = toset([lower(var.token), "plain"])
      args     = { target = each.key }
    }
    step "mapped" {
      action   = "test.echo"
      for_each = { for k in ["one"] : "${k}-${var.token}" => k }
      args     = { target = each.value }
    }
  }
  output "got" {
    value = step.echo.outputs.value
  }
}`
	echo := &action.Func{S: &action.Spec{Name: "test.echo", Effect: action.Reversible,
		Args: map[string]action.Arg{"target": {Type: cty.String, Required: true}}, Outputs: map[string]cty.Type{"value": cty.String}},
		PlanFn: func(_ context.Context, r *action.Request) (*action.Change, error) {
			return &action.Change{Summary: "would echo " + r.Str("target"), Targets: []string{r.Str("target")}}, nil
		},
		ApplyFn: func(_ context.Context, r *action.Request) (*action.Result, error) {
			return &action.Result{Summary: "echoed " + r.Str("target"), Targets: []string{r.Str("target")},
				Outputs: map[string]cty.Value{"value": cty.StringVal(r.Str("target"))}}, nil
		}}
	h := plannedWith(t, src, []action.Action{echo}, nil, "token="+canary)
	logs := &testutil.LockedBuffer{}
	var events []string
	x := h.executor("keyed[*]")
	x.Env = &action.Env{Log: slog.New(slog.NewTextHandler(logs, nil))}
	x.Progress = func(ev Event) { events = append(events, ev.Step+" "+ev.Message) }
	res, err := x.Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil || res.Status != RunCompleted {
		t.Fatalf("%v %v", res, err)
	}
	planJSON, _ := json.Marshal(h.plan)
	var journal bytes.Buffer
	for _, e := range h.entries(res.Run.ID) {
		b, _ := json.Marshal(e)
		journal.Write(b)
	}
	tl, _ := json.Marshal(BuildTimeline(res.Run, h.entries(res.Run.ID), nil))
	outs, _ := json.Marshal(res.Outputs)
	forms := []string{canary, strings.ToUpper(canary), strings.ToLower(canary), strings.ReplaceAll(canary, "Secret", "Hidden"), "7f3a9"}
	for what, text := range map[string]string{"plan": string(planJSON), "journal": journal.String(), "timeline": string(tl),
		"events": strings.Join(events, "\n"), "logs": logs.String(), "outputs": string(outs)} {
		for _, f := range forms {
			if strings.Contains(text, f) {
				t.Errorf("the %s shows %q:\n%s", what, f, text)
			}
		}
	}
	// The instances keyed by the secret are addressed by a stable hash, the
	// others by their key.
	if h.plan.Step(`keyed["plain"]`) != nil || !strings.Contains(string(planJSON), `keyed[\"(sensitive `) {
		t.Errorf("keyed instances: the whole set is sensitive, so every key is hidden: %s", planJSON)
	}
	if !strings.Contains(journal.String(), `mapped[\"(sensitive `) || strings.Count(string(planJSON), "(sensitive ") < 3 {
		t.Errorf("mapped instances: %s", planJSON)
	}
	if !strings.Contains(logs.String(), "msg=(sensitive)") {
		t.Errorf("core.log: %s", logs.String())
	}
}
