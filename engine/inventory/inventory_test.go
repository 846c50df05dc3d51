package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/internal/testutil"
)

func forseti(t *testing.T) []string {
	dir := testutil.Fixture(t, "forseti-security__forseti-security", "tests", "services", "inventory", "test_data")
	return []string{filepath.Join(dir, "mock_cai_resources.dump"), filepath.Join(dir, "mock_cai_iam_policies.dump")}
}

func load(t *testing.T, paths ...string) *Inventory {
	t.Helper()
	inv, err := Load(context.Background(), paths...)
	if err != nil {
		t.Fatalf("Load(%v): %v", paths, err)
	}
	return inv
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDetect(t *testing.T) {
	pl := testutil.Fixture(t, "GoogleCloudPlatform__policy-library", "validator", "test", "fixtures")
	tests := []struct {
		path string
		want Format
	}{
		{forseti(t)[0], FormatCAI},
		{forseti(t)[1], FormatCAI},
		{filepath.Join(pl, "network_restrict_default", "assets", "data.json"), FormatCAI},
		{testutil.Fixture(t, "awslabs__aws-config-rdk", "rdk", "template", "example_ci", "AWS_EC2_SecurityGroup.json"), FormatAWSConfig},
		{testutil.Fixture(t, "awslabs__aws-config-rdk", "rdk", "template", "example_ci", "AWS_S3_Bucket.json"), FormatAWSConfig},
		{testutil.Fixture(t, "fugue__regula", "pkg", "loader", "test_inputs", "data", "tfplan.0.15.json"), FormatTerraformPlan},
		{testutil.Fixture(t, "open-policy-agent__conftest", "examples", "hcl1", "gke-show.json"), FormatTerraformPlan},
		{testutil.Path(t, "examples", "inventory", "aws-config-snapshot.json"), FormatAWSConfig},
		{testutil.Path(t, "examples", "inventory", "aws-iam.ndjson"), FormatVigil},
	}
	for _, tt := range tests {
		got, err := Detect(tt.path)
		if err != nil {
			t.Errorf("Detect(%s): %v", filepath.Base(tt.path), err)
			continue
		}
		if got != tt.want {
			t.Errorf("Detect(%s) = %s, want %s", filepath.Base(tt.path), got, tt.want)
		}
	}
}

// The forseti dumps are a real CAI export split by content type: resources
// in one file, IAM policies in the other. They must merge per name.
func TestCAIExportMergesIAMPoliciesAcrossFiles(t *testing.T) {
	inv := load(t, forseti(t)...)
	// 133 resource records; every one of the 22 IAM policies has its resource.
	if inv.Len() != 133 {
		t.Errorf("got %d assets, want 133", inv.Len())
	}
	kinds := map[string]int{}
	for _, a := range inv.Assets() {
		kinds[a.Kind]++
		if a.Facets.Synthesized {
			t.Errorf("unexpected synthesized scope %s: all four projects are in the export", a.ID)
		}
	}
	for kind, want := range map[string]int{"firewall": 7, "network": 2, "instance": 4, "bucket": 2, "project": 4, "folder": 3, "organization": 1, "subnet": 24} {
		if kinds[kind] != want {
			t.Errorf("%d assets of kind %s, want %d", kinds[kind], kind, want)
		}
	}

	b := inv.Get("//storage.googleapis.com/bucket1")
	if b == nil {
		t.Fatal("bucket1 missing")
	}
	if b.Scope != "project3" {
		t.Errorf("bucket1 scope = %q, want project3 (parent projects/1043 resolved to its id)", b.Scope)
	}
	if len(b.Facets.Bindings) != 2 || b.Facets.Public == nil || *b.Facets.Public {
		t.Errorf("bucket1 should carry its 2 IAM bindings and not be public: %+v", b.Facets)
	}
	if !strings.Contains(string(b.Data), `"iam_policy"`) {
		t.Error("bucket1's native payload should include the merged iam_policy")
	}

	p := inv.Get("//cloudresourcemanager.googleapis.com/projects/1044")
	want := []string{"projects/1044", "folders/1033", "folders/1032", "organizations/111222333"}
	if diff := cmp.Diff(want, p.Facets.Ancestors); diff != "" {
		t.Errorf("project4 ancestry from resource parents (-want +got):\n%s", diff)
	}
	if p.Scope != "project4" || p.Name != "project4" {
		t.Errorf("project scope/name = %q/%q, want project4", p.Scope, p.Name)
	}

	ds := inv.Get("//bigquery.googleapis.com/projects/1042/datasets/bq_test_ds")
	if ds.Scope != "project2" {
		t.Errorf("dataset named by project number has scope %q, want project2", ds.Scope)
	}

	fw := inv.Get("//compute.googleapis.com/projects/project2/global/firewalls/default-allow-internal")
	wantRules := []asset.Rule{
		{Sources: []string{"10.0.0.0/8"}, Protocol: "udp", Ports: []asset.PortRange{{From: 1, To: 65535}}, Action: "allow", Enabled: true, Priority: 1000},
		{Sources: []string{"10.0.0.0/8"}, Protocol: "tcp", Ports: []asset.PortRange{{From: 1, To: 65535}}, Action: "allow", Enabled: true, Priority: 1000},
		{Sources: []string{"10.0.0.0/8"}, Protocol: "icmp", Ports: []asset.PortRange{}, Action: "allow", Enabled: true, Priority: 1000},
	}
	if diff := cmp.Diff(wantRules, fw.Facets.Ingress); diff != "" {
		t.Errorf("firewall rules (-want +got):\n%s", diff)
	}
	if fw.Facets.Network != "projects/project2/global/networks/default" {
		t.Errorf("firewall network = %q", fw.Facets.Network)
	}

	in := inv.Get("//compute.googleapis.com/projects/project1/zones/us-central1-c/instances/iap_instance1")
	if in.Region != "us-central1" || !cmp.Equal(in.Facets.PublicIPs, []string{"192.168.1.2"}) || !cmp.Equal(in.Facets.Networks, []string{"projects/project1/global/networks/default"}) {
		t.Errorf("instance facets: region %q, %+v", in.Region, in.Facets)
	}
	if n := inv.Get("//compute.googleapis.com/projects/project1/global/networks/default"); n.Facets.Default == nil || !*n.Facets.Default {
		t.Error("the auto-mode network named default should be the default network")
	}
}

// The same record in the export's snake_case, the API's camelCase, NDJSON
// or a JSON array gives the same asset.
func TestCAIFieldNameStylesAgree(t *testing.T) {
	snake := `{"name":"//storage.googleapis.com/pub","asset_type":"storage.googleapis.com/Bucket","resource":{"parent":"//cloudresourcemanager.googleapis.com/projects/42","data":{"name":"pub","location":"EU","labels":{"owner":"ann"}}},"ancestors":["projects/42","organizations/1"]}
{"name":"//storage.googleapis.com/pub","asset_type":"storage.googleapis.com/Bucket","iam_policy":{"bindings":[{"role":"roles/storage.objectViewer","members":["allUsers"]}]}}
`
	camel := `[{"name":"//storage.googleapis.com/pub","assetType":"storage.googleapis.com/Bucket","resource":{"parent":"//cloudresourcemanager.googleapis.com/projects/42","data":{"name":"pub","location":"EU","labels":{"owner":"ann"}}},"ancestors":["projects/42","organizations/1"]},
 {"name":"//storage.googleapis.com/pub","assetType":"storage.googleapis.com/Bucket","iamPolicy":{"bindings":[{"role":"roles/storage.objectViewer","members":["allUsers"]}]}}]`
	a := load(t, writeFile(t, "snake.ndjson", snake)).Get("//storage.googleapis.com/pub")
	b := load(t, writeFile(t, "camel.json", camel)).Get("//storage.googleapis.com/pub")
	if a == nil || b == nil {
		t.Fatal("bucket missing")
	}
	if diff := cmp.Diff(a.Facets, b.Facets); diff != "" {
		t.Errorf("facets differ between styles (-snake +camel):\n%s", diff)
	}
	if a.Region != "eu" || b.Region != "eu" || a.Labels["owner"] != "ann" {
		t.Errorf("region %q/%q labels %v", a.Region, b.Region, a.Labels)
	}
	if a.Facets.Public == nil || !*a.Facets.Public {
		t.Error("allUsers binding from the IAM_POLICY record should make the bucket public")
	}
}

func TestCAIIAMOnlyRecordsBecomeAssets(t *testing.T) {
	inv := load(t, forseti(t)[1])
	if inv.Len() < 22 {
		t.Fatalf("got %d assets from 22 IAM policies", inv.Len())
	}
	org := inv.Get("//cloudresourcemanager.googleapis.com/organizations/111222333")
	if org == nil || org.Kind != "organization" || len(org.Facets.AuditConfigs) != 1 {
		t.Fatalf("organization from its IAM policy alone: %+v", org)
	}
}

func TestGCPIngressWithoutSourcesIsWorldOpen(t *testing.T) {
	rec := `{"name":"//compute.googleapis.com/projects/p/global/firewalls/f","asset_type":"compute.googleapis.com/Firewall","resource":{"data":{"name":"f","network":"projects/p/global/networks/n","allowed":[{"IPProtocol":"tcp","ports":["22"]}]}}}`
	fw := load(t, writeFile(t, "fw.ndjson", rec)).Get("//compute.googleapis.com/projects/p/global/firewalls/f")
	if len(fw.Facets.Ingress) != 1 || !cmp.Equal(fw.Facets.Ingress[0].Sources, []string{"0.0.0.0/0"}) {
		t.Errorf("ingress with no source ranges, tags or service accounts applies to 0.0.0.0/0 (direction defaults to INGRESS): %+v", fw.Facets)
	}
	tagged := strings.Replace(rec, `"allowed"`, `"sourceTags":["web"],"allowed"`, 1)
	fw = load(t, writeFile(t, "fw.ndjson", tagged)).Get("//compute.googleapis.com/projects/p/global/firewalls/f")
	if len(fw.Facets.Ingress[0].Sources) != 0 {
		t.Errorf("a rule with source tags only has no CIDR sources: %+v", fw.Facets.Ingress[0])
	}
}

func TestAWSConfigItems(t *testing.T) {
	inv := load(t, testutil.Fixture(t, "awslabs__aws-config-rdk", "rdk", "template", "example_ci"))
	// 5 items and one synthesized account for each of the 4 accounts.
	if inv.Len() != 9 {
		t.Errorf("got %d assets, want 9", inv.Len())
	}
	for _, acct := range []string{"681361479661", "264683526309", "934654633380", "112233445566"} {
		a := inv.Get(asset.AccountID(acct))
		if a == nil || a.Kind != "account" || !a.Facets.Synthesized {
			t.Errorf("account %s: %+v", acct, a)
		}
	}
	sg := inv.Get("arn:aws:ec2:us-east-1:264683526309:security-group/sg-1d56fc66")
	want := []asset.Rule{{Sources: []string{"0.0.0.0/0"}, Protocol: "tcp", Ports: []asset.PortRange{{From: 22, To: 22}}, Action: "allow", Enabled: true}}
	if diff := cmp.Diff(want, sg.Facets.Ingress); diff != "" {
		t.Errorf("legacy ipRanges string form (-want +got):\n%s", diff)
	}
	if sg.Facets.Egress[0].Protocol != "all" || !cmp.Equal(sg.Facets.Egress[0].Ports, asset.AllPorts) {
		t.Errorf("protocol -1 means all ports: %+v", sg.Facets.Egress)
	}
	if sg.Name != "launch-wizard-7" || sg.Facets.Network != "vpc-0990dc6d" {
		t.Errorf("sg name %q network %q", sg.Name, sg.Facets.Network)
	}
	in := inv.Get("arn:aws:ec2:us-east-1:681361479661:instance/i-03402838daac1d611")
	if !cmp.Equal(in.Facets.PublicIPs, []string{"34.205.29.138"}) || in.Facets.Status != "running" || in.Scope != "681361479661" {
		t.Errorf("instance: %+v", in)
	}
	// The 1.3 schema: capital ARN, awsAccountId; the ACL is a JSON string.
	b := inv.Get("arn:aws:s3:::mborch-test-bucket-config-item")
	if b == nil || b.Scope != "934654633380" || b.Facets.Public == nil || *b.Facets.Public {
		t.Errorf("bucket with owner-only ACL and a Deny policy is not public: %+v", b)
	}
	if v := inv.Get("arn:aws:ec2:us-east-1:264683526309:vpc/vpc-0990dc6d"); v.Facets.Default == nil || !*v.Facets.Default {
		t.Error("isDefault VPC")
	}
	if u := inv.Get("arn:aws:iam::112233445566:user/johndoe"); u.Region != "global" || u.Kind != "user" {
		t.Errorf("IAM user: %+v", u)
	}
}

// markdownJSON returns the n-th ``` block of an AWS doc page that starts with
// a JSON object, cut at "nextToken" (the doc elides the rest).
func markdownJSON(t *testing.T, path string, n int) string {
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```\n(.*?)```").FindAllStringSubmatch(string(src), -1)
	var objs []string
	for _, b := range blocks {
		if i := strings.Index(b[1], "{"); i >= 0 {
			objs = append(objs, b[1][i:])
		}
	}
	s := objs[n]
	if i := strings.Index(s, `"nextToken"`); i >= 0 {
		s = strings.TrimRight(strings.TrimSpace(s[:i]), ",") + "\n}"
	}
	return s
}

func TestAWSConfigHistoryFromTheDocs(t *testing.T) {
	doc := testutil.Fixture(t, "awsdocs__aws-config-developer-guide", "doc_source", "view-manage-resource-console.md")

	// get-resource-config-history output: configuration is a JSON string.
	inv := load(t, writeFile(t, "history.json", markdownJSON(t, doc, 0)))
	sg := inv.Get("arn:aws:ec2:us-east-2:012345678912:security-group/default")
	if sg == nil {
		t.Fatalf("security group missing: %v", inv.Assets())
	}
	if len(sg.Facets.Ingress) != 6 || sg.Scope != "605053316265" {
		t.Fatalf("want 6 ingress rules decoded from the string configuration in account 605053316265: %+v", sg)
	}
	if !cmp.Equal(sg.Facets.Ingress[4].Sources, []string{"0.0.0.0/0"}) || sg.Facets.Ingress[4].Ports[0] != (asset.PortRange{From: 1433, To: 1433}) {
		t.Errorf("rule 5: %+v", sg.Facets.Ingress[4])
	}
	var data map[string]any
	if err := json.Unmarshal(sg.Data, &data); err != nil {
		t.Fatal(err)
	}
	if _, ok := data["configuration"].(map[string]any); !ok {
		t.Error("the native payload should hold the configuration as an object")
	}

	// A configuration history file: vol-ce676ccc changed twice; one asset
	// each, the newest item wins.
	inv = load(t, writeFile(t, "history-file.json", markdownJSON(t, doc, 1)))
	if inv.Len() != 2+1 { // two volumes and the synthesized account
		t.Errorf("got %d assets, want 3", inv.Len())
	}
}

func TestAWSTagForms(t *testing.T) {
	for _, tags := range []string{
		`"tags":{"owner":"ann"}`,
		`"tags":[{"key":"owner","value":"ann"}]`,
		`"tags":[{"Key":"owner","Value":"ann"}]`,
	} {
		item := `{"resourceType":"AWS::EC2::Instance","resourceId":"i-1","arn":"arn:aws:ec2:eu-west-1:1:instance/i-1","accountId":"1","awsRegion":"eu-west-1",` + tags + `,"configuration":{"instanceId":"i-1"}}`
		a := load(t, writeFile(t, "i.json", item)).Get("arn:aws:ec2:eu-west-1:1:instance/i-1")
		if a.Labels["owner"] != "ann" {
			t.Errorf("%s: labels %v", tags, a.Labels)
		}
	}
}

func TestScopesAreSynthesized(t *testing.T) {
	rec := `{"name":"//compute.googleapis.com/projects/lonely/global/networks/n","asset_type":"compute.googleapis.com/Network","resource":{"data":{"name":"n"}}}`
	inv := load(t, writeFile(t, "n.ndjson", rec))
	p := inv.Get("//cloudresourcemanager.googleapis.com/projects/lonely")
	if p == nil || p.Kind != "project" || p.Scope != "lonely" || !p.Facets.Synthesized {
		t.Fatalf("synthesized project: %+v", p)
	}
}

func TestMalformedInputNamesFileAndLine(t *testing.T) {
	good := `{"name":"//storage.googleapis.com/a","asset_type":"storage.googleapis.com/Bucket","resource":{"data":{"name":"a"}}}`
	tests := []struct {
		name, content string
		line          int
		msg           string
	}{
		{"broken.ndjson", good + "\n" + good + "\n{\"name\": \"x\", \"asset_type\": \n" + good + "\n", 3, "invalid JSON"},
		{"notcai.ndjson", good + "\n\n" + `{"foo": 1}` + "\n", 3, "no name or asset_type"},
		{"array.json", "[\n " + good + ",\n " + good + ",\n {\"name\": }\n]\n", 4, "invalid JSON"},
		{"badport.ndjson", `{"name":"//compute.googleapis.com/projects/p/global/firewalls/f","asset_type":"compute.googleapis.com/Firewall","resource":{"data":{"allowed":[{"IPProtocol":"tcp","ports":["ssh"]}]}}}`, 1, `parse port "ssh"`},
		{"badtype.ndjson", `{"name":"//compute.googleapis.com/projects/p/global/firewalls/f","asset_type":"compute.googleapis.com/Firewall","resource":{"data":{"sourceRanges":"0.0.0.0/0"}}}`, 1, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.name, tt.content)
			_, err := Load(context.Background(), p)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("want a ParseError, got %v", err)
			}
			if pe.File != p || pe.Line != tt.line {
				t.Errorf("error at %s:%d, want line %d: %v", pe.File, pe.Line, tt.line, err)
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.HasPrefix(err.Error(), p+":") {
				t.Errorf("error %q should start with the file and mention %q", err, tt.msg)
			}
		})
	}
}

