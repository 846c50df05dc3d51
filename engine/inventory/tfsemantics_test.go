package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// planWith writes a one-file plan from resource changes and configuration
// resources (JSON fragments) and loads it.
func planWith(t *testing.T, changes, config string) (map[string]*asset.Asset, *PlanStats) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "plan.json")
	doc := `{"format_version":"1.2","terraform_version":"1.9.8","resource_changes":[` + changes + `],
	"configuration":{"provider_config":{"aws":{"name":"aws","expressions":{"region":{"constant_value":"eu-west-1"}}}},"root_module":{"resources":[` + config + `]}}}`
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return loadPlan(t, p)
}

func TestDefaultsTableHasSources(t *testing.T) {
	seen := map[[2]string]bool{}
	for _, d := range tfDefaults {
		if !strings.HasPrefix(d.Source, "https://") || d.Means == "" || d.Type == "" || d.Attr == "" {
			t.Errorf("%s.%s: needs a meaning and a documentation URL: %+v", d.Type, d.Attr, d)
		}
		k := [2]string{d.Type, d.Attr}
		if seen[k] {
			t.Errorf("%s.%s twice", d.Type, d.Attr)
		}
		seen[k] = true
	}
	// what the mapping reads through defaultFor
	for _, k := range [][2]string{
		{"aws_cloudtrail", "enable_logging"}, {"aws_guardduty_detector", "enable"}, {"aws_subnet", "map_public_ip_on_launch"},
		{"aws_instance", "subnet_id"}, {"aws_s3_bucket", "acl"}, {"aws_security_group", "ingress"}, {"aws_default_security_group", "ingress"},
	} {
		if !seen[k] {
			t.Errorf("no default for %s.%s", k[0], k[1])
		}
	}
}

// Provider-computed unknowns are not findings; configured ones are.
func TestUnknownsThatMeanSomething(t *testing.T) {
	bucket := `{"address":"aws_s3_bucket.%s","mode":"managed","type":"aws_s3_bucket","name":"%[1]s","change":{"actions":["create"],"after":{"bucket":"%[1]s"},"after_unknown":{"acl":true,"grant":true,"policy":true,"id":true}}}`
	sg := `{"address":"aws_security_group.%s","mode":"managed","type":"aws_security_group","name":"%[1]s","change":{"actions":["create"],"after":{"name":"%[1]s"},"after_unknown":{"ingress":true,"egress":true,"id":true}}}`
	f := func(s, name string) string {
		return strings.ReplaceAll(strings.ReplaceAll(s, "%[1]s", name), "%s", name)
	}
	m, _ := planWith(t,
		f(bucket, "plain")+","+f(bucket, "computed_acl")+","+f(sg, "norules")+","+f(sg, "dynamic"),
		`{"address":"aws_s3_bucket.plain","mode":"managed","type":"aws_s3_bucket","name":"plain","provider_config_key":"aws","expressions":{"bucket":{"constant_value":"plain"}}},
		 {"address":"aws_s3_bucket.computed_acl","mode":"managed","type":"aws_s3_bucket","name":"computed_acl","provider_config_key":"aws","expressions":{"acl":{"references":["var.acl"]}}},
		 {"address":"aws_security_group.norules","mode":"managed","type":"aws_security_group","name":"norules","provider_config_key":"aws","expressions":{"name":{"constant_value":"norules"}}},
		 {"address":"aws_security_group.dynamic","mode":"managed","type":"aws_security_group","name":"dynamic","provider_config_key":"aws","expressions":{"ingress":{"references":["aws_eip.x"]}}}`)
	if b := m["aws_s3_bucket.plain"].Facets; b.Public == nil || *b.Public || len(b.Unknown) > 0 {
		t.Errorf("a bucket that sets nothing is private: %+v", b)
	}
	if b := m["aws_s3_bucket.computed_acl"].Facets; b.Public != nil || !cmp.Equal(b.Unknown, []string{"public"}) {
		t.Errorf("an acl set from a variable known at apply is unknown: %+v", b)
	}
	if r := m["aws_security_group.norules"].Facets.Ingress; len(r) != 0 {
		t.Errorf("a group without in-line rules has none: %+v", r)
	}
	if r := m["aws_security_group.dynamic"].Facets.Ingress; len(r) != 1 || !cmp.Equal(r[0].Unknown, []string{"sources", "ports", "protocol"}) {
		t.Errorf("configured rules known at apply are unknown: %+v", r)
	}
	// Without a configuration section, an unknown stays unknown.
	m, _ = planWith(t, f(bucket, "plain"), "")
	if b := m["aws_s3_bucket.plain"].Facets; b.Public != nil {
		t.Errorf("without configuration: %+v", b)
	}
}

