package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
)

// sparseImage writes a byte-for-byte image of a volume of size GiB with
// the given blocks written, as a sparse file, and returns what sha256sum
// says of it: the test's own computation of the volume's content hash.
func sparseImage(t *testing.T, volume string, size int64, blocks []int64, change func(idx int64, b []byte)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), volume+".img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size << 30); err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		data := awsfake.SyntheticBlock(volume, b)
		if change != nil {
			change(b, data)
		}
		if _, err := f.WriteAt(data, b*awsfake.BlockSize); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return hex.EncodeToString(h.Sum(nil))
}

// sha256sum is what the sha256sum command says of a file.
func sha256sum(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("sha256sum", path).Output()
	if err != nil {
		t.Fatalf("sha256sum: %v", err)
	}
	return strings.Fields(string(out))[0]
}

// snapshotOf makes a completed snapshot of a scenario volume.
func snapshotOf(t *testing.T, f *awsfake.Fake, vol string) string {
	t.Helper()
	id := "snap-0" + strings.TrimPrefix(vol, "vol-0")
	f.With(func(f *awsfake.Fake) {
		reg := f.Get(awsfake.ProdAccount).Region("eu-west-1")
		v := reg.Volumes[vol]
		blocks := map[int64][]byte{}
		for k, b := range v.Blocks {
			blocks[k] = append([]byte(nil), b...)
		}
		reg.Snapshots[id] = &awsfake.Snapshot{ID: id, VolumeID: vol, State: "completed", VolumeSize: v.Size, Blocks: blocks}
	})
	return id
}

