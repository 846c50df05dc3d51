package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
)

// imageHash is the test's own computation of a volume's content hash: the
// SHA-256 of a byte-for-byte image, written as a sparse file of size GiB
// with the fake's synthetic blocks where the volume has them.
func imageHash(t *testing.T, volume string, size int64, blocks []int64) string {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), volume+".img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size << 30); err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if _, err := f.WriteAt(awsfake.SyntheticBlock(volume, b), b*awsfake.BlockSize); err != nil {
			t.Fatal(err)
		}
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// custodyItems are a run's evidence items of one kind.
func custodyItems(es []*runbook.Entry, kind string) []action.Evidence {
	var out []action.Evidence
	for _, e := range es {
		if e.Kind != runbook.EntryEvidence {
			continue
		}
		var d struct{ Items []action.Evidence }
		json.Unmarshal(e.Detail, &d)
		for _, it := range d.Items {
			if it.Kind == kind {
				out = append(out, it)
			}
		}
	}
	return out
}

// What issue 16 must show on AWS, with the built binary against the fake:
// compromised-ec2 records a content SHA-256 of each volume's evidence copy
// that equals the test's own; evidence verify says match, and after one
// block of a copy is changed, MISMATCH naming it; the timeline shows the
// seeded CloudTrail events before and after the alert; terminate after a
// record hash alone is refused, and allowed after the snapshot and its
// hash.
func TestAWSContentHashAndTimeline(t *testing.T) {
	f := awsfake.Scenario()
	f.With(func(f *awsfake.Fake) { f.Get(awsfake.SecurityAccount).Roles["vigil-evidence"] = true })
	srv := f.Start()
	defer srv.Close()
	env := awsfake.Env(srv.URL)
	dir := t.TempDir()
	inv := filepath.Join(dir, "aws.ndjson")
	if code, out := vigil(t, env, "inventory", "collect", "--aws", "--regions", "eu-west-1,us-east-1", "-q", "--out", inv); code != 0 {
		t.Fatalf("collect: %d\n%s", code, out)
	}
	instance := "arn:aws:ec2:eu-west-1:111111111111:instance/" + awsfake.WebInstance
	role := "arn:aws:iam::333333333333:role/vigil-evidence"

	// A hash of the instance's record alone does not let it be terminated.
	gate := filepath.Join(dir, "gate.db")
	code, out := applyWithSecondApprover(t, env, gate, "runbook", "apply", "cmd/vigil/testdata/evidence/terminate-after-record.hcl", "-i", inv,
		"-var", "instance="+instance, "-var", "incident=INC-16", "--auto-approve", "--state", gate)
	if code != 1 || !strings.Contains(out, "refusing to delete "+instance) ||
		!strings.Contains(out, "a snapshot or content hash of volume vol-0aaaaaaaaaaaa0001; a snapshot or content hash of volume vol-0aaaaaaaaaaaa0002") {
		t.Fatalf("terminate after a record hash: exit %d\n%s", code, out)
	}

	// Killed at the hash's first checkpoint (block 1024 of a volume), the
	// run resumes from it: the resumed step reads only the blocks past the
	// checkpoint of that volume and the other volume's, never all 10.
	state := filepath.Join(dir, "state.db")
	// terminate needs a second person: the run is started signed in.
	code, out = vigil(t, append(append(env, signedIn(t)...), "VIGIL_FAILPOINT=checkpoint:hash"), "runbook", "apply", "compromised-ec2", "-i", inv, "-var", "instance="+instance, "-var", "incident=INC-16",
		"-var", "detected_at="+awsfake.AlertTime.Format(time.RFC3339), "-var", "principal="+awsfake.LeakedKey, "-var", "terminate=true",
		"--auto-approve", "--state", state, "--aws-evidence-role", role)
	if code != 137 {
		t.Fatalf("apply with a failpoint at the hash's checkpoint: %d\n%s", code, out)
	}
	first := out
	killed, _ := onlyRun(t, state)
	before := len(f.Calls())
	code, out = applyWithSecondApprover(t, env, state, "runbook", "resume", killed.ID, "--approve", "isolate", "--approve", "terminate", "--state", state, "--aws-evidence-role", role)
	if code != 0 {
		t.Fatalf("resume: %d\n%s", code, out)
	}
	gets := 0
	for _, c := range f.Calls()[before:] {
		if c.Operation == "GetSnapshotBlock" {
			gets++
		}
	}
	if gets >= 10 {
		t.Errorf("the resumed hash read %d blocks: it started over instead of resuming from the checkpoint", gets)
	}
	out = first + out
	if !regexp.MustCompile(`step.hash: snap-[0-9a-f]+: \d+ of 2048 blocks hashed|step.hash: snap-[0-9a-f]+: sha256 [0-9a-f]{64}`).MatchString(out) {
		t.Errorf("no hashing progress on the console:\n%s", out)
	}
	run, es := onlyRun(t, state)
	if run.Status != runbook.RunCompleted {
		t.Fatalf("status %s\n%s", run.Status, out)
	}
	f.With(func(f *awsfake.Fake) {
		if st := f.Get(awsfake.ProdAccount).Region("eu-west-1").Instances[awsfake.WebInstance].State; st != "terminated" && st != "shutting-down" {
			t.Errorf("after the snapshot and its hash, terminate should run: web-1 is %s", st)
		}
	})
	var want []string
	for _, vol := range []string{"vol-0aaaaaaaaaaaa0001", "vol-0aaaaaaaaaaaa0002"} {
		want = append(want, imageHash(t, vol, 1, awsfake.WebVolumeBlocks[vol]))
	}
	content := custodyItems(es, action.EvidenceContent)
	var got []string
	for _, it := range content {
		got = append(got, it.SHA256)
		if !strings.Contains(it.Ref, ":333333333333:snapshot/") {
			t.Errorf("the hash should be of the copy in the security account: %+v", it)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("content hashes recorded %v, the volumes' images hash to %v", got, want)
	}

	code, out = vigil(t, env, "evidence", "verify", run.ID, "--state", state, "--aws-evidence-role", role)
	if code != 0 || strings.Count(out, "\nmatch ")+strings.Count(out, "match     ") < 2 || !strings.Contains(out, "the 2 content hashes match") {
		t.Fatalf("verify: %d\n%s", code, out)
	}

	// One block of one copy changes (as if the evidence were tampered with).
	changed := strings.TrimPrefix(content[0].Ref[strings.LastIndex(content[0].Ref, "/")+1:], "")
	f.With(func(f *awsfake.Fake) {
		s := f.Get(awsfake.SecurityAccount).Region("eu-west-1").Snapshots[changed]
		for idx := range s.Blocks {
			s.Blocks[idx][100] ^= 0x5a
			break
		}
	})
	code, out = vigil(t, env, "evidence", "verify", run.ID, "--state", state, "--aws-evidence-role", role)
	if code != 1 || !regexp.MustCompile(`MISMATCH  content of snapshot `+changed+` .*was recorded as sha256 `+content[0].SHA256).MatchString(out) ||
		strings.Count(out, "match     ") != 1 {
		t.Fatalf("verify after a change: %d\n%s", code, out)
	}

	// The timeline: the seeded CloudTrail events before and after the alert.
	code, out = vigil(t, nil, "runbook", "timeline", run.ID, "--state", state)
	if code != 0 {
		t.Fatalf("timeline: %d\n%s", code, out)
	}
	sec := out[strings.Index(out, "## Before and after the detection"):]
	sec = sec[:strings.Index(sec, "## Chain of custody")]
	ssh, det, term := strings.Index(sec, "SendSSHPublicKey"), strings.Index(sec, "**detection**"), strings.Index(sec, "TerminateInstances")
	if ssh < 0 || det < 0 || term < 0 || !(ssh < det && det < term) || !strings.Contains(sec, awsfake.AttackerIP) ||
		!strings.Contains(sec, "| before | arn:aws:iam::111111111111:user/ci-deployer | "+awsfake.AttackerIP+" | ec2-instance-connect.amazonaws.com SendSSHPublicKey | success |") {
		t.Errorf("timeline section:\n%s", sec)
	}
	if logs := custodyItems(es, action.EvidenceLog); len(logs) != 4 {
		t.Errorf("%d log evidence items, want 2 regions x 2 lookups", len(logs))
	}
}
