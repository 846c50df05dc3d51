package gcp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	compute "google.golang.org/api/compute/v1"
	storage "google.golang.org/api/storage/v1"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/internal/provider/gcp/naming"
	"github.com/vigil-ir/vigil/internal/provider/gcp/worker"
)

// gcp.compute.hash_snapshot hashes a snapshot's raw content the way
// libcloudforensics does, since Compute Engine has no block API: in the
// security project, a disk is made of the snapshot and attached read-only
// to a short-lived worker VM with no external IP, whose service account
// can only write to the evidence bucket; the worker's startup script
// (worker.HashScript) streams the disk through sha256sum and writes a
// result object. vigil waits for it, records the hash with the object's
// MD5 and CRC32C, and deletes the worker and the disk. Every name derives
// from the run (or incident), the step and the snapshot, so an attempt
// after a crash finds what the first made, and the result object once
// written is the checkpoint: nothing is hashed twice.

const defaultWorkerImage = "projects/debian-cloud/global/images/family/debian-12"

// hashJob is one snapshot's worker, disk and objects.
type hashJob struct {
	snap              ref
	disk, vm          string
	bucket, prefix    string
	result, image     string // object names
	project, zone     string
	resultURL, imgURL string
}

func (p *Provider) hashJobs(r *action.Request) ([]hashJob, error) {
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(r.Str("bucket"), "gs://"), "/")
	if bucket == "" {
		return nil, fmt.Errorf("bucket %q: want NAME or gs://NAME/PREFIX", r.Str("bucket"))
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	key := naming.StepKey(r.RunID, r.Incident)
	var out []hashJob
	for _, id := range r.Strings("snapshots") {
		sr, err := parse(id, "snapshots")
		if err != nil {
			return nil, err
		}
		j := hashJob{snap: sr, project: r.Str("project"), zone: r.Str("zone"), bucket: bucket,
			disk: naming.ResourceName("vigil-ev-", key, r.Step, sr.project, sr.name),
			vm:   naming.ResourceName("vigil-hash-", key, r.Step, sr.project, sr.name)}
		base := fmt.Sprintf("%svigil/%s/%s", prefix, naming.LabelValue(key), j.disk)
		j.result = base + ".json"
		if r.Bool("write_image", false) {
			j.image = base + ".raw"
			j.imgURL = "gs://" + bucket + "/" + j.image
		}
		j.resultURL = "gs://" + bucket + "/" + j.result
		out = append(out, j)
	}
	return out, nil
}

func (p *Provider) hashPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	s, err := p.svc(ctx)
	if err != nil {
		return nil, err
	}
	jobs, err := p.hashJobs(r)
	if err != nil {
		return nil, err
	}
	var targets, details []string
	for _, j := range jobs {
		sn, err := s.snapshotGet(ctx, j.snap)
		if err != nil {
			return nil, err
		}
		targets = append(targets, j.snap.assetID())
		details = append(details, fmt.Sprintf("disk %s of %s (%s GB) on worker %s in %s/%s; result %s", j.disk, j.snap.name, fmt.Sprint(sn.DiskSizeGb), j.vm, j.project, j.zone, j.resultURL))
	}
	details = append(details, "the worker has no external IP and runs as "+r.Str("service_account")+", which should only be able to create objects in gs://"+jobs0(jobs).bucket)
	return &action.Change{Summary: fmt.Sprintf("hash the content of %d snapshots on worker VMs in %s", len(jobs), r.Str("project")), Targets: targets, Details: details}, nil
}

func jobs0(jobs []hashJob) hashJob {
	if len(jobs) == 0 {
		return hashJob{}
	}
	return jobs[0]
}

func (s *session) snapshotGet(ctx context.Context, sr ref) (*compute.Snapshot, error) {
	var sn *compute.Snapshot
	err := s.do(ctx, func() error {
		var err error
		sn, err = s.cmp.Snapshots.Get(sr.project, sr.name).Context(ctx).Do()
		return err
	})
	if isNotFound(err) {
		return nil, &action.NotFoundError{What: "snapshot", ID: sr.assetID()}
	}
	return sn, err
}

// hashCheckpoint is journalled when a snapshot's result has been read.
type hashCheckpoint struct {
	Snapshot   string `json:"snapshot"`
	SHA256     string `json:"sha256"`
	Result     string `json:"result"`
	Generation int64  `json:"generation"`
}

