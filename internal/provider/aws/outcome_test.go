package aws

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
)

func countCalls(f *awsfake.Fake, op string) int {
	n := 0
	for _, c := range f.Calls() {
		if c.Operation == op && !c.DryRun {
			n++
		}
	}
	return n
}

// A mutating call whose answer is lost (made, then a 503 or a reset
// connection) is not retried by the SDK (CreateSnapshot would snapshot
// twice) but reported as an OutcomeUnknownError; Recover tells whether
// the attempt took effect, and Apply again finishes without doubles.
func TestOutcomeUnknownAndRecover(t *testing.T) {
	ctx := context.Background()
	t.Run("503 after CreateSnapshot", func(t *testing.T) {
		f, opts := start(t)
		p := New(opts)
		a := act(t, p, "aws.ec2.snapshot_instance_volumes").(*action.Func)
		r := req(map[string]cty.Value{"instance": cty.StringVal(webARN)})
		f.Inject(awsfake.Fault{Service: "ec2", Operation: "CreateSnapshot", Kind: "unavailable", After: true, Times: 1})
		_, err := a.Apply(ctx, r)
		if !action.IsOutcomeUnknown(err) || action.IsRetryable(err) {
			t.Fatalf("err = %v (outcome unknown %v, retryable %v)", err, action.IsOutcomeUnknown(err), action.IsRetryable(err))
		}
		if n := countCalls(f, "CreateSnapshot"); n != 1 {
			t.Errorf("%d CreateSnapshot calls: the SDK must not retry a write whose outcome is unknown", n)
		}
		if _, took, err := a.Recover(ctx, r); err != nil || took {
			t.Errorf("one of two volumes snapshotted: took effect %v, %v", took, err)
		}
		res, err := a.Apply(ctx, r)
		if err != nil || res.Outputs["snapshot_ids"].LengthInt() != 2 {
			t.Fatalf("apply again: %v %v", res, err)
		}
		f.With(func(f *awsfake.Fake) {
			if n := len(f.Get(awsfake.ProdAccount).Region("eu-west-1").Snapshots); n != 2 {
				t.Errorf("%d snapshots for two volumes", n)
			}
		})
		if _, took, err := a.Recover(ctx, r); err != nil || !took {
			t.Errorf("after: took effect %v, %v", took, err)
		}
	})
	t.Run("reset on ModifyNetworkInterfaceAttribute", func(t *testing.T) {
		f, opts := start(t)
		p := New(opts)
		a := act(t, p, "aws.ec2.isolate_instance").(*action.Func)
		r := req(map[string]cty.Value{"instance": cty.StringVal(webARN), "end_tracked_connections": cty.StringVal("none")})
		f.Inject(awsfake.Fault{Service: "ec2", Operation: "ModifyNetworkInterfaceAttribute", Kind: "reset", After: true, Times: 1})
		if _, err := a.Apply(ctx, r); !action.IsOutcomeUnknown(err) {
			t.Fatalf("err = %v", err)
		}
		n := len(f.Mutations())
		if _, took, err := a.Recover(ctx, r); err != nil || took {
			t.Errorf("one of two interfaces isolated: took effect %v, %v", took, err)
		}
		if len(f.Mutations()) != n {
			t.Errorf("Recover wrote: %v", f.Mutations()[n:])
		}
		if _, err := a.Apply(ctx, r); err != nil {
			t.Fatal(err)
		}
		if _, took, err := a.Recover(ctx, r); err != nil || !took {
			t.Errorf("after: took effect %v, %v", took, err)
		}
	})
	t.Run("503 on a read is retried", func(t *testing.T) {
		f, opts := start(t)
		f.Inject(awsfake.Fault{Service: "iam", Operation: "ListAccessKeys", Kind: "unavailable", Times: 2})
		if _, err := act(t, New(opts), "aws.iam.list_access_keys").Apply(ctx, req(map[string]cty.Value{"user": cty.StringVal("ci-deployer")})); err != nil {
			t.Errorf("err = %v", err)
		}
		if n := countCalls(f, "ListAccessKeys"); n != 3 {
			t.Errorf("%d calls", n)
		}
	})
}

