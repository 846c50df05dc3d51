package aws

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
)

const webARN = "arn:aws:ec2:eu-west-1:111111111111:instance/" + awsfake.WebInstance

func act(t *testing.T, p *Provider, name string) action.Action {
	t.Helper()
	for _, a := range p.Actions() {
		if a.Spec().Name == name {
			return a
		}
	}
	t.Fatalf("no action %s", name)
	return nil
}

func req(args map[string]cty.Value) *action.Request {
	return &action.Request{Args: args, RunID: "run-1", Step: "s", Incident: "INC-1"}
}

// Every action of the catalog's aws.* namespace is implemented, with the
// catalog's contract (the registry refuses a differing one).
func TestImplementsCatalog(t *testing.T) {
	for _, a := range New(Options{}).Actions() {
		if f := a.(*action.Func); f.RecoverFn == nil && a.Spec().Effect != action.Read {
			t.Errorf("%s cannot tell whether an interrupted attempt took effect", a.Spec().Name)
		}
	}
	reg := action.NewRegistry()
	if err := reg.Register(New(Options{})); err != nil {
		t.Fatal(err)
	}
	for name := range action.Catalog {
		if strings.HasPrefix(name, "aws.") {
			if _, p, ok := reg.Lookup(name); !ok || p != "aws" {
				t.Errorf("%s is not implemented", name)
			}
		}
	}
}

// Plan proves permissions with EC2's DryRun: a refused dry run names the
// IAM action the credentials lack, and nothing is changed.
func TestPlanNamesMissingPermission(t *testing.T) {
	f, opts := start(t)
	f.Inject(awsfake.Fault{Service: "ec2", Operation: "CreateSnapshot", Kind: "denied", Times: -1})
	p := New(opts)
	_, err := act(t, p, "aws.ec2.snapshot_instance_volumes").Plan(context.Background(), req(map[string]cty.Value{"instance": cty.StringVal(webARN)}))
	var pe *PermissionError
	if !errors.As(err, &pe) || pe.Permission != "ec2:CreateSnapshot" || !strings.Contains(err.Error(), "lack ec2:CreateSnapshot") {
		t.Fatalf("err = %v", err)
	}
	dry := 0
	for _, c := range f.Calls() {
		if c.DryRun {
			dry++
		}
	}
	if dry != 1 || len(f.Mutations()) != 0 {
		t.Errorf("%d dry runs, mutations %v", dry, f.Mutations())
	}
	// With the permission, the same plan says what it would do.
	f2, opts2 := start(t)
	ch, err := act(t, New(opts2), "aws.ec2.snapshot_instance_volumes").Plan(context.Background(), req(map[string]cty.Value{"instance": cty.StringVal(webARN)}))
	if err != nil || !strings.Contains(ch.Summary, "snapshot 2 volumes of web-1") || len(f2.Mutations()) != 0 {
		t.Errorf("plan: %+v %v %v", ch, err, f2.Mutations())
	}
}

// Throttling that outlasts the SDK's retries is marked retryable, so the
// step's retry block takes over.
func TestThrottlingIsRetryable(t *testing.T) {
	f, opts := start(t)
	opts.MaxAttempts = 2
	f.Inject(awsfake.Fault{Service: "iam", Operation: "ListAccessKeys", Kind: "throttle", Times: -1})
	_, err := act(t, New(opts), "aws.iam.list_access_keys").Apply(context.Background(), req(map[string]cty.Value{"user": cty.StringVal("ci-deployer")}))
	if err == nil || !action.IsRetryable(err) {
		t.Fatalf("err = %v, retryable %v", err, action.IsRetryable(err))
	}
}