// A dynamic block is missing from the plan's configuration section; the
// .tf source shows it.
func TestDynamicBlockFromSource(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`resource "aws_security_group" "peers" {
  name = "peers"
  dynamic "ingress" {
    for_each = aws_eip.peer
    content {
      from_port   = 22
      to_port     = 22
      protocol    = "tcp"
      cidr_blocks = ["${ingress.value.public_ip}/32"]
    }
  }
}
`), 0o644)
	plan := filepath.Join(dir, "plan.json")
	os.WriteFile(plan, []byte(`{"format_version":"1.2","resource_changes":[{"address":"aws_security_group.peers","mode":"managed","type":"aws_security_group","name":"peers","change":{"actions":["create"],"after":{"name":"peers"},"after_unknown":{"ingress":true}}}],
"configuration":{"root_module":{"resources":[{"address":"aws_security_group.peers","mode":"managed","type":"aws_security_group","name":"peers","expressions":{"name":{"constant_value":"peers"}}}]}}}`), 0o644)
	// Without the source the plan cannot tell the dynamic block from an
	// unset list: the unset default applies, and not silently: a note
	// names the resource and the list, for the warning.
	as, stats, err := LoadPlan(plan)
	if err != nil || len(as[0].Facets.Ingress) != 0 {
		t.Fatalf("without the source: %v %+v", err, as)
	}
	if len(stats.Notes) != 1 || stats.Notes[0].Address != "aws_security_group.peers" || !cmp.Equal(stats.Notes[0].Attrs, []string{"ingress"}) {
		t.Errorf("the assumption is noted: %+v", stats.Notes)
	}
	src, diags := LoadTFSource(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	as, stats, err = LoadPlanWith(plan, src)
	if err != nil || len(as[0].Facets.Ingress) != 1 || len(as[0].Facets.Ingress[0].Unknown) == 0 {
		t.Errorf("a dynamic ingress block known at apply is unknown: %v %+v", err, as)
	}
	if len(stats.Notes) != 0 {
		t.Errorf("with the source nothing is assumed: %+v", stats.Notes)
	}
}

