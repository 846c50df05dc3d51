package gcp

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
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
	jobs, _ := p.hashJobs(r)
	var out []string
	f.With(func(f *gcpfake.Fake) {
		for _, j := range jobs {
			zone := "projects/" + j.project + "/zones/" + j.zone
			if f.Instance(zone+"/instances/"+j.vm) != nil {
				out = append(out, j.vm)
			}
			if f.Disk(zone+"/disks/"+j.disk) != nil {
				out = append(out, j.disk)
			}
		}
	})
	return out
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
		jobs, _ := p.hashJobs(r)
		// The first worker's result says the read failed.
		f.With(func(f *gcpfake.Fake) {
			f.PutObject("acme-sec-evidence", jobs[0].result, []byte(`{"error":"cannot read /dev/disk/by-id/google-evidence","worker":"w"}`))
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
		var saved []json.RawMessage
		r.Checkpoint = func(raw json.RawMessage) error { saved = append(saved, raw); return nil }
		a := act(t, p, "gcp.compute.hash_snapshot")
		if _, err := a.Apply(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if len(saved) != 2 {
			t.Fatalf("%d checkpoints for 2 snapshots", len(saved))
		}
		// The next attempt reads the results again: the same ones pass,
		// one written again (a new generation) does not.
		r.Checkpoints, r.Checkpoint = saved, nil
		if _, err := a.Apply(context.Background(), r); err != nil {
			t.Fatalf("the same results: %v", err)
		}
		jobs, _ := p.hashJobs(r)
		raw, _ := f.Object("acme-sec-evidence", jobs[1].result)
		f.With(func(f *gcpfake.Fake) { f.PutObject("acme-sec-evidence", jobs[1].result, raw) })
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
	r.Progress = nil
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
