package gcp

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
	"github.com/vigil-ir/vigil/internal/provider/gcp/naming"
)

// hashWorld snapshots web-1's disks (1 GiB each, a few bytes written)
// into the security project and returns the hash request for them.
func hashWorld(t *testing.T, f *gcpfake.Fake, p *Provider, bucket string) *action.Request {
	t.Helper()
	f.With(func(f *gcpfake.Fake) {
		for _, d := range []string{"web-1", "web-1-data"} {
			f.SetDiskContent("projects/acme-prod/zones/"+gcpfake.Zone+"/disks/"+d, 1, map[int64][]byte{4096: []byte("evidence of " + d)})
		}
	})
	res, err := act(t, p, "gcp.compute.snapshot_instance_disks").Apply(context.Background(), req(map[string]cty.Value{
		"instance": cty.StringVal(web1), "destination_project": cty.StringVal(gcpfake.SecurityProject)}))
	if err != nil {
		t.Fatal(err)
	}
	var ids []cty.Value
	for it := res.Outputs["snapshots"].ElementIterator(); it.Next(); {
		_, s := it.Element()
		ids = append(ids, s.GetAttr("id"))
	}
	return req(map[string]cty.Value{"snapshots": cty.ListVal(ids), "project": cty.StringVal(gcpfake.SecurityProject),
		"zone": cty.StringVal(gcpfake.Zone), "bucket": cty.StringVal(bucket),
		"service_account": cty.StringVal("vigil-hash-writer@acme-sec-forensics.iam.gserviceaccount.com"),
		"subnetwork":      cty.StringVal("projects/acme-sec-forensics/regions/europe-west1/subnetworks/forensics-ew1")})
}

// leftovers are the workers and evidence disks still in the security project.
func leftovers(f *gcpfake.Fake, p *Provider, r *action.Request) []string {
	var out []string
	f.With(func(f *gcpfake.Fake) {
		for _, d := range f.Instances(gcpfake.SecurityProject) {
			if n := d.Str("name"); strings.HasPrefix(n, "vigil-hash-") {
				out = append(out, n)
			}
		}
		for _, d := range f.Disks(gcpfake.SecurityProject) {
			if n := d.Str("name"); strings.HasPrefix(n, "vigil-ev-") {
				out = append(out, n)
			}
		}
	})
	return out
}

// workerInserts counts the workers made in the security project.
func workerInserts(f *gcpfake.Fake) int {
	n := 0
	for _, m := range f.Mutations() {
		if strings.HasPrefix(m, "instances.insert projects/"+gcpfake.SecurityProject) {
			n++
		}
	}
	return n
}

// journal stands in for the run's journal: what a step saves, its next
// attempt gets.
func journal(r *action.Request) *[]json.RawMessage {
	saved := &[]json.RawMessage{}
	r.Checkpoint = func(raw json.RawMessage) error { *saved = append(*saved, raw); return nil }
	return saved
}

