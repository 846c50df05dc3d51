package sim

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/testutil"
)

func cloud(t *testing.T) (*Cloud, string) {
	t.Helper()
	inv, err := inventory.Load(context.Background(), testutil.Path(t, "examples", "inventory"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sim.json")
	return New(inv, path), path
}

func act(t *testing.T, c *Cloud, name string) action.Action {
	for _, a := range c.Provider().Actions() {
		if a.Spec().Name == name {
			return a
		}
	}
	t.Fatalf("no %s", name)
	return nil
}

func req(step string, args map[string]cty.Value) *action.Request {
	return &action.Request{RunID: "run-1", Step: step, Incident: "INC-1", Args: args}
}

const vm = "//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1"

// Every catalog action of the clouds is simulated.
func TestCoversTheCatalog(t *testing.T) {
	c, _ := cloud(t)
	have := map[string]bool{}
	for _, a := range c.Provider().Actions() {
		have[a.Spec().Name] = true
	}
	for _, name := range action.Names() {
		if (name[:4] == "aws." || name[:4] == "gcp.") && !have[name] {
			t.Errorf("%s is not simulated", name)
		}
	}
	reg := action.NewRegistry()
	if err := reg.Register(c.Provider()); err != nil {
		t.Fatalf("the simulated actions keep the catalog's contracts: %v", err)
	}
}

func TestApplyIsIdempotentAndPersisted(t *testing.T) {
	c, path := cloud(t)
	ctx := context.Background()
	snap := act(t, c, "gcp.compute.snapshot_instance_disks")
	r := req("snapshot", map[string]cty.Value{"instance": cty.StringVal(vm), "destination_project": cty.NullVal(cty.String), "labels": cty.NullVal(cty.Map(cty.String))})
	// Nothing is made yet: Recover says the attempt did not take effect.
	if _, took, err := snap.(action.Recoverer).Recover(ctx, r); err != nil || took {
		t.Fatalf("recover before apply: %v %v", took, err)
	}
	first, err := snap.Apply(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	second, err := snap.Apply(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Outputs["snapshots"].RawEquals(second.Outputs["snapshots"]) || len(c.Ops()) != 1 {
		t.Errorf("a second apply made new snapshots: %d ops", len(c.Ops()))
	}
	if _, took, _ := snap.(action.Recoverer).Recover(ctx, r); !took {
		t.Error("recover after apply should find the snapshots")
	}
	iso := act(t, c, "gcp.compute.isolate_instance")
	ir := req("isolate", map[string]cty.Value{"instance": cty.StringVal("projects/acme-prod/zones/europe-west1-b/instances/web-1"), "allow_ranges": cty.NullVal(cty.List(cty.String)), "remove_external_access": cty.NullVal(cty.Bool)})
	for i := 0; i < 2; i++ {
		if _, err := iso.Apply(ctx, ir); err != nil {
			t.Fatal(err)
		}
	}
	if ch, _ := iso.Plan(ctx, ir); !ch.NoOp {
		t.Error("planning an isolated VM again should be a no-op")
	}
	if len(c.Ops()) != 2 {
		t.Errorf("ops: %+v", c.Ops())
	}
	// The state file has it all.
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Ops()) != 2 || back.Inventory().Get(vm).Facets.PublicIPs != nil {
		t.Errorf("persisted state: %d ops, %v", len(back.Ops()), back.Inventory().Get(vm).Facets.PublicIPs)
	}
}

func TestNotFoundAndAmbiguous(t *testing.T) {
	c, _ := cloud(t)
	if _, err := c.find("i-nope", "instance"); err == nil {
		t.Error("want not found")
	}
	if _, err := c.find("web-1", "instance"); err == nil {
		t.Error("web-1 names a GCP and an AWS instance: want an ambiguity error")
	}
	if a, err := c.find("i-0a1b2c3d4e5f60001", "instance"); err != nil || a.Scope != "111111111111" {
		t.Errorf("bare id: %v %v", a, err)
	}
}

// Applying a runbook again for the same incident finds the evidence the
// first run took, as the real providers do; another incident takes its own.
func TestSnapshotsKeyedByIncident(t *testing.T) {
	inv, err := inventory.Load(context.Background(), testutil.Path(t, "examples", "inventory"))
	if err != nil {
		t.Fatal(err)
	}
	c := New(inv, "")
	var snap action.Action
	for _, a := range c.Provider().Actions() {
		if a.Spec().Name == "aws.ec2.snapshot_instance_volumes" {
			snap = a
		}
	}
	req := func(run, incident string) *action.Request {
		return &action.Request{RunID: run, Step: "snapshot", Incident: incident, Args: map[string]cty.Value{
			"instance": cty.StringVal("arn:aws:ec2:eu-west-1:111111111111:instance/i-0a1b2c3d4e5f60001"),
			"tags":     cty.MapVal(map[string]cty.Value{"incident": cty.StringVal(incident)})}}
	}
	count := func() int {
		n := 0
		for _, a := range c.Inventory().Assets() {
			if a.Kind == asset.KindSnapshot {
				n++
			}
		}
		return n
	}
	for _, r := range []*action.Request{req("run-1", "INC-7"), req("run-2", "INC-7")} {
		if _, err := snap.Apply(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 2 {
		t.Errorf("%d snapshots after two runs for one incident, want 2 (one per volume)", n)
	}
	if _, err := snap.Apply(context.Background(), req("run-3", "INC-8")); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 4 {
		t.Errorf("%d snapshots after a second incident, want 4", n)
	}
}

// Recover of any action that writes says whether the step's change was
// made: the change and its log entry are one write.
func TestRecoverEveryWrite(t *testing.T) {
	c, _ := cloud(t)
	ctx := context.Background()
	iso := act(t, c, "aws.ec2.isolate_instance").(action.Recoverer)
	r := req("isolate", map[string]cty.Value{"instance": cty.StringVal("arn:aws:ec2:eu-west-1:111111111111:instance/i-0a1b2c3d4e5f60001")})
	if _, took, err := iso.Recover(ctx, r); err != nil || took {
		t.Fatalf("before: %v %v", took, err)
	}
	if _, err := act(t, c, "aws.ec2.isolate_instance").Apply(ctx, r); err != nil {
		t.Fatal(err)
	}
	n := len(c.Ops())
	res, took, err := iso.Recover(ctx, r)
	if err != nil || !took || res.Outputs["isolation_group"].AsString() == "" || len(c.Ops()) != n {
		t.Errorf("after: %v %v %v, %d ops", res, took, err, len(c.Ops()))
	}
	for _, a := range c.Provider().Actions() {
		if f := a.(*action.Func); f.RecoverFn == nil && a.Spec().Effect != action.Read {
			t.Errorf("%s cannot tell whether an attempt took effect", a.Spec().Name)
		}
	}
}

// The rehearsal distrusts a planted forensics rule as the real provider
// does, refuses forensics ranges that cover the internet, and restricts a
// rule open through two halves.
func TestRehearsalSharesTheInternetTest(t *testing.T) {
	ctx := context.Background()
	c, _ := cloud(t)
	planted := &asset.Asset{ID: "//compute.googleapis.com/projects/acme-prod/global/firewalls/vigil-quarantine-allow-forensics-prod-vpc",
		Provider: asset.GCP, Type: "compute.googleapis.com/Firewall", Kind: asset.KindFirewall, Name: "vigil-quarantine-allow-forensics-prod-vpc",
		Scope: "acme-prod", Region: "global", Source: "sim"}
	planted.Facets = asset.Facets{Network: "projects/acme-prod/global/networks/prod-vpc", TargetTags: []string{QuarantineTag},
		Ingress: []asset.Rule{{Sources: []string{"0.0.0.0/1", "128.0.0.0/1"}, Protocol: "all", Action: "allow", Enabled: true}}}
	c.inv.Put(planted)
	args := map[string]cty.Value{"instance": cty.StringVal(vm), "allow_ranges": cty.ListVal([]cty.Value{cty.StringVal("10.99.0.0/24")})}
	ch, err := act(t, c, "gcp.compute.isolate_instance").Plan(ctx, req("isolate", args))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range ch.Details {
		found = found || d == "drop forensics range 0.0.0.0/1 of the existing rule vigil-quarantine-allow-forensics-prod-vpc: 0.0.0.0/1 is broader than a /8: the allow at priority 0 would let that much of the internet past the deny"
	}
	if !found {
		t.Errorf("plan: %v", ch.Details)
	}
	if _, err := act(t, c, "gcp.compute.isolate_instance").Apply(ctx, req("isolate", args)); err != nil {
		t.Fatal(err)
	}
	if got := c.get(planted.ID).Facets.Ingress[0].Sources; len(got) != 1 || got[0] != "10.99.0.0/24" {
		t.Errorf("forensics ranges %v", got)
	}
	if c.get("//compute.googleapis.com/projects/acme-prod/global/firewalls/vigil-quarantine-deny-in-prod-vpc") == nil {
		t.Error("no deny-in")
	}
	halves := map[string]cty.Value{"instance": cty.StringVal(vm), "allow_ranges": cty.ListVal([]cty.Value{cty.StringVal("0.0.0.0/1"), cty.StringVal("128.0.0.0/1")})}
	if _, err := act(t, c, "gcp.compute.isolate_instance").Plan(ctx, req("isolate2", halves)); err == nil {
		t.Error("forensics halves accepted")
	}
}