// workerResult is what the startup script writes.
type workerResult struct {
	SHA256   string `json:"sha256"`
	Bytes    int64  `json:"bytes"`
	Snapshot string `json:"snapshot"`
	Device   string `json:"device"`
	Image    string `json:"image"`
	Started  string `json:"started"`
	Finished string `json:"finished"`
	Worker   string `json:"worker"`
	Error    string `json:"error"`
}

func (p *Provider) hashApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	s, err := p.svc(ctx)
	if err != nil {
		return nil, err
	}
	jobs, err := p.hashJobs(r)
	if err != nil {
		return nil, err
	}
	// The result objects are the checkpoints: an attempt after a crash
	// reads those written and starts workers only for the rest. The
	// journal keeps each one's hash and generation as it was read, so a
	// result rewritten in between is caught rather than taken.
	done := map[string]hashCheckpoint{}
	for _, raw := range r.Checkpoints {
		var cp hashCheckpoint
		if json.Unmarshal(raw, &cp) == nil && cp.Snapshot != "" {
			done[cp.Snapshot] = cp
		}
	}
	res := &action.Result{}
	hashes, objects := map[string]cty.Value{}, map[string]cty.Value{}
	for i, j := range jobs {
		ref := r.Strings("snapshots")[i]
		sn, err := s.snapshotGet(ctx, j.snap)
		if err != nil {
			return nil, err
		}
		// The hash is evidence of the disk the snapshot was made of too:
		// the gate lets that disk's instance be deleted on it.
		of := []string{j.snap.assetID(), ref}
		if sn.SourceDisk != "" {
			of = append(of, "//compute.googleapis.com/"+linkPath(sn.SourceDisk))
		}
		obj, got, err := s.hashOne(ctx, r, j)
		if err != nil {
			return nil, fmt.Errorf("hash %s: %w", j.snap.name, err)
		}
		if cp, ok := done[j.snap.assetID()]; ok {
			if cp.Generation != obj.Generation || cp.SHA256 != got.SHA256 {
				return nil, fmt.Errorf("hash %s: result %s is not what the interrupted attempt read (sha256 %s, generation %d; now %s, generation %d): it was rewritten, and cannot be taken as evidence",
					j.snap.name, j.resultURL, cp.SHA256, cp.Generation, got.SHA256, obj.Generation)
			}
		} else if err := r.Save(hashCheckpoint{Snapshot: j.snap.assetID(), SHA256: got.SHA256, Result: j.resultURL, Generation: obj.Generation}); err != nil {
			return nil, err
		}
		hashes[ref], objects[ref] = cty.StringVal(got.SHA256), cty.StringVal(j.resultURL)
		detail := map[string]any{"result_object": j.resultURL, "result_md5": obj.Md5Hash, "result_crc32c": obj.Crc32c, "result_generation": obj.Generation,
			"worker": got.Worker, "started": got.Started, "finished": got.Finished, "device": got.Device}
		if j.image != "" {
			img, err := s.object(ctx, j.bucket, j.image)
			if err != nil {
				return nil, fmt.Errorf("hash %s: the raw image %s: %w", j.snap.name, j.imgURL, err)
			}
			detail["image"], detail["image_md5"], detail["image_crc32c"], detail["image_bytes"] = j.imgURL, img.Md5Hash, img.Crc32c, img.Size
		}
		args := map[string]any{"snapshots": []string{j.snap.assetID()}}
		for _, k := range []string{"project", "zone", "bucket", "service_account", "subnetwork", "machine_type", "worker_image"} {
			if v := r.Str(k); v != "" {
				args[k] = v
			}
		}
		res.Targets = append(res.Targets, j.snap.assetID())
		res.Evidence = append(res.Evidence, action.Evidence{Item: "content of snapshot " + j.snap.name, SHA256: got.SHA256, Kind: action.EvidenceContent,
			Of: of, Ref: j.snap.assetID(), Verify: "gcp.compute.hash_snapshot", Args: args, Bytes: got.Bytes,
			Note: fmt.Sprintf("SHA-256 of the %d bytes of a disk made of %s, read by worker %s; result object %s (MD5 %s, CRC32C %s)",
				got.Bytes, j.snap.path(), got.Worker, j.resultURL, obj.Md5Hash, obj.Crc32c), Detail: detail})
		r.Say("%s: sha256 %s (%d bytes)", j.snap.name, got.SHA256, got.Bytes)
	}
	res.Summary = fmt.Sprintf("hashed the content of %d snapshots on worker VMs in %s", len(jobs), r.Str("project"))
	res.Outputs = map[string]cty.Value{"hashes": mapOrEmpty(hashes), "objects": mapOrEmpty(objects)}
	return res, nil
}

