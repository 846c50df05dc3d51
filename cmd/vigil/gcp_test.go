package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
)

// The Google Cloud flow with the built binary against the fakes: collect,
// scan, and compromised-vm-gcp killed half-way through the snapshot step
// and resumed without snapshotting twice.
func TestGCPIncidentEndToEnd(t *testing.T) {
	f := gcpfake.Scenario()
	srv, err := f.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	env := []string{"VIGIL_GCP_ENDPOINT=" + srv.REST, "VIGIL_GCP_ASSET_ENDPOINT=" + srv.Asset}
	dir := t.TempDir()
	inv := filepath.Join(dir, "gcp.ndjson")
	if code, out := vigil(t, env, "inventory", "collect", "--gcp-scope", "organizations/684315297612", "--out", inv); code != 0 || !strings.Contains(out, "gcp: collected") {
		t.Fatalf("collect: %d\n%s", code, out)
	}
	if code, out := vigil(t, env, "scan", "-c", "examples/vigil.hcl", "--policy", "VGL-NET-001", inv); code != 1 || !strings.Contains(out, "allow-ssh-debug") {
		t.Fatalf("scan: %d\n%s", code, out)
	}
	state := filepath.Join(dir, "state.db")
	code, out := vigil(t, append(env, "VIGIL_FAILPOINT=during:snapshot"), "runbook", "apply", "compromised-vm-gcp", "-i", inv,
		"-var", "instance=//compute.googleapis.com/"+gcpfake.Web1, "-var", "incident=INC-2041", "--approve", "isolate", "--state", state)
	if code != 137 {
		t.Fatalf("failpoint: %d\n%s", code, out)
	}
	run, _ := onlyRun(t, state)
	code, out = vigil(t, env, "runbook", "resume", run.ID, "--approve", "isolate", "--state", state)
	if code != 0 || !strings.Contains(out, "step.snapshot: the interrupted attempt had taken effect") {
		t.Fatalf("resume: %d\n%s", code, out)
	}
	run, es := onlyRun(t, state)
	if run.Status != runbook.RunCompleted {
		t.Fatalf("status %s", run.Status)
	}
	exactlyOnce(t, run, es, []string{"record", "snapshot", "export", "isolate", "suspend"})
	inserts := 0
	for _, m := range f.Mutations() {
		if strings.HasPrefix(m, "snapshots.insert") {
			inserts++
		}
	}
	if inserts != 2 {
		t.Errorf("%d snapshots.insert calls for 2 disks: %v", inserts, f.Mutations())
	}
}
