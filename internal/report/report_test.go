package report

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
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
	e, err := policy.Load(context.Background(), policy.Options{Builtins: policies.FS, Config: cfg.Data()})
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
	clock := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	res, err := scan.Run(context.Background(), scan.Options{Sources: []inventory.Source{fs}, Engine: e, Waivers: ws, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	return &Report{Tool: "vigil", Version: "test", Findings: res.Findings, Summary: res.Summary, Policies: e.Policies(), FailOn: "low", UnusedWaivers: res.UnusedWaivers}
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
		ext := map[string]string{"table": "txt", "json": "json", "sarif": "sarif", "junit": "xml", "github": "txt"}[format]
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