// A crash after CreateSnapshot but before the journal recorded it: resume
// asks Recover, which finds the snapshots by their tags.
func TestSnapshotRecover(t *testing.T) {
	f, opts := start(t)
	p := New(opts)
	a := act(t, p, "aws.ec2.snapshot_instance_volumes").(*action.Func)
	r := req(map[string]cty.Value{"instance": cty.StringVal(webARN)})
	if _, took, err := a.Recover(context.Background(), r); err != nil || took {
		t.Fatalf("nothing made yet: %v %v", took, err)
	}
	first, err := a.Apply(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	res, took, err := a.Recover(context.Background(), r)
	if err != nil || !took || !res.Outputs["snapshot_ids"].Equals(first.Outputs["snapshot_ids"]).True() {
		t.Fatalf("recover: %v %v %v", res, took, err)
	}
	n := len(f.Mutations())
	if _, err := a.Apply(context.Background(), r); err != nil || len(f.Mutations()) != n {
		t.Errorf("apply again: %v, mutations %v", err, f.Mutations()[n:])
	}
}

// release_instance puts every network interface back in its groups.
func TestIsolateAndRelease(t *testing.T) {
	f, opts := start(t)
	p := New(opts)
	r := req(map[string]cty.Value{"instance": cty.StringVal(awsfake.WebInstance)}) // a bare id: the home region
	res, err := act(t, p, "aws.ec2.isolate_instance").Apply(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	prev := res.Outputs["previous_groups"].AsValueMap()
	if len(prev) != 2 || prev["eni-0aaaaaaaaaaaa0002"].LengthInt() != 2 {
		t.Errorf("previous groups: %#v", prev)
	}
	ch, err := act(t, p, "aws.ec2.isolate_instance").Plan(context.Background(), r)
	if err != nil || !ch.NoOp {
		t.Errorf("isolated twice: %+v %v", ch, err)
	}
	if _, err := act(t, p, "aws.ec2.release_instance").Apply(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	f.With(func(f *awsfake.Fake) {
		in := f.Get(awsfake.ProdAccount).Region("eu-west-1").Instances[awsfake.WebInstance]
		if got := in.ENIs[0].Groups; len(got) != 1 || got[0] != awsfake.WebGroup {
			t.Errorf("eni 1: %v", got)
		}
		if got := in.ENIs[1].Groups; len(got) != 2 || got[0] != awsfake.DBGroup || got[1] != awsfake.InternalGroup {
			t.Errorf("eni 2: %v", got)
		}
		if _, ok := in.Tags["vigil:previous-groups"]; ok {
			t.Error("the record of the previous groups should go with the release")
		}
	})
}

// terminate lifts the termination protection isolation set; deleting a key
// twice is not an error.
func TestDestructiveActions(t *testing.T) {
	f, opts := start(t)
	p := New(opts)
	r := req(map[string]cty.Value{"instance": cty.StringVal(webARN)})
	if _, err := act(t, p, "aws.ec2.isolate_instance").Apply(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	ch, err := act(t, p, "aws.ec2.terminate_instance").Plan(context.Background(), r)
	if err != nil || len(ch.Deletes) != 1 || ch.Deletes[0] != webARN {
		t.Fatalf("plan: %+v %v", ch, err)
	}
	if _, err := act(t, p, "aws.ec2.terminate_instance").Apply(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if ch, err := act(t, p, "aws.ec2.terminate_instance").Plan(context.Background(), r); err != nil || !ch.NoOp {
		t.Errorf("terminated twice: %+v %v", ch, err)
	}
	k := req(map[string]cty.Value{"access_key_id": cty.StringVal(awsfake.LeakedKey), "user": cty.NullVal(cty.String)})
	for i := 0; i < 2; i++ {
		if res, err := act(t, p, "aws.iam.delete_access_key").Apply(context.Background(), k); err != nil || res.Outputs["deleted"].AsString() != awsfake.LeakedKey {
			t.Fatalf("delete %d: %v %v", i, res, err)
		}
	}
	f.With(func(f *awsfake.Fake) {
		if _, ok := f.Get(awsfake.ProdAccount).Keys[awsfake.LeakedKey]; ok {
			t.Error("key still there")
		}
	})
}

// A target in another account needs --org-role; the error says so.
func TestOtherAccountNeedsOrgRole(t *testing.T) {
	_, opts := start(t)
	_, err := act(t, New(opts), "aws.ec2.stop_instance").Plan(context.Background(),
		req(map[string]cty.Value{"instance": cty.StringVal("arn:aws:ec2:eu-west-1:222222222222:instance/i-1")}))
	if err == nil || !strings.Contains(err.Error(), "--org-role") {
		t.Errorf("err = %v", err)
	}
}

// A rule open to the internet through two halves of IPv4 is world-open:
// revoke_open_ingress removes the halves and keeps the rule's narrow
// source. (Only 0.0.0.0/0 and ::/0 used to count, and the rule stayed.)
func TestRevokeSeesHalvesAsTheInternet(t *testing.T) {
	ctx := context.Background()
	f, opts := start(t)
	f.With(func(f *awsfake.Fake) {
		g := f.Get(awsfake.ProdAccount).Region("eu-west-1").SecurityGroups[awsfake.WebGroup]
		g.Ingress[0].CIDRs = []string{"0.0.0.0/1", "128.0.0.0/1"}
		g.Ingress = append(g.Ingress, awsfake.Perm{Protocol: "tcp", From: 3389, To: 3389, CIDRs: []string{"10.0.0.0/8"}})
	})
	p := New(opts)
	r := req(map[string]cty.Value{"security_group": cty.StringVal(awsfake.WebGroup)})
	ch, err := act(t, p, "aws.ec2.revoke_open_ingress").Plan(ctx, r)
	if err != nil || ch.NoOp || !strings.Contains(strings.Join(ch.Details, "\n"), "0.0.0.0/1, 128.0.0.0/1") {
		t.Fatalf("plan: %v %+v", err, ch)
	}
	if _, err := act(t, p, "aws.ec2.revoke_open_ingress").Apply(ctx, r); err != nil {
		t.Fatal(err)
	}
	f.With(func(f *awsfake.Fake) {
		for _, pm := range f.Get(awsfake.ProdAccount).Region("eu-west-1").SecurityGroups[awsfake.WebGroup].Ingress {
			if pm.From == 22 && len(pm.CIDRs) > 0 {
				t.Errorf("22 still open to %v", pm.CIDRs)
			}
			if pm.From == 3389 && strings.Join(pm.CIDRs, ",") != "10.0.0.0/8" {
				t.Errorf("the narrow rule changed: %v", pm.CIDRs)
			}
		}
	})
}
