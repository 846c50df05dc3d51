package gcp

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/internal/provider/gcp/contract"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
)

// TestWireContract runs every gcp.* action that writes against the fake and
// checks each request it sent against Google's discovery documents and
// what vigil means to send. Before the fix it failed on the quarantine
// rules' missing priority (the Go client drops 0; the API then applies
// 1000) and on stop and suspend without discardLocalSsd on a VM with a
// Local SSD (the API refuses them).
func TestWireContract(t *testing.T) {
	f, opts := start(t)
	p := New(opts)
	ctx := context.Background()
	run := func(name string, args map[string]cty.Value) *action.Result {
		t.Helper()
		res, err := act(t, p, name).Apply(ctx, req(args))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		return res
	}
	vm := cty.StringVal(web1)
	snap := run("gcp.compute.snapshot_instance_disks", map[string]cty.Value{"instance": vm, "destination_project": cty.StringVal(gcpfake.SecurityProject)})
	if snap != nil {
		var ids []cty.Value
		for it := snap.Outputs["snapshots"].ElementIterator(); it.Next(); {
			_, s := it.Element()
			ids = append(ids, s.GetAttr("id"))
		}
		run("gcp.compute.export_snapshots", map[string]cty.Value{"snapshots": cty.ListVal(ids), "destination_project": cty.StringVal(gcpfake.SecurityProject)})
		run("gcp.compute.create_instance_from_snapshot", map[string]cty.Value{"snapshot": ids[0], "name": cty.StringVal("web-1-clean"),
			"zone": cty.StringVal(gcpfake.Zone), "network": cty.StringVal(gcpfake.ForensicsVPC)})
	}
	run("gcp.compute.isolate_instance", map[string]cty.Value{"instance": vm, "allow_ranges": cty.ListVal([]cty.Value{cty.StringVal("10.99.0.0/24")})})
	run("gcp.compute.suspend_instance", map[string]cty.Value{"instance": vm})
	run("gcp.compute.resume_instance", map[string]cty.Value{"instance": vm})
	run("gcp.compute.release_instance", map[string]cty.Value{"instance": vm})
	run("gcp.compute.remove_instance_ssh_keys", map[string]cty.Value{"instance": vm, "project_metadata": cty.True})
	run("gcp.compute.stop_instance", map[string]cty.Value{"instance": vm})
	run("gcp.compute.restrict_firewall", map[string]cty.Value{"firewall": cty.StringVal(gcpfake.OpenSSH),
		"source_ranges": cty.ListVal([]cty.Value{cty.StringVal("35.235.240.0/20")})})
	run("gcp.iam.disable_service_account_key", map[string]cty.Value{"key": cty.StringVal("//iam.googleapis.com/" + gcpfake.LeakedKey)})
	run("gcp.compute.delete_firewall", map[string]cty.Value{"firewall": cty.StringVal(gcpfake.OpenHTTPS)})
	run("gcp.compute.delete_instance", map[string]cty.Value{"instance": vm})

	methods := map[string]bool{}
	for _, r := range f.Requests() {
		methods[contract.Method(r)] = true
	}
	for _, m := range []string{"compute.firewalls.insert", "compute.instances.suspend", "compute.instances.stop", "compute.instances.setTags",
		"compute.instances.setMetadata", "compute.instances.deleteAccessConfig", "compute.snapshots.insert", "compute.images.insert",
		"compute.instances.insert", "compute.firewalls.patch", "compute.firewalls.delete", "compute.instances.delete",
		"compute.projects.setCommonInstanceMetadata", "iam.projects.serviceAccounts.keys.disable", "compute.zoneOperations.get", "compute.globalOperations.get"} {
		if !methods[m] {
			t.Errorf("no request to %s was recorded", m)
		}
	}
	if problems := contract.CheckAll(f.Requests()); len(problems) > 0 {
		t.Errorf("%d problems:\n%s", len(problems), strings.Join(problems, "\n"))
	}
}

// A 429 and then a 503 on the Get of an operation are retried, and the
// step completes. (The retried look used to read the name of an operation
// it had just set to nil, and the process crashed mid-containment.)
func TestOperationLooksAreRetried(t *testing.T) {
	f, opts := start(t)
	f.With(func(f *gcpfake.Fake) { f.OpLooks = 2 })
	f.Inject(gcpfake.Fault{API: "compute", Operation: "zoneOperations.get", Kind: "quota", Times: 1})
	f.Inject(gcpfake.Fault{API: "compute", Operation: "zoneOperations.get", Kind: "unavailable", Times: 1})
	res, err := act(t, New(opts), "gcp.compute.suspend_instance").Apply(context.Background(), req(map[string]cty.Value{"instance": cty.StringVal(web1)}))
	if err != nil || res.Outputs["status"].AsString() != "suspended" {
		t.Fatalf("suspend: %v %v", res, err)
	}
	var faults []string
	for _, c := range f.Calls() {
		if c.Operation == "zoneOperations.get" {
			faults = append(faults, c.Fault)
		}
	}
	if strings.Join(faults, ",") != "quota,unavailable,," {
		t.Errorf("looks at the operation: %q, want a 429, a 503, then two that answered", faults)
	}
	f.With(func(f *gcpfake.Fake) {
		if st := f.Instance(gcpfake.Web1).Str("status"); st != "SUSPENDED" {
			t.Errorf("status %s", st)
		}
	})
}

