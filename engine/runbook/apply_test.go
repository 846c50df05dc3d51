package runbook

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
)

// world is a fake cloud for executor tests.
type world struct {
	mu      sync.Mutex
	applied map[string]int // step address -> Apply calls
	flaky   int            // failures left for test.flaky
	deleted []string
}

func (w *world) count(step string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.applied[step]
}

func (w *world) provider() action.Provider {
	mk := func(name string, effect action.Effect, args map[string]action.Arg, apply func(ctx context.Context, r *action.Request) (*action.Result, error), plan func(r *action.Request) *action.Change) action.Action {
		return &action.Func{S: &action.Spec{Name: name, Effect: effect, Args: args, Outputs: map[string]cty.Type{"value": cty.String}},
			PlanFn: func(_ context.Context, r *action.Request) (*action.Change, error) {
				if plan != nil {
					return plan(r), nil
				}
				return &action.Change{Summary: name}, nil
			},
			ApplyFn: func(ctx context.Context, r *action.Request) (*action.Result, error) {
				w.mu.Lock()
				w.applied[r.Step]++
				w.mu.Unlock()
				return apply(ctx, r)
			},
		}
	}
	target := map[string]action.Arg{"target": {Type: cty.String, Required: true}}
	return &action.StaticProvider{ProviderName: "test", List: []action.Action{
		mk("test.make", action.Reversible, target, func(_ context.Context, r *action.Request) (*action.Result, error) {
			return &action.Result{Summary: "made " + r.Str("target"), Outputs: map[string]cty.Value{"value": cty.StringVal("made-" + r.Str("target"))}}, nil
		}, nil),
		mk("test.evidence", action.Read, target, func(_ context.Context, r *action.Request) (*action.Result, error) {
			return &action.Result{Targets: []string{r.Str("target")}, Evidence: []action.Evidence{{Item: r.Str("target"), SHA256: "abc"}}}, nil
		}, func(r *action.Request) *action.Change { return &action.Change{Targets: []string{r.Str("target")}} }),
		mk("test.delete", action.Destructive, target, func(_ context.Context, r *action.Request) (*action.Result, error) {
			w.mu.Lock()
			w.deleted = append(w.deleted, r.Str("target"))
			w.mu.Unlock()
			return &action.Result{Deletes: []string{r.Str("target")}}, nil
		}, func(r *action.Request) *action.Change { return &action.Change{Deletes: []string{r.Str("target")}} }),
		// test.evidence_of records evidence of a kind of an asset;
		// test.terminate deletes an instance whose disks are d1 and d2.
		mk("test.evidence_of", action.Read, map[string]action.Arg{"target": {Type: cty.String, Required: true}, "kind": {Type: cty.String, Required: true}},
			func(_ context.Context, r *action.Request) (*action.Result, error) {
				return &action.Result{Targets: []string{r.Str("target")}, Evidence: []action.Evidence{{Item: r.Str("kind") + " of " + r.Str("target"), SHA256: "abc",
					Kind: r.Str("kind"), Of: []string{r.Str("target")}}}}, nil
			}, nil),
		mk("test.terminate", action.Destructive, target, func(_ context.Context, r *action.Request) (*action.Result, error) {
			w.mu.Lock()
			w.deleted = append(w.deleted, r.Str("target"))
			w.mu.Unlock()
			return &action.Result{Deletes: []string{r.Str("target")}}, nil
		}, func(r *action.Request) *action.Change {
			ch := &action.Change{Deletes: []string{r.Str("target")}}
			for _, d := range []string{"d1", "d2"} {
				ch.Requires = append(ch.Requires, action.Need{Asset: d, Kinds: []string{action.EvidenceSnapshot, action.EvidenceContent}, What: "a snapshot or content hash of disk " + d})
			}
			return ch
		}),
		mk("test.flaky", action.Reversible, target, func(_ context.Context, r *action.Request) (*action.Result, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.flaky > 0 {
				w.flaky--
				return nil, &action.RetryableError{Err: errors.New("Throttling: rate exceeded")}
			}
			return &action.Result{}, nil
		}, nil),
		mk("test.fail", action.Reversible, target, func(_ context.Context, r *action.Request) (*action.Result, error) {
			return nil, fmt.Errorf("AccessDenied: no permission for %s", r.Str("target"))
		}, nil),
		mk("test.slow", action.Read, target, func(ctx context.Context, r *action.Request) (*action.Result, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}, nil),
	}}
}