func TestUnrecognizedInput(t *testing.T) {
	for name, content := range map[string]string{
		"empty.json":   "  \n",
		"other.json":   `{"hello": "world"}`,
		"yaml.json":    "kind: Pod\n",
		"numbers.json": "[1, 2]",
	} {
		_, err := Open(writeFile(t, name, content))
		if err == nil || !IsParseError(err) {
			t.Errorf("%s: want a parse error, got %v", name, err)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing file: want error")
	}
}

func TestUnknownTypesAreKept(t *testing.T) {
	rec := `{"name":"//spanner.googleapis.com/projects/p/instances/i","asset_type":"spanner.googleapis.com/Instance","resource":{"data":{"name":"i","labels":{"a":"b"}}}}`
	a := load(t, writeFile(t, "s.ndjson", rec)).Get("//spanner.googleapis.com/projects/p/instances/i")
	if a == nil || a.Kind != asset.KindOther || a.Labels["a"] != "b" {
		t.Fatalf("unknown types are kept as kind other: %+v", a)
	}
}

func TestVigilNDJSONRoundTrip(t *testing.T) {
	inv := load(t, forseti(t)...)
	var sb strings.Builder
	if err := inv.WriteNDJSON(&sb); err != nil {
		t.Fatal(err)
	}
	back := load(t, writeFile(t, "assets.ndjson", sb.String()))
	if back.Len() != inv.Len() {
		t.Fatalf("round trip: %d assets, want %d", back.Len(), inv.Len())
	}
	for _, a := range inv.Assets() {
		b := back.Get(a.ID)
		if diff := cmp.Diff(a, b, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Origin" || p.String() == "Source" || p.String() == "Data" }, cmp.Ignore())); diff != "" {
			t.Errorf("%s (-orig +roundtrip):\n%s", a.ID, diff)
		}
	}
}

func TestCollectHonoursCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fs, err := Open(forseti(t)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Collect(ctx, fs); err == nil {
		t.Error("want an error from a cancelled context")
	}
}

// The pre-pass finds the hierarchy and IAM policies however the JSON
// spells them: a project record with escaped slashes still names the
// project of the bucket in it, and an IAM policy under an escaped key is
// still merged.
func TestPrepassSeesEscapedRecords(t *testing.T) {
	p := writeFile(t, "export.ndjson", strings.Join([]string{
		`{"name":"//storage.googleapis.com/b1","asset_type":"storage.googleapis.com/Bucket","resource":{"parent":"//cloudresourcemanager.googleapis.com/projects/77","location":"EU","data":{"name":"b1"}}}`,
		`{"name":"\/\/cloudresourcemanager.googleapis.com\/projects\/77","asset_type":"cloudresourcemanager.googleapis.com\/Project","resource":{"data":{"projectId":"escaped-project","projectNumber":"77"}}}`,
		`{"name":"//storage.googleapis.com/b1","asset_type":"storage.googleapis.com/Bucket","iam\u005fpolicy":{"bindings":[{"role":"roles/storage.objectViewer","members":["allUsers"]}]}}`,
	}, "\n")+"\n")
	inv := load(t, p)
	b := inv.Get("//storage.googleapis.com/b1")
	if b == nil {
		t.Fatal("bucket missing")
	}
	if b.Scope != "escaped-project" {
		t.Errorf("bucket scope = %q, want escaped-project", b.Scope)
	}
	if b.Facets.Public == nil || !*b.Facets.Public {
		t.Errorf("bucket should be public through its merged IAM policy: %+v", b.Facets)
	}
}

// A real CAI export's OS Config report names its VM only in its own name,
// projects/{project number}/locations/{zone}/instances/{id or name}/
// vulnerabilityReport (the OS Config API reference): the loader turns the
// number into the project id the export's project record gives, and keeps
// the instance segment, so the report points at the VM's asset name (or,
// for an id, the name the scan index also files the VM under).
func TestCAIVulnerabilityReportLinksItsVMByName(t *testing.T) {
	p := writeFile(t, "cai.ndjson", `{"name":"//cloudresourcemanager.googleapis.com/projects/402398720121","asset_type":"cloudresourcemanager.googleapis.com/Project","resource":{"version":"v1","data":{"projectNumber":"402398720121","projectId":"acme-prod","lifecycleState":"ACTIVE"}}}
{"name":"//osconfig.googleapis.com/projects/402398720121/locations/europe-west1-b/instances/web-1/vulnerabilityReport","asset_type":"osconfig.googleapis.com/VulnerabilityReport","ancestors":["projects/402398720121"],"resource":{"version":"v1","parent":"//cloudresourcemanager.googleapis.com/projects/402398720121","location":"europe-west1-b","data":{"name":"projects/402398720121/locations/europe-west1-b/instances/web-1/vulnerabilityReport","vulnerabilities":[{"details":{"cve":"CVE-2024-6387","severity":"HIGH"},"availableInventoryItemIds":["a-1"]}]}}}
{"name":"//osconfig.googleapis.com/projects/402398720121/locations/europe-west1-c/instances/51000024/vulnerabilityReport","asset_type":"osconfig.googleapis.com/VulnerabilityReport","ancestors":["projects/402398720121"],"resource":{"version":"v1","parent":"//cloudresourcemanager.googleapis.com/projects/402398720121","location":"europe-west1-c","data":{"name":"projects/402398720121/locations/europe-west1-c/instances/51000024/vulnerabilityReport"}}}
{"name":"//osconfig.googleapis.com/projects/999/locations/us-east1-b/instances/x/vulnerabilityReport","asset_type":"osconfig.googleapis.com/VulnerabilityReport","resource":{"version":"v1","location":"us-east1-b","data":{"name":"projects/999/locations/us-east1-b/instances/x/vulnerabilityReport"}}}
`)
	inv := load(t, p)
	for id, want := range map[string][2]string{
		// number 402398720121 is acme-prod by the project record
		"//osconfig.googleapis.com/projects/402398720121/locations/europe-west1-b/instances/web-1/vulnerabilityReport":    {"//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1", "web-1"},
		"//osconfig.googleapis.com/projects/402398720121/locations/europe-west1-c/instances/51000024/vulnerabilityReport": {"//compute.googleapis.com/projects/acme-prod/zones/europe-west1-c/instances/51000024", "51000024"},
		// project 999 is not in the export: its number stays
		"//osconfig.googleapis.com/projects/999/locations/us-east1-b/instances/x/vulnerabilityReport": {"//compute.googleapis.com/projects/999/zones/us-east1-b/instances/x", "x"},
	} {
		a := inv.Get(id)
		if a == nil {
			t.Fatalf("%s missing", id)
		}
		if a.Kind != asset.KindVulnerabilityReport || a.Facets.Resource != want[0] || a.Name != want[1] {
			t.Errorf("%s: kind %s resource %q name %q, want resource %q name %q", id, a.Kind, a.Facets.Resource, a.Name, want[0], want[1])
		}
	}
}

// An Artifact Analysis occurrence (the Container Analysis v1 Occurrence
// resource, one vulnerability of one image) is a vulnerability report of
// the image its resourceUri names, and so is the collector's grouping of
// an image's occurrences: the CVE from shortDescription, else the note's
// id; the effective severity (SEVERITY_UNSPECIFIED is none), else the
// highest package's, else the provider's; fixable when the occurrence or
// a package says so or names a fixed version (kind NORMAL; MAXIMUM is the
// reference's "no fix"), with the package of the first fix. A resourceUri
// that is no https URL (an asset name) is not taken: the report is about
// itself.
func TestCAIOccurrenceIsAnImageReport(t *testing.T) {
	const img = "https://europe-west1-docker.pkg.dev/acme-prod/web/api@sha256:4d0c"
	rec := func(id, uri, kind, vuln string) string {
		return `{"name":"//containeranalysis.googleapis.com/projects/acme-prod/occurrences/` + id + `","asset_type":"containeranalysis.googleapis.com/Occurrence","ancestors":["projects/402398720121"],` +
			`"resource":{"version":"v1","parent":"//cloudresourcemanager.googleapis.com/projects/402398720121","location":"global","data":{"name":"projects/acme-prod/occurrences/` + id +
			`","resourceUri":"` + uri + `","noteName":"projects/goog-vulnz/notes/CVE-2023-4911","kind":"` + kind + `","vulnerability":` + vuln + `}}}`
	}
	const libc = `{"shortDescription":"CVE-2023-4911","severity":"HIGH","effectiveSeverity":"CRITICAL","fixAvailable":true,"packageIssue":[{"affectedPackage":"libc6","fixedVersion":{"kind":"NORMAL","name":"2.36","revision":"9+deb12u3","fullName":"2.36-9+deb12u3"}}]}`
	p := writeFile(t, "occ.ndjson", strings.Join([]string{
		`{"name":"//cloudresourcemanager.googleapis.com/projects/402398720121","asset_type":"cloudresourcemanager.googleapis.com/Project","resource":{"version":"v1","data":{"projectNumber":"402398720121","projectId":"acme-prod"}}}`,
		rec("o1", img, "VULNERABILITY", libc),
		// no description, no effective severity, no fix
		rec("o2", img, "VULNERABILITY", `{"severity":"MEDIUM","packageIssue":[{"affectedPackage":"libc6","fixedVersion":{"kind":"MAXIMUM"}}]}`),
		// unspecified effective severity, the highest package's instead; a
		// fix on the second package only
		rec("o3", img, "VULNERABILITY", `{"effectiveSeverity":"SEVERITY_UNSPECIFIED","severity":"LOW","packageIssue":[{"affectedPackage":"a","effectiveSeverity":"MEDIUM","fixedVersion":{"kind":"MAXIMUM"}},{"affectedPackage":"b","effectiveSeverity":"HIGH","fixAvailable":true,"fixedVersion":{"kind":"NORMAL","fullName":"1.2"}}]}`),
		// an asset name where the image belongs
		rec("o4", "//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1", "VULNERABILITY", libc),
		// another kind: no vulnerability
		rec("o5", img, "DISCOVERY", libc),
		// a URL, but a VM's, not an image's
		rec("o6", "https://www.googleapis.com/compute/v1/projects/acme-prod/zones/europe-west1-b/instances/web-1", "VULNERABILITY", libc),
		`{"name":"//containeranalysis.googleapis.com/projects/acme-prod/imageVulnerabilities/img","asset_type":"containeranalysis.googleapis.com/ImageVulnerabilities","ancestors":["projects/402398720121"],"resource":{"version":"v1","location":"global","data":{"resourceUri":"` + img + `","occurrences":[` +
			`{"name":"projects/acme-prod/occurrences/a","kind":"VULNERABILITY","noteName":"projects/goog-vulnz/notes/CVE-2023-4911","vulnerability":` + libc + `},` +
			`{"name":"projects/acme-prod/occurrences/b","kind":"VULNERABILITY","noteName":"projects/goog-vulnz/notes/CVE-2024-2961","vulnerability":{"effectiveSeverity":"HIGH"}},` +
			// the publisher's VEX: not affected, fixed (both left out),
			// under investigation (kept)
			`{"name":"projects/acme-prod/occurrences/c","kind":"VULNERABILITY","noteName":"projects/goog-vulnz/notes/CVE-2024-0001","vulnerability":{"effectiveSeverity":"CRITICAL","fixAvailable":true,"vexAssessment":{"state":"NOT_AFFECTED"}}},` +
			`{"name":"projects/acme-prod/occurrences/d","kind":"VULNERABILITY","noteName":"projects/goog-vulnz/notes/CVE-2024-0002","vulnerability":{"effectiveSeverity":"CRITICAL","fixAvailable":true,"vexAssessment":{"state":"FIXED"}}},` +
			`{"name":"projects/acme-prod/occurrences/e","kind":"VULNERABILITY","noteName":"projects/goog-vulnz/notes/CVE-2024-0003","vulnerability":{"effectiveSeverity":"LOW","vexAssessment":{"state":"UNDER_INVESTIGATION"}}}]}}}`,
	}, "\n")+"\n")
	inv := load(t, p)
	o4 := "//containeranalysis.googleapis.com/projects/acme-prod/occurrences/o4"
	for _, c := range []struct {
		id, resource string
		want         []asset.Vulnerability
	}{
		{"occurrences/o1", img, []asset.Vulnerability{{ID: "CVE-2023-4911", Severity: "critical", Fixable: true, Package: "libc6", Fixed: "2.36-9+deb12u3"}}},
		{"occurrences/o2", img, []asset.Vulnerability{{ID: "CVE-2023-4911", Severity: "medium", Package: "libc6"}}},
		{"occurrences/o3", img, []asset.Vulnerability{{ID: "CVE-2023-4911", Severity: "high", Fixable: true, Package: "b", Fixed: "1.2"}}},
		{"occurrences/o4", o4, []asset.Vulnerability{{ID: "CVE-2023-4911", Severity: "critical", Fixable: true, Package: "libc6", Fixed: "2.36-9+deb12u3"}}},
		{"occurrences/o5", img, nil},
		{"occurrences/o6", "//containeranalysis.googleapis.com/projects/acme-prod/occurrences/o6", []asset.Vulnerability{{ID: "CVE-2023-4911", Severity: "critical", Fixable: true, Package: "libc6", Fixed: "2.36-9+deb12u3"}}},
		{"imageVulnerabilities/img", img, []asset.Vulnerability{
			{ID: "CVE-2023-4911", Severity: "critical", Fixable: true, Package: "libc6", Fixed: "2.36-9+deb12u3"},
			{ID: "CVE-2024-2961", Severity: "high"},
			{ID: "CVE-2024-0003", Severity: "low"},
		}},
	} {
		a := inv.Get("//containeranalysis.googleapis.com/projects/acme-prod/" + c.id)
		if a == nil {
			t.Fatalf("%s missing", c.id)
		}
		if a.Kind != asset.KindVulnerabilityReport || a.Scope != "acme-prod" || a.Facets.Resource != c.resource || a.Name != c.resource[strings.LastIndexByte(c.resource, '/')+1:] {
			t.Errorf("%s: kind %s scope %q resource %q name %q, want resource %q", c.id, a.Kind, a.Scope, a.Facets.Resource, a.Name, c.resource)
		}
		if diff := cmp.Diff(c.want, a.Facets.Vulnerabilities, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: vulnerabilities (-want +got):\n%s", c.id, diff)
		}
	}
}
