package inventory

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/internal/testutil"
)

func loadPlan(t *testing.T, path string) (map[string]*asset.Asset, *PlanStats) {
	t.Helper()
	as, stats, err := LoadPlan(path)
	if err != nil {
		t.Fatalf("LoadPlan(%s): %v", path, err)
	}
	m := map[string]*asset.Asset{}
	for _, a := range as {
		if _, dup := m[a.ID]; dup {
			t.Errorf("duplicate asset %s", a.ID)
		}
		m[a.ID] = a
	}
	return m, stats
}

func TestAllFixturePlansLoad(t *testing.T) {
	tests := []struct {
		path   []string
		assets int
	}{
		{[]string{"fugue__regula", "pkg", "loader", "test_inputs", "data", "tfplan.0.15.json"}, 4},
		{[]string{"fugue__regula", "rego", "tests", "examples", "aws", "inputs", "ec2_t2_only_infra.json"}, 7}, // + 1 data source
		{[]string{"fugue__regula", "rego", "tests", "rules", "tf", "aws", "security_group", "inputs", "ingress_anywhere_infra.json"}, 5},
		{[]string{"fugue__regula", "rego", "tests", "rules", "tf", "google", "compute", "inputs", "firewall_no_ingress_22_infra.json"}, 5},
		{[]string{"terraform-compliance__cli", "tests", "functional", "test_multiple_failures", "plan.out.json"}, 3},
		{[]string{"terraform-compliance__cli", "tests", "functional", "test_issue_400", "plan.out.json"}, 9},
		{[]string{"terraform-compliance__cli", "tests", "functional", "test_issue-190", "plan.out.json"}, 3},
		{[]string{"GoogleCloudPlatform__terraform-validator", "testdata", "templates", "example_compute_network.tfplan.json"}, 1},
		{[]string{"GoogleCloudPlatform__terraform-validator", "testdata", "templates", "full_compute_firewall.tfplan.json"}, 4},
		{[]string{"GoogleCloudPlatform__terraform-validator", "testdata", "templates", "full_compute_instance.tfplan.json"}, 2},
		{[]string{"GoogleCloudPlatform__terraform-validator", "testdata", "templates", "full_storage_bucket.tfplan.json"}, 1},
		{[]string{"bridgecrewio__checkov", "tests", "terraform", "runner", "resources", "plan_with_providers", "tfplan.json"}, 0},
		{[]string{"open-policy-agent__conftest", "examples", "hcl1", "gke-show.json"}, 2},
	}
	for _, tt := range tests {
		m, _ := loadPlan(t, testutil.Fixture(t, tt.path...))
		if len(m) != tt.assets {
			t.Errorf("%s: %d assets, want %d", tt.path[len(tt.path)-1], len(m), tt.assets)
		}
	}
}

func TestAWSSecurityGroupSemantics(t *testing.T) {
	m, stats := loadPlan(t, testutil.Fixture(t, "terraform-compliance__cli", "tests", "functional", "test_issue_400", "plan.out.json"))
	// Inline ingress; egress protocol -1 means all ports.
	g := m["aws_security_group.example_group"]
	if g.Kind != "firewall" || g.Region != "global" || g.Change.Action != "create" {
		t.Errorf("example_group: %+v", g)
	}
	want := []asset.Rule{{Sources: []string{"0.0.0.0/0"}, Protocol: "tcp", Ports: []asset.PortRange{{From: 443, To: 443}}, Action: "allow", Enabled: true}}
	if diff := cmp.Diff(want, g.Facets.Ingress, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".SourceGroups" }, cmp.Ignore())); diff != "" {
		t.Errorf("ingress (-want +got):\n%s", diff)
	}
	if e := g.Facets.Egress[0]; e.Protocol != "all" || !cmp.Equal(e.Ports, asset.AllPorts) {
		t.Errorf("egress -1: %+v", e)
	}
	// from_port 443 to_port 22 is inverted; vigil judges the span 22-443.
	if p := m["aws_security_group.example_group_22"].Facets.Ingress[0].Ports; !cmp.Equal(p, []asset.PortRange{{From: 22, To: 443}}) {
		t.Errorf("inverted range: %+v", p)
	}
	// A standalone rule is an asset of its own, naming its group.
	r := m["aws_security_group_rule.example_rule_22"]
	if r.Kind != "firewall" || r.Facets.Parent != "sg-123456" || !cmp.Equal(r.Facets.Ingress[0].Ports, []asset.PortRange{{From: 0, To: 22}}) {
		t.Errorf("rule: %+v", r)
	}
	for _, typ := range []string{"aws_db_security_group", "aws_elasticache_security_group", "aws_redshift_security_group"} {
		if stats.Unmapped[typ] != 1 {
			t.Errorf("%s should be listed as not understood: %v", typ, stats.Unmapped)
		}
	}
}

