package cli

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/provider/sim"
	"github.com/vigil-ir/vigil/internal/store"
)

// A mutating call that times out after the cloud acted is journaled as
// outcome unknown, and the action is asked whether it took effect before
// anything is retried: the snapshots and the isolation are found, not made
// twice. A call that failed before the cloud acted (suspend) is found not
// to have taken effect; the run stops, and resume asks again, then applies
// it once.
func TestOutcomeUnknownInTheSimulatedCloud(t *testing.T) {
	t.Setenv("VIGIL_SIM_FAULTS", "gcp.compute.snapshot_instance_disks=unknown-after:1,gcp.compute.isolate_instance=unknown-after:1,gcp.compute.suspend_instance=unknown-before:1")
	state := filepath.Join(t.TempDir(), "s.db")
	code, out, errs := run(t, "runbook", "apply", "compromised-vm-gcp", "--provider", "sim", "-i", "examples/inventory",
		"-var", "instance="+webVM, "-var", "incident=INC-2041", "--approve", "isolate", "--state", state)
	if code != ExitFindings || !strings.Contains(out, "step.snapshot: outcome unknown") || !strings.Contains(out, "step.snapshot: the attempt whose outcome was unknown had taken effect") ||
		!strings.Contains(out, "step.isolate: the attempt whose outcome was unknown had taken effect") ||
		!strings.Contains(out, "step.suspend: outcome unknown: gcp.compute.suspend_instance: simulated: the request timed out after it was sent; resume asks the action again before retrying") {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errs)
	}
	id := runID.FindStringSubmatch(out)[1]
	t.Setenv("VIGIL_SIM_FAULTS", "")
	if code, out, errs := run(t, "runbook", "resume", id, "--state", state); code != 0 {
		t.Fatalf("resume: %d\n%s\n%s", code, out, errs)
	}
	st, _ := store.OpenSQLite(state)
	defer st.Close()
	r, _ := st.GetRun(context.Background(), id)
	es, _ := st.Entries(context.Background(), id)
	var snap, iso, sus []string
	for _, e := range es {
		switch e.Step {
		case "snapshot":
			snap = append(snap, e.Kind)
		case "isolate":
			iso = append(iso, e.Kind)
		case "suspend":
			sus = append(sus, e.Kind)
		}
	}
	if strings.Join(snap, " ") != "step.started step.outcome_unknown step.recovered step.succeeded evidence" {
		t.Errorf("snapshot's journal: %v", snap)
	}
	if !slices.Contains(iso, runbook.EntryOutcomeUnknown) || iso[len(iso)-1] != runbook.EntryStepSucceeded {
		t.Errorf("isolate's journal: %v", iso)
	}
	if !slices.Contains(sus, runbook.EntryOutcomeUnknown) || sus[len(sus)-1] != runbook.EntryStepSucceeded {
		t.Errorf("suspend's journal: %v", sus)
	}
	cloud, err := sim.Load(r.State)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, op := range cloud.Ops() {
		n[op.Step]++
	}
	if n["snapshot"] != 1 || n["isolate"] != 1 || n["suspend"] != 1 {
		t.Errorf("changes per step: %v", n)
	}
}
