package gcp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
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
// MD5 and CRC32C, and deletes the worker and the disk.
//
// Every attempt names its disk, worker and result object with a random
// nonce, journalled in a checkpoint before the worker starts: a result
// object is taken only when this step's own checkpoint names it, so one
// put in the bucket beforehand (anyone who can write there could) is
// never taken for the hash. An attempt after a crash reads the nonce
// from the checkpoint and waits for the same worker.

const defaultWorkerImage = "projects/debian-cloud/global/images/family/debian-12"

// hashJob is one snapshot's worker, disk and objects; the names are set
// by named, from the attempt's nonce.
type hashJob struct {
	snap              ref
	key, step         string
	writeImage        bool
	disk, vm          string
	bucket, prefix    string
	result, image     string // object names
	project, zone     string
	resultURL, imgURL string
}

// named gives the job the names of the attempt with this nonce.
func (j hashJob) named(nonce string) hashJob {
	j.disk = naming.ResourceName("vigil-ev-", j.key, j.step, nonce, j.snap.project, j.snap.name)
	j.vm = naming.ResourceName("vigil-hash-", j.key, j.step, nonce, j.snap.project, j.snap.name)
	base := fmt.Sprintf("%svigil/%s/%s-%s", j.prefix, naming.LabelValue(j.key), j.disk, nonce)
	j.result, j.resultURL = base+".json", "gs://"+j.bucket+"/"+base+".json"
	j.image, j.imgURL = "", ""
	if j.writeImage {
		j.image, j.imgURL = base+".raw", "gs://"+j.bucket+"/"+base+".raw"
	}
	return j
}

// newNonce is 64 random bits, as hex: no one can name the result object
// of an attempt before it starts.
func newNonce() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
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
		out = append(out, hashJob{snap: sr, key: key, step: r.Step, writeImage: r.Bool("write_image", false),
			project: r.Str("project"), zone: r.Str("zone"), bucket: bucket, prefix: prefix})
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
		details = append(details, fmt.Sprintf("a disk of %s (%s GB) on a worker vigil-hash-%s-… in %s/%s; result gs://%s/%svigil/%s/…, named by a nonce of the attempt",
			j.snap.name, fmt.Sprint(sn.DiskSizeGb), j.snap.name, j.project, j.zone, j.bucket, j.prefix, naming.LabelValue(j.key)))
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

