package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/provider/gcp/contract"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
)

// The Google Cloud flow with the built binary against the fakes: collect,
// scan, and compromised-vm-gcp killed half-way through the snapshot step
// and resumed without snapshotting twice, through a 429 and a 503 on the
// looks at an operation. web-1 has two interfaces in two networks, a
// Local SSD, and a priority-0 allow in front of it: afterwards nothing
// reaches it or leaves it but the forensics range.
func TestGCPIncidentEndToEnd(t *testing.T) {
	f := gcpfake.Scenario()
	srv, err := f.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	env := []string{"VIGIL_GCP_ENDPOINT=" + srv.REST, "VIGIL_GCP_ASSET_ENDPOINT=" + srv.Asset, "VIGIL_GCP_POLL_INTERVAL=20ms"}
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
		"-var", "instance=//compute.googleapis.com/"+gcpfake.Web1, "-var", "incident=INC-2041", "-var", `forensics_ranges=["10.99.0.0/24"]`,
		"--approve", "isolate", "--auto-approve", "--state", state)
	if code != 137 {
		t.Fatalf("failpoint: %d\n%s", code, out)
	}
	f.Inject(gcpfake.Fault{API: "compute", Operation: "zoneOperations.get", Kind: "quota", Times: 1})
	f.Inject(gcpfake.Fault{API: "compute", Operation: "zoneOperations.get", Kind: "unavailable", Times: 1})
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
	faults := 0
	for _, c := range f.Calls() {
		if c.Operation == "zoneOperations.get" && c.Fault != "" {
			faults++
		}
	}
	if faults != 2 {
		t.Errorf("%d faulty looks at operations were served, want the 429 and the 503", faults)
	}
	f.With(func(f *gcpfake.Fake) {
		in := f.Instance(gcpfake.Web1)
		if in.Str("status") != "SUSPENDED" || f.LocalSSDDiscarded(gcpfake.Web1) {
			t.Errorf("web-1 is %s, Local SSD data discarded: %v", in.Str("status"), f.LocalSSDDiscarded(gcpfake.Web1))
		}
		for _, tc := range []struct {
			nic       int
			dir, peer string
			port      int
			allowed   bool
		}{
			{0, "INGRESS", "35.191.8.8", 443, false}, // allow-health-checks sits at priority 0
			{0, "INGRESS", "198.51.100.23", 22, false},
			{1, "INGRESS", "10.30.1.1", 22, false}, // allow-mgmt-ssh, on the second network
			{0, "EGRESS", "203.0.113.50", 443, false},
			{1, "EGRESS", "10.30.0.2", 443, false},
			{0, "INGRESS", "10.99.0.10", 22, true},
			{1, "INGRESS", "10.99.0.10", 22, true},
		} {
			if v := f.Reach(gcpfake.Web1, tc.nic, tc.dir, tc.peer, "tcp", tc.port); v.Allowed != tc.allowed {
				t.Errorf("nic%d %s %s:%d: %+v, want allowed=%v", tc.nic, tc.dir, tc.peer, tc.port, v, tc.allowed)
			}
		}
	})
	// Every request the binary sent is what Google's discovery documents
	// describe, with the fields vigil means to set.
	if problems := contract.CheckAll(f.Requests()); len(problems) > 0 {
		t.Errorf("requests that break the API contract:\n%s", strings.Join(problems, "\n"))
	}
	if problems := contract.CheckAllRPC(f.RPCs()); len(problems) > 0 {
		t.Errorf("Cloud Asset requests that break the API contract:\n%s", strings.Join(problems, "\n"))
	}
}
