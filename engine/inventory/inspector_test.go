package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// inspectorPages are two pages of `aws inspector2 list-findings` output as
// the CLI prints them (the first with its nextToken).
func inspectorPages(t *testing.T) (string, string) {
	return testutil.Path(t, "testdata", "inspector", "list-findings-page1.json"),
		testutil.Path(t, "testdata", "inspector", "list-findings-page2.json")
}

// wantInspector is worked out by hand from the two pages: page 1 holds
// web-1's (i-0a1a…1, eu-west-1) openssh CVE (critical, fix YES), its libc6
// CVE (high, fix NO) and a network reachability finding (not a package
// vulnerability: skipped); page 2 holds i-0b2b…2's openssh CVE in us-east-1
// (high, fix PARTIAL counts as fixable), a later copy of the libc6 finding
// (same findingArn, now fix YES: the later copy wins, keeping its place), an
// ECR image's finding (not an instance: skipped) and a CLOSED one (skipped).
var wantInspector = []struct {
	id, scope, region, resource string
	vulns                       []asset.Vulnerability
}{
	{"arn:aws:inspector2:eu-west-1:111111111111:findings/i-0a1a000000000001", "111111111111", "eu-west-1",
		"arn:aws:ec2:eu-west-1:111111111111:instance/i-0a1a000000000001", []asset.Vulnerability{
			{ID: "CVE-2024-6387", Severity: "critical", Fixable: true, Package: "openssh-server", Fixed: "1:8.9p1-3ubuntu0.10"},
			{ID: "CVE-2024-2961", Severity: "high", Fixable: true, Package: "libc6", Fixed: "2.35-0ubuntu3.8"},
		}},
	{"arn:aws:inspector2:us-east-1:111111111111:findings/i-0b2b000000000002", "111111111111", "us-east-1",
		"arn:aws:ec2:us-east-1:111111111111:instance/i-0b2b000000000002", []asset.Vulnerability{
			{ID: "CVE-2024-6387", Severity: "high", Fixable: true, Package: "openssh-server", Fixed: "0:8.7p1-8.amzn2023.0.11"},
		}},
}

var wantInspectorSkipped = map[string]int64{
	"Inspector findings other than package vulnerabilities (network reachability, code)":            1,
	"Inspector findings on resources other than EC2 instances (container images, Lambda functions)": 1,
	"Inspector findings that are not active (suppressed, closed)":                                   1,
	"Inspector findings listed twice (the later copy kept)":                                         1,
}

func checkInspector(t *testing.T, paths ...string) {
	t.Helper()
	fs, err := Open(paths...)
	if err != nil {
		t.Fatal(err)
	}
	for f, format := range fs.Files() {
		if format != FormatInspector {
			t.Errorf("%s detected as %s, want aws-inspector", f, format)
		}
	}
	inv, err := Collect(context.Background(), fs)
	if err != nil {
		t.Fatal(err)
	}
	var reports []*asset.Asset
	for _, a := range inv.Assets() {
		if a.Kind == asset.KindVulnerabilityReport {
			reports = append(reports, a)
		} else if a.Kind != asset.KindAccount || !a.Facets.Synthesized {
			t.Errorf("unexpected asset %s (%s)", a.ID, a.Kind)
		}
	}
	if len(reports) != len(wantInspector) {
		t.Fatalf("%d vulnerability reports, want %d", len(reports), len(wantInspector))
	}
	for i, w := range wantInspector {
		a := inv.Get(w.id)
		if a == nil {
			t.Errorf("no report %s", w.id)
			continue
		}
		if a.Type != "AWS::Inspector2::Findings" || a.Scope != w.scope || a.Region != w.region || a.Source != asset.SourceInspector || a.Provider != asset.AWS {
			t.Errorf("report %d: type %s scope %s region %s source %s provider %s", i, a.Type, a.Scope, a.Region, a.Source, a.Provider)
		}
		if a.Facets.Resource != w.resource {
			t.Errorf("report %d: resource %s, want %s", i, a.Facets.Resource, w.resource)
		}
		if d := cmp.Diff(w.vulns, a.Facets.Vulnerabilities); d != "" {
			t.Errorf("report %d vulnerabilities (-want +got):\n%s", i, d)
		}
	}
	if d := cmp.Diff(wantInspectorSkipped, fs.Skipped()); d != "" {
		t.Errorf("skipped (-want +got):\n%s", d)
	}
}

// Pages in two files, concatenated in one file, one page a line, and the
// findings alone (--query findings) all import the same reports.
func TestInspectorImport(t *testing.T) {
	p1, p2 := inspectorPages(t)
	t.Run("two files", func(t *testing.T) { checkInspector(t, p1, p2) })
	b1, _ := os.ReadFile(p1)
	b2, _ := os.ReadFile(p2)
	t.Run("concatenated", func(t *testing.T) {
		checkInspector(t, writeFile(t, "all.json", string(b1)+string(b2)))
	})
	t.Run("one page a line", func(t *testing.T) {
		checkInspector(t, writeFile(t, "pages.ndjson", compact(t, b1)+"\n"+compact(t, b2)+"\n"))
	})
	t.Run("findings only", func(t *testing.T) {
		// `--query findings` prints the array; two pages, two arrays.
		f1, f2 := findingsOf(t, b1), findingsOf(t, b2)
		checkInspector(t, writeFile(t, "f1.json", f1), writeFile(t, "f2.json", f2))
	})
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func findingsOf(t *testing.T, b []byte) string {
	t.Helper()
	var page map[string]any
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(page["findings"])
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// A findings document whose entries are not Inspector findings is refused
// with its line, not read as empty.
func TestInspectorImportRefuses(t *testing.T) {
	p := writeFile(t, "x.json", "{\n  \"findings\": [\n    {\"title\": \"not inspector\"}\n  ]\n}\n")
	_, err := Load(context.Background(), p)
	var pe *ParseError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "findingArn") {
		t.Fatalf("Load: %v, want a ParseError naming findingArn", err)
	}
	if filepath.Base(pe.File) != "x.json" {
		t.Errorf("error names %s", pe.File)
	}
	// An empty last page is an empty inventory, not an error.
	inv, err := Load(context.Background(), writeFile(t, "empty.json", `{"findings": []}`))
	if err != nil || inv.Len() != 0 {
		t.Fatalf("empty page: %v, %d assets", err, inv.Len())
	}
}
