package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/provider/sim"
)

// custody is what a completed run must show whatever crashed during it:
// which steps succeeded, the evidence recorded for each, the changes the
// simulated cloud made.
type custody struct {
	succeeded map[string]int
	evidence  map[string][]string // step -> items recorded, in order
	ops       map[string]int      // "step action target what" -> times made
}

func custodyOf(t *testing.T, run *runbook.Run, es []*runbook.Entry) *custody {
	t.Helper()
	c := &custody{succeeded: map[string]int{}, evidence: map[string][]string{}, ops: map[string]int{}}
	for i, e := range es {
		switch e.Kind {
		case runbook.EntryStepSucceeded:
			c.succeeded[e.Step]++
		case runbook.EntryEvidence:
			// A step's result and its evidence are one write: the result is
			// the entry just before.
			if i == 0 || es[i-1].Kind != runbook.EntryStepSucceeded || es[i-1].Step != e.Step {
				t.Errorf("the evidence of %s (entry %d) does not follow its result", e.Step, e.Seq)
			}
			var d struct {
				Items []struct{ Item string }
			}
			json.Unmarshal(e.Detail, &d)
			for _, it := range d.Items {
				// ids carry the run; what was recorded is the item's kind
				item, _, _ := strings.Cut(it.Item, " ")
				c.evidence[e.Step] = append(c.evidence[e.Step], item)
			}
		}
	}
	cloud, err := sim.Load(run.State)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range cloud.Ops() {
		c.ops[strings.Join([]string{op.Step, op.Action, op.Target, op.What}, " ")]++
	}
	return c
}

// same reports how a run's custody differs from the uninterrupted run's.
func (c *custody) same(ref *custody) []string {
	var diffs []string
	cmp := func(what string, got, want map[string]int) {
		for k, n := range want {
			switch {
			case got[k] == 0:
				diffs = append(diffs, fmt.Sprintf("lost %s %s", what, k))
			case got[k] > n:
				diffs = append(diffs, fmt.Sprintf("%s %s %d times", what, k, got[k]))
			}
		}
		for k := range got {
			if want[k] == 0 {
				diffs = append(diffs, fmt.Sprintf("extra %s %s", what, k))
			}
		}
	}
	cmp("step", c.succeeded, ref.succeeded)
	cmp("cloud change", c.ops, ref.ops)
	for step, items := range ref.evidence {
		if !slices.Equal(c.evidence[step], items) {
			diffs = append(diffs, fmt.Sprintf("custody of %s is %v, want %v", step, c.evidence[step], items))
		}
	}
	return diffs
}

// The kill test: apply (and resume) are killed with SIGKILL at every point
// a run passes (before, during and after each step's action, inside the
// transaction between a step's result and its evidence, between storing
// an entry and anchoring it), resumed, and killed again during the resume.
// Every run ends completed with the same steps, the same cloud changes
// (none twice) and the same custody record as an uninterrupted run, and
// its journal verifies.
func TestKillAnywhere(t *testing.T) {
	dir := t.TempDir()
	apply := func(state string, env ...string) (int, string) {
		return vigil(t, env, "runbook", "apply", "compromised-vm-gcp", "--provider", "sim", "-i", "examples/inventory",
			"-var", "instance="+webVM, "-var", "incident=INC-2041", "--approve", "isolate", "--state", state)
	}
	resume := func(state, id string, env ...string) (int, string) {
		return vigil(t, env, "runbook", "resume", id, "--approve", "isolate", "--state", state)
	}

	// The uninterrupted run, traced: every point a run passes.
	refState := filepath.Join(dir, "ref.db")
	trace := filepath.Join(dir, "trace")
	if code, out := apply(refState, "VIGIL_FAILPOINT_TRACE="+trace); code != 0 {
		t.Fatalf("reference run: %d\n%s", code, out)
	}
	raw, _ := os.ReadFile(trace)
	points := strings.Fields(string(raw))
	refRun, refEntries := onlyRun(t, refState)
	ref := custodyOf(t, refRun, refEntries)
	if len(ref.evidence) != 3 || len(ref.ops) < 4 {
		t.Fatalf("reference custody: %+v", ref)
	}
	// Between a step's result and its evidence: inside the transaction,
	// after the result's row.
	var between []string
	for _, e := range refEntries {
		if e.Kind == runbook.EntryEvidence {
			between = append(between, fmt.Sprintf("insert:%d", e.Seq-1))
		}
	}
	for _, p := range between {
		if !slices.Contains(points, p) {
			t.Fatalf("the trace lacks %s: %v", p, points)
		}
	}

	step := 1
	if testing.Short() || raceEnabled {
		step = 3 // the same points, fewer of them
	}
	var kills, resumeKills atomic.Int32
	// The distinct points killed at: each point of apply, and each point of
	// a resume (named by the trace of that resume), which are other states
	// of the run than apply's.
	var killedMu sync.Mutex
	killedAt := map[string]bool{}
	killed := func(p string) {
		killedMu.Lock()
		killedAt[p] = true
		killedMu.Unlock()
	}
	for i := 0; i < len(points); i += step {
		p := points[i]
		t.Run(fmt.Sprintf("%02d-%s", i, p), func(t *testing.T) {
			t.Parallel()
			state := filepath.Join(t.TempDir(), "s.db")
			code, out := apply(state, "VIGIL_FAILPOINT="+p)
			if code != 137 {
				t.Fatalf("apply should be killed at %s: exit %d\n%s", p, code, out)
			}
			kills.Add(1)
			killed("apply " + p)
			run, _ := onlyRun(t, state)
			// Every third case is killed again while resuming, at the n-th
			// point the resume reaches.
			if i%3 == 0 {
				nth := fmt.Sprintf("#%d", 2+i%5)
				rtrace := filepath.Join(t.TempDir(), "trace")
				code, out := resume(state, run.ID, "VIGIL_FAILPOINT="+nth, "VIGIL_FAILPOINT_TRACE="+rtrace)
				switch code {
				case 137:
					kills.Add(1)
					resumeKills.Add(1)
					reached, _ := os.ReadFile(rtrace)
					if f := strings.Fields(string(reached)); len(f) > 0 {
						killed("resume " + f[len(f)-1])
					}
				case 0: // finished before reaching it
				default:
					t.Fatalf("resume killed at %s: exit %d\n%s", nth, code, out)
				}
			}
			if code, out := resume(state, run.ID); code != 0 || !strings.Contains(out, ": completed.") {
				t.Fatalf("resume after a kill at %s: exit %d\n%s", p, code, out)
			}
			run, es := onlyRun(t, state)
			if run.Status != runbook.RunCompleted {
				t.Fatalf("status %s", run.Status)
			}
			if diffs := custodyOf(t, run, es).same(ref); len(diffs) > 0 {
				t.Errorf("after a kill at %s: %s", p, strings.Join(diffs, "; "))
			}
			if code, out := vigil(t, nil, "runbook", "verify", run.ID, "--state", state); code != 0 || !strings.Contains(out, "is intact") || !strings.Contains(out, "Its head matches the anchor file") {
				t.Errorf("verify after a kill at %s: %d %s", p, code, out)
			}
		})
	}
	t.Cleanup(func() {
		t.Logf("%d SIGKILLs (%d of them during a resume) at %d distinct points (%d of apply)", kills.Load(), resumeKills.Load(), len(killedAt), len(points))
		if want := 50; step == 1 && len(killedAt) < want {
			t.Errorf("killed at %d distinct points, want at least %d", len(killedAt), want)
		}
	})
}