// The content hash of a snapshot equals sha256sum of an image of its
// volume (written blocks, and zeros elsewhere), across pages of
// ListSnapshotBlocks; the manifest names every written block with its
// checksum, and checkpoints carry the hash's state.
func TestHashSnapshotEqualsImage(t *testing.T) {
	f, opts := start(t)
	defer func(n int) { awsfake.BlocksPerPage = n }(awsfake.BlocksPerPage)
	awsfake.BlocksPerPage = 3 // 7 blocks: three pages
	vol := "vol-0aaaaaaaaaaaa0001"
	want := sparseImage(t, vol, 1, awsfake.WebVolumeBlocks[vol], nil)
	// The image the test hashes is what sha256sum hashes.
	img := filepath.Join(t.TempDir(), "img")
	os.WriteFile(img, nil, 0o644)
	os.Truncate(img, 1<<30)
	fi, _ := os.OpenFile(img, os.O_WRONLY, 0)
	for _, b := range awsfake.WebVolumeBlocks[vol] {
		fi.WriteAt(awsfake.SyntheticBlock(vol, b), b*awsfake.BlockSize)
	}
	fi.Close()
	if got := sha256sum(t, img); got != want {
		t.Fatalf("sha256sum says %s of the image, the test %s", got, want)
	}
	id := snapshotOf(t, f, vol)
	var saved []json.RawMessage
	var said []string
	r := req(map[string]cty.Value{"snapshot_ids": cty.ListVal([]cty.Value{cty.StringVal(id)}), "concurrency": cty.NumberIntVal(3)})
	r.Checkpoint = func(raw json.RawMessage) error { saved = append(saved, raw); return nil }
	r.Progress = func(m string) { said = append(said, m) }
	res, err := act(t, New(opts), "aws.ebs.hash_snapshot").Apply(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Outputs["hashes"].Index(cty.StringVal(id)).AsString(); got != want {
		t.Fatalf("content hash %s, sha256sum of the image %s", got, want)
	}
	ev := res.Evidence[0]
	if ev.Kind != action.EvidenceContent || ev.SHA256 != want || ev.Bytes != 1<<30 || ev.Verify != "aws.ebs.hash_snapshot" || !strings.HasSuffix(ev.Ref, ":snapshot/"+id) {
		t.Errorf("evidence %+v", ev)
	}
	manifest := ev.Detail["manifest"].(map[string]string)
	if len(manifest) != len(awsfake.WebVolumeBlocks[vol]) || manifest["700"] == "" || manifest["2047"] == "" || manifest["699"] != "" {
		t.Errorf("manifest %v", manifest)
	}
	// 2048 blocks: a checkpoint at 1024 and the final one.
	if len(saved) != 2 {
		t.Fatalf("%d checkpoints", len(saved))
	}
	var cp hashCheckpoint
	json.Unmarshal(saved[0], &cp)
	if cp.Next != 1024 || cp.Blocks != 2048 || cp.State == "" || len(cp.Manifest) != 5 {
		t.Errorf("first checkpoint %+v", cp)
	}
	lists, gets := 0, 0
	for _, c := range f.Calls() {
		switch c.Operation {
		case "ListSnapshotBlocks":
			lists++
		case "GetSnapshotBlock":
			gets++
		}
	}
	if lists != 3 || gets != 7 {
		t.Errorf("%d ListSnapshotBlocks pages, %d GetSnapshotBlock calls; want 3 and 7", lists, gets)
	}
	if len(said) == 0 || !strings.Contains(said[len(said)-1], want) {
		t.Errorf("progress %q", said)
	}

	// Resumed from the first checkpoint, the hash is the same, and only
	// the blocks past it are read again.
	before := len(f.Calls())
	r2 := req(r.Args)
	r2.Checkpoints = saved[:1]
	r2.Checkpoint = func(json.RawMessage) error { return nil }
	res2, err := act(t, New(opts), "aws.ebs.hash_snapshot").Apply(context.Background(), r2)
	if err != nil {
		t.Fatal(err)
	}
	if got := res2.Outputs["hashes"].Index(cty.StringVal(id)).AsString(); got != want {
		t.Errorf("resumed hash %s, want %s", got, want)
	}
	if m := res2.Evidence[0].Detail["manifest"].(map[string]string); len(m) != 7 {
		t.Errorf("resumed manifest %v", m)
	}
	gets = 0
	for _, c := range f.Calls()[before:] {
		if c.Operation == "GetSnapshotBlock" {
			gets++
		}
	}
	if gets != 2 {
		t.Errorf("the resumed hash read %d blocks, want the 2 past block 1024", gets)
	}
}

// A block whose bytes do not match the checksum header is read again, and
// a hash that never matches fails naming the block; a changed block
// changes the hash.
func TestHashSnapshotChecksums(t *testing.T) {
	f, opts := start(t)
	vol := "vol-0aaaaaaaaaaaa0002"
	id := snapshotOf(t, f, vol)
	f.With(func(f *awsfake.Fake) {
		f.Get(awsfake.ProdAccount).Region("eu-west-1").Snapshots[id].BadChecksum = map[int64]bool{1024: true}
	})
	r := req(map[string]cty.Value{"snapshot_ids": cty.ListVal([]cty.Value{cty.StringVal(id)})})
	_, err := act(t, New(opts), "aws.ebs.hash_snapshot").Apply(context.Background(), r)
	if err == nil || !strings.Contains(err.Error(), "block 1024 of "+id) || !strings.Contains(err.Error(), "x-amz-Checksum") {
		t.Fatalf("err = %v", err)
	}
	f.With(func(f *awsfake.Fake) {
		s := f.Get(awsfake.ProdAccount).Region("eu-west-1").Snapshots[id]
		s.BadChecksum = nil
		s.Blocks[1025][17] ^= 0xff
	})
	want := sparseImage(t, vol, 1, awsfake.WebVolumeBlocks[vol], func(idx int64, b []byte) {
		if idx == 1025 {
			b[17] ^= 0xff
		}
	})
	res, err := act(t, New(opts), "aws.ebs.hash_snapshot").Apply(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Outputs["hashes"].Index(cty.StringVal(id)).AsString(); got != want {
		t.Errorf("hash %s, want %s", got, want)
	}
}

// LookupEvents of web-1 and of the leaked key, over the window around the
// alert, find the documented sample events the scenario holds: the SSH
// key pushed before the alert, batch-1 terminated after it, the console
// sign-in by name; each lookup's raw events are hashed into the custody
// record.
func TestLookupEvents(t *testing.T) {
	_, opts := start(t)
	a := act(t, New(opts), "aws.cloudtrail.lookup_events")
	for _, tc := range []struct {
		principal string
		want      []string
	}{
		{awsfake.LeakedKey, []string{"SendSSHPublicKey", "TerminateInstances"}},
		{"arn:aws:iam::111111111111:user/ci-deployer", []string{"ConsoleLogin", "SendSSHPublicKey", "TerminateInstances"}},
	} {
		r := req(map[string]cty.Value{"at": cty.StringVal(awsfake.AlertTime.Format(time.RFC3339)), "resource": cty.StringVal(webARN),
			"principal": cty.StringVal(tc.principal)})
		res, err := a.Apply(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		var calls []string
		for it := res.Outputs["events"].ElementIterator(); it.Next(); {
			_, ev := it.Element()
			calls = append(calls, ev.GetAttr("call").AsString())
			if ev.GetAttr("source_ip").AsString() != awsfake.AttackerIP || !strings.Contains(ev.GetAttr("actor").AsString(), "ci-deployer") {
				t.Errorf("event %#v", ev)
			}
		}
		slices.Sort(calls)
		if !slices.Equal(calls, tc.want) {
			t.Errorf("%s: events %v, want %v", tc.principal, calls, tc.want)
		}
		// two regions, two lookups each
		if len(res.Evidence) != 4 || res.Evidence[0].Kind != action.EvidenceLog {
			t.Errorf("evidence %+v", res.Evidence)
		}
	}
	// A window that ends before the sign-in finds nothing of it.
	r := req(map[string]cty.Value{"at": cty.StringVal(awsfake.AlertTime.Add(-5 * time.Hour).Format(time.RFC3339)), "before": cty.StringVal("1h"),
		"after": cty.StringVal("1h"), "principal": cty.StringVal("ci-deployer")})
	res, err := a.Apply(context.Background(), r)
	if err != nil || res.Outputs["count"].AsBigFloat().String() != "0" {
		t.Errorf("outside the window: %v %v", err, res.Outputs["count"])
	}
	if _, err := a.Plan(context.Background(), req(map[string]cty.Value{"at": cty.StringVal("yesterday")})); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
		t.Errorf("bad time: %v", err)
	}
}

// B4 of the issue-16 review: hashing a copy in the security account
// without the evidence role names the flag that reads it.
func TestHashSnapshotNeedsEvidenceRole(t *testing.T) {
	_, opts := start(t)
	arn := "arn:aws:ec2:eu-west-1:" + awsfake.SecurityAccount + ":snapshot/snap-0123456789abcdef0"
	r := req(map[string]cty.Value{"snapshot_ids": cty.ListVal([]cty.Value{cty.StringVal(arn)})})
	_, err := act(t, New(opts), "aws.ebs.hash_snapshot").Apply(context.Background(), r)
	if err == nil || !strings.Contains(err.Error(), "pass --aws-evidence-role") || !strings.Contains(err.Error(), "in account "+awsfake.SecurityAccount) {
		t.Fatalf("err = %v", err)
	}
}