// EC2 is eventually consistent: what one call makes, the next ones may not
// find. Everything the actions make is looked for again until it is there.
func TestEventualConsistency(t *testing.T) {
	f, opts := start(t)
	f.With(func(f *awsfake.Fake) { f.Lag = 3 })
	p := New(opts)
	ctx := context.Background()
	r := req(map[string]cty.Value{"instance": cty.StringVal(webARN)})
	snap, err := act(t, p, "aws.ec2.snapshot_instance_volumes").Apply(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := act(t, p, "aws.ec2.isolate_instance").Apply(ctx, r); err != nil {
		t.Fatal(err)
	}
	opts.EvidenceRole = "arn:aws:iam::333333333333:role/vigil-evidence"
	f.With(func(f *awsfake.Fake) { f.Get(awsfake.SecurityAccount).Roles["vigil-evidence"] = true })
	p = New(opts)
	if _, err := act(t, p, "aws.ec2.share_snapshot").Apply(ctx, req(map[string]cty.Value{"snapshot_ids": snap.Outputs["snapshot_ids"],
		"account": cty.StringVal(awsfake.SecurityAccount)})); err != nil {
		t.Fatal(err)
	}
	if _, err := act(t, p, "aws.ec2.copy_snapshot").Apply(ctx, req(map[string]cty.Value{"snapshot_ids": snap.Outputs["snapshot_ids"]})); err != nil {
		t.Fatal(err)
	}
	notFound := 0
	for _, c := range f.Calls() {
		if c.Status == 400 {
			notFound++
		}
	}
	if notFound == 0 {
		t.Error("the lag was not exercised")
	}
}

// Snapshots encrypted with the AWS managed key cannot be shared: without a
// kms_key_id the step says so before sharing anything; with one, the
// snapshots are re-encrypted with it and the copies shared, and the
// evidence account copies those.
func TestEncryptedSnapshotShare(t *testing.T) {
	f, opts := start(t)
	opts.EvidenceRole = "arn:aws:iam::333333333333:role/vigil-evidence"
	f.With(func(f *awsfake.Fake) {
		f.Get(awsfake.SecurityAccount).Roles["vigil-evidence"] = true
		v := f.Get(awsfake.ProdAccount).Region("eu-west-1").Volumes["vol-0aaaaaaaaaaaa0002"]
		v.Encrypted, v.KmsKeyID = true, f.EBSKey(awsfake.ProdAccount, "eu-west-1").ARN
	})
	p := New(opts)
	ctx := context.Background()
	vm := req(map[string]cty.Value{"instance": cty.StringVal(webARN)})
	ch, err := act(t, p, "aws.ec2.snapshot_instance_volumes").Plan(ctx, vm)
	if err != nil || !strings.Contains(strings.Join(ch.Details, "\n"), "vol-0aaaaaaaaaaaa0002 is encrypted with the AWS managed key for EBS") {
		t.Fatalf("the snapshot plan warns: %v %+v", err, ch)
	}
	snap, err := act(t, p, "aws.ec2.snapshot_instance_volumes").Apply(ctx, vm)
	if err != nil {
		t.Fatal(err)
	}
	share := map[string]cty.Value{"snapshot_ids": snap.Outputs["snapshot_ids"], "account": cty.StringVal(awsfake.SecurityAccount)}
	for _, run := range []func() error{
		func() error { _, err := act(t, p, "aws.ec2.share_snapshot").Plan(ctx, req(share)); return err },
		func() error { _, err := act(t, p, "aws.ec2.share_snapshot").Apply(ctx, req(share)); return err },
	} {
		err := run()
		if err == nil || !strings.Contains(err.Error(), "AWS managed key") || !strings.Contains(err.Error(), "kms_key_id") ||
			!strings.Contains(err.Error(), "ebs-modifying-snapshot-permissions") || !strings.Contains(err.Error(), "Nothing was shared") {
			t.Errorf("err = %v", err)
		}
	}
	if n := countCalls(f, "ModifySnapshotAttribute"); n != 0 {
		t.Errorf("%d snapshots shared before the explanation", n)
	}
	share["kms_key_id"] = cty.StringVal(awsfake.EvidenceKey)
	res, err := act(t, p, "aws.ec2.share_snapshot").Apply(ctx, req(share))
	if err != nil {
		t.Fatal(err)
	}
	shared := res.Outputs["shared"]
	if shared.LengthInt() != 2 || shared.Equals(snap.Outputs["snapshot_ids"]).True() {
		t.Fatalf("shared %#v: one of them is the re-encrypted copy", shared)
	}
	copies, err := act(t, p, "aws.ec2.copy_snapshot").Apply(ctx, req(map[string]cty.Value{"snapshot_ids": shared}))
	if err != nil || copies.Outputs["snapshot_ids"].LengthInt() != 2 {
		t.Fatalf("the evidence account copies the shared snapshots: %v %v", copies, err)
	}
	n := len(f.Mutations())
	if _, err := act(t, p, "aws.ec2.share_snapshot").Apply(ctx, req(share)); err != nil || len(f.Mutations()) != n {
		t.Errorf("share again: %v %v", err, f.Mutations()[n:])
	}
	f.With(func(f *awsfake.Fake) {
		for _, s := range f.Get(awsfake.ProdAccount).Region("eu-west-1").Snapshots {
			if s.SourceSnapshotID != "" && (s.KmsKeyID != awsfake.EvidenceKey || len(s.CreateVolumePermissions) != 1) {
				t.Errorf("re-encrypted copy %+v", s)
			}
		}
	})
}

// Tagging what already has the tags writes nothing.
func TestTagIdempotent(t *testing.T) {
	f, opts := start(t)
	p := New(opts)
	r := req(map[string]cty.Value{"resource": cty.StringVal(webARN), "tags": cty.MapVal(map[string]cty.Value{"incident": cty.StringVal("INC-1")})})
	for i := 0; i < 2; i++ {
		if _, err := act(t, p, "aws.ec2.tag").Apply(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if n := countCalls(f, "CreateTags"); n != 1 {
		t.Errorf("%d CreateTags calls", n)
	}
	if _, took, err := act(t, p, "aws.ec2.tag").(*action.Func).Recover(context.Background(), r); err != nil || !took {
		t.Errorf("recover: %v %v", took, err)
	}
}

// A wait that outlasts Timeout fails the step and says what it waited
// for; what the attempt made is found again, not made twice.
func TestSnapshotWaitTimesOut(t *testing.T) {
	ctx := context.Background()
	f, opts := start(t)
	opts.Timeout = 30 * time.Millisecond
	f.With(func(f *awsfake.Fake) { f.PendingLooks = 1 << 30 })
	a := act(t, New(opts), "aws.ec2.snapshot_instance_volumes")
	r := req(map[string]cty.Value{"instance": cty.StringVal(webARN)})
	_, err := a.Apply(ctx, r)
	if err == nil || !strings.Contains(err.Error(), "timed out after 30ms waiting for snapshots") {
		t.Fatalf("err = %v", err)
	}
	f.With(func(f *awsfake.Fake) { f.PendingLooks = 0 })
	if _, err := a.Apply(ctx, r); err != nil {
		t.Fatal(err)
	}
	creates := 0
	for _, m := range f.Mutations() {
		if m == "ec2:CreateSnapshot" {
			creates++
		}
	}
	if creates != 2 {
		t.Errorf("%d CreateSnapshot calls for 2 volumes", creates)
	}
}