// A mutating call whose answer is lost (the change is made, then 503s
// or a reset connection) is an OutcomeUnknownError, not a retryable one;
// Recover tells whether the attempt took effect.
func TestOutcomeUnknownAndRecover(t *testing.T) {
	ctx := context.Background()
	t.Run("503 after the change", func(t *testing.T) {
		f, opts := start(t)
		opts.MaxAttempts = 3
		p := New(opts)
		r := req(map[string]cty.Value{"instance": cty.StringVal(web1)})
		f.Inject(gcpfake.Fault{API: "compute", Operation: "instances.suspend", Kind: "unavailable", After: true, Times: -1})
		_, err := act(t, p, "gcp.compute.suspend_instance").Apply(ctx, r)
		if !action.IsOutcomeUnknown(err) || action.IsRetryable(err) {
			t.Fatalf("err = %v (outcome unknown %v, retryable %v)", err, action.IsOutcomeUnknown(err), action.IsRetryable(err))
		}
		// The three tries carried one requestId: the server made one
		// operation.
		ids := map[string]bool{}
		for _, rq := range f.Requests() {
			if rq.Operation == "instances.suspend" {
				ids[rq.Query.Get("requestId")] = true
			}
		}
		if len(ids) != 1 {
			t.Errorf("requestIds %v", ids)
		}
		if _, took, err := act(t, p, "gcp.compute.suspend_instance").Recover(ctx, r); err != nil || took {
			t.Errorf("the operation has not finished: took effect %v, %v", took, err)
		}
		f.With(func(f *gcpfake.Fake) { f.Settle() })
		res, took, err := act(t, p, "gcp.compute.suspend_instance").Recover(ctx, r)
		if err != nil || !took || res.Outputs["status"].AsString() != "suspended" {
			t.Errorf("after the operation: %v %v %v", res, took, err)
		}
	})
	t.Run("reset connection", func(t *testing.T) {
		f, opts := start(t)
		opts.MaxAttempts = 2
		p := New(opts)
		r := req(map[string]cty.Value{"instance": cty.StringVal(web1)})
		f.Inject(gcpfake.Fault{API: "compute", Operation: "firewalls.insert", Kind: "reset", After: true, Times: 2})
		_, err := act(t, p, "gcp.compute.isolate_instance").Apply(ctx, r)
		if !action.IsOutcomeUnknown(err) {
			t.Fatalf("err = %v", err)
		}
		n := len(f.Mutations())
		if _, took, err := act(t, p, "gcp.compute.isolate_instance").Recover(ctx, r); err != nil || took {
			t.Errorf("half isolated: took effect %v, %v", took, err)
		}
		if len(f.Mutations()) != n {
			t.Errorf("Recover wrote: %v", f.Mutations()[n:])
		}
		f.With(func(f *gcpfake.Fake) { f.Settle() })
		if _, err := act(t, p, "gcp.compute.isolate_instance").Apply(ctx, r); err != nil {
			t.Fatal(err)
		}
		if _, took, err := act(t, p, "gcp.compute.isolate_instance").Recover(ctx, r); err != nil || !took {
			t.Errorf("isolated: took effect %v, %v", took, err)
		}
	})
	t.Run("quota is retryable, not unknown", func(t *testing.T) {
		f, opts := start(t)
		opts.MaxAttempts = 2
		f.Inject(gcpfake.Fault{API: "iam", Operation: "keys.disable", Kind: "quota", Times: -1})
		_, err := act(t, New(opts), "gcp.iam.disable_service_account_key").Apply(ctx, req(map[string]cty.Value{"key": cty.StringVal(gcpfake.LeakedKey)}))
		var re *action.RetryableError
		if !errors.As(err, &re) || action.IsOutcomeUnknown(err) {
			t.Errorf("err = %v", err)
		}
	})
}

// An operation still running when Timeout passes: the outcome is unknown
// (the change may yet happen), Recover says it did not take effect while
// the instance is SUSPENDING, and does once the operation is done.
func TestOperationWaitTimesOut(t *testing.T) {
	ctx := context.Background()
	f, opts := start(t)
	opts.Timeout = 30 * time.Millisecond
	f.With(func(f *gcpfake.Fake) { f.OpLooks = 1 << 30 })
	p := New(opts)
	r := req(map[string]cty.Value{"instance": cty.StringVal(web1)})
	_, err := act(t, p, "gcp.compute.suspend_instance").Apply(ctx, r)
	if !action.IsOutcomeUnknown(err) || !strings.Contains(err.Error(), "timed out waiting for the operation") {
		t.Fatalf("err = %v", err)
	}
	if _, took, err := act(t, p, "gcp.compute.suspend_instance").Recover(ctx, r); err != nil || took {
		t.Errorf("while running: %v %v", took, err)
	}
	f.With(func(f *gcpfake.Fake) { f.Settle() })
	if _, took, err := act(t, p, "gcp.compute.suspend_instance").Recover(ctx, r); err != nil || !took {
		t.Errorf("after: %v %v", took, err)
	}
}