// A bucket policy that is the json of an aws_iam_policy_document read at
// apply is judged from the statements the plan holds.
func TestPolicyFromDataSource(t *testing.T) {
	policy := func(name, principals string) (string, string) {
		ch := `{"address":"aws_s3_bucket_policy.` + name + `","mode":"managed","type":"aws_s3_bucket_policy","name":"` + name + `","change":{"actions":["create"],"after":{"bucket":"` + name + `"},"after_unknown":{"policy":true,"id":true}}},
{"address":"data.aws_iam_policy_document.` + name + `","mode":"data","type":"aws_iam_policy_document","name":"` + name + `","change":{"actions":["read"],"after":{"statement":[{"actions":["s3:GetObject"],"effect":"Allow","principals":` + principals + `,"condition":[]}]},"after_unknown":{"json":true,"statement":[{"resources":[true]}]}}}`
		cfg := `{"address":"aws_s3_bucket_policy.` + name + `","mode":"managed","type":"aws_s3_bucket_policy","name":"` + name + `","expressions":{"bucket":{"constant_value":"` + name + `"},"policy":{"references":["data.aws_iam_policy_document.` + name + `.json","data.aws_iam_policy_document.` + name + `"]}}}`
		return ch, cfg
	}
	c1, g1 := policy("open", `[{"type":"*","identifiers":["*"]}]`)
	c2, g2 := policy("partner", `[{"type":"AWS","identifiers":["arn:aws:iam::111122223333:root"]}]`)
	c3, g3 := policy("later", `[{"type":"AWS"}]`)
	c3 = strings.Replace(c3, `"statement":[{"resources":[true]}]`, `"statement":[{"principals":[{"identifiers":true}]}]`, 1)
	m, _ := planWith(t, c1+","+c2+","+c3, g1+","+g2+","+g3)
	if f := m["aws_s3_bucket_policy.open"].Facets; f.Public == nil || !*f.Public || !strings.Contains(f.PublicVia[0].Detail, "from data.aws_iam_policy_document.open") {
		t.Errorf("Principal * in the document: %+v", f)
	}
	if f := m["aws_s3_bucket_policy.partner"].Facets; f.Public == nil || *f.Public {
		t.Errorf("one partner account: %+v", f)
	}
	if f := m["aws_s3_bucket_policy.later"].Facets; f.Public != nil || !cmp.Equal(f.Unknown, []string{"public"}) {
		t.Errorf("principals known at apply: %+v", f)
	}
	// for_each documents that disagree: which one a policy picks is not in the plan
	c4, g4 := policy("pick", `[{"type":"*","identifiers":["*"]}]`)
	c4 = strings.Replace(c4, `"data.aws_iam_policy_document.pick"`, `"data.aws_iam_policy_document.pick[\"a\"]"`, 1)
	other := strings.NewReplacer(`aws_iam_policy_document.pick[\"a\"]`, `aws_iam_policy_document.pick[\"b\"]`, `{"type":"*","identifiers":["*"]}`, `{"type":"AWS","identifiers":["111122223333"]}`).Replace(c4[strings.Index(c4, "\n")+1:])
	if !strings.Contains(other, `pick[\"b\"]`) || strings.Contains(other, `"*"`) {
		t.Fatalf("the second instance: %s", other)
	}
	m, _ = planWith(t, c4, g4)
	if f := m["aws_s3_bucket_policy.pick"].Facets; f.Public == nil || !*f.Public {
		t.Errorf("one public instance: %+v", f)
	}
	m, _ = planWith(t, c4+","+other, g4)
	if f := m["aws_s3_bucket_policy.pick"].Facets; f.Public != nil || !cmp.Equal(f.Unknown, []string{"public"}) {
		t.Errorf("disagreeing for_each documents: %+v", f)
	}
}

// Unchanged resources are not judged but inform those that change.
func TestNoOpResourcesAreContext(t *testing.T) {
	m, stats := planWith(t,
		`{"address":"aws_s3_bucket.site","mode":"managed","type":"aws_s3_bucket","name":"site","change":{"actions":["no-op"],"after":{"bucket":"site","acl":"private","tags":{"owner":"web"}},"after_unknown":{}}},
		 {"address":"aws_s3_bucket_policy.site","mode":"managed","type":"aws_s3_bucket_policy","name":"site","change":{"actions":["create"],"after":{"bucket":"site","policy":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\"}]}"},"after_unknown":{}}},
		 {"address":"aws_security_group.old","mode":"managed","type":"aws_security_group","name":"old","previous_address":"aws_security_group.legacy","change":{"actions":["no-op"],"after":{"name":"old","ingress":[{"cidr_blocks":["0.0.0.0/0"],"from_port":22,"to_port":22,"protocol":"tcp"}]},"after_unknown":{}}}`,
		`{"address":"aws_s3_bucket_policy.site","mode":"managed","type":"aws_s3_bucket_policy","name":"site","expressions":{"bucket":{"references":["aws_s3_bucket.site.id","aws_s3_bucket.site"]},"policy":{"constant_value":"x"}}}`)
	if len(m) != 1 || stats.Unchanged != 2 || stats.Actions["create"] != 1 {
		t.Fatalf("assets %v, stats %+v", m, stats)
	}
	p := m["aws_s3_bucket_policy.site"]
	if p.Kind != asset.KindBucket || p.Name != "site" || p.Labels["owner"] != "web" || p.Facets.Public == nil || !*p.Facets.Public {
		t.Errorf("the new policy stands for the unchanged bucket: %+v", p)
	}
	// the same on Google: a new allUsers member of an unchanged bucket
	m, _ = planWith(t,
		`{"address":"google_storage_bucket.b","mode":"managed","type":"google_storage_bucket","name":"b","change":{"actions":["no-op"],"after":{"name":"b"},"after_unknown":{}}},
		 {"address":"google_storage_bucket_iam_member.all","mode":"managed","type":"google_storage_bucket_iam_member","name":"all","change":{"actions":["create"],"after":{"bucket":"b","role":"roles/storage.objectViewer","member":"allUsers"},"after_unknown":{"etag":true}}}`,
		`{"address":"google_storage_bucket_iam_member.all","mode":"managed","type":"google_storage_bucket_iam_member","name":"all","expressions":{"bucket":{"references":["google_storage_bucket.b.name","google_storage_bucket.b"]}}}`)
	if len(m) != 1 || m["google_storage_bucket_iam_member.all"] == nil || !*m["google_storage_bucket_iam_member.all"].Facets.Public {
		t.Errorf("a new member of an unchanged GCS bucket: %v", m)
	}
}

func TestPlanFormatsAndErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		return p
	}
	// a nested provider block (helm's kubernetes {}) next to arguments
	p := write("helm.json", `{"format_version":"1.2","resource_changes":[{"address":"aws_vpc.a","mode":"managed","type":"aws_vpc","name":"a","change":{"actions":["create"],"after":{},"after_unknown":{"id":true}}}],
"configuration":{"provider_config":{"helm":{"name":"helm","expressions":{"kubernetes":[{"host":{"references":["var.h"]}}]}},"aws":{"name":"aws","expressions":{"assume_role":[{"role_arn":{"constant_value":"arn"}}],"region":{"constant_value":"us-west-2"}}}},
"root_module":{"resources":[{"address":"aws_vpc.a","mode":"managed","type":"aws_vpc","name":"a","provider_config_key":"aws"}]}}}`)
	m, _ := loadPlan(t, p)
	if m["aws_vpc.a"].Region != "us-west-2" {
		t.Errorf("region next to a nested block: %q", m["aws_vpc.a"].Region)
	}
	if _, _, err := LoadPlan(write("state.json", `{"format_version":"1.0","terraform_version":"1.9.0","values":{"root_module":{}}}`)); err == nil || !strings.Contains(err.Error(), "state, not of a plan") {
		t.Errorf("state JSON: %v", err)
	}
	if _, _, err := LoadPlan(write("plan.out", "PK\x03\x04binary")); err == nil || !strings.Contains(err.Error(), "this is a binary plan: run `terraform show -json") {
		t.Errorf("binary plan: %v", err)
	}
	if _, err := Detect(filepath.Join(dir, "plan.out")); err == nil || !strings.Contains(err.Error(), "binary plan") {
		t.Errorf("Detect on a binary plan: %v", err)
	}
	// Windows tools: a UTF-8 byte order mark is skipped; UTF-16 gets the fix
	if _, _, err := LoadPlan(write("bom.json", "\xef\xbb\xbf"+`{"format_version":"1.2","resource_changes":[]}`)); err != nil {
		t.Errorf("UTF-8 BOM: %v", err)
	}
	utf16 := testutil.Path(t, "testdata", "plans", "bridgecrewio__checkov", "tests", "terraform", "parser", "resources", "plan_encodings", "tfplan_win_utf16.json")
	if _, err := Detect(utf16); err == nil || !strings.Contains(err.Error(), "UTF-16") {
		t.Errorf("UTF-16 plan: %v", err)
	}
	// deferred and forgotten changes are counted, not judged
	_, stats := planWith(t, `{"address":"aws_vpc.f","mode":"managed","type":"aws_vpc","name":"f","change":{"actions":["forget"],"after":null}}`, "")
	if stats.Forgotten != 1 || len(stats.Actions) != 0 {
		t.Errorf("forget: %+v", stats)
	}
	m, stats = loadPlan(t, testutil.Path(t, "testdata", "plans", "constructed", "aws-v5-default-sg.json"))
	if stats.Deferred != 1 || stats.Unchanged != 2 || m["aws_security_group.later"] != nil || m["aws_security_group.legacy"] != nil {
		t.Errorf("deferred and imported: %+v", stats)
	}
	if dsg := m["aws_default_security_group.default"]; dsg.Kind != asset.KindFirewall || len(dsg.Facets.Ingress) != 1 || dsg.Facets.Ingress[0].Sources[0] != "0.0.0.0/0" {
		t.Errorf("default security group: %+v", dsg)
	}
}