func TestModuleAddressesAndReferences(t *testing.T) {
	m, _ := loadPlan(t, testutil.Fixture(t, "terraform-compliance__cli", "tests", "functional", "test_issue-190", "plan.out.json"))
	alb := m["module.mysg.aws_security_group.alb"]
	if alb == nil || alb.Region != "us-east-1" {
		t.Fatalf("module resource (region from the root provider, inherited): %+v", alb)
	}
	// security_group_id = module.mysg.sg_id, an output referencing
	// aws_security_group.alb inside the module.
	if p := m["aws_security_group_rule.elb-ingress-ssh"].Facets.Parent; p != "module.mysg.aws_security_group.alb" {
		t.Errorf("rule parent resolved through the module output: %q", p)
	}
}

func TestGoogleFirewallSemantics(t *testing.T) {
	m, _ := loadPlan(t, testutil.Fixture(t, "fugue__regula", "rego", "tests", "rules", "tf", "google", "compute", "inputs", "firewall_no_ingress_22_infra.json"))
	// No direction: INGRESS. No source ranges, tags or service accounts, and
	// the configuration sets none: Google applies 0.0.0.0/0.
	v2 := m["google_compute_firewall.valid-rule-2"]
	if len(v2.Facets.Ingress) != 2 || !cmp.Equal(v2.Facets.Ingress[0].Sources, []string{"0.0.0.0/0"}) || len(v2.Facets.Ingress[0].Unknown) != 0 {
		t.Errorf("valid-rule-2 (terraform-provider-google#6789): %+v", v2.Facets.Ingress)
	}
	r1 := m["google_compute_firewall.invalid-rule-1"].Facets.Ingress[0]
	if !cmp.Equal(r1.Ports, []asset.PortRange{{From: 22, To: 22}, {From: 8080, To: 8080}, {From: 1000, To: 2000}}) || r1.Priority != 1000 || !r1.Enabled {
		t.Errorf("invalid-rule-1: %+v", r1)
	}
	// Source tags and ranges together: still open to the ranges.
	if v1 := m["google_compute_firewall.valid-rule-1"].Facets.Ingress[0]; !cmp.Equal(v1.Sources, []string{"0.0.0.0/0"}) || !cmp.Equal(v1.SourceTags, []string{"web"}) {
		t.Errorf("valid-rule-1: %+v", v1)
	}
	n := m["google_compute_network.default"]
	if n.Kind != "network" || n.Facets.Default == nil || *n.Facets.Default || n.Name != "test-network" {
		t.Errorf("a network named test-network is not the default network: %+v", n)
	}

	m, _ = loadPlan(t, testutil.Fixture(t, "GoogleCloudPlatform__terraform-validator", "testdata", "templates", "full_compute_firewall.tfplan.json"))
	f1 := m["google_compute_firewall.full_list_default_1"]
	if f1.Facets.Ingress[0].Enabled || f1.Facets.Ingress[0].Priority != 42 || len(f1.Facets.Ingress[0].Sources) != 0 {
		t.Errorf("disabled rule with source service accounts only: %+v", f1.Facets.Ingress[0])
	}
	if f2 := m["google_compute_firewall.full_list_default_2"]; f2.Facets.Ingress[0].Action != "deny" {
		t.Errorf("deny rule: %+v", f2.Facets.Ingress)
	}
}

