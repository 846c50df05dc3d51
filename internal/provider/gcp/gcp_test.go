package gcp

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/provider/gcp/contract"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
)

// start serves the scenario; when the test ends, every request it made
// is checked against Google's discovery documents.
func start(t *testing.T) (*gcpfake.Fake, Options) {
	t.Helper()
	f := gcpfake.Scenario()
	srv, err := f.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if problems := contract.CheckAll(f.Requests()); len(problems) > 0 {
			t.Errorf("requests that break the API contract:\n%s", strings.Join(problems, "\n"))
		}
		if problems := contract.CheckAllRPC(f.RPCs()); len(problems) > 0 {
			t.Errorf("Cloud Asset requests that break the API contract:\n%s", strings.Join(problems, "\n"))
		}
	})
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
// the objects. The summary counts what the objects hold, as listing does.
func TestCollectThroughExport(t *testing.T) {
	f, opts := start(t)
	var listed bytes.Buffer
	opts.Progress = &listed
	_, byList := collect(t, opts)
	if !strings.Contains(listed.String(), "resource: page 1,") || !strings.Contains(listed.String(), "iam_policy: page 1,") {
		t.Errorf("each content type counts its own pages:\n%s", listed.String())
	}
	opts.Export = "gs://acme-sec-evidence/cai"
	var progress bytes.Buffer
	opts.Progress = &progress
	inv, sum := collect(t, opts)
	if inv.Get(web1) == nil || len(inv.Get("//cloudresourcemanager.googleapis.com/projects/402398720121").Facets.Bindings) == 0 {
		t.Error("the export should hold resources and IAM policies")
	}
	if sum.Records == 0 || sum.Records != byList.Records || !maps.Equal(sum.ByType, byList.ByType) {
		t.Errorf("export summary: %d records %v; listing read %d records %v", sum.Records, sum.ByType, byList.Records, byList.ByType)
	}
	if !strings.Contains(progress.String(), "records)") {
		t.Errorf("progress: %s", progress.String())
	}
	ops := map[string]int{}
	for _, c := range f.Calls() {
		ops[c.Operation]++
	}
	// One object per asset type ("object_name_prefix/<asset type>/<shard
	// number>"): the scenario's resources are of 9 types (project,
	// network, subnetwork, firewall, instance, disk, service account key,
	// bucket, and the project's compute metadata), its IAM policies of 1
	// (project).
	if ops["ExportAssets"] != 2 || ops["GetOperation"] < 2 || ops["objects.download"] != 10 || ops["ListAssets"] != 2 {
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
		if len(s) != 2 || s[0].Obj("labels").Str("incident") != "inc-1" || s[0].Obj("labels").Str("ticket") != "sec-9" ||
			s[0].Obj("labels").Str("vigil-step") != "s" || s[0].Str("status") != "READY" {
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

// isolate_instance cuts off every interface's network at priority 0: the
// health-check allow that already sat at priority 0 in prod-vpc loses to
// the deny, the management network of the second interface is closed
// too, and only the forensics range gets in.
func TestIsolateReleaseAndSSH(t *testing.T) {
	f, opts := start(t)
	p := New(opts)
	reach := func(nic int, dir, peer string, port int) gcpfake.Verdict {
		var v gcpfake.Verdict
		f.With(func(f *gcpfake.Fake) { v = f.Reach(gcpfake.Web1, nic, dir, peer, "tcp", port) })
		return v
	}
	if v := reach(0, "INGRESS", "35.191.3.4", 8080); !v.Allowed || v.Rule != "allow-health-checks" {
		t.Fatalf("before: the health checks reach web-1 through the priority-0 allow: %+v", v)
	}
	if v := reach(1, "INGRESS", "10.30.7.7", 22); !v.Allowed {
		t.Fatalf("before: the management range reaches nic1: %+v", v)
	}
	r := req(map[string]cty.Value{"instance": cty.StringVal(gcpfake.Web1), "allow_ranges": cty.ListVal([]cty.Value{cty.StringVal("10.99.0.0/24")}),
		"remove_external_access": cty.NullVal(cty.Bool)})
	ch, err := act(t, p, "gcp.compute.isolate_instance").Plan(context.Background(), r)
	if err != nil || !strings.Contains(ch.Summary, "in 2 networks (prod-vpc, mgmt-vpc)") || !strings.Contains(strings.Join(ch.Details, "\n"), "everywhere but 10.99.0.0/24 (24 ranges), priority 0") {
		t.Fatalf("plan: %v\n%s\n%s", err, ch.Summary, strings.Join(ch.Details, "\n"))
	}
	res, err := act(t, p, "gcp.compute.isolate_instance").Apply(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs["firewall_rules"].LengthInt() != 10 || res.Outputs["previous_tags"].LengthInt() != 2 || res.Outputs["removed_access_configs"].LengthInt() != 1 {
		t.Errorf("outputs %#v", res.Outputs)
	}
	f.With(func(f *gcpfake.Fake) {
		in := f.Instance(gcpfake.Web1)
		if tags := in.Obj("tags").Strs("items"); len(tags) != 1 || tags[0] != QuarantineTag || len(in.Objs("networkInterfaces")[0].Objs("accessConfigs")) != 0 {
			t.Errorf("instance tags %v nics %v", tags, in["networkInterfaces"])
		}
		for _, net := range []string{"prod-vpc", "mgmt-vpc"} {
			deny := f.Firewall("projects/acme-prod/global/firewalls/vigil-quarantine-deny-in-" + net)
			allow := f.Firewall("projects/acme-prod/global/firewalls/vigil-quarantine-allow-forensics-" + net)
			dp, dok := deny.Int("priority")
			ap, aok := allow.Int("priority")
			if !dok || dp != 0 || deny.Objs("denied")[0].Str("IPProtocol") != "all" || !aok || ap != 0 || allow.Strs("sourceRanges")[0] != "10.99.0.0/24" {
				t.Errorf("%s rules %v %v", net, deny, allow)
			}
		}
	})
	for _, tc := range []struct {
		nic       int
		dir, peer string
		port      int
		allowed   bool
	}{
		{0, "INGRESS", "35.191.3.4", 8080, false}, // the priority-0 allow loses to the deny
		{0, "INGRESS", "203.0.113.9", 443, false},
		{0, "INGRESS", "10.20.0.9", 22, false},
		{1, "INGRESS", "10.30.7.7", 22, false}, // the second interface's network
		{0, "EGRESS", "198.51.100.1", 443, false},
		{1, "EGRESS", "10.30.0.1", 53, false},
		{0, "INGRESS", "10.99.0.5", 22, true}, // the forensics range, on both interfaces
		{1, "INGRESS", "10.99.0.200", 5432, true},
	} {
		if v := reach(tc.nic, tc.dir, tc.peer, tc.port); v.Allowed != tc.allowed {
			t.Errorf("nic%d %s %s:%d: %+v, want allowed=%v", tc.nic, tc.dir, tc.peer, tc.port, v, tc.allowed)
		}
	}
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
		for _, it := range f.Instance(gcpfake.Web1).Obj("metadata").Objs("items") {
			if it.Str("key") == "ssh-keys" || it.Str("key") == isolationKey {
				t.Errorf("metadata %s left", it.Str("key"))
			}
		}
		// the project's keys go, its other items stay
		if md := f.Project(gcpfake.ProdProject).Metadata; len(md) != 1 || md[0].Str("key") != "enable-osconfig" {
			t.Errorf("project metadata %v, want enable-osconfig alone", md)
		}
	})
}

// An older vigil made the quarantine rules without a priority, so the API
// gave them 1000: isolating again finds and fixes them.
func TestIsolateFixesRulesAtTheDefaultPriority(t *testing.T) {
	f, opts := start(t)
	p := New(opts)
	r := req(map[string]cty.Value{"instance": cty.StringVal(gcpfake.Web1)})
	if _, err := act(t, p, "gcp.compute.isolate_instance").Apply(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	f.With(func(f *gcpfake.Fake) {
		f.Firewall("projects/acme-prod/global/firewalls/vigil-quarantine-deny-in-prod-vpc")["priority"] = 1000
	})
	ch, err := act(t, p, "gcp.compute.isolate_instance").Plan(context.Background(), r)
	if err != nil || ch.NoOp || !strings.Contains(strings.Join(ch.Details, "\n"), "update firewall vigil-quarantine-deny-in-prod-vpc: priority 1000 -> 0") {
		t.Fatalf("plan: %v %+v", err, ch)
	}
	if _, err := act(t, p, "gcp.compute.isolate_instance").Apply(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	f.With(func(f *gcpfake.Fake) {
		if p, _ := f.Firewall("projects/acme-prod/global/firewalls/vigil-quarantine-deny-in-prod-vpc").Int("priority"); p != 0 {
			t.Errorf("priority %d", p)
		}
		if v := f.Reach(gcpfake.Web1, 0, "INGRESS", "35.191.3.4", "tcp", 80); v.Allowed {
			t.Errorf("health checks still get in: %+v", v)
		}
	})
}

func TestStateFirewallKeyAndRecovery(t *testing.T) {
	f, opts := start(t)
	p := New(opts)
	in := req(map[string]cty.Value{"instance": cty.StringVal(web1)})
	ch, err := act(t, p, "gcp.compute.suspend_instance").Plan(context.Background(), in)
	if err != nil || !strings.Contains(strings.Join(ch.Details, "\n"), "1 Local SSD: its data is kept (discardLocalSsd=false") {
		t.Fatalf("suspend plan: %v %+v", err, ch)
	}
	for _, tc := range []struct{ action, status string }{{"gcp.compute.suspend_instance", "suspended"}, {"gcp.compute.resume_instance", "running"}, {"gcp.compute.stop_instance", "terminated"}} {
		res, err := act(t, p, tc.action).Apply(context.Background(), in)
		if err != nil || res.Outputs["status"].AsString() != tc.status {
			t.Fatalf("%s: %v %v", tc.action, res, err)
		}
	}
	f.With(func(f *gcpfake.Fake) {
		if f.Instance(gcpfake.Web1).Str("status") != "TERMINATED" || f.LocalSSDDiscarded(gcpfake.Web1) {
			t.Errorf("web-1 %s, Local SSD discarded %v", f.Instance(gcpfake.Web1).Str("status"), f.LocalSSDDiscarded(gcpfake.Web1))
		}
	})
	restrict := req(map[string]cty.Value{"firewall": cty.StringVal(gcpfake.OpenSSH), "source_ranges": cty.ListVal([]cty.Value{cty.StringVal("35.235.240.0/20")})})
	res, err := act(t, p, "gcp.compute.restrict_firewall").Apply(context.Background(), restrict)
	if err != nil || res.Outputs["source_ranges"].LengthInt() != 2 {
		t.Fatalf("restrict: %v %v", res, err)
	}
	f.With(func(f *gcpfake.Fake) {
		if got := strings.Join(f.Firewall(gcpfake.OpenSSH).Strs("sourceRanges"), ","); got != "10.0.0.0/8,35.235.240.0/20" {
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
	create := req(map[string]cty.Value{"snapshot": id, "name": cty.StringVal("web-1-clean"), "zone": cty.StringVal(gcpfake.Zone),
		"network": cty.StringVal(gcpfake.ProdVPC)})
	created, err := act(t, p, "gcp.compute.create_instance_from_snapshot").Apply(context.Background(), create)
	if err != nil || created.Outputs["instance"].AsString() != "//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1-clean" {
		t.Fatalf("create: %v %v", created, err)
	}
	n := len(f.Mutations())
	if _, err := act(t, p, "gcp.compute.create_instance_from_snapshot").Apply(context.Background(), create); err != nil || len(f.Mutations()) != n {
		t.Errorf("create again: %v %v", err, f.Mutations()[n:])
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

// An empty source_ranges would leave the rule with no source, which the
// API reads as 0.0.0.0/0: the plan refuses it, and nothing is sent.
func TestRestrictRefusesNoRanges(t *testing.T) {
	f, opts := start(t)
	p := New(opts)
	r := req(map[string]cty.Value{"firewall": cty.StringVal(gcpfake.OpenHTTPS), "source_ranges": cty.ListValEmpty(cty.String)})
	for _, run := range []func() error{
		func() error {
			_, err := act(t, p, "gcp.compute.restrict_firewall").Plan(context.Background(), r)
			return err
		},
		func() error {
			_, err := act(t, p, "gcp.compute.restrict_firewall").Apply(context.Background(), r)
			return err
		},
	} {
		if err := run(); err == nil || !strings.Contains(err.Error(), "source_ranges is empty") || !strings.Contains(err.Error(), "0.0.0.0/0") {
			t.Errorf("err = %v", err)
		}
	}
	if m := f.Mutations(); len(m) != 0 {
		t.Errorf("mutations %v", m)
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
