package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/provider/gcp/contract"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
	"github.com/vigil-ir/vigil/internal/provider/gcp/naming"
)

// gcpDiskBytes are the synthetic bytes the test puts on web-1's disks:
// a boot sector, data in the middle and at the very end, zeros (never
// written: sparse) between.
func gcpDiskBytes(disk string) map[int64][]byte {
	blob := func(n int, seed string) []byte {
		out := make([]byte, 0, n)
		for i := 0; len(out) < n; i++ {
			s := sha256.Sum256([]byte(seed + "/" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)))
			out = append(out, s[:]...)
		}
		return out[:n]
	}
	return map[int64][]byte{
		0:                blob(512, disk+"/mbr"),
		300 << 20:        blob(64<<10, disk+"/data"),
		(1 << 30) - 4096: blob(4096, disk+"/tail"),
	}
}

// gcpImageHash is the test's own computation: sha256 of a 1 GiB sparse
// file holding the chunks, as sha256sum of the disk's device would give.
func gcpImageHash(t *testing.T, chunks map[int64][]byte) string {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	for off, b := range chunks {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// What issue 16 must show on Google Cloud, with the built binary against
// the fake: compromised-vm-gcp records a content SHA-256 of each disk's
// snapshot, read by a worker VM in the security project, that equals the
// test's own; the worker and its disk are gone after; evidence verify
// says match, and after one chunk of a snapshot changes, MISMATCH naming
// it; the timeline shows the seeded audit log entries before and after
// the alert, and not the ones outside the window or about others; delete
// after a record hash alone is refused, allowed after the snapshots and
// their hashes.
func TestGCPContentHashAndTimeline(t *testing.T) {
	f := gcpfake.Scenario()
	disks := map[string]string{"web-1": "projects/acme-prod/zones/europe-west1-b/disks/web-1", "web-1-data": "projects/acme-prod/zones/europe-west1-b/disks/web-1-data"}
	want := map[string]string{}
	f.With(func(f *gcpfake.Fake) {
		for name, path := range disks {
			f.SetDiskContent(path, 1, gcpDiskBytes(name))
			want[name] = gcpImageHash(t, gcpDiskBytes(name))
		}
	})
	f.WorkerLooks = 2
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
	instance := "//compute.googleapis.com/" + gcpfake.Web1
	worker := "vigil-hash-writer@acme-sec-forensics.iam.gserviceaccount.com"

	// A hash of the VM's record alone does not let it be deleted.
	gate := filepath.Join(dir, "gate.db")
	code, out := applyWithSecondApprover(t, env, gate, "runbook", "apply", "cmd/vigil/testdata/evidence/delete-gcp.hcl", "-i", inv, "-var", "instance="+instance,
		"-var", "incident=INC-16", "--auto-approve", "--state", gate)
	if code != 1 || !strings.Contains(out, "refusing to delete "+instance) ||
		!strings.Contains(out, "a snapshot or content hash of disk web-1; a snapshot or content hash of disk web-1-data") {
		t.Fatalf("delete after a record hash: exit %d\n%s", code, out)
	}
	f.With(func(f *gcpfake.Fake) {
		if f.Instance(gcpfake.Web1) == nil {
			t.Fatal("web-1 was deleted on a record hash")
		}
	})

	// Killed once the first snapshot's hash is journalled, the run is
	// resumed: the first result is taken from its object (no second
	// worker), the second snapshot gets its worker.
	state := filepath.Join(dir, "state.db")
	code, out = vigil(t, append(env, "VIGIL_FAILPOINT=checkpoint:hash"), "runbook", "apply", "compromised-vm-gcp", "-i", inv, "-var", "instance="+instance, "-var", "incident=INC-16",
		"-var", `forensics_ranges=["10.99.0.0/24"]`, "-var", "detected_at="+gcpfake.AlertTime.Format(time.RFC3339),
		"-var", "principal=//iam.googleapis.com/"+gcpfake.LeakedKey, "-var", "worker_service_account="+worker,
		"-var", "worker_subnetwork=projects/acme-sec-forensics/regions/europe-west1/subnetworks/forensics-ew1",
		"--approve", "isolate", "--auto-approve", "--state", state)
	if code != 137 {
		t.Fatalf("apply with a failpoint at the hash's checkpoint: %d\n%s", code, out)
	}
	first := out
	run, es := onlyRun(t, state)
	_ = es
	code, out = applyWithSecondApprover(t, env, state, "runbook", "resume", run.ID, "--approve", "isolate", "--state", state)
	if code != 0 {
		t.Fatalf("resume: %d\n%s", code, out)
	}
	out = first + out
	if !regexp.MustCompile(`step.hash: [a-z0-9-]+: sha256 [0-9a-f]{64} \(1073741824 bytes\)`).MatchString(out) {
		t.Errorf("no hashing progress on the console:\n%s", out)
	}
	run, es = onlyRun(t, state)
	if run.Status != runbook.RunCompleted {
		t.Fatalf("status %s\n%s", run.Status, out)
	}
	content := custodyItems(es, action.EvidenceContent)
	got := map[string]string{}
	for _, it := range content {
		if !strings.HasPrefix(it.Ref, "//compute.googleapis.com/projects/acme-sec-forensics/global/snapshots/") {
			t.Errorf("the hash should be of a snapshot in the security project: %+v", it)
		}
		for name, path := range disks {
			if slices.Contains(it.Of, "//compute.googleapis.com/"+path) {
				got[name] = it.SHA256
			}
		}
		if it.Detail["result_md5"] == "" || it.Detail["result_crc32c"] == "" || it.Detail["result_md5"] == nil {
			t.Errorf("the result object's MD5 and CRC32C are not recorded: %+v", it.Detail)
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("content hashes recorded %v, the disks' images hash to %v", got, want)
	}
	// The worker, its boot disk and the evidence disk are gone; the
	// worker had no external IP and ran as the service account given.
	var workerInserts []string
	for _, r := range f.Requests() {
		if r.Operation == "instances.insert" && strings.Contains(string(r.Body), "vigil-hash-") {
			workerInserts = append(workerInserts, string(r.Body))
		}
	}
	if len(workerInserts) != 2 {
		t.Fatalf("%d worker VMs made for 2 snapshots", len(workerInserts))
	}
	for _, b := range workerInserts {
		if strings.Contains(b, "accessConfigs") || !strings.Contains(b, worker) || !strings.Contains(b, `"READ_ONLY"`) {
			t.Errorf("worker request: want no access config, the worker's service account and the evidence disk read-only:\n%s", b)
		}
	}
	reqs := f.Requests()
	f.With(func(f *gcpfake.Fake) {
		for _, r := range reqs {
			if r.Operation == "instances.insert" || r.Operation == "disks.insert" {
				var name string
				if m := regexp.MustCompile(`"name":"(vigil-[a-z0-9-]+)"`).FindStringSubmatch(string(r.Body)); m != nil {
					name = m[1]
				}
				zone := "projects/acme-sec-forensics/zones/europe-west1-b/"
				if name != "" && (f.Instance(zone+"instances/"+name) != nil || f.Disk(zone+"disks/"+name) != nil) {
					t.Errorf("%s is still there after the hash", name)
				}
			}
		}
	})

	if problems := contract.CheckAll(f.Requests()); len(problems) > 0 {
		t.Errorf("requests the discovery documents do not allow:\n%s", strings.Join(problems, "\n"))
	}

	code, out = vigil(t, env, "evidence", "verify", run.ID, "--state", state)
	if code != 0 || strings.Count(out, "match     ") != 2 || !strings.Contains(out, "the 2 content hashes match") {
		t.Fatalf("verify: %d\n%s", code, out)
	}

	// One chunk of one snapshot changes (as if the evidence were tampered with).
	changed := content[0].Ref[strings.LastIndex(content[0].Ref, "/")+1:]
	f.With(func(f *gcpfake.Fake) {
		c := f.Content("projects/acme-sec-forensics/global/snapshots/" + changed)
		c.Chunks[300<<20][100] ^= 0x5a
	})
	// Results holding the recorded hashes wait in the bucket at the names
	// verify's workers had when names were predictable (verify-<second>,
	// review 16 B1): they are not taken, a new worker hashes each snapshot.
	now := time.Now().UTC()
	f.With(func(f *gcpfake.Fake) {
		for s := range 120 {
			key := naming.LabelValue("verify-" + now.Add(time.Duration(s)*time.Second).Format("20060102t150405"))
			for _, it := range content {
				name := it.Ref[strings.LastIndex(it.Ref, "/")+1:]
				disk := naming.ResourceName("vigil-ev-", "verify-"+now.Add(time.Duration(s)*time.Second).Format("20060102t150405"), "verify.hash", gcpfake.SecurityProject, name)
				f.PutObject("acme-sec-evidence", "vigil/"+key+"/"+disk+".json",
					[]byte(`{"sha256":"`+it.SHA256+`","bytes":1073741824,"snapshot":"projects/`+gcpfake.SecurityProject+`/global/snapshots/`+name+`"}`))
			}
		}
	})
	code, out = vigil(t, env, "evidence", "verify", run.ID, "--state", state)
	if code != 1 || !regexp.MustCompile(`MISMATCH  content of snapshot `+changed+` .*was recorded as sha256 `+content[0].SHA256).MatchString(out) ||
		strings.Count(out, "match     ") != 1 {
		t.Fatalf("verify after a change: %d\n%s", code, out)
	}

	// The timeline: the seeded audit log entries before and after the alert.
	code, out = vigil(t, nil, "runbook", "timeline", run.ID, "--state", state)
	if code != 0 {
		t.Fatalf("timeline: %d\n%s", code, out)
	}
	sec := out[strings.Index(out, "## Before and after the detection"):]
	sec = sec[:strings.Index(sec, "## Chain of custody")]
	get, meta, det, miner := strings.Index(sec, "v1.compute.instances.get"), strings.Index(sec, "v1.compute.instances.setMetadata"),
		strings.Index(sec, "**detection**"), strings.Index(sec, "v1.compute.instances.insert")
	if get < 0 || meta < 0 || det < 0 || miner < 0 || !(get < meta && meta < det && det < miner) ||
		!strings.Contains(sec, "| before | shop-frontend@acme-prod.iam.gserviceaccount.com | "+gcpfake.AttackerIP+" | compute.googleapis.com v1.compute.instances.setMetadata | success |") ||
		!strings.Contains(sec, "| after | shop-frontend@acme-prod.iam.gserviceaccount.com | "+gcpfake.AttackerIP+" | compute.googleapis.com v1.compute.instances.insert | error 7: Required 'compute.instances.create' permission") {
		t.Errorf("timeline section:\n%s", sec)
	}
	if strings.Contains(sec, "firewalls.patch") || strings.Contains(sec, "setLabels") {
		t.Errorf("the timeline holds entries of another resource and principal, or from outside the window:\n%s", sec)
	}
	if logs := custodyItems(es, action.EvidenceLog); len(logs) != 1 || logs[0].SHA256 == "" {
		t.Errorf("log evidence items: %+v", logs)
	}

	// After the snapshots and their content hashes, delete is allowed.
	gate2 := filepath.Join(dir, "gate2.db")
	code, out = applyWithSecondApprover(t, env, gate2, "runbook", "apply", "cmd/vigil/testdata/evidence/delete-gcp.hcl", "-i", inv, "-var", "instance="+instance,
		"-var", "incident=INC-16", "-var", "content=true", "-var", "worker_service_account="+worker, "--auto-approve",
		"--state", gate2)
	if code != 0 {
		t.Fatalf("delete after the snapshots and their hashes: %d\n%s", code, out)
	}
	f.With(func(f *gcpfake.Fake) {
		if f.Instance(gcpfake.Web1) != nil {
			t.Error("web-1 is still there")
		}
	})
}
