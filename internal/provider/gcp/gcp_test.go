package gcp

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
)

func start(t *testing.T) (*gcpfake.Fake, Options) {
	t.Helper()
	f := gcpfake.Scenario()
	srv, err := f.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return f, Options{Scope: "organizations/684315297612", Endpoint: srv.REST, AssetEndpoint: srv.Asset,
		PollInterval: time.Millisecond, RetryInitial: time.Millisecond}
}

func collect(t *testing.T, opts Options) (*inventory.Inventory, *Summary) {
	t.Helper()
	inv, sum, err := Collect(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return inv, sum
}

const web1 = "//compute.googleapis.com/" + gcpfake.Web1

func TestCollectScenario(t *testing.T) {
	_, opts := start(t)
	opts.PageSize = 3 // several pages
	inv, sum := collect(t, opts)
	if sum.Pages < 4 {
		t.Errorf("%d pages: paging was not exercised", sum.Pages)
	}
	web := inv.Get(web1)
	if web == nil {
		t.Fatal("web-1 missing")
	}
	if web.Scope != "acme-prod" || web.Region != "europe-west1" || web.Labels["owner"] != "web-team" ||
		strings.Join(web.Facets.PublicIPs, ",") != "34.76.112.9" || len(web.Facets.Disks) != 2 {
		t.Errorf("web-1: scope %s region %s labels %v facets %+v", web.Scope, web.Region, web.Labels, web.Facets)
	}
	prj := inv.Get("//cloudresourcemanager.googleapis.com/projects/402398720121")
	if prj == nil || prj.Labels["owner"] != "platform-team" || len(prj.Facets.Bindings) == 0 {
		t.Errorf("project (resource and IAM policy merged): %+v", prj)
	}
	fw := inv.Get("//compute.googleapis.com/" + gcpfake.OpenSSH)
	if fw == nil || len(fw.Facets.Ingress) != 1 || strings.Join(fw.Facets.Ingress[0].Sources, ",") != "0.0.0.0/0,10.0.0.0/8" {
		t.Errorf("firewall: %+v", fw)
	}
	if k := inv.Get("//iam.googleapis.com/" + gcpfake.LeakedKey); k == nil || k.Kind != asset.KindServiceAccountKey {
		t.Errorf("key: %+v", k)
	}
	// A project scope sees only its own project.
	opts.Scope = "projects/" + gcpfake.SecurityProject
	sec, _ := collect(t, opts)
	if sec.Get(web1) != nil || sec.Get("//cloudresourcemanager.googleapis.com/projects/218745590023") == nil {
		t.Error("projects/acme-sec-forensics should hold only that project")
	}
}

func TestCollectQuotaAndPermission(t *testing.T) {
	f, opts := start(t)
	f.Inject(gcpfake.Fault{API: "asset", Operation: "ListAssets", Kind: "quota", Times: 3})
	inv, _ := collect(t, opts)
	if inv.Get(web1) == nil {
		t.Error("quota errors should be retried")
	}
	quota := 0
	for _, c := range f.Calls() {
		if c.Fault == "quota" {
			quota++
		}
	}
	if quota != 3 {
		t.Errorf("%d quota errors served, want 3", quota)
	}
	f.Inject(gcpfake.Fault{API: "asset", Operation: "ListAssets", Kind: "denied", Times: -1})
	_, _, err := Collect(context.Background(), opts)
	var pe *PermissionError
	if !errors.As(err, &pe) || pe.Permission != "cloudasset.assets.listResource" || pe.Role != "roles/cloudasset.viewer" ||
		!strings.Contains(err.Error(), "roles/cloudasset.viewer") {
		t.Errorf("err = %v", err)
	}
	opts.Scope = "project/x"
	if _, _, err := Collect(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "organizations/NUMBER, folders/NUMBER or projects/PROJECT") {
		t.Errorf("bad scope: %v", err)
	}
}

// --export: ExportAssets into Cloud Storage, wait for the operation, read
// the objects.
func TestCollectThroughExport(t *testing.T) {
	f, opts := start(t)
	opts.Export = "gs://acme-sec-evidence/cai"
	inv, _ := collect(t, opts)
	if inv.Get(web1) == nil || len(inv.Get("//cloudresourcemanager.googleapis.com/projects/402398720121").Facets.Bindings) == 0 {
		t.Error("the export should hold resources and IAM policies")
	}
	ops := map[string]int{}
	for _, c := range f.Calls() {
		ops[c.Operation]++
	}
	if ops["ExportAssets"] != 2 || ops["GetOperation"] < 2 || ops["objects.download"] != 2 || ops["ListAssets"] != 0 {
		t.Errorf("calls: %v", ops)
	}
}

func act(t *testing.T, p *Provider, name string) *action.Func {
	for _, a := range p.Actions() {
		if a.Spec().Name == name {
			return a.(*action.Func)
		}
	}
	t.Fatalf("no action %s", name)
	return nil
}

func req(args map[string]cty.Value) *action.Request {
	return &action.Request{Args: args, RunID: "run-1", Step: "s", Incident: "INC-1"}
}

func TestImplementsCatalog(t *testing.T) {
	reg := action.NewRegistry()
	if err := reg.Register(New(Options{})); err != nil {
		t.Fatal(err)
	}
	for name := range action.Catalog {
		if strings.HasPrefix(name, "gcp.") {
			if _, p, ok := reg.Lookup(name); !ok || p != "gcp" {
				t.Errorf("%s is not implemented", name)
			}
		}
	}
}

func TestSnapshotIdempotentAndRecover(t *testing.T) {
	f, opts := start(t)
	p := New(opts)
	a := act(t, p, "gcp.compute.snapshot_instance_disks")
	r := req(map[string]cty.Value{"instance": cty.StringVal(web1), "destination_project": cty.StringVal(gcpfake.SecurityProject),
		"labels": cty.MapVal(map[string]cty.Value{"ticket": cty.StringVal("SEC-9")})})
	if _, took, err := a.Recover(context.Background(), r); err != nil || took {
		t.Fatalf("nothing yet: %v %v", took, err)
	}
	res, err := a.Apply(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	snaps := res.Outputs["snapshots"]
	if snaps.LengthInt() != 2 || len(res.Evidence) != 2 {
		t.Fatalf("outputs %#v evidence %v", snaps, res.Evidence)
	}
	first := snaps.Index(cty.NumberIntVal(0))
	if !strings.HasPrefix(first.GetAttr("id").AsString(), "//compute.googleapis.com/projects/acme-sec-forensics/global/snapshots/vigil-") ||
		first.GetAttr("project").AsString() != gcpfake.SecurityProject {
		t.Errorf("snapshot %#v", first)
	}
	f.With(func(f *gcpfake.Fake) {
		s := f.Snapshots(gcpfake.SecurityProject)
		if len(s) != 2 || s[0].Labels["incident"] != "inc-1" || s[0].Labels["ticket"] != "sec-9" || s[0].Labels["vigil-step"] != "s" {
			t.Errorf("snapshots %+v", s)
		}
	})
	n := len(f.Mutations())
	if _, took, err := a.Recover(context.Background(), r); err != nil || !took {
		t.Errorf("recover: %v %v", took, err)
	}
	if _, err := a.Apply(context.Background(), r); err != nil || len(f.Mutations()) != n {
		t.Errorf("apply again: %v, %v", err, f.Mutations()[n:])
	}
	ch, err := a.Plan(context.Background(), r)
	if err != nil || !ch.NoOp {
		t.Errorf("plan after: %+v %v", ch, err)
	}
}

func TestIsolateReleaseAndSSH(t *testing.T) {
	f, opts := start(t)
	p := New(opts)
	r := req(map[string]cty.Value{"instance": cty.StringVal(gcpfake.Web1), "allow_ranges": cty.ListVal([]cty.Value{cty.StringVal("10.99.0.0/24")}),
		"remove_external_access": cty.NullVal(cty.Bool)})
	res, err := act(t, p, "gcp.compute.isolate_instance").Apply(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs["firewall_rules"].LengthInt() != 5 || res.Outputs["previous_tags"].LengthInt() != 2 || res.Outputs["removed_access_configs"].LengthInt() != 1 {
		t.Errorf("outputs %#v", res.Outputs)
	}
	f.With(func(f *gcpfake.Fake) {
		in := f.Instance(gcpfake.Web1)
		if len(in.Tags.Items) != 1 || in.Tags.Items[0] != QuarantineTag || len(in.NetworkInterfaces[0].AccessConfigs) != 0 {
			t.Errorf("instance tags %v access %v", in.Tags.Items, in.NetworkInterfaces[0].AccessConfigs)
		}
		deny := f.Firewall("projects/acme-prod/global/firewalls/vigil-quarantine-deny-in-prod-vpc")
		allow := f.Firewall("projects/acme-prod/global/firewalls/vigil-quarantine-allow-forensics-prod-vpc")
		if deny == nil || deny.Priority != 1 || deny.Denied[0].IPProtocol != "all" || allow == nil || allow.Priority != 0 || allow.SourceRanges[0] != "10.99.0.0/24" {
			t.Errorf("rules %+v %+v", deny, allow)
		}
	})
	n := len(f.Mutations())
	if ch, err := act(t, p, "gcp.compute.isolate_instance").Plan(context.Background(), r); err != nil || !ch.NoOp {
		t.Errorf("isolated twice: %+v %v", ch, err)
	}
	if _, err := act(t, p, "gcp.compute.isolate_instance").Apply(context.Background(), r); err != nil || len(f.Mutations()) != n {
		t.Errorf("re-apply changed: %v", f.Mutations()[n:])
	}
	rel, err := act(t, p, "gcp.compute.release_instance").Apply(context.Background(), r)
	if err != nil || rel.Outputs["restored_tags"].LengthInt() != 2 {
		t.Fatalf("release %v %v", rel, err)
	}
	ssh, err := act(t, p, "gcp.compute.remove_instance_ssh_keys").Apply(context.Background(), req(map[string]cty.Value{
		"instance": cty.StringVal(web1), "project_metadata": cty.True}))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := ssh.Outputs["removed_keys"].AsBigFloat().Int64(); n != 3 {
		t.Errorf("removed %d keys, want 2 on the instance and 1 in the project", n)
	}
	f.With(func(f *gcpfake.Fake) {
		for _, it := range f.Instance(gcpfake.Web1).Metadata.Items {
			if it.Key == "ssh-keys" || it.Key == isolationKey {
				t.Errorf("metadata %s left", it.Key)
			}
		}
		if len(f.Project(gcpfake.ProdProject).Metadata) != 0 {
			t.Error("project keys left")
		}
	})
}

func TestStateFirewallKeyAndRecovery(t *testing.T) {
	f, opts := start(t)
	p := New(opts)
	in := req(map[string]cty.Value{"instance": cty.StringVal(web1)})
	for _, tc := range []struct{ action, status string }{{"gcp.compute.suspend_instance", "suspended"}, {"gcp.compute.resume_instance", "running"}, {"gcp.compute.stop_instance", "terminated"}} {
		res, err := act(t, p, tc.action).Apply(context.Background(), in)
		if err != nil || res.Outputs["status"].AsString() != tc.status {
			t.Fatalf("%s: %v %v", tc.action, res, err)
		}
	}
	restrict := req(map[string]cty.Value{"firewall": cty.StringVal(gcpfake.OpenSSH), "source_ranges": cty.ListVal([]cty.Value{cty.StringVal("35.235.240.0/20")})})
	res, err := act(t, p, "gcp.compute.restrict_firewall").Apply(context.Background(), restrict)
	if err != nil || res.Outputs["source_ranges"].LengthInt() != 2 {
		t.Fatalf("restrict: %v %v", res, err)
	}
	f.With(func(f *gcpfake.Fake) {
		if got := strings.Join(f.Firewall(gcpfake.OpenSSH).SourceRanges, ","); got != "10.0.0.0/8,35.235.240.0/20" {
			t.Errorf("sources %s", got)
		}
	})
	key := req(map[string]cty.Value{"key": cty.StringVal("//iam.googleapis.com/" + gcpfake.LeakedKey)})
	if res, err := act(t, p, "gcp.iam.disable_service_account_key").Apply(context.Background(), key); err != nil || !res.Outputs["disabled"].True() {
		t.Fatalf("disable: %v %v", res, err)
	}
	if ch, err := act(t, p, "gcp.iam.disable_service_account_key").Plan(context.Background(), key); err != nil || !ch.NoOp {
		t.Errorf("disabled twice: %+v %v", ch, err)
	}
	snap, err := act(t, p, "gcp.compute.snapshot_instance_disks").Apply(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	id := snap.Outputs["snapshots"].Index(cty.NumberIntVal(0)).GetAttr("id")
	img, err := act(t, p, "gcp.compute.export_snapshots").Apply(context.Background(), req(map[string]cty.Value{
		"snapshots": cty.ListVal([]cty.Value{id}), "destination_project": cty.StringVal(gcpfake.SecurityProject)}))
	if err != nil || img.Outputs["images"].LengthInt() != 1 {
		t.Fatalf("export: %v %v", img, err)
	}
	created, err := act(t, p, "gcp.compute.create_instance_from_snapshot").Apply(context.Background(), req(map[string]cty.Value{
		"snapshot": id, "name": cty.StringVal("web-1-clean"), "zone": cty.StringVal(gcpfake.Zone)}))
	if err != nil || created.Outputs["instance"].AsString() != "//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1-clean" {
		t.Fatalf("create: %v %v", created, err)
	}
	for i := 0; i < 2; i++ { // deleting twice is not an error
		if _, err := act(t, p, "gcp.compute.delete_instance").Apply(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		if _, err := act(t, p, "gcp.compute.delete_firewall").Apply(context.Background(), req(map[string]cty.Value{"firewall": cty.StringVal(gcpfake.OpenHTTPS)})); err != nil {
			t.Fatal(err)
		}
	}
}

// A refused call names the permission and the role that grants it; quota
// errors are retried.
func TestComputeErrors(t *testing.T) {
	f, opts := start(t)
	p := New(opts)
	in := req(map[string]cty.Value{"instance": cty.StringVal(web1)})
	f.Inject(gcpfake.Fault{API: "compute", Operation: "instances.suspend", Kind: "quota", Times: 2})
	if _, err := act(t, p, "gcp.compute.suspend_instance").Apply(context.Background(), in); err != nil {
		t.Fatalf("quota should be retried: %v", err)
	}
	f.Inject(gcpfake.Fault{API: "compute", Operation: "instances.stop", Kind: "denied", Times: -1})
	_, err := act(t, p, "gcp.compute.stop_instance").Apply(context.Background(), in)
	var pe *PermissionError
	if !errors.As(err, &pe) || pe.Permission != "compute.instances.stop" || pe.Role != "roles/compute.instanceAdmin.v1" {
		t.Errorf("err = %v", err)
	}
	if _, err := act(t, p, "gcp.compute.stop_instance").Plan(context.Background(), req(map[string]cty.Value{"instance": cty.StringVal("web-1")})); err == nil ||
		!strings.Contains(err.Error(), "projects/P/zones/Z/instances/NAME") {
		t.Errorf("bad reference: %v", err)
	}
}
