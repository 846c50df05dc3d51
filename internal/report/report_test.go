package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/internal/report/schematest"
	"github.com/vigil-ir/vigil/internal/testutil"
	"github.com/vigil-ir/vigil/policies"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// exampleReport scans the bundled examples from the repository root, so
// that file names in the output are the relative ones a user sees.
func exampleReport(t *testing.T) *Report {
	t.Helper()
	golden, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(testutil.Root(t))
	t.Setenv("VIGIL_GOLDEN_DIR", golden)
	cfg, _, diags := config.Load("examples/vigil.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	// The policies' clock too: the access-key policies count days to it.
	clock := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	e, err := policy.Load(context.Background(), policy.Options{Builtins: policies.FS, Config: cfg.Data(), Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	ws, _, diags := policy.LoadWaivers("examples/waivers.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	fs, err := inventory.Open("examples/inventory")
	if err != nil {
		t.Fatal(err)
	}
	res, err := scan.Run(context.Background(), scan.Options{Sources: []inventory.Source{fs}, Engine: e, Waivers: ws, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	return &Report{Tool: "vigil", Version: "test", Findings: res.Findings, Summary: res.Summary, Policies: e.Policies(), FailOn: "low", UnusedWaivers: res.UnusedWaivers,
		SecurityHub: SecurityHub{Region: "eu-west-1", Account: "111111111111"}}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(os.Getenv("VIGIL_GOLDEN_DIR"), name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/report -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, diff)
	}
}

func TestGolden(t *testing.T) {
	r := exampleReport(t)
	for _, format := range Formats {
		var buf bytes.Buffer
		if err := Render(&buf, format, r); err != nil {
			t.Fatal(err)
		}
		ext := map[string]string{"table": "txt", "json": "json", "sarif": "sarif", "junit": "xml", "github": "txt", "csv": "csv", "asff": "jsonl", "ocsf": "jsonl"}[format]
		// the SARIF base URI is the checkout's directory
		cwd, _ := os.Getwd()
		got := bytes.ReplaceAll(buf.Bytes(), []byte(fileURI(cwd)+"/"), []byte("file:///SRCROOT/"))
		checkGolden(t, "examples."+format+"."+ext, got)
	}
}

// The SARIF log must have what GitHub code scanning requires: a rule for
// every result, a physical location with a line, fingerprints, and
// suppressions for waived findings.
func TestSARIFForCodeScanning(t *testing.T) {
	r := exampleReport(t)
	var buf bytes.Buffer
	if err := SARIF(&buf, r); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID         string         `json:"id"`
						Properties map[string]any `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
						Region           struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
					LogicalLocations []struct{ FullyQualifiedName string } `json:"logicalLocations"`
				} `json:"locations"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
				Suppressions        []any             `json:"suppressions"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("version %q runs %d", log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	if len(run.Tool.Driver.Rules) != len(r.Policies) {
		t.Errorf("%d rules for %d policies", len(run.Tool.Driver.Rules), len(r.Policies))
	}
	suppressed := 0
	for _, res := range run.Results {
		if rule := run.Tool.Driver.Rules[res.RuleIndex]; rule.ID != res.RuleID || rule.Properties["security-severity"] == nil {
			t.Errorf("result %s points at rule %s", res.RuleID, rule.ID)
		}
		loc := res.Locations[0]
		if !strings.HasPrefix(loc.PhysicalLocation.ArtifactLocation.URI, "examples/inventory/") || loc.PhysicalLocation.Region.StartLine < 1 {
			t.Errorf("location %+v", loc.PhysicalLocation)
		}
		if loc.LogicalLocations[0].FullyQualifiedName == "" || res.PartialFingerprints["vigilFinding/v1"] == "" {
			t.Errorf("result %s lacks a logical location or fingerprint", res.RuleID)
		}
		suppressed += len(res.Suppressions)
	}
	if suppressed != r.Summary.Waived {
		t.Errorf("%d suppressions for %d waived findings", suppressed, r.Summary.Waived)
	}
}

func TestJUnitOneCasePerPolicy(t *testing.T) {
	r := exampleReport(t)
	var buf bytes.Buffer
	if err := JUnit(&buf, r); err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &suites); err != nil {
		t.Fatal(err)
	}
	if suites.Tests != len(r.Policies) || len(suites.Suites[0].Cases) != len(r.Policies) {
		t.Errorf("%d test cases for %d policies", suites.Tests, len(r.Policies))
	}
	failing := map[string]bool{}
	for f := range r.Findings.All() {
		if f.Counts("low") {
			failing[f.PolicyID] = true
		}
	}
	if suites.Failures != len(failing) {
		t.Errorf("%d failures, want %d", suites.Failures, len(failing))
	}
}

func TestUnknownFormat(t *testing.T) {
	if err := Render(&bytes.Buffer{}, "yaml", &Report{}); err == nil {
		t.Error("want error")
	}
}

// The SARIF log follows the SARIF 2.1.0 schema (testdata/schemas/sarif,
// from SchemaStore); an invalid one is caught.
func TestSARIFValidatesAgainstSchema(t *testing.T) {
	r := exampleReport(t)
	var buf bytes.Buffer
	if err := SARIF(&buf, r); err != nil {
		t.Fatal(err)
	}
	schema := testutil.Path(t, "testdata", "schemas", "sarif", "sarif-2.1.0.json")
	schematest.Validate(t, schema, buf.Bytes())
	sch, err := schematest.Compile(schema)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(buf.Bytes(), []byte(`"level": "error"`), []byte(`"level": "severe"`), 1)
	if err := schematest.ValidateWith(sch, bad); err == nil {
		t.Error("a result level outside the schema's enum passed")
	}
}

func TestSARIFArtifactLocations(t *testing.T) {
	cwd := filepath.FromSlash("/repo")
	for _, tt := range []struct {
		file, uri, base string
	}{
		{"infra/main.tf", "infra/main.tf", "%SRCROOT%"},
		{filepath.FromSlash("/repo/infra/my plan.json"), "infra/my%20plan.json", "%SRCROOT%"},
		{filepath.FromSlash("/elsewhere/main.tf"), "file:///elsewhere/main.tf", ""},
		{"../up/main.tf", "file:///up/main.tf", ""},
	} {
		if filepath.Separator != '/' {
			t.Skip("POSIX paths")
		}
		t.Chdir(t.TempDir()) // relative files resolve against cwd below, not the process's
		got := sarifPhysicalOf(cwd, Location{File: tt.file, Line: 3})
		if !filepath.IsAbs(tt.file) {
			got = sarifPhysicalOf(cwd, Location{File: filepath.Join(cwd, tt.file), Line: 3})
		}
		if got.ArtifactLocation.URI != tt.uri || got.ArtifactLocation.URIBaseID != tt.base || got.Region.StartLine != 3 {
			t.Errorf("%s: %+v", tt.file, got.ArtifactLocation)
		}
	}
}

// A policy whose every finding is waived is a skipped case, and
// classnames are the policies' Rego packages, not doubled.
func TestJUnitWaivedAreSkipped(t *testing.T) {
	r := exampleReport(t)
	wf := filepath.Join(t.TempDir(), "w.hcl")
	if err := os.WriteFile(wf, []byte("waiver {\n  policy  = \"VGL-NET-003\"\n  asset   = \"*\"\n  reason  = \"r\"\n  expires = \"2099-01-01\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ws, _, diags := policy.LoadWaivers(wf)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	fs, err := inventory.Open("examples/inventory")
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.Load(context.Background(), policy.Options{Builtins: policies.FS, Only: []string{"VGL-NET-003", "VGL-NET-001"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := scan.Run(context.Background(), scan.Options{Sources: []inventory.Source{fs}, Engine: e, Waivers: ws})
	if err != nil {
		t.Fatal(err)
	}
	r = &Report{Tool: "vigil", Findings: res.Findings, Summary: res.Summary, Policies: e.Policies(), FailOn: "low"}
	var buf bytes.Buffer
	if err := JUnit(&buf, r); err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &suites); err != nil {
		t.Fatal(err)
	}
	if s := suites.Suites[0]; s.Tests != 2 || s.Skipped != 1 || s.Failures != 1 {
		t.Errorf("tests %d skipped %d failures %d, want 2, 1 (VGL-NET-003, all waived), 1 (VGL-NET-001)\n%s", s.Tests, s.Skipped, s.Failures, buf.String())
	}
	validateXSD(t, "junit/junit-10.xsd", buf.Bytes())
	for _, c := range suites.Suites[0].Cases {
		switch {
		case strings.HasPrefix(c.Name, "VGL-NET-003"):
			if c.Skipped == nil || c.Failure != nil || !strings.HasSuffix(c.Skipped.Message, "waived") {
				t.Errorf("VGL-NET-003: %+v", c)
			}
			if !strings.HasPrefix(c.Classname, "vigil.policies.network.") {
				t.Errorf("classname %q", c.Classname)
			}
		case strings.HasPrefix(c.Name, "VGL-NET-001"):
			if c.Classname != "vigil.policies.network.open_admin_ports" || c.Skipped != nil || c.Failure == nil {
				t.Errorf("VGL-NET-001: %+v", c)
			}
		}
	}
}

// validateXSD validates doc against a schema of testdata/schemas with
// xmllint (Debian's libxml2-utils, which .ci/run installs).
func validateXSD(t *testing.T, schema string, doc []byte) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		if os.Getenv("VIGIL_REQUIRE_XMLLINT") != "" {
			t.Fatal("xmllint is required (apt-get install libxml2-utils)")
		}
		t.Skip("xmllint not installed (apt-get install libxml2-utils)")
	}
	f := filepath.Join(t.TempDir(), "doc.xml")
	if err := os.WriteFile(f, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("xmllint", "--noout", "--schema", testutil.Path(t, "testdata", "schemas", schema), f).CombinedOutput()
	if err != nil {
		t.Errorf("%s does not validate: %v\n%s", schema, err, out)
	}
}

// The JUnit report follows the JUnit schema Jenkins' xUnit plugin reads
// (testdata/schemas/junit); an invalid one is caught.
func TestJUnitValidatesAgainstSchema(t *testing.T) {
	r := exampleReport(t)
	var buf bytes.Buffer
	if err := JUnit(&buf, r); err != nil {
		t.Fatal(err)
	}
	validateXSD(t, "junit/junit-10.xsd", buf.Bytes())
	bad := bytes.ReplaceAll(buf.Bytes(), []byte(` errors="0"`), nil)
	f := filepath.Join(t.TempDir(), "bad.xml")
	if err := os.WriteFile(f, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("xmllint", "--noout", "--schema", testutil.Path(t, "testdata", "schemas", "junit", "junit-10.xsd"), f).CombinedOutput(); err == nil {
		t.Errorf("a testsuite without errors should not validate:\n%s", out)
	}
}

// The CSV report: a header, one row per finding (waived ones marked), as
// spreadsheets read it back.
func TestCSV(t *testing.T) {
	r := exampleReport(t)
	var buf bytes.Buffer
	if err := CSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != r.Summary.Findings+1 {
		t.Fatalf("%d rows for %d findings and a header", len(rows), r.Summary.Findings)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var ssh, waived []string
	for _, row := range rows[1:] {
		if row[col["asset_id"]] == "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-debug" && row[col["policy_id"]] == "VGL-NET-001" {
			ssh = row
		}
		if row[col["policy_id"]] == "VGL-NET-003" && row[col["waived"]] == "true" {
			waived = row
		}
	}
	// allow-ssh-debug is line 16 of the example CAI export, in acme-prod,
	// open to 0.0.0.0/0 on 22
	want := map[string]string{"severity": "high", "asset_name": "allow-ssh-debug", "provider": "gcp", "scope": "acme-prod", "failing": "true",
		"waived": "false", "file": "examples/inventory/gcp-resources.ndjson", "line": "16", "message": "allow-ssh-debug allows tcp from 0.0.0.0/0 to 22"}
	for k, v := range want {
		if ssh == nil || ssh[col[k]] != v {
			t.Errorf("allow-ssh-debug %s: %v, want %q", k, ssh, v)
		}
	}
	// examples/waivers.hcl waives the empty default VPC until 2027-06-30
	if waived == nil || waived[col["failing"]] != "false" || waived[col["waiver_expires"]] != "2027-06-30" ||
		waived[col["waiver_reason"]] != "empty default VPC kept for a legacy AMI build; SEC-412" {
		t.Errorf("waived VGL-NET-003: %v", waived)
	}
}

// A cell a spreadsheet would run as a formula is made text.
func TestCSVDefusesFormulas(t *testing.T) {
	for in, want := range map[string]string{"=HYPERLINK(\"http://x\")": "'=HYPERLINK(\"http://x\")", "+1": "'+1", "-2": "'-2", "@SUM(A1)": "'@SUM(A1)",
		"web-1": "web-1", "": "", "a=b": "a=b"} {
		if got := defuseFormula(in); got != want {
			t.Errorf("defuseFormula(%q) = %q, want %q", in, got, want)
		}
	}
}

// Security Hub keys findings by Id and code scanning by fingerprint: two
// findings with one id are one finding there. The examples' scan has 64
// findings on 63 policy/asset pairs: VGL-VULN-003 finds two things wrong
// with project acme-sandbox-7731 (877001234455), its OS Config API off and
// its agent off (the pair appears twice in examples.json.json, no other
// does). So each format must carry 64 distinct ids; an id of policy and
// asset only gives 63.
func TestIDsAreDistinct(t *testing.T) {
	const want = 64
	r := exampleReport(t)
	render := func(format string) []byte {
		var buf bytes.Buffer
		if err := Render(&buf, format, r); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	ids := map[string][]string{}
	// ASFF: JSON Lines of BatchImportFindings batches, each finding's Id
	for line := range bytes.Lines(render("asff")) {
		var batch []struct{ Id string }
		if err := json.Unmarshal(line, &batch); err != nil {
			t.Fatal(err)
		}
		for _, f := range batch {
			ids["asff"] = append(ids["asff"], f.Id)
		}
	}
	// OCSF: one event a line, its finding_info.uid (metadata.uid is the same)
	for line := range bytes.Lines(render("ocsf")) {
		var ev struct {
			Metadata    struct{ UID string } `json:"metadata"`
			FindingInfo struct{ UID string } `json:"finding_info"`
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Metadata.UID != ev.FindingInfo.UID {
			t.Errorf("ocsf: metadata.uid %q, finding_info.uid %q", ev.Metadata.UID, ev.FindingInfo.UID)
		}
		ids["ocsf"] = append(ids["ocsf"], ev.FindingInfo.UID)
	}
	var log struct {
		Runs []struct {
			Results []struct {
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(render("sarif"), &log); err != nil {
		t.Fatal(err)
	}
	for _, res := range log.Runs[0].Results {
		ids["sarif"] = append(ids["sarif"], res.PartialFingerprints["vigilFinding/v1"])
	}
	for _, format := range []string{"asff", "ocsf", "sarif"} {
		seen := map[string]int{}
		for _, id := range ids[format] {
			seen[id]++
		}
		if len(ids[format]) != want || len(seen) != want {
			t.Errorf("%s: %d findings, %d distinct ids; want %d and %d", format, len(ids[format]), len(seen), want, want)
		}
		for id, n := range seen {
			if n > 1 || id == "" {
				t.Errorf("%s: id %q on %d findings", format, id, n)
			}
		}
	}
}