func mapOrEmpty(m map[string]cty.Value) cty.Value {
	if len(m) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	return cty.MapVal(m)
}

// hashOne gets one snapshot's result: from the bucket when an earlier
// attempt's worker wrote it, else from a new worker; then the worker and
// the disk are deleted.
func (s *session) hashOne(ctx context.Context, r *action.Request, j hashJob) (*storage.Object, *workerResult, error) {
	obj, err := s.object(ctx, j.bucket, j.result)
	if err != nil && !isNotFound(err) {
		return nil, nil, err
	}
	if obj == nil {
		// Recover asks whether the attempt is done: without the result it
		// is not, whether or not its worker is still at it.
		if writesRefused(ctx) {
			return nil, nil, errWouldWrite
		}
		if err := s.startWorker(ctx, r, j); err != nil {
			return nil, nil, err
		}
		r.Say("%s: worker %s is hashing disk %s; waiting for %s", j.snap.name, j.vm, j.disk, j.resultURL)
		if obj, err = s.waitObject(ctx, j); err != nil {
			if ctx.Err() != nil {
				return nil, nil, err // interrupted: resume finds the worker at it
			}
			// A worker that wrote nothing in time is not left running.
			if cerr := s.cleanup(context.WithoutCancel(ctx), j); cerr != nil {
				return nil, nil, fmt.Errorf("%w; and cleaning up: %v", err, cerr)
			}
			return nil, nil, fmt.Errorf("%w; the worker and its disk were deleted", err)
		}
	}
	var got workerResult
	if err := s.readJSON(ctx, j.bucket, j.result, &got); err != nil {
		return nil, nil, err
	}
	if err := s.cleanup(ctx, j); err != nil {
		return nil, nil, err
	}
	if got.Error != "" {
		return nil, nil, fmt.Errorf("worker %s: %s", j.vm, got.Error)
	}
	if len(got.SHA256) != 64 {
		return nil, nil, fmt.Errorf("result %s holds no SHA-256", j.resultURL)
	}
	return obj, &got, nil
}

func (s *session) startWorker(ctx context.Context, r *action.Request, j hashJob) error {
	labels := stepLabels(r)
	labels["vigil-source"] = labelValue(j.snap.name)
	if _, err := s.diskGet(ctx, j.project, j.zone, j.disk); isNotFound(err) {
		d := &compute.Disk{Name: j.disk, SourceSnapshot: "https://www.googleapis.com/compute/v1/" + j.snap.path(), Labels: labels,
			Description: fmt.Sprintf("vigil %s: evidence disk of %s, for its content hash", r.Incident, j.snap.path())}
		if err := s.mutate(ctx, func(id string) (*compute.Operation, error) {
			return s.cmp.Disks.Insert(j.project, j.zone, d).RequestId(id).Context(ctx).Do()
		}); err != nil && !isConflict(err) {
			return fmt.Errorf("make disk %s: %w", j.disk, err)
		}
	} else if err != nil {
		return err
	}
	var have *compute.Instance
	err := s.do(ctx, func() error {
		var err error
		have, err = s.cmp.Instances.Get(j.project, j.zone, j.vm).Context(ctx).Do()
		return err
	})
	if have != nil {
		return nil
	}
	if !isNotFound(err) {
		return err
	}
	machine := r.Str("machine_type")
	if machine == "" {
		machine = "e2-small"
	}
	image := r.Str("worker_image")
	if image == "" {
		image = defaultWorkerImage
	}
	nic := &compute.NetworkInterface{} // no access configs: no external IP
	if sub := r.Str("subnetwork"); sub != "" {
		nic.Subnetwork = sub
	} else {
		nic.Network = "global/networks/default"
	}
	meta := func(k, v string) *compute.MetadataItems { return &compute.MetadataItems{Key: k, Value: &v} }
	in := &compute.Instance{Name: j.vm, MachineType: "zones/" + j.zone + "/machineTypes/" + machine, Labels: labels,
		Description: fmt.Sprintf("vigil %s: hashes the content of %s, then is deleted", r.Incident, j.snap.path()),
		Disks: []*compute.AttachedDisk{
			{Boot: true, AutoDelete: true, InitializeParams: &compute.AttachedDiskInitializeParams{SourceImage: image}},
			{Source: "projects/" + j.project + "/zones/" + j.zone + "/disks/" + j.disk, Mode: "READ_ONLY", DeviceName: "evidence"},
		},
		NetworkInterfaces: []*compute.NetworkInterface{nic},
		ServiceAccounts:   []*compute.ServiceAccount{{Email: r.Str("service_account"), Scopes: []string{"https://www.googleapis.com/auth/devstorage.read_write"}}},
		Metadata: &compute.Metadata{Items: []*compute.MetadataItems{
			meta("startup-script", worker.HashScript), meta("vigil-device", "/dev/disk/by-id/google-evidence"),
			meta("vigil-result", j.resultURL), meta("vigil-image", j.imgURL), meta("vigil-snapshot", j.snap.path()),
		}},
	}
	if err := s.mutate(ctx, func(id string) (*compute.Operation, error) {
		return s.cmp.Instances.Insert(j.project, j.zone, in).RequestId(id).Context(ctx).Do()
	}); err != nil && !isConflict(err) {
		return fmt.Errorf("start worker %s: %w", j.vm, err)
	}
	return nil
}