func TestGoogleInstanceAndBucket(t *testing.T) {
	m, _ := loadPlan(t, testutil.Fixture(t, "GoogleCloudPlatform__terraform-validator", "testdata", "templates", "full_compute_instance.tfplan.json"))
	i1 := m["google_compute_instance.full_list_default_1"]
	// Three access_config blocks: one with nat_ip, two ephemeral.
	if want := []string{"192.168.0.42", knownAfterApply, knownAfterApply}; !cmp.Equal(i1.Facets.PublicIPs, want) {
		t.Errorf("public IPs %v, want %v", i1.Facets.PublicIPs, want)
	}
	if i1.Region != "us-central1" || i1.Labels["label_foo1"] != "label-bar1" || i1.Name != "test1" {
		t.Errorf("instance: region %q labels %v name %q", i1.Region, i1.Labels, i1.Name)
	}
	if i2 := m["google_compute_instance.full_list_default_2"]; len(i2.Facets.PublicIPs) != 0 {
		t.Errorf("no access config, no public IP: %v", i2.Facets.PublicIPs)
	}
	m, _ = loadPlan(t, testutil.Fixture(t, "GoogleCloudPlatform__terraform-validator", "testdata", "templates", "full_storage_bucket.tfplan.json"))
	b := m["google_storage_bucket.full-list-default"]
	if b.Kind != "bucket" || b.Region != "eu" || b.Facets.Public == nil || *b.Facets.Public {
		t.Errorf("bucket: %+v", b)
	}
}

func TestExamplePlan(t *testing.T) {
	m, stats := loadPlan(t, testutil.Path(t, "examples", "terraform", "plan.json"))
	// Provider alias: the reports bucket uses aws.us; the rest var.region.
	if r := m["aws_s3_bucket.reports"].Region; r != "us-east-1" {
		t.Errorf("alias region: %q", r)
	}
	if r := m["aws_vpc.main"].Region; r != "eu-west-1" {
		t.Errorf("region from var.region: %q", r)
	}
	// for_each keys and count indexes stay in the id.
	for _, id := range []string{`module.edge.aws_security_group.lb["a"]`, `module.edge.aws_security_group.lb["b"]`, "aws_instance.web[0]", "aws_instance.web[1]"} {
		if m[id] == nil {
			t.Errorf("missing %s", id)
		}
	}
	if m["aws_instance.web[1]"].Name != "web-1" {
		t.Errorf("AWS names come from the Name tag: %q", m["aws_instance.web[1]"].Name)
	}
	// The deleted database is not judged.
	if m["aws_db_instance.legacy"] != nil || stats.Deleted != 1 {
		t.Errorf("deleted resource judged: %v", stats)
	}
	// Unknown CIDRs are recorded on the rule.
	vpn := m["aws_security_group.vpn"].Facets.Ingress[0]
	if !cmp.Equal(vpn.Unknown, []string{"sources"}) {
		t.Errorf("vpn rule unknowns: %+v", vpn)
	}
	if !strings.Contains(strings.Join(m["aws_security_group.vpn"].Change.Unknown, " "), "ingress[0].cidr_blocks") {
		t.Errorf("change.unknown: %v", m["aws_security_group.vpn"].Change.Unknown)
	}
	// Configured source_ranges from a resource created in the same plan.
	if u := m["google_compute_firewall.office_ssh"].Facets.Ingress[0].Unknown; !cmp.Equal(u, []string{"sources"}) {
		t.Errorf("office_ssh unknowns: %v", u)
	}
	if n := m["google_compute_firewall.office_ssh"].Facets.Network; n != "projects/acme-prod/global/networks/prod-vpc" {
		t.Errorf("network from the provider project: %q", n)
	}
	// Bucket helper resources merge into their buckets.
	rep := m["aws_s3_bucket.reports"]
	if rep.Facets.Public == nil || !*rep.Facets.Public || rep.Facets.PublicVia[0].Via != "policy" {
		t.Errorf("reports bucket: %+v", rep.Facets)
	}
	logs := m["aws_s3_bucket.logs"]
	if logs.Facets.PublicAccessBlock == nil || !logs.Facets.PublicAccessBlock.RestrictPublicBuckets {
		t.Errorf("logs bucket PAB: %+v", logs.Facets)
	}
	if m["aws_s3_bucket_public_access_block.logs"] != nil || m["google_storage_bucket_iam_member.exports_public"] != nil {
		t.Error("helpers whose bucket is in the plan are merged, not separate assets")
	}
	if ex := m["google_storage_bucket.exports"]; ex.Facets.Public == nil || !*ex.Facets.Public {
		t.Errorf("allUsers IAM member makes the bucket public: %+v", ex.Facets)
	}
	tr := m["aws_cloudtrail.main"]
	if tr.Kind != "trail" || !*tr.Facets.MultiRegion || !*tr.Facets.Logging {
		t.Errorf("trail: %+v", tr.Facets)
	}
}

func TestPlanErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := dir + "/" + name
		os.WriteFile(p, []byte(content), 0o644)
		return p
	}
	if _, _, err := LoadPlan(write("v9.json", `{"format_version": "9.0", "resource_changes": []}`)); err == nil || !strings.Contains(err.Error(), `format_version "9.0" is not supported`) {
		t.Errorf("future format: %v", err)
	}
	_, _, err := LoadPlan(write("broken.json", "{\n\"format_version\": \"1.2\",\n\"resource_changes\": [\n{\"address\": }\n]}"))
	if pe, ok := err.(*ParseError); !ok || pe.Line != 4 {
		t.Errorf("broken plan: %v", err)
	}
	_, _, err = LoadPlan(write("badport.json", `{"format_version":"1.2","resource_changes":[{"address":"google_compute_firewall.x","mode":"managed","type":"google_compute_firewall","name":"x","change":{"actions":["create"],"after":{"allow":[{"protocol":"tcp","ports":["ssh"]}]}}}]}`))
	if err == nil || !strings.Contains(err.Error(), "google_compute_firewall.x") {
		t.Errorf("bad port names the resource: %v", err)
	}
}

func TestStripIndex(t *testing.T) {
	for in, want := range map[string]string{
		`aws_instance.web[0]`:                 `aws_instance.web`,
		`module.a["x.y"].aws_vpc.v`:           `module.a.aws_vpc.v`,
		`module.a[1].module.b["k"].aws_vpc.v`: `module.a.module.b.aws_vpc.v`,
		`module.a["with \"quote]"].aws_vpc.v`: `module.a.aws_vpc.v`,
		`aws_security_group.lb`:               `aws_security_group.lb`,
	} {
		if got := stripIndex(in); got != want {
			t.Errorf("stripIndex(%s) = %s, want %s", in, got, want)
		}
	}
}

func FuzzLoadPlan(f *testing.F) {
	seedFiles(f,
		testutil.Path(f, "examples", "terraform", "plan.json"),
		testutil.Path(f, "testdata", "plans", "constructed", "aws-v5-default-sg.json"),
		testutil.Path(f, "testdata", "plans", "constructed", "google-v6-bucket-acl.json"),
		testutil.Path(f, "testdata", "plans", "bridgecrewio__checkov", "tests", "common", "runner_registry", "plan_with_hcl_for_enrichment", "tfplan.json"),
		testutil.Fixture(f, "terraform-compliance__cli", "tests", "functional", "test_issue-190", "plan.out.json"),
		testutil.Fixture(f, "fugue__regula", "rego", "tests", "rules", "tf", "google", "compute", "inputs", "firewall_no_ingress_22_infra.json"),
	)
	f.Fuzz(func(t *testing.T, content []byte) {
		p := t.TempDir() + "/plan.json"
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		as, _, err := LoadPlan(p)
		if err == nil {
			for _, a := range as {
				if a.ID == "" || a.Kind == "" {
					t.Errorf("asset without id or kind: %+v", a)
				}
			}
		}
	})
}

// A plan's resources are judged on several workers; a failure stops the
// ones after it, and the error is the first failing resource's in plan
// order, as when judged one by one.
func TestPlanJudgedConcurrentlyFirstErrorInOrder(t *testing.T) {
	order := func(workers int, fail func(id string) bool) ([]string, error) {
		fs, err := Open("../../examples/terraform/plan.json")
		if err != nil {
			t.Fatal(err)
		}
		fs.Workers = workers
		var mu sync.Mutex
		var seen []string
		err = fs.Scan(context.Background(), func(a *asset.Asset) error {
			mu.Lock()
			seen = append(seen, a.ID)
			mu.Unlock()
			if fail != nil && fail(a.ID) {
				return errors.New("failed on " + a.ID)
			}
			return nil
		})
		return seen, err
	}
	serial, err := order(1, nil)
	if err != nil || len(serial) < 6 {
		t.Fatalf("%d resources, %v", len(serial), err)
	}
	all, err := order(4, nil)
	if err != nil || len(all) != len(serial) {
		t.Fatalf("4 workers: %d resources, want %d; %v", len(all), len(serial), err)
	}
	third, fifth := serial[2], serial[4]
	for range 20 {
		seen, err := order(4, func(id string) bool { return id == third || id == fifth })
		if err == nil || err.Error() != "failed on "+third {
			t.Fatalf("error %v, want the third resource's (%s)", err, third)
		}
		for _, id := range serial[:3] {
			if !slices.Contains(seen, id) {
				t.Errorf("%s, before the failure, was not judged", id)
			}
		}
	}
}
