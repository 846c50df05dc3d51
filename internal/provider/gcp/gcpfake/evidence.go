package gcpfake

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-ir/vigil/internal/provider/gcp/worker"
)

// The content of disks and snapshots, and the evidence worker of
// gcp.compute.hash_snapshot. A disk's bytes are zeros but for the chunks
// a test or scenario puts there (SetDiskContent); a snapshot copies its
// disk's bytes when its operation is done, and a disk made from a
// snapshot copies the snapshot's. An instance created with the worker's
// startup script (worker.Marker) does what the script does: it reads the
// disk attached as device "evidence" through SHA-256 and writes the
// result object (and the raw image when vigil-image is set) to the bucket
// its metadata names, some looks after it was created (WorkerLooks), as a
// real worker needs to boot and read the disk first.

// Content is a disk's or snapshot's bytes: Size bytes, zeros except for
// Chunks (offset -> bytes, not overlapping).
type Content struct {
	Size   int64
	Chunks map[int64][]byte
}

func (c *Content) clone() *Content {
	out := &Content{Size: c.Size, Chunks: map[int64][]byte{}}
	for k, v := range c.Chunks {
		out.Chunks[k] = bytes.Clone(v)
	}
	return out
}

// WriteTo writes the bytes in order, the zeros between chunks included.
func (c *Content) WriteTo(w io.Writer) (int64, error) {
	zeros := make([]byte, 1<<20)
	var at int64
	fill := func(to int64) error {
		for at < to {
			n := min(int64(len(zeros)), to-at)
			if _, err := w.Write(zeros[:n]); err != nil {
				return err
			}
			at += n
		}
		return nil
	}
	for _, off := range slices.Sorted(maps.Keys(c.Chunks)) {
		if err := fill(off); err != nil {
			return at, err
		}
		b := c.Chunks[off]
		b = b[:min(int64(len(b)), max(0, c.Size-at))]
		if _, err := w.Write(b); err != nil {
			return at, err
		}
		at += int64(len(b))
	}
	return at, fill(c.Size)
}

// SHA256 is the hex SHA-256 of the bytes.
func (c *Content) SHA256() string {
	h := sha256.New()
	c.WriteTo(h)
	return hex.EncodeToString(h.Sum(nil))
}

// SetDiskContent gives a disk sizeGB GiB of bytes, zeros except for
// chunks (offset -> bytes), and makes its sizeGb say so (under With).
func (f *Fake) SetDiskContent(path string, sizeGB int64, chunks map[int64][]byte) {
	c := &Content{Size: sizeGB << 30, Chunks: map[int64][]byte{}}
	for k, v := range chunks {
		c.Chunks[k] = bytes.Clone(v)
	}
	f.content[path] = c
	if d := f.disks[path]; d != nil {
		d["sizeGb"] = strconv.FormatInt(sizeGB, 10)
	}
}

// Content returns the bytes of a disk or snapshot, by path (under With):
// changing them is changing the evidence.
func (f *Fake) Content(path string) *Content { return f.contentOf(path) }

// contentOf returns a path's content, zeros of its size when none was set.
func (f *Fake) contentOf(path string) *Content {
	if c := f.content[path]; c != nil {
		return c
	}
	var gb int64
	if d := f.disks[path]; d != nil {
		gb, _ = d.Int("sizeGb")
	} else if s := f.snapshots[path]; s != nil {
		gb, _ = s.Int("diskSizeGb")
	}
	c := &Content{Size: gb << 30, Chunks: map[int64][]byte{}}
	f.content[path] = c
	return c
}

// objectDoc is an object's resource as objects.get returns it: "md5Hash:
// MD5 hash of the data, encoded using base64" and "crc32c: CRC32c
// checksum, as described in RFC 4960, Appendix B; encoded using base64 in
// big-endian byte order".
func (f *Fake) objectDoc(bucket, name string, data []byte) map[string]any {
	sum := md5.Sum(data)
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	gen := f.generations[bucket+"/"+name]
	return map[string]any{"kind": "storage#object", "bucket": bucket, "name": name, "id": bucket + "/" + name + "/" + gen,
		"size": strconv.Itoa(len(data)), "generation": gen, "metageneration": "1",
		"md5Hash": base64.StdEncoding.EncodeToString(sum[:]), "crc32c": base64.StdEncoding.EncodeToString(crc[:])}
}

// putObject stores an object with a new generation.
func (f *Fake) putObject(bucket, name string, data []byte) {
	f.objects[bucket+"/"+name] = data
	f.seq++
	f.generations[bucket+"/"+name] = strconv.FormatInt(1700000000000000+int64(f.seq), 10)
}

// pendingObject reports whether an object a worker is still writing is
// asked for, counting the look.
func (f *Fake) pendingObject(key string) bool {
	n, ok := f.pending[key]
	if !ok {
		return false
	}
	if n <= 0 {
		delete(f.pending, key)
		return false
	}
	f.pending[key] = n - 1
	return true
}

func metadataValue(in Doc, key string) (string, bool) {
	for _, it := range in.Obj("metadata").Objs("items") {
		if it.Str("key") == key {
			return it.Str("value"), true
		}
	}
	return "", false
}