// B1 of the issue-16 review: a result object already in the bucket, at
// the name the attempt would have used when names were predictable, or
// one that is not of the snapshot (another writer, a mixed-up worker), is
// never taken for the hash.
func TestHashTakesOnlyItsOwnResult(t *testing.T) {
	t.Run("objects put there beforehand", func(t *testing.T) {
		f, opts := start(t)
		p := New(opts)
		r := hashWorld(t, f, p, "gs://acme-sec-evidence")
		forged := strings.Repeat("ab", 32)
		// Every name a worker of this step could have been given by the
		// old naming (incident, step, snapshot) holds a forged result.
		f.With(func(f *gcpfake.Fake) {
			for _, s := range f.Snapshots(gcpfake.SecurityProject) {
				disk := naming.ResourceName("vigil-ev-", naming.StepKey(r.RunID, r.Incident), r.Step, gcpfake.SecurityProject, s.Str("name"))
				f.PutObject("acme-sec-evidence", "vigil/"+naming.LabelValue(naming.StepKey(r.RunID, r.Incident))+"/"+disk+".json",
					[]byte(`{"sha256":"`+forged+`","bytes":1073741824,"snapshot":"projects/`+gcpfake.SecurityProject+`/global/snapshots/`+s.Str("name")+`"}`))
			}
		})
		res, err := act(t, p, "gcp.compute.hash_snapshot").Apply(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if n := workerInserts(f); n != 2 {
			t.Errorf("%d workers for 2 snapshots", n)
		}
		for _, e := range res.Evidence {
			want := ""
			f.With(func(f *gcpfake.Fake) {
				want = f.Content(strings.TrimPrefix(e.Ref, "//compute.googleapis.com/")).SHA256()
			})
			if e.SHA256 == forged || e.SHA256 != want {
				t.Errorf("%s: recorded %s, the content hashes to %s", e.Ref, e.SHA256, want)
			}
		}
	})
	for name, tc := range map[string]struct {
		tamper func(map[string]any)
		want   string
	}{
		"a result of another snapshot": {func(m map[string]any) { m["snapshot"] = "projects/acme-sec-forensics/global/snapshots/other" }, `is of "projects/acme-sec-forensics/global/snapshots/other"`},
		"a result of fewer bytes":      {func(m map[string]any) { m["bytes"] = int64(4096) }, "4096 bytes; want"},
	} {
		t.Run(name, func(t *testing.T) {
			f, opts := start(t)
			f.With(func(f *gcpfake.Fake) { f.WorkerTamper = tc.tamper })
			p := New(opts)
			r := hashWorld(t, f, p, "gs://acme-sec-evidence")
			_, err := act(t, p, "gcp.compute.hash_snapshot").Apply(context.Background(), r)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "cannot be taken as evidence") {
				t.Fatalf("err = %v", err)
			}
			if l := leftovers(f, p, r); len(l) > 0 {
				t.Errorf("left behind: %v", l)
			}
		})
	}
	t.Run("two attempts with no checkpoint share nothing", func(t *testing.T) {
		// evidence verify runs the action outside a run, with no journal:
		// each time, new workers and new result objects.
		f, opts := start(t)
		p := New(opts)
		r := hashWorld(t, f, p, "gs://acme-sec-evidence")
		a := act(t, p, "gcp.compute.hash_snapshot")
		first, err := a.Apply(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		second, err := a.Apply(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if n := workerInserts(f); n != 4 {
			t.Errorf("%d workers over two attempts of 2 snapshots", n)
		}
		if first.Evidence[0].Detail["result_object"] == second.Evidence[0].Detail["result_object"] {
			t.Errorf("both attempts read %v", first.Evidence[0].Detail["result_object"])
		}
	})
}

// How a content hash fails: a worker that writes nothing in time, one
// that reports an error, and a result rewritten after an interrupted
// attempt read it; none leaves a worker or disk behind.
func TestHashFailures(t *testing.T) {
	t.Run("no result in time", func(t *testing.T) {
		f, opts := start(t)
		opts.Timeout = 200 * time.Millisecond
		p := New(opts)
		r := hashWorld(t, f, p, "gs://no-such-bucket/x") // the worker's copy fails: no object
		_, err := act(t, p, "gcp.compute.hash_snapshot").Apply(context.Background(), r)
		if err == nil || !strings.Contains(err.Error(), "wrote no gs://no-such-bucket/x/vigil/inc-1/") || !strings.Contains(err.Error(), "the worker and its disk were deleted") {
			t.Fatalf("err = %v", err)
		}
		if l := leftovers(f, p, r); len(l) > 0 {
			t.Errorf("left behind: %v", l)
		}
	})
	t.Run("the worker reports an error", func(t *testing.T) {
		f, opts := start(t)
		p := New(opts)
		r := hashWorld(t, f, p, "gs://acme-sec-evidence")
		// The worker's result says the read failed.
		f.With(func(f *gcpfake.Fake) {
			f.WorkerTamper = func(m map[string]any) {
				m["error"] = "cannot read /dev/disk/by-id/google-evidence"
				delete(m, "sha256")
			}
		})
		_, err := act(t, p, "gcp.compute.hash_snapshot").Apply(context.Background(), r)
		if err == nil || !strings.Contains(err.Error(), "cannot read /dev/disk/by-id/google-evidence") {
			t.Fatalf("err = %v", err)
		}
		if l := leftovers(f, p, r); len(l) > 0 {
			t.Errorf("left behind: %v", l)
		}
	})
	t.Run("a result rewritten after the checkpoint", func(t *testing.T) {
		f, opts := start(t)
		p := New(opts)
		r := hashWorld(t, f, p, "gs://acme-sec-evidence")
		saved := journal(r)
		a := act(t, p, "gcp.compute.hash_snapshot")
		if _, err := a.Apply(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if len(*saved) != 4 {
			t.Fatalf("%d checkpoints for 2 snapshots (a nonce and a hash each)", len(*saved))
		}
		// The next attempt reads the results again: the same ones pass,
		// one written again (a new generation) does not.
		r.Checkpoints, r.Checkpoint = *saved, nil
		if _, err := a.Apply(context.Background(), r); err != nil {
			t.Fatalf("the same results: %v", err)
		}
		if n := workerInserts(f); n != 2 {
			t.Errorf("%d workers: the second attempt should have read the results of the first", n)
		}
		var cp hashCheckpoint
		json.Unmarshal((*saved)[3], &cp)
		name := strings.TrimPrefix(cp.Result, "gs://acme-sec-evidence/")
		raw, _ := f.Object("acme-sec-evidence", name)
		f.With(func(f *gcpfake.Fake) { f.PutObject("acme-sec-evidence", name, raw) })
		_, err := a.Apply(context.Background(), r)
		if err == nil || !strings.Contains(err.Error(), "it was rewritten") {
			t.Fatalf("err = %v", err)
		}
	})
}

// An attempt interrupted while its worker runs is not taken for done:
// Recover says so at once (it does not wait for the worker), and the next
// attempt waits for the same worker instead of starting another.
func TestHashInterruptedResumes(t *testing.T) {
	f, opts := start(t)
	f.With(func(f *gcpfake.Fake) { f.WorkerLooks = 1 << 30 }) // the worker does not finish while the first attempt waits
	p := New(opts)
	r := hashWorld(t, f, p, "gs://acme-sec-evidence")
	saved := journal(r)
	a := act(t, p, "gcp.compute.hash_snapshot")
	ctx, cancel := context.WithCancel(context.Background())
	r.Progress = func(msg string) {
		if strings.Contains(msg, "is hashing disk") {
			cancel()
		}
	}
	if _, err := a.Apply(ctx, r); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted: %v", err)
	}
	if l := leftovers(f, p, r); len(l) != 2 {
		t.Fatalf("the interrupted attempt's worker and disk should be there: %v", l)
	}
	_, took, err := a.RecoverFn(context.Background(), r)
	if err != nil || took {
		t.Fatalf("recover: took %v, %v", took, err)
	}
	f.With(func(f *gcpfake.Fake) { f.WorkerLooks = 0; f.FinishWorkers() })
	r.Progress, r.Checkpoints = nil, *saved
	res, err := a.Apply(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	workers := 0
	for _, m := range f.Mutations() {
		if strings.HasPrefix(m, "instances.insert projects/acme-sec-forensics") {
			workers++
		}
	}
	if workers != 2 || len(res.Evidence) != 2 {
		t.Errorf("%d workers made for 2 snapshots over two attempts, %d hashes", workers, len(res.Evidence))
	}
	if l := leftovers(f, p, r); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

// B2 of the issue-16 review: a content hash is evidence of the disk its
// snapshot was made of only when this run made the snapshot, of the disk
// that has that name now; else only of the snapshot, and the gate wants a
// snapshot of the disk made in the run.
func TestHashEvidenceOfDisk(t *testing.T) {
	disk := "//compute.googleapis.com/projects/acme-prod/zones/" + gcpfake.Zone + "/disks/web-1"
	for _, tc := range []struct {
		name   string
		change func(f *gcpfake.Fake, r *action.Request)
		of     bool
		why    string
	}{
		{"a snapshot of this run", func(*gcpfake.Fake, *action.Request) {}, true, ""},
		{"a snapshot of another run", func(_ *gcpfake.Fake, r *action.Request) { r.RunID = "run-2" }, false, `not made by this run (its vigil-run label is "run-1")`},
		{"a disk of the same name made since", func(f *gcpfake.Fake, _ *action.Request) {
			f.With(func(f *gcpfake.Fake) {
				f.Disk("projects/acme-prod/zones/" + gcpfake.Zone + "/disks/web-1")["id"] = "424242"
			})
		}, false, "(id 424242) is not the one the snapshot was made of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, opts := start(t)
			p := New(opts)
			r := hashWorld(t, f, p, "gs://acme-sec-evidence")
			tc.change(f, r)
			res, err := act(t, p, "gcp.compute.hash_snapshot").Apply(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			var e *action.Evidence
			for i := range res.Evidence {
				if strings.Contains(res.Evidence[i].Ref, "/vigil-web-1-") && !strings.Contains(res.Evidence[i].Ref, "-data-") {
					e = &res.Evidence[i]
				}
			}
			if e == nil {
				t.Fatalf("no hash of web-1's snapshot: %+v", res.Evidence)
			}
			if got := slices.Contains(e.Of, disk); got != tc.of {
				t.Errorf("evidence of %s: %v, want %v (of %v)", disk, got, tc.of, e.Of)
			}
			if why, _ := e.Detail["not_evidence_of_source_disk"].(string); !strings.Contains(why, tc.why) || (tc.why == "") != (why == "") {
				t.Errorf("why not: %q, want %q", why, tc.why)
			}
		})
	}
}
