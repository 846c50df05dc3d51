package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/internal/report/schematest"
	"github.com/vigil-ir/vigil/internal/testutil"
)

func securityHubModel(t *testing.T) *schematest.APIModel {
	t.Helper()
	m, err := schematest.LoadAPIModel(testutil.Path(t, "testdata", "schemas", "asff", "securityhub-2018-10-26-service-2.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// asffCalls splits ASFF output into its BatchImportFindings requests:
// each line is one call's Findings array.
func asffCalls(t *testing.T, out []byte) [][]byte {
	t.Helper()
	var calls [][]byte
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		calls = append(calls, []byte(`{"Findings":`+sc.Text()+`}`))
	}
	return calls
}

// Every call of the examples' ASFF output is a valid BatchImportFindings
// request by Security Hub's API model; broken ones are refused.
func TestASFFValidatesAgainstSecurityHubModel(t *testing.T) {
	m := securityHubModel(t)
	r := exampleReport(t)
	// the examples hold two AWS accounts: the importer is named
	r.SecurityHub = SecurityHub{Region: "eu-west-1", Account: "111111111111"}
	var buf bytes.Buffer
	if err := ASFF(&buf, r); err != nil {
		t.Fatal(err)
	}
	calls := asffCalls(t, buf.Bytes())
	if len(calls) != 1 {
		t.Fatalf("%d calls for %d findings, want 1", len(calls), r.Findings.Len())
	}
	if err := m.Validate("BatchImportFindingsRequest", calls[0]); err != nil {
		t.Fatalf("ASFF does not follow Security Hub's model:\n%v", err)
	}
	one := `{"Findings":[{"SchemaVersion":"2018-10-08","Id":"x","ProductArn":"arn:aws:securityhub:eu-west-1:111111111111:product/111111111111/default",` +
		`"GeneratorId":"g","AwsAccountId":"111111111111","CreatedAt":"2026-11-27T09:00:00.000Z","UpdatedAt":"2026-11-27T09:00:00.000Z",` +
		`"Title":"t","Description":"d","Resources":[{"Type":"Other","Id":"r"}],"Severity":{"Label":"HIGH"}}]}`
	if err := m.Validate("BatchImportFindingsRequest", []byte(one)); err != nil {
		t.Fatalf("a minimal valid finding was refused: %v", err)
	}
	for _, tt := range []struct{ name, from, to, want string }{
		{"severity label outside the enum", `"Label":"HIGH"`, `"Label":"SEVERE"`, `"SEVERE" is not one of`},
		{"required Title missing", `"Title":"t",`, ``, `Title is required`},
		{"Title over 256 characters (documented limit)", `"Title":"t"`, `"Title":"` + strings.Repeat("t", 257) + `"`, `257 characters`},
		{"account id not 12 digits", `"AwsAccountId":"111111111111"`, `"AwsAccountId":"1111"`, `4 characters`},
		{"member not in the model", `"Title":"t"`, `"Title":"t","Colour":"red"`, `Colour is not a member`},
		{"blank Id (pattern)", `"Id":"x"`, `"Id":"  "`, `does not match`},
		{"Resources not a list", `"Resources":[{"Type":"Other","Id":"r"}]`, `"Resources":{"Type":"Other","Id":"r"}`, `want an array`},
	} {
		bad := strings.Replace(one, tt.from, tt.to, 1)
		if bad == one {
			t.Fatalf("%s: the replacement did not apply", tt.name)
		}
		err := m.Validate("BatchImportFindingsRequest", []byte(bad))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q", tt.name, err, tt.want)
		}
	}
	// 101 findings are one too many for a call
	var many []string
	f := strings.TrimSuffix(strings.TrimPrefix(one, `{"Findings":[`), `]}`)
	for range 101 {
		many = append(many, f)
	}
	if err := m.Validate("BatchImportFindingsRequest", []byte(`{"Findings":[`+strings.Join(many, ",")+`]}`)); err == nil || !strings.Contains(err.Error(), "101 items, at most 100") {
		t.Errorf("101 findings in a call: %v", err)
	}
}

func asffTestFindings(n int) []policy.Finding {
	var fs []policy.Finding
	for i := range n {
		fs = append(fs, policy.Finding{
			PolicyID: "VGL-NET-001", Severity: "high", Title: "Security group open to the internet", Message: "port 22 open to 0.0.0.0/0",
			AssetID: fmt.Sprintf("arn:aws:ec2:eu-west-1:111111111111:security-group/sg-%04d", i), AssetType: "AWS::EC2::SecurityGroup",
			Kind: "firewall", Provider: "aws", Scope: "111111111111", Region: "eu-west-1",
		})
	}
	return fs
}

// A call takes at most 100 findings: 250 findings are three lines of 100,
// 100 and 50, each a valid request.
func TestASFFBatches(t *testing.T) {
	m := securityHubModel(t)
	r := &Report{Findings: scan.NewFindingSet(asffTestFindings(250)), SecurityHub: SecurityHub{Region: "eu-west-1"}}
	var buf bytes.Buffer
	if err := ASFF(&buf, r); err != nil {
		t.Fatal(err)
	}
	calls := asffCalls(t, buf.Bytes())
	var sizes []int
	for _, c := range calls {
		var req struct{ Findings []json.RawMessage }
		if err := json.Unmarshal(c, &req); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(req.Findings))
		if err := m.Validate("BatchImportFindingsRequest", c); err != nil {
			t.Errorf("call %d: %v", len(sizes), err)
		}
	}
	if fmt.Sprint(sizes) != "[100 100 50]" {
		t.Errorf("calls of %v findings, want [100 100 50]", sizes)
	}
	// no findings, no call (the API refuses an empty list)
	buf.Reset()
	if err := ASFF(&buf, &Report{Findings: scan.NewFindingSet(nil), SecurityHub: SecurityHub{Region: "eu-west-1", Account: "222222222222"}}); err != nil || buf.Len() != 0 {
		t.Errorf("no findings: %q, %v", buf.String(), err)
	}
}