// runWorker does what worker.HashScript does on a new instance that
// carries it. Objects go only to a bucket that exists, as gsutil cp would.
func (f *Fake) runWorker(path string, in Doc) {
	script, _ := metadataValue(in, "startup-script")
	if !strings.Contains(script, worker.Marker) {
		return
	}
	result, _ := metadataValue(in, "vigil-result")
	device, _ := metadataValue(in, "vigil-device")
	image, _ := metadataValue(in, "vigil-image")
	snapshot, _ := metadataValue(in, "vigil-snapshot")
	rb, rn, ok := strings.Cut(strings.TrimPrefix(result, "gs://"), "/")
	if !ok || !strings.HasPrefix(result, "gs://") {
		return // the script exits: no vigil-result
	}
	if _, ok := f.buckets[rb]; !ok {
		return
	}
	out := map[string]any{"snapshot": snapshot, "device": device, "image": image, "started": f.now().UTC().Format("2006-01-02T15:04:05Z"),
		"finished": f.now().UTC().Format("2006-01-02T15:04:05Z"), "worker": in.Str("name")}
	var disk string
	for _, d := range in.Objs("disks") {
		if "/dev/disk/by-id/google-"+d.Str("deviceName") == device {
			disk = linkPath(d.Str("source"))
		}
	}
	if disk == "" || f.disks[disk] == nil {
		out["error"] = "device " + device + " is not there"
	} else {
		c := f.contentOf(disk)
		h := sha256.New()
		var img bytes.Buffer
		w := io.Writer(h)
		if image != "" {
			w = io.MultiWriter(h, &img)
		}
		c.WriteTo(w)
		out["sha256"], out["bytes"] = hex.EncodeToString(h.Sum(nil)), c.Size
		if ib, in, ok := strings.Cut(strings.TrimPrefix(image, "gs://"), "/"); image != "" && ok {
			if _, exists := f.buckets[ib]; exists {
				f.putObject(ib, in, img.Bytes())
			} else {
				out["error"] = "cannot copy " + device + " to " + image
				delete(out, "sha256")
			}
		}
	}
	if f.WorkerTamper != nil {
		f.WorkerTamper(out)
	}
	raw, _ := json.Marshal(out)
	f.putObject(rb, rn, append(raw, '\n'))
	f.pending[rb+"/"+rn] = f.WorkerLooks
}

// disksAPI serves disks.get, insert (from a snapshot, or blank) and delete.
func (c *computeCall) disksAPI() {
	f := c.f
	switch c.op {
	case "disks.get":
		c.get(f.disks)
	case "disks.insert":
		d := c.body
		name := d.Str("name")
		if !nameRe.MatchString(name) {
			badRequest(c.w, fmt.Sprintf("Invalid value for field 'resource.name': '%s'.", name))
			return
		}
		path := c.target + "/" + name
		if f.disks[path] != nil {
			c.exists(path)
			return
		}
		src := linkPath(d.Str("sourceSnapshot"))
		var size int64
		if src != "" {
			sn := f.snapshots[src]
			if sn == nil {
				apiError(c.w, 404, "NOT_FOUND", "notFound", fmt.Sprintf("The resource '%s' was not found", src))
				return
			}
			if sn.Str("status") != "READY" {
				apiError(c.w, 400, "FAILED_PRECONDITION", "resourceNotReady", fmt.Sprintf("The resource '%s' is not ready", src))
				return
			}
			size, _ = sn.Int("diskSizeGb")
		}
		if gb, ok := d.Int("sizeGb"); ok {
			if gb < size {
				badRequest(c.w, fmt.Sprintf("Invalid value for field 'resource.sizeGb': '%d'. Disk cannot be smaller than its source snapshot (%d GB).", gb, size))
				return
			}
			size = gb
		}
		if size == 0 {
			badRequest(c.w, "Invalid value for field 'resource': a disk needs a sizeGb, a sourceSnapshot or a sourceImage.")
			return
		}
		c.target = path
		zoneLink := f.selfLink("projects/" + c.project + "/zones/" + c.zone)
		c.start("insert", path, func() error {
			x := clone(d)
			x["kind"], x["id"], x["selfLink"], x["zone"], x["status"], x["creationTimestamp"] = "compute#disk", f.nextID(), f.selfLink(path), zoneLink, "READY", f.timestamp()
			x["sizeGb"] = strconv.FormatInt(size, 10)
			if !x.Has("type") {
				x["type"] = f.selfLink("projects/" + c.project + "/zones/" + c.zone + "/diskTypes/pd-standard")
			}
			f.disks[path] = x
			if src != "" {
				x["sourceSnapshot"], x["sourceSnapshotId"] = f.snapshots[src].Str("selfLink"), f.snapshots[src].Str("id")
				cc := f.contentOf(src).clone()
				cc.Size = size << 30
				f.content[path] = cc
			}
			return nil
		})
	case "disks.delete":
		d := f.disks[c.target]
		if d == nil {
			c.notFound()
			return
		}
		if users := d.Strs("users"); len(users) > 0 {
			apiError(c.w, 400, "FAILED_PRECONDITION", "resourceInUseByAnotherResource",
				fmt.Sprintf("The disk resource '%s' is already being used by '%s'", c.target, linkPath(users[0])))
			return
		}
		path := c.target
		c.start("delete", path, func() error { delete(f.disks, path); delete(f.content, path); return nil })
	default:
		c.notFound()
	}
}

// attach and detach keep a disk's users as instances come and go.
func (f *Fake) attach(disk, instance string) {
	if d := f.disks[disk]; d != nil {
		d["users"] = anyStrings(append(d.Strs("users"), f.selfLink(instance)))
	}
}

func (f *Fake) detach(disk, instance string) {
	d := f.disks[disk]
	if d == nil {
		return
	}
	var kept []string
	for _, u := range d.Strs("users") {
		if linkPath(u) != instance {
			kept = append(kept, u)
		}
	}
	d["users"] = anyStrings(kept)
}

// PutObject stores an object as a writer other than vigil would (under
// With): a worker's result written by hand, or written again.
func (f *Fake) PutObject(bucket, name string, data []byte) { f.putObject(bucket, name, data) }

// FinishWorkers makes every result a worker is still writing there, as
// time would (under With).
func (f *Fake) FinishWorkers() { clear(f.pending) }