type harness struct {
	t     *testing.T
	w     *world
	reg   *action.Registry
	j     *MemoryStore
	key   ed25519.PrivateKey
	rb    *Runbook
	plan  *Plan
	vars  map[string]*VarValue
	sleep []time.Duration
}

func newHarness(t *testing.T, src string, varArgs ...string) *harness {
	t.Helper()
	return newHarnessWith(t, nil, src, varArgs...)
}

// newHarnessWith registers extra actions too.
func newHarnessWith(t *testing.T, extra []action.Action, src string, varArgs ...string) *harness {
	t.Helper()
	h := &harness{t: t, w: &world{applied: map[string]int{}}, j: NewMemoryStore(), key: testKey(t)}
	h.reg = coreRegistry(t)
	if err := h.reg.Register(h.w.provider()); err != nil {
		t.Fatal(err)
	}
	if err := h.reg.Register(&action.StaticProvider{ProviderName: "extra", List: extra}); err != nil {
		t.Fatal(err)
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
	plan, diags := (&Planner{Registry: h.reg, Provider: "test", Key: h.key}).Plan(context.Background(), rb, "test.hcl", vars)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	h.plan = plan
	return h
}

func (h *harness) executor(approve ...string) *Executor {
	return &Executor{Registry: h.reg, Store: h.j, Key: h.key, Actor: "tester", Approve: approve, Env: &action.Env{},
		Sleep: func(_ context.Context, d time.Duration) error { h.sleep = append(h.sleep, d); return nil }}
}

func (h *harness) entries(runID string) []*Entry {
	es, err := h.j.Entries(context.Background(), runID)
	if err != nil {
		h.t.Fatal(err)
	}
	return es
}

func succeededOnce(t *testing.T, es []*Entry, steps ...string) {
	t.Helper()
	n := map[string]int{}
	for _, e := range es {
		if e.Kind == EntrySucceededKind() {
			n[e.Step]++
		}
	}
	for _, s := range steps {
		if n[s] != 1 {
			t.Errorf("step %s succeeded %d times in the journal", s, n[s])
		}
	}
}

func testKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// EntrySucceededKind keeps the test readable.
func EntrySucceededKind() string { return EntryStepSucceeded }

const pipeline = `runbook "pipeline" {
  variable "token" {
    type      = string
    sensitive = true
  }
  phase "investigation" {
    step "a" {
      action = "test.make"
      args   = { target = "one" }
    }
    step "b" {
      action = "test.make"
      args   = { target = step.a.outputs.value }
    }
    step "c" {
      action = "test.make"
      args   = { target = "with ${var.token}" }
    }
  }
  phase "containment" {
    step "gate" {
      action = "core.approval"
      args   = { reason = "go?" }
    }
    step "d" {
      action     = "test.make"
      args       = { target = step.b.outputs.value }
      depends_on = [step.gate]
    }
  }
}`

func TestApplyWaitsForApprovalThenResumes(t *testing.T) {
	h := newHarness(t, pipeline, "token=hunter2-secret")
	ctx := context.Background()
	if got := h.plan.Step("b").Args["target"]; got != UnknownText {
		t.Errorf("b's argument is known only after a runs: %v", got)
	}
	res, err := h.executor().Start(ctx, h.rb, h.plan, h.vars)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != RunAwaitingApproval || strings.Join(res.Waiting, ",") != "gate" {
		t.Fatalf("status %s waiting %v", res.Status, res.Waiting)
	}
	if h.w.count("d") != 0 || h.w.count("a") != 1 || h.w.count("c") != 1 {
		t.Errorf("ran: %v", h.w.applied)
	}
	// Resume without approval: still waiting, nothing re-run.
	res, err = h.executor().Resume(ctx, res.Run.ID, h.rb, h.vars)
	if err != nil || res.Status != RunAwaitingApproval {
		t.Fatalf("second resume: %v %v", res.Status, err)
	}
	res, err = h.executor("gate").Resume(ctx, res.Run.ID, h.rb, h.vars)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != RunCompleted {
		t.Fatalf("status %s, failed %v", res.Status, res.Failed)
	}
	for _, s := range []string{"a", "b", "c", "d"} {
		if h.w.count(s) != 1 {
			t.Errorf("step %s applied %d times", s, h.w.count(s))
		}
	}
	es := h.entries(res.Run.ID)
	succeededOnce(t, es, "a", "b", "c", "gate", "d")
	if tam := Verify(es); tam != nil {
		t.Fatal(tam)
	}
	for _, e := range es {
		for _, raw := range [][]byte{e.Args, e.Outputs, e.Detail, []byte(e.Error)} {
			if strings.Contains(string(raw), "hunter2") {
				t.Fatalf("the journal holds the sensitive value in %s %s", e.Kind, e.Step)
			}
		}
		if e.Kind == EntryApproved && (e.Actor != "tester" || !strings.Contains(string(e.Detail), "--approve")) {
			t.Errorf("approval entry: %+v", e)
		}
	}
	// Tampering with any entry is found, and named.
	h.j.Tamper(res.Run.ID, 4, func(e *Entry) { e.Outputs = []byte(`{"value":"forged"}`) })
	tam := Verify(h.entries(res.Run.ID))
	if tam == nil || tam.Seq != 4 {
		t.Fatalf("tampering not detected: %v", tam)
	}
}

func TestEvidenceRule(t *testing.T) {
	noEvidence := `runbook "r" {
  phase "recovery" {
    step "del" {
      action = "test.delete"
      args   = { target = "vm-1" }
    }
  }
}`
	h := newHarness(t, noEvidence)
	res, err := h.executor("del").Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != RunFailed || len(h.w.deleted) != 0 {
		t.Fatalf("deleting without evidence must be refused: %s %v", res.Status, h.w.deleted)
	}
	var msg string
	for _, e := range h.entries(res.Run.ID) {
		if e.Kind == EntryStepFailed {
			msg = e.Error
		}
	}
	if !strings.Contains(msg, "refusing to delete vm-1: no evidence step of this run recorded a record of vm-1") {
		t.Errorf("error: %q", msg)
	}

	// An evidence step whose items say nothing of vm-1 (as a step that
	// changed a firewall rule, with evidence = true, hashes only its
	// outputs) is no record of it, even though vm-1 is its target.
	notARecord := `runbook "r" {
  phase "investigation" {
    step "ev" {
      action   = "test.evidence"
      args     = { target = "vm-1" }
      evidence = true
    }
  }
  phase "recovery" {
    step "del" {
      action = "test.delete"
      args   = { target = "vm-1" }
    }
  }
}`
	h = newHarness(t, notARecord)
	res, err = h.executor("del").Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil || res.Status != RunFailed || len(h.w.deleted) != 0 {
		t.Fatalf("an evidence step that recorded outputs only must not allow deleting its target: %v %v %v", res.Status, err, h.w.deleted)
	}

	withEvidence := `runbook "r" {
  phase "investigation" {
    step "ev" {
      action   = "test.evidence_of"
      args     = { target = "vm-1", kind = "record" }
      evidence = true
    }
  }
  phase "recovery" {
    step "del" {
      action = "test.delete"
      args   = { target = "vm-1" }
    }
  }
}`
	h = newHarness(t, withEvidence)
	// A destructive step always needs approval, even without an approval block.
	if !h.plan.Step("del").NeedsApproval {
		t.Error("destructive steps need approval")
	}
	res, err = h.executor("del").Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil || res.Status != RunCompleted || strings.Join(h.w.deleted, ",") != "vm-1" {
		t.Fatalf("with evidence: %v %v %v", res.Status, err, h.w.deleted)
	}
	var evidence bool
	for _, e := range h.entries(res.Run.ID) {
		evidence = evidence || (e.Kind == EntryEvidence && strings.Contains(string(e.Detail), `"sha256"`))
	}
	if !evidence {
		t.Error("the evidence step's hashes are not in the journal")
	}
}

// TestCustodyRecord: how a journal's evidence entries count for the gate.
// An entry of a journal written before items had kinds (none has one)
// counts as a record of its targets; an entry of today counts only for
// what its items say they are evidence of.
func TestCustodyRecord(t *testing.T) {
	for _, tc := range []struct {
		name  string
		entry string // the evidence entry's detail, as journalled
		want  map[string][]string
	}{
		{"before kinds", `{"items":[{"item":"outputs of step.ev","sha256":"a"},{"item":"fw","sha256":"b"}],"targets":["fw-1"]}`,
			map[string][]string{"fw-1": {"record"}}},
		{"outputs only", `{"items":[{"item":"outputs of step.restrict","sha256":"a","kind":"outputs"}],"targets":["fw-1"]}`,
			map[string][]string{}},
		{"a record of it", `{"items":[{"item":"outputs of step.rec","sha256":"a","kind":"outputs"},{"item":"asset fw-1","sha256":"b","kind":"record","of":["fw-1"]}],"targets":["fw-1"]}`,
			map[string][]string{"fw-1": {"record"}}},
		{"a snapshot of a disk", `{"items":[{"item":"outputs of step.snap","sha256":"a","kind":"outputs"},{"item":"snap-1","sha256":"b","kind":"snapshot","of":["vol-1"]}],"targets":["i-1"]}`,
			map[string][]string{"vol-1": {"snapshot"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := replay([]*Entry{{Kind: EntryEvidence, Step: "ev", Detail: json.RawMessage(tc.entry)}})
			got := map[string][]string{}
			for asset, kinds := range st.evidence {
				for k := range kinds {
					got[asset] = append(got[asset], k)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("custody %v, want %v", got, tc.want)
			}
		})
	}
}

// TestEvidenceKinds: deleting an instance needs a snapshot or a content
// hash of each of its disks; a record of the instance, or evidence of one
// disk, is refused, naming what is missing.
func TestEvidenceKinds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		evidence [][2]string // target, kind
		refused  string
	}{
		{"record only", [][2]string{{"vm-1", "record"}}, "a snapshot or content hash of disk d1; a snapshot or content hash of disk d2"},
		{"one disk", [][2]string{{"vm-1", "record"}, {"d1", "snapshot"}}, "recorded a snapshot or content hash of disk d2. A hash of a record"},
		{"record of the disks", [][2]string{{"d1", "record"}, {"d2", "record"}}, "disk d1; a snapshot or content hash of disk d2"},
		{"snapshots", [][2]string{{"d1", "snapshot"}, {"d2", "snapshot"}}, ""},
		{"snapshot and content", [][2]string{{"d1", "content"}, {"d2", "snapshot"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "runbook \"r\" {\n  phase \"investigation\" {\n"
			for i, ev := range tc.evidence {
				src += fmt.Sprintf("    step \"ev%d\" {\n      action = \"test.evidence_of\"\n      args = { target = %q, kind = %q }\n      evidence = true\n    }\n", i, ev[0], ev[1])
			}
			src += "  }\n  phase \"recovery\" {\n    step \"del\" {\n      action = \"test.terminate\"\n      args = { target = \"vm-1\" }\n    }\n  }\n}\n"
			h := newHarness(t, src)
			res, err := h.executor("del").Start(context.Background(), h.rb, h.plan, h.vars)
			if err != nil {
				t.Fatal(err)
			}
			var msg string
			for _, e := range h.entries(res.Run.ID) {
				if e.Kind == EntryStepFailed {
					msg = e.Error
				}
			}
			if tc.refused == "" {
				if res.Status != RunCompleted || len(h.w.deleted) != 1 {
					t.Fatalf("allowed: status %s, deleted %v, %s", res.Status, h.w.deleted, msg)
				}
				return
			}
			if res.Status != RunFailed || len(h.w.deleted) != 0 || !strings.Contains(msg, "refusing to delete vm-1: no evidence step of this run recorded") || !strings.Contains(msg, tc.refused) {
				t.Fatalf("want refused naming %q: status %s, deleted %v, %q", tc.refused, res.Status, h.w.deleted, msg)
			}
		})
	}
}

// TestCheckpoints: what an action saves with Checkpoint is journalled
// and handed to its next attempt (after a crash, here a retry).
func TestCheckpoints(t *testing.T) {
	src := `runbook "r" {
  phase "investigation" {
    step "hash" {
      action = "test.resumable"
      args   = { target = "snap-1" }
      retry {
        attempts = 2
        backoff  = "1s"
      }
    }
  }
}`
	var seen [][]string
	var progress []string
	resumable := &action.Func{S: &action.Spec{Name: "test.resumable", Effect: action.Read, Args: map[string]action.Arg{"target": {Type: cty.String, Required: true}},
		Outputs: map[string]cty.Type{"value": cty.String}},
		ApplyFn: func(_ context.Context, r *action.Request) (*action.Result, error) {
			var got []string
			for _, c := range r.Checkpoints {
				got = append(got, string(c))
			}
			seen = append(seen, got)
			r.Say("block %d", len(got))
			if len(got) == 0 {
				if err := r.Save(map[string]int{"next": 100}); err != nil {
					return nil, err
				}
				return nil, &action.RetryableError{Err: errors.New("RequestThrottledException")}
			}
			return &action.Result{Outputs: map[string]cty.Value{"value": cty.StringVal("done")}}, nil
		}}
	h := newHarnessWith(t, []action.Action{resumable}, src)
	x := h.executor()
	x.Progress = func(e Event) {
		if e.Kind == "progress" {
			progress = append(progress, e.Message)
		}
	}
	res, err := x.Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil || res.Status != RunCompleted {
		t.Fatalf("%v %v", err, res)
	}
	if len(seen) != 2 || len(seen[0]) != 0 || len(seen[1]) != 1 || seen[1][0] != `{"next":100}` {
		t.Errorf("checkpoints seen by the attempts: %q", seen)
	}
	if strings.Join(progress, ",") != "block 0,block 1" {
		t.Errorf("progress: %q", progress)
	}
	n := 0
	for _, e := range h.entries(res.Run.ID) {
		if e.Kind == EntryStepCheckpoint && e.Step == "hash" && string(e.Detail) == `{"next":100}` {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d checkpoint entries", n)
	}
	if st := replay(h.entries(res.Run.ID)); len(st.units["hash"].checkpoints) != 1 {
		t.Errorf("replay: %+v", st.units["hash"])
	}
}

func TestRetriesAndFailures(t *testing.T) {
	src := `runbook "r" {
  phase "containment" {
    step "flaky" {
      action = "test.flaky"
      args   = { target = "x" }
      retry {
        attempts = 3
        backoff  = "2s"
      }
    }
    step "broken" {
      action   = "test.fail"
      args     = { target = "y" }
      on_error = "continue"
      retry {
        attempts = 3
      }
    }
    step "after_broken" {
      action     = "test.make"
      args       = { target = "z" }
      depends_on = [step.broken]
    }
    step "independent" {
      action = "test.make"
      args   = { target = "w" }
    }
  }
}`
	h := newHarness(t, src)
	h.w.flaky = 2
	res, err := h.executor().Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != RunCompleted || strings.Join(res.Failed, ",") != "broken" {
		t.Fatalf("status %s failed %v", res.Status, res.Failed)
	}
	if h.w.count("flaky") != 3 {
		t.Errorf("flaky applied %d times, want 3", h.w.count("flaky"))
	}
	if fmt.Sprint(h.sleep) != "[2s 4s]" {
		t.Errorf("backoff %v, want [2s 4s]", h.sleep)
	}
	if h.w.count("broken") != 1 {
		t.Errorf("a non-retryable error is not retried: %d", h.w.count("broken"))
	}
	if h.w.count("after_broken") != 0 || h.w.count("independent") != 1 {
		t.Errorf("dependents of a failed step are skipped, others run: %v", h.w.applied)
	}
}

func TestTimeoutAndStop(t *testing.T) {
	src := `runbook "r" {
  phase "triage" {
    step "slow" {
      action  = "test.slow"
      args    = { target = "x" }
      timeout = "50ms"
    }
  }
  phase "containment" {
    step "later" {
      action = "test.make"
      args   = { target = "y" }
    }
  }
}`
	h := newHarness(t, src)
	res, err := h.executor().Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != RunFailed || h.w.count("later") != 0 {
		t.Fatalf("a failed step stops the run before the next phase: %s %v", res.Status, h.w.applied)
	}
	var msg string
	for _, e := range h.entries(res.Run.ID) {
		if e.Kind == EntryStepFailed {
			msg = e.Error
		}
	}
	if !strings.Contains(msg, "timed out after 50ms") {
		t.Errorf("error %q", msg)
	}
}

func TestInterruptedRunResumes(t *testing.T) {
	src := `runbook "r" {
  phase "triage" {
    step "slow" {
      action = "test.slow"
      args   = { target = "x" }
    }
  }
}`
	h := newHarness(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	res, err := h.executor().Start(ctx, h.rb, h.plan, h.vars)
	if err == nil || res.Status != RunInterrupted {
		t.Fatalf("Ctrl-C: status %v err %v", res.Status, err)
	}
	run, _ := h.j.GetRun(context.Background(), res.Run.ID)
	if run.Status != RunInterrupted {
		t.Errorf("run status %s", run.Status)
	}
	if w := Verify(h.entries(res.Run.ID)); w != nil {
		t.Errorf("journal: %v", w)
	}
}

func TestChangedRunbookOrVariablesRefused(t *testing.T) {
	h := newHarness(t, pipeline, "token=abcd1234")
	edited, _, _ := Parse([]byte(strings.Replace(pipeline, `"one"`, `"two"`, 1)), "test.hcl")
	if _, err := h.executor().Start(context.Background(), edited, h.plan, h.vars); err == nil || !strings.Contains(err.Error(), "changed since the plan was made") {
		t.Errorf("edited runbook: %v", err)
	}
	other, _, _ := h.rb.ResolveVariables(Inputs{Vars: []string{"token=zzzz9999"}})
	if _, err := h.executor().Start(context.Background(), h.rb, h.plan, other); err == nil || !strings.Contains(err.Error(), "sensitive variable token differs") {
		t.Errorf("changed sensitive variable: %v", err)
	}
}

func TestStalePlanRefused(t *testing.T) {
	src := `runbook "r" {
  phase "triage" {
    step "each" {
      action   = "test.make"
      for_each = toset([for a in assets({ kind = "instance" }) : a.id])
      args     = { target = each.value }
    }
    step "first" {
      action = "test.make"
      args   = { target = assets({ kind = "instance" })[0].name }
    }
  }
}`
	inv := inventory.New(&asset.Asset{ID: "vm-1", Kind: "instance", Name: "one"})
	h := &harness{t: t, w: &world{applied: map[string]int{}}, j: NewMemoryStore(), key: testKey(t), reg: coreRegistry(t)}
	h.reg.Register(h.w.provider())
	rb, _, diags := Parse([]byte(src), "t.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	data := &Data{Inventory: inv}
	plan, diags := (&Planner{Registry: h.reg, Data: data, Key: h.key}).Plan(context.Background(), rb, "t.hcl", map[string]*VarValue{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if plan.Step(`each["vm-1"]`) == nil {
		t.Fatalf("for_each over assets(): %v", plan.Steps)
	}
	// The inventory changes between plan and apply.
	inv.Get("vm-1").Name = "renamed"
	x := h.executor()
	x.Data = data
	// Refused before anything runs (first waits on no other step), and no
	// run is stored.
	_, err := x.Start(context.Background(), rb, plan, map[string]*VarValue{})
	if err == nil || !strings.Contains(err.Error(), `the plan is stale: argument target of step.first was "one" in the plan and is "renamed" now`) {
		t.Errorf("start: %v", err)
	}
	if runs, _ := h.j.ListRuns(context.Background()); len(runs) != 0 || h.w.count(`each["vm-1"]`) != 0 {
		t.Errorf("%d runs stored, each applied %d times", len(runs), h.w.count(`each["vm-1"]`))
	}
}