func TestLocateInTerraformSource(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "modules", "net", "inner"), 0o755)
	os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`module "net" {
  source = "./modules/net"
}

module "vpc" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "5.0.0"
}

resource "aws_s3_bucket" "logs" {
  count  = 2
  bucket = "logs-${count.index}"
}

data "aws_iam_policy_document" "p" {}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "modules", "net", "sg.tf"), []byte(`
module "inner" {
  source = "./inner"
}

resource "aws_security_group" "web" {
  for_each = toset(["a"])
}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "modules", "net", "inner", "x.tf.json"), []byte(`{"resource": {"aws_vpc": {"v": {"cidr_block": "10.0.0.0/16"}}}}`), 0o644)
	src, diags := LoadTFSource(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for addr, want := range map[string]Placed{
		`aws_s3_bucket.logs[1]`:                  {Range: SourceRange{File: filepath.Join(dir, "main.tf"), Line: 10, Column: 1, EndLine: 10}},
		`data.aws_iam_policy_document.p`:         {Range: SourceRange{File: filepath.Join(dir, "main.tf"), Line: 15, Column: 1, EndLine: 15}},
		`module.net.aws_security_group.web["a"]`: {Range: SourceRange{File: filepath.Join(dir, "modules", "net", "sg.tf"), Line: 6, Column: 1, EndLine: 6}},
		`module.vpc.aws_vpc.this[0]`:             {Range: SourceRange{File: filepath.Join(dir, "main.tf"), Line: 5, Column: 1, EndLine: 5}, Via: "module.vpc"},
		`aws_instance.gone`:                      {Unplaced: "aws_instance.gone has no block in the .tf files of " + dir},
		`module.net.aws_instance.gone`:           {Unplaced: `module.net.aws_instance.gone has no block in module module.net (source "./modules/net")`},
		`module.other.aws_vpc.x`:                 {Unplaced: "module.other.aws_vpc.x is in module module.other, which " + dir + " does not call"},
	} {
		got := src.Locate(addr)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", addr, diff)
		}
	}
	if got := src.Locate("module.net.module.inner.aws_vpc.v"); got.Range.File != filepath.Join(dir, "modules", "net", "inner", "x.tf.json") || got.Range.Line != 1 {
		t.Errorf("JSON syntax in a nested local module: %+v", got)
	}
	// a cycle of local sources stops with a warning
	loop := t.TempDir()
	os.WriteFile(filepath.Join(loop, "main.tf"), []byte("module \"self\" {\n  source = \"./\"\n}\n"), 0o644)
	if _, diags := LoadTFSource(loop); len(diags) == 0 || diags.HasErrors() {
		t.Errorf("cycle: %v", diags)
	}
}

// FuzzTFSource: any .tf content loads (with diagnostics) and any address
// is placed or said to be unplaced; never a panic.
func FuzzTFSource(f *testing.F) {
	for _, p := range []string{testutil.Path(f, "examples", "terraform", "main.tf"), testutil.Path(f, "examples", "terraform", "modules", "edge", "main.tf")} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, `module.edge.aws_security_group.lb["a"]`)
	}
	f.Add([]byte("module \"m\" {\n  source = \"../\"\n}\n"), "module.m.module.m.aws_vpc.x")
	f.Fuzz(func(t *testing.T, content []byte, addr string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), content, 0o644); err != nil {
			t.Fatal(err)
		}
		src, _ := LoadTFSource(dir)
		if pl := src.Locate(addr); (pl.Unplaced == "") == (pl.Range.File == "") {
			t.Errorf("%q: placed and unplaced at once, or neither: %+v", addr, pl)
		}
	})
}
