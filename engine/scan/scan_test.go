package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/internal/testutil"
	"github.com/vigil-ir/vigil/policies"
)

func engine(t *testing.T, hcl string, only ...string) *policy.Engine {
	t.Helper()
	cfg, _, diags := config.Parse([]byte(hcl), "vigil.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	e, err := policy.Load(context.Background(), policy.Options{Builtins: policies.FS, Config: cfg.Data(), Only: only})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func fixtureSources(t *testing.T) []inventory.Source {
	fs, err := inventory.Open(
		testutil.Fixture(t, "forseti-security__forseti-security", "tests", "services", "inventory", "test_data"),
		testutil.Fixture(t, "awslabs__aws-config-rdk", "rdk", "template", "example_ci"),
	)
	if err != nil {
		t.Fatal(err)
	}
	return []inventory.Source{fs}
}

func pairs(fs []policy.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.PolicyID+" "+f.AssetID)
	}
	sort.Strings(out)
	return out
}

const (
	gce  = "//compute.googleapis.com/projects/"
	crm  = "//cloudresourcemanager.googleapis.com/projects/"
	rdkA = "arn:aws:iam::"
)

// The findings below are worked out by hand from the fixture data (see the
// comments), not copied from vigil's output.
func TestForsetiAndAWSConfigFixtures(t *testing.T) {
	// The policies that predate issue 19; those of issue 19 are worked
	// out on testdata/posture (posture_test.go).
	e := engine(t, `
required_labels   = ["owner"]
ir_principals     = ["user:abc_user@forseti.test"]
approved_networks = ["projects/project1/global/networks/*"]
`, "VGL-DATA-001", "VGL-DATA-002", "VGL-DET-001", "VGL-IAM-001", "VGL-LOG-001", "VGL-NET-001", "VGL-NET-002", "VGL-NET-003", "VGL-NET-004", "VGL-OWN-001", "VGL-OWN-002")
	res, err := Run(context.Background(), Options{Sources: fixtureSources(t), Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		// NET-001: ingress allow from 0.0.0.0/0 to 22 or 3389. project2's
		// default-allow-icmp (icmp only) and the 10.0.0.0/8 internal rules
		// do not count; neither does project1's 80/443 LB rule.
		"VGL-NET-001 " + gce + "project1/global/firewalls/default-allow-ssh",
		"VGL-NET-001 " + gce + "project2/global/firewalls/default-allow-rdp",
		"VGL-NET-001 " + gce + "project2/global/firewalls/default-allow-ssh",
		"VGL-NET-001 arn:aws:ec2:us-east-1:264683526309:security-group/sg-1d56fc66", // tcp 22 from 0.0.0.0/0
		// NET-002: only project1's networks are approved.
		"VGL-NET-002 " + gce + "project2/global/networks/default",
		"VGL-NET-002 " + gce + "project2/zones/us-west1-a/instances/instance3",
		"VGL-NET-002 arn:aws:ec2:us-east-1:264683526309:vpc/vpc-0990dc6d",
		"VGL-NET-002 arn:aws:ec2:us-east-1:681361479661:instance/i-03402838daac1d611", // vpc-79b3ea1e
		// NET-003: both GCP "default" networks are auto mode; the VPC has isDefault.
		"VGL-NET-003 " + gce + "project1/global/networks/default",
		"VGL-NET-003 " + gce + "project2/global/networks/default",
		"VGL-NET-003 arn:aws:ec2:us-east-1:264683526309:vpc/vpc-0990dc6d",
		// NET-004: every GCP instance has an access config with a natIP; the EC2
		// instance has publicIpAddress 34.205.29.138.
		"VGL-NET-004 " + gce + "project1/zones/us-central1-c/instances/iap_instance1",
		"VGL-NET-004 " + gce + "project1/zones/us-central1-c/instances/iap_instance2",
		"VGL-NET-004 " + gce + "project1/zones/us-central1-c/instances/iap_instance3",
		"VGL-NET-004 " + gce + "project2/zones/us-west1-a/instances/instance3",
		"VGL-NET-004 arn:aws:ec2:us-east-1:681361479661:instance/i-03402838daac1d611",
		// OWN-001: no instance or bucket in either fixture has an owner label or tag.
		"VGL-OWN-001 " + gce + "project1/zones/us-central1-c/instances/iap_instance1",
		"VGL-OWN-001 " + gce + "project1/zones/us-central1-c/instances/iap_instance2",
		"VGL-OWN-001 " + gce + "project1/zones/us-central1-c/instances/iap_instance3",
		"VGL-OWN-001 " + gce + "project2/zones/us-west1-a/instances/instance3",
		"VGL-OWN-001 //storage.googleapis.com/bucket1",
		"VGL-OWN-001 //storage.googleapis.com/bucket2",
		"VGL-OWN-001 arn:aws:ec2:us-east-1:681361479661:instance/i-03402838daac1d611",
		"VGL-OWN-001 arn:aws:s3:::mborch-test-bucket-config-item",
		// Forseti's mock projects carry no labels at all.
		"VGL-OWN-002 //cloudresourcemanager.googleapis.com/projects/1041",
		"VGL-OWN-002 //cloudresourcemanager.googleapis.com/projects/1042",
		"VGL-OWN-002 //cloudresourcemanager.googleapis.com/projects/1043",
		"VGL-OWN-002 //cloudresourcemanager.googleapis.com/projects/1044",
		// LOG-001: projects 1041 and 1042 enable all three log types for
		// allServices; the organization only ADMIN_READ, so project3 (folder
		// 1031) and project4 (folders 1033, 1032) lack DATA_READ/WRITE. No AWS
		// account has a trail. Projects 1041 and 1042 exempt
		// user:gcp-reader-12345@p1234 from cloudsql's audit logs (their
		// IAM policies' exemptedMembers), which CIS GCP 2.1 fails.
		"VGL-LOG-001 " + crm + "1041",
		"VGL-LOG-001 " + crm + "1042",
		"VGL-LOG-001 " + crm + "1043",
		"VGL-LOG-001 " + crm + "1044",
		"VGL-LOG-001 " + rdkA + "112233445566:root",
		"VGL-LOG-001 " + rdkA + "264683526309:root",
		"VGL-LOG-001 " + rdkA + "681361479661:root",
		"VGL-LOG-001 " + rdkA + "934654633380:root",
		// DET-001: every account has assets and none has a detector.
		"VGL-DET-001 " + rdkA + "112233445566:root",
		"VGL-DET-001 " + rdkA + "264683526309:root",
		"VGL-DET-001 " + rdkA + "681361479661:root",
		"VGL-DET-001 " + rdkA + "934654633380:root",
		// IAM-001: abc_user is bound on project 1043 only, and there holds
		// roles/appengine.codeViewer and appViewer: read-only, no
		// emergency access, so 1043 fails too.
		"VGL-IAM-001 " + crm + "1041",
		"VGL-IAM-001 " + crm + "1042",
		"VGL-IAM-001 " + crm + "1043",
		"VGL-IAM-001 " + crm + "1044",
		// DATA-002: bucket1/2 grant only project roles; the S3 bucket's ACL
		// is owner-only and its policy is a Deny. DATA-001: no residency set.
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, pairs(res.Findings.Slice())); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	s := res.Summary
	if s.Assets != 133+5+4 || s.Policies != 11 || s.Findings != len(want) {
		t.Errorf("summary: %+v", s)
	}
	if s.ByKind["account"] != 4 || s.UnknownTypes["compute.googleapis.com/InstanceGroup"] != 2 {
		t.Errorf("counts: kinds %v unknown %v", s.ByKind, s.UnknownTypes)
	}
	// Every finding points back at its record.
	for _, f := range res.Findings.Slice() {
		if f.File == "" || f.Line == 0 {
			t.Errorf("%s %s has no file:line", f.PolicyID, f.AssetID)
		}
	}
}

func TestSettingsSilencePolicies(t *testing.T) {
	res, err := Run(context.Background(), Options{Sources: fixtureSources(t), Engine: engine(t, "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings.Slice() {
		switch f.PolicyID {
		case "VGL-NET-002", "VGL-IAM-001", "VGL-OWN-001":
			t.Errorf("%s fired without its setting: %s", f.PolicyID, f.AssetID)
		}
	}
}

func TestResidency(t *testing.T) {
	rec := `{"name":"//storage.googleapis.com/b","asset_type":"storage.googleapis.com/Bucket","resource":{"parent":"//cloudresourcemanager.googleapis.com/projects/1","data":{"name":"b","location":"US","labels":{"data-class":"pii"}}}}
{"name":"//storage.googleapis.com/c","asset_type":"storage.googleapis.com/Bucket","resource":{"parent":"//cloudresourcemanager.googleapis.com/projects/1","data":{"name":"c","location":"EUROPE-WEST3","labels":{"data-class":"pii"}}}}
`
	p := filepath.Join(t.TempDir(), "b.ndjson")
	if err := writeFile(p, rec); err != nil {
		t.Fatal(err)
	}
	fs, _ := inventory.Open(p)
	e := engine(t, "residency \"pii\" {\n label = \"data-class\"\n regions = [\"eu\", \"europe-*\"]\n}\n")
	res, err := Run(context.Background(), Options{Sources: []inventory.Source{fs}, Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Findings.Slice() {
		if f.PolicyID == "VGL-DATA-001" {
			got = append(got, f.AssetID)
		}
	}
	if !cmp.Equal(got, []string{"//storage.googleapis.com/b"}) {
		t.Errorf("residency findings: %v", got)
	}
}

func TestWaiversAndProgress(t *testing.T) {
	ws, _, diags := policy.ParseWaivers([]byte(`waiver {
  policy  = "VGL-NET-003"
  asset   = "//compute.googleapis.com/projects/*"
  reason  = "lab networks"
  expires = "2030-01-01"
}`), "w.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var calls atomic.Int64
	res, err := Run(context.Background(), Options{
		Sources: fixtureSources(t), Engine: engine(t, ""), Waivers: ws,
		Now:           func() time.Time { return time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC) },
		Progress:      func(Progress) { calls.Add(1) },
		ProgressEvery: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Waived != 2 {
		t.Errorf("waived %d, want the 2 GCP default networks", res.Summary.Waived)
	}
	if calls.Load() < 10 {
		t.Errorf("progress reported %d times for %d assets", calls.Load(), res.Summary.Assets)
	}
}

func TestEvaluationErrorStopsTheScan(t *testing.T) {
	dir := t.TempDir()
	if err := writeFile(filepath.Join(dir, "bad.rego"), `# METADATA
# title: always fails at run time
# custom:
#   id: BAD-1
#   severity: low
#   kinds: [firewall]
package vigil.policies.bad

import rego.v1

x := 1 if input.asset.kind == "firewall"

x := 2 if input.asset.kind == "firewall"

deny contains "never" if x == 3
`); err != nil {
		t.Fatal(err)
	}
	e, err := policy.Load(context.Background(), policy.Options{Dirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), Options{Sources: fixtureSources(t), Engine: e})
	if err == nil || !strings.Contains(err.Error(), "BAD-1") {
		t.Errorf("want the failing policy named, got %v", err)
	}
}

func TestIndexData(t *testing.T) {
	inv, err := inventory.Load(context.Background(), testutil.Path(t, "examples", "inventory"))
	if err != nil {
		t.Fatal(err)
	}
	x := NewIndex()
	for _, a := range inv.Assets() {
		x.Observe(a)
	}
	d := x.Data()
	scopes := d["scopes"].(map[string]any)
	prod := scopes["111111111111"].(map[string]any)
	if n := len(prod["trails"].([]any)); n != 1 {
		t.Errorf("trails of 111111111111: %d", n)
	}
	if _, ok := d["nodes"].(map[string]any)["folders/511904211743"]; !ok {
		t.Errorf("folder node missing: %v", d["nodes"])
	}
	if fmt.Sprint(prod["assets"]) == "0" {
		t.Error("asset count")
	}
}

// The scan reports the index's size as the JSON of the document policies
// read, both when the engine converts it (cross-asset policies loaded) and
// when nothing needs it.
func TestIndexBytesIsTheIndexJSON(t *testing.T) {
	inv, err := inventory.Load(context.Background(), testutil.Path(t, "examples", "inventory"))
	if err != nil {
		t.Fatal(err)
	}
	x := NewIndex()
	x.SetClassLabels(engine(t, "").ClassLabels())
	for _, a := range inv.Assets() {
		x.Observe(a)
	}
	text, err := json.Marshal(x.Data())
	if err != nil {
		t.Fatal(err)
	}
	for _, only := range [][]string{nil, {"VGL-OWN-001"}} {
		e := engine(t, "", only...)
		deferred := false
		for _, a := range inv.Assets() {
			deferred = deferred || e.Deferred(a.Kind)
		}
		if deferred != (only == nil) {
			t.Fatalf("policies %v: cross-asset %v, want the test to cover both ways", only, deferred)
		}
		src, err := inventory.Open(testutil.Path(t, "examples", "inventory"))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), Options{Sources: []inventory.Source{src}, Engine: e})
		if err != nil {
			t.Fatal(err)
		}
		if res.Summary.IndexBytes != int64(len(text)) {
			t.Errorf("policies %v: index_bytes %d, the index is %d bytes of JSON", only, res.Summary.IndexBytes, len(text))
		}
	}
}

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }

func TestBuiltinErrorsAreReported(t *testing.T) {
	dir := t.TempDir()
	if err := writeFile(filepath.Join(dir, "num.rego"), `# METADATA
# title: converts names to numbers
# custom:
#   id: NUM-1
#   severity: low
#   kinds: [firewall]
package vigil.policies.num

import rego.v1

deny contains msg if {
	msg := sprintf("%d", [to_number(input.asset.name)])
}
`); err != nil {
		t.Fatal(err)
	}
	e, err := policy.Load(context.Background(), policy.Options{Dirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Options{Sources: fixtureSources(t), Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Summary.EvalErrors) != 1 || res.Summary.EvalErrors[0].Count != 8 || !strings.Contains(res.Summary.EvalErrors[0].Location, "num.rego:12") {
		t.Errorf("eval errors: %+v (8 firewalls, none with a numeric name)", res.Summary.EvalErrors)
	}
}