func (s *session) diskGet(ctx context.Context, project, zone, name string) (*compute.Disk, error) {
	var d *compute.Disk
	err := s.do(ctx, func() error {
		var err error
		d, err = s.cmp.Disks.Get(project, zone, name).Context(ctx).Do()
		return err
	})
	return d, err
}

// waitObject waits for the worker's result object.
func (s *session) waitObject(ctx context.Context, j hashJob) (*storage.Object, error) {
	deadline := time.Now().Add(s.opts.Timeout)
	pause := min(time.Second, s.opts.PollInterval)
	for {
		obj, err := s.object(ctx, j.bucket, j.result)
		if err == nil {
			return obj, nil
		}
		if !isNotFound(err) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("worker %s wrote no %s in %s (its serial port output says why)", j.vm, j.resultURL, s.opts.Timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, s.opts.PollInterval)
	}
}

func (s *session) object(ctx context.Context, bucket, name string) (*storage.Object, error) {
	var obj *storage.Object
	err := s.do(ctx, func() error {
		var err error
		obj, err = s.gcs.Objects.Get(bucket, name).Context(ctx).Do()
		return err
	})
	return obj, err
}

func (s *session) readJSON(ctx context.Context, bucket, name string, into any) error {
	return s.do(ctx, func() error {
		resp, err := s.gcs.Objects.Get(bucket, name).Context(ctx).Download()
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, into); err != nil {
			return fmt.Errorf("result gs://%s/%s is not the worker's JSON: %w", bucket, name, err)
		}
		return nil
	})
}

// cleanup deletes the worker (its boot disk with it) and the evidence disk.
// What is gone already is not deleted again, so that Recover finds an
// attempt that got this far complete.
func (s *session) cleanup(ctx context.Context, j hashJob) error {
	err := s.do(ctx, func() error {
		_, err := s.cmp.Instances.Get(j.project, j.zone, j.vm).Context(ctx).Do()
		return err
	})
	if err == nil {
		err = s.mutate(ctx, func(id string) (*compute.Operation, error) {
			return s.cmp.Instances.Delete(j.project, j.zone, j.vm).RequestId(id).Context(ctx).Do()
		})
	}
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete worker %s: %w", j.vm, err)
	}
	_, err = s.diskGet(ctx, j.project, j.zone, j.disk)
	if err == nil {
		err = s.mutate(ctx, func(id string) (*compute.Operation, error) {
			return s.cmp.Disks.Delete(j.project, j.zone, j.disk).RequestId(id).Context(ctx).Do()
		})
	}
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete disk %s: %w", j.disk, err)
	}
	return nil
}