// hashCheckpoint is journalled twice per snapshot: with the nonce before
// the worker starts, and with the hash and the result's generation once
// the result has been read.
type hashCheckpoint struct {
	Snapshot   string `json:"snapshot"`
	Nonce      string `json:"nonce"`
	Result     string `json:"result"`
	SHA256     string `json:"sha256,omitempty"`
	Generation int64  `json:"generation,omitempty"`
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
	// An attempt after a crash takes the nonce of the interrupted one
	// from the journal, and with it the names of its worker and result;
	// no checkpoint, no result is taken: a new nonce, a new worker. Once
	// a result was read, the journal keeps its hash and generation, so a
	// result rewritten in between is caught rather than taken.
	started, done := map[string]hashCheckpoint{}, map[string]hashCheckpoint{}
	for _, raw := range r.Checkpoints {
		var cp hashCheckpoint
		if json.Unmarshal(raw, &cp) != nil || cp.Snapshot == "" || cp.Nonce == "" {
			continue
		}
		if cp.SHA256 != "" {
			done[cp.Snapshot] = cp
		} else {
			started[cp.Snapshot] = cp
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
		// The hash is evidence of the disk the snapshot was made of too,
		// when this run made it of the disk that is there now: the gate
		// lets that disk's instance be deleted on it.
		of := []string{j.snap.assetID(), ref}
		disk, notOf, err := s.sourceOfRun(ctx, r, sn)
		if err != nil {
			return nil, fmt.Errorf("hash %s: %w", j.snap.name, err)
		}
		if disk != "" {
			of = append(of, disk)
		}
		cp, read := done[j.snap.assetID()]
		if !read {
			cp = started[j.snap.assetID()]
		}
		if cp.Nonce == "" {
			if writesRefused(ctx) {
				return nil, errWouldWrite // Recover: this snapshot's worker never started
			}
			if cp.Nonce, err = newNonce(); err != nil {
				return nil, err
			}
			j = j.named(cp.Nonce)
			if err := r.Save(hashCheckpoint{Snapshot: j.snap.assetID(), Nonce: cp.Nonce, Result: j.resultURL}); err != nil {
				return nil, err
			}
		} else {
			j = j.named(cp.Nonce)
		}
		obj, got, err := s.hashOne(ctx, r, j, sn, read)
		if err != nil {
			return nil, fmt.Errorf("hash %s: %w", j.snap.name, err)
		}
		if read {
			if cp.Generation != obj.Generation || cp.SHA256 != got.SHA256 {
				return nil, fmt.Errorf("hash %s: result %s is not what the interrupted attempt read (sha256 %s, generation %d; now %s, generation %d): it was rewritten, and cannot be taken as evidence",
					j.snap.name, j.resultURL, cp.SHA256, cp.Generation, got.SHA256, obj.Generation)
			}
		} else if err := r.Save(hashCheckpoint{Snapshot: j.snap.assetID(), Nonce: cp.Nonce, SHA256: got.SHA256, Result: j.resultURL, Generation: obj.Generation}); err != nil {
			return nil, err
		}
		hashes[ref], objects[ref] = cty.StringVal(got.SHA256), cty.StringVal(j.resultURL)
		detail := map[string]any{"result_object": j.resultURL, "result_md5": obj.Md5Hash, "result_crc32c": obj.Crc32c, "result_generation": obj.Generation,
			"worker": got.Worker, "started": got.Started, "finished": got.Finished, "device": got.Device}
		if notOf != "" {
			detail["not_evidence_of_source_disk"] = notOf
		}
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

// sourceOfRun is the disk a content hash is evidence of besides its
// snapshot: the snapshot's source disk, when this run made the snapshot
// (its vigil-run label; AWS asks the same, a snapshot step of the run)
// and the disk of that name is still the one it was made of (its id is
// the snapshot's sourceDiskId). Else it says why not: an old scheduled
// snapshot, or one of an earlier disk of the same name, is evidence of
// what that disk held, not of the disk there now.
func (s *session) sourceOfRun(ctx context.Context, r *action.Request, sn *compute.Snapshot) (disk, why string, err error) {
	if sn.SourceDisk == "" {
		return "", "the snapshot names no source disk", nil
	}
	if run := sn.Labels["vigil-run"]; run != naming.LabelValue(r.RunID) {
		return "", fmt.Sprintf("the snapshot was not made by this run (its vigil-run label is %q)", run), nil
	}
	dr, err := parse(sn.SourceDisk, "disks")
	if err != nil {
		return "", "its source disk " + linkPath(sn.SourceDisk) + " is not a zonal disk", nil
	}
	d, err := s.diskGet(ctx, dr.project, dr.zone, dr.name)
	if isNotFound(err) {
		return "", "its source disk " + dr.path() + " is gone", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("read source disk %s: %w", dr.path(), err)
	}
	if id := strconv.FormatUint(d.Id, 10); sn.SourceDiskId == "" || id != sn.SourceDiskId {
		return "", fmt.Sprintf("the disk %s now (id %s) is not the one the snapshot was made of (id %q)", dr.path(), id, sn.SourceDiskId), nil
	}
	return dr.assetID(), "", nil
}

func mapOrEmpty(m map[string]cty.Value) cty.Value {
	if len(m) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	return cty.MapVal(m)
}

// hashOne gets one snapshot's result, of the attempt j is named for:
// from the bucket when its worker wrote it already, else from the worker,
// started when it is not there; then the worker and the disk are deleted.
// A result read before (read) must still be there. The result must be of
// the snapshot, and of all its bytes.
func (s *session) hashOne(ctx context.Context, r *action.Request, j hashJob, sn *compute.Snapshot, read bool) (*storage.Object, *workerResult, error) {
	obj, err := s.object(ctx, j.bucket, j.result)
	if err != nil && !isNotFound(err) {
		return nil, nil, err
	}
	if obj == nil && read {
		return nil, nil, fmt.Errorf("result %s, read by the interrupted attempt, is gone: it cannot be taken as evidence", j.resultURL)
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
	// The data read is the generation whose metadata was read.
	var got workerResult
	if err := s.readJSON(ctx, j.bucket, j.result, obj.Generation, &got); err != nil {
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
	if got.Snapshot != j.snap.path() || got.Bytes != sn.DiskSizeGb<<30 {
		return nil, nil, fmt.Errorf("result %s is of %q, %d bytes; want %s, %d bytes (%d GB): it cannot be taken as evidence",
			j.resultURL, got.Snapshot, got.Bytes, j.snap.path(), sn.DiskSizeGb<<30, sn.DiskSizeGb)
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

func (s *session) readJSON(ctx context.Context, bucket, name string, generation int64, into any) error {
	return s.do(ctx, func() error {
		resp, err := s.gcs.Objects.Get(bucket, name).Generation(generation).Context(ctx).Download()
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
