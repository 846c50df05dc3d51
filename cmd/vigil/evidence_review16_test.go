package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
)

// The evidence gate on Google Cloud, with the built binary against the
// fake, for the holes the issue-16 review found: restricting a firewall
// rule with evidence = true is no record of it (B3), and the content hash
// of snapshots an earlier run made is no evidence of the VM's disks now
// (B2).
func TestGCPEvidenceGateReview16(t *testing.T) {
	f := gcpfake.Scenario()
	srv, err := f.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	env := []string{"VIGIL_GCP_ENDPOINT=" + srv.REST, "VIGIL_GCP_ASSET_ENDPOINT=" + srv.Asset, "VIGIL_GCP_POLL_INTERVAL=20ms"}
	dir := t.TempDir()
	inv := filepath.Join(dir, "gcp.ndjson")
	if code, out := vigil(t, env, "inventory", "collect", "--gcp-scope", "organizations/684315297612", "--out", inv); code != 0 {
		t.Fatalf("collect: %d\n%s", code, out)
	}
	firewall := "//compute.googleapis.com/" + gcpfake.OpenSSH
	code, out := applyWithSecondApprover(t, env, filepath.Join(dir, "fw1.db"), "runbook", "apply", "--auto-approve", "cmd/vigil/testdata/evidence/firewall-gcp.hcl", "-i", inv, "-var", "firewall="+firewall,
		"-var", "incident=INC-16", "--approve", "delete", "--state", filepath.Join(dir, "fw1.db"))
	if code != 1 || !strings.Contains(out, "refusing to delete "+firewall) {
		t.Fatalf("delete after restrict (evidence = true) alone: exit %d\n%s", code, out)
	}
	f.With(func(f *gcpfake.Fake) {
		if f.Firewall(gcpfake.OpenSSH) == nil {
			t.Fatal("the rule was deleted with no record of it")
		}
	})
	code, out = applyWithSecondApprover(t, env, filepath.Join(dir, "fw2.db"), "runbook", "apply", "--auto-approve", "cmd/vigil/testdata/evidence/firewall-gcp.hcl", "-i", inv, "-var", "firewall="+firewall,
		"-var", "incident=INC-16", "-var", "record=true", "--approve", "delete", "--state", filepath.Join(dir, "fw2.db"))
	if code != 0 {
		t.Fatalf("delete after a record of the rule: exit %d\n%s", code, out)
	}
	f.With(func(f *gcpfake.Fake) {
		if f.Firewall(gcpfake.OpenSSH) != nil {
			t.Error("the rule is still there after a record of it and delete")
		}
	})

	// An earlier run snapshots web-1's disks; this one only hashes them.
	instance := "//compute.googleapis.com/" + gcpfake.Web1
	if code, out := vigil(t, env, "runbook", "apply", "--auto-approve", "cmd/vigil/testdata/evidence/snapshot-gcp.hcl", "-i", inv, "-var", "instance="+instance,
		"-var", "incident=INC-OLD", "--state", filepath.Join(dir, "old.db")); code != 0 {
		t.Fatalf("the earlier run: %d\n%s", code, out)
	}
	var snaps []string
	f.With(func(f *gcpfake.Fake) {
		for _, s := range f.Snapshots(gcpfake.SecurityProject) {
			snaps = append(snaps, `"//compute.googleapis.com/projects/`+gcpfake.SecurityProject+`/global/snapshots/`+s.Str("name")+`"`)
		}
	})
	if len(snaps) != 2 {
		t.Fatalf("snapshots of the earlier run: %v", snaps)
	}
	code, out = applyWithSecondApprover(t, env, filepath.Join(dir, "hash.db"), "runbook", "apply", "--auto-approve", "cmd/vigil/testdata/evidence/hash-old-gcp.hcl", "-i", inv, "-var", "instance="+instance,
		"-var", "incident=INC-16", "-var", "snapshots=["+strings.Join(snaps, ",")+"]",
		"-var", "worker_service_account=vigil-hash-writer@acme-sec-forensics.iam.gserviceaccount.com", "--approve", "delete", "--state", filepath.Join(dir, "hash.db"))
	if code != 1 || !strings.Contains(out, "refusing to delete "+instance) || !strings.Contains(out, "a snapshot or content hash of disk web-1") {
		t.Fatalf("delete after hashing an earlier run's snapshots: exit %d\n%s", code, out)
	}
	f.With(func(f *gcpfake.Fake) {
		if f.Instance(gcpfake.Web1) == nil {
			t.Fatal("web-1 was deleted on a hash of an earlier run's snapshots")
		}
	})
}