// The fields Security Hub shows, worked out by hand from the finding: the
// label, the resource type Security Hub names AWS::EC2::SecurityGroup, a
// waived finding SUPPRESSED with its reason as a note, a GCP finding in
// the importing account with type Other, and the same Id in a later scan.
func TestASFFMapping(t *testing.T) {
	aws := asffTestFindings(1)[0]
	aws.Remediation = "close-admin-ports"
	waived := aws
	waived.AssetID = "arn:aws:ec2:eu-west-1:111111111111:security-group/sg-w"
	waived.Waived, waived.WaiverReason, waived.WaiverExpires = true, "bastion, INC-7", "2027-01-31"
	gcp := policy.Finding{PolicyID: "VGL-GCP-IAM-002", Severity: "info", Title: "Primitive role", Message: "roles/editor granted",
		AssetID: "//cloudresourcemanager.googleapis.com/projects/402398720121", AssetType: "cloudresourcemanager.googleapis.com/Project",
		Provider: "gcp", Scope: "projects/402398720121", Region: "global"}
	render := func(started time.Time) []asffFinding {
		r := &Report{Findings: scan.NewFindingSet([]policy.Finding{aws, waived, gcp}),
			Policies:    []*policy.Policy{{ID: "VGL-NET-001", Frameworks: []string{"cis-aws-3.0:5.2"}}},
			SecurityHub: SecurityHub{ProductARN: "arn:aws:securityhub:eu-west-1:999999999999:product/999999999999/default"}}
		r.Summary.Started = started
		var buf bytes.Buffer
		if err := ASFF(&buf, r); err != nil {
			t.Fatal(err)
		}
		var out []asffFinding
		if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		byAsset := map[string]asffFinding{}
		for _, f := range out {
			byAsset[f.Resources[0].ID] = f
		}
		return []asffFinding{byAsset[aws.AssetID], byAsset[waived.AssetID], byAsset[gcp.AssetID]}
	}
	first := render(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	a, w, g := first[0], first[1], first[2]
	for _, c := range []struct{ what, got, want string }{
		{"label", a.Severity.Label, "HIGH"},
		{"resource type", a.Resources[0].Type, "AwsEc2SecurityGroup"},
		{"partition", a.Resources[0].Partition, "aws"},
		{"region", a.Resources[0].Region, "eu-west-1"},
		{"account", a.AwsAccountID, "111111111111"},
		{"workflow", a.Workflow.Status, "NEW"},
		{"compliance", a.Compliance.Status, "FAILED"},
		{"requirement", strings.Join(a.Compliance.RelatedRequirements, ","), "cis-aws-3.0:5.2"},
		{"type", strings.Join(a.Types, ","), "Software and Configuration Checks/Industry and Regulatory Standards/cis-aws-3.0:5.2"},
		{"created", a.CreatedAt, "2026-11-27T09:00:00.000Z"},
		{"remediation", a.Remediation.Recommendation.Text, "Plan the fix with the runbook close-admin-ports: vigil runbook plan close-admin-ports (see vigil runbook show close-admin-ports for its variables)."},
		{"waived workflow", w.Workflow.Status, "SUPPRESSED"},
		{"waiver note", w.Note.Text, "Waived until 2027-01-31: bastion, INC-7"},
		{"gcp type", g.Resources[0].Type, "Other"},
		{"gcp account (the importer's)", g.AwsAccountID, "999999999999"},
		{"gcp label", g.Severity.Label, "INFORMATIONAL"},
		{"gcp project", g.Resources[0].Details.Other["scope"], "projects/402398720121"},
		{"gcp region (global is none)", g.Resources[0].Region, ""},
		{"product", g.ProductArn, "arn:aws:securityhub:eu-west-1:999999999999:product/999999999999/default"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if a.ID == w.ID || !strings.HasPrefix(a.ID, "vigil/VGL-NET-001/") {
		t.Errorf("ids %q and %q", a.ID, w.ID)
	}
	later := render(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	for i := range first {
		if later[i].ID != first[i].ID || later[i].UpdatedAt == first[i].UpdatedAt {
			t.Errorf("finding %d: id %q then %q, updated %s then %s: want the same id, a later time", i, first[i].ID, later[i].ID, first[i].UpdatedAt, later[i].UpdatedAt)
		}
	}
}

// Without the importing account and region the output cannot be imported:
// the error says what to give.
func TestASFFNeedsTheImporter(t *testing.T) {
	two := asffTestFindings(2)
	two[1].Scope = "222222222222"
	for _, tt := range []struct {
		name string
		r    *Report
		want string
	}{
		{"no region", &Report{Findings: scan.NewFindingSet(asffTestFindings(1))}, "set AWS_REGION or give --asff-product-arn arn:aws:securityhub:REGION:111111111111:product/111111111111/default"},
		{"two accounts", &Report{Findings: scan.NewFindingSet(two), SecurityHub: SecurityHub{Region: "eu-west-1"}}, "the findings are of 2 AWS accounts"},
		{"bad ARN", &Report{Findings: scan.NewFindingSet(two), SecurityHub: SecurityHub{ProductARN: "arn:aws:s3:::bucket"}}, "is not a Security Hub product ARN"},
	} {
		err := ASFF(&bytes.Buffer{}, tt.r)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

// Text over Security Hub's limits is cut at a rune boundary.
func TestCut(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 6, "abc…"}, // "…" is 3 bytes: 3 + 3
		{"ééééé", 7, "éé…"},       // é is 2 bytes: 4 + 3
		{"éééé", 6, "é…"},         // 6-3 = 3 bytes would split the second é
	} {
		if got := cut(tt.in, tt.n); got != tt.want || len(got) > tt.n {
			t.Errorf("cut(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// Security Hub's names of CloudFormation types (its resource type list).
func TestASFFResourceTypes(t *testing.T) {
	for in, want := range map[string]string{
		"EC2::SecurityGroup":    "Ec2SecurityGroup",
		"RDS::DBInstance":       "RdsDbInstance",
		"IAM::AccessKey":        "IamAccessKey",
		"S3::Bucket":            "S3Bucket",
		"CloudTrail::Trail":     "CloudTrailTrail",
		"KMS::Key":              "KmsKey",
		"EC2::NetworkInterface": "Ec2NetworkInterface",
	} {
		if got := asffTypeWords(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}
