package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/internal/testutil"
)

// run runs vigil in-process from the repository root.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Chdir(testutil.Root(t))
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestScanExamples(t *testing.T) {
	code, out, errs := run(t, "scan", "--config", "examples/vigil.hcl", "examples/inventory/")
	if code != ExitFindings {
		t.Fatalf("exit %d, want 1 (the examples have findings); stderr: %s", code, errs)
	}
	for _, want := range []string{"CRITICAL (4)", "VGL-NET-001", "VGL-VULN-001", "Ran 35 policies", "Read 99 assets"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestFailOn(t *testing.T) {
	code, _, _ := run(t, "scan", "-c", "examples/vigil.hcl", "--fail-on", "critical", "--policy", "VGL-NET-003", "examples/inventory/")
	if code != ExitOK {
		t.Errorf("only low findings with --fail-on critical: exit %d, want 0", code)
	}
	code, _, _ = run(t, "scan", "-c", "examples/vigil.hcl", "--fail-on", "none", "examples/inventory/")
	if code != ExitOK {
		t.Errorf("--fail-on none: exit %d", code)
	}
}

func TestJSONOutputContract(t *testing.T) {
	code, out, _ := run(t, "scan", "-c", "examples/vigil.hcl", "-f", "json", "examples/inventory/")
	if code != ExitFindings {
		t.Fatalf("exit %d", code)
	}
	var doc struct {
		Findings []map[string]any `json:"findings"`
		Summary  map[string]any   `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"policy_id", "asset_id", "severity", "title", "message", "kind", "provider", "scope", "region", "waived"} {
		if _, ok := doc.Findings[0][k]; !ok {
			t.Errorf("finding lacks %q", k)
		}
	}
	for _, k := range []string{"assets", "assets_by_kind", "policies", "findings", "findings_by_severity", "fail_on", "failing"} {
		if _, ok := doc.Summary[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
}

func TestOutputFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.sarif")
	code, stdout, stderr := run(t, "scan", "-c", "examples/vigil.hcl", "-f", "sarif", "-o", out, "examples/inventory/")
	if code != ExitFindings || stdout != "" || !strings.Contains(stderr, "wrote sarif report") {
		t.Errorf("exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.Contains(b, []byte(`"version": "2.1.0"`)) {
		t.Errorf("SARIF file: %v", err)
	}
}

func TestBrokenInventoryLine(t *testing.T) {
	good := `{"name":"//storage.googleapis.com/a","asset_type":"storage.googleapis.com/Bucket","resource":{"data":{"name":"a"}}}`
	p := write(t, "inv.ndjson", strings.Repeat(good+"\n", 16)+"{broken\n"+good+"\n")
	code, _, errs := run(t, "scan", p)
	if code != ExitError || !strings.Contains(errs, p+":17: invalid JSON") {
		t.Errorf("exit %d, stderr %q; want exit 2 and %s:17", code, errs, p)
	}
}

func TestPolicyWithoutMetadata(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mine.rego"), []byte("package vigil.policies.acme.mine\n\nimport rego.v1\n\ndeny contains \"x\" if input.asset.name == \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, "scan", "--policies", dir, "examples/inventory/")
	if code != ExitError || !strings.Contains(errs, "mine.rego:1: policy package vigil.policies.acme.mine: no # METADATA") {
		t.Errorf("exit %d stderr %q", code, errs)
	}
}

func TestWaiverWithoutReason(t *testing.T) {
	w := write(t, "waivers.hcl", "waiver {\n  policy  = \"VGL-NET-001\"\n  asset   = \"*\"\n  reason  = \"\"\n  expires = \"2027-01-31\"\n}\n")
	code, _, errs := run(t, "scan", "-w", w, "examples/inventory/")
	if code != ExitError || !strings.Contains(errs, "Waiver without a reason") || !strings.Contains(errs, "waivers.hcl line 1") {
		t.Errorf("exit %d stderr %q", code, errs)
	}
}

func TestBadConfigShowsSourceLine(t *testing.T) {
	c := write(t, "vigil.hcl", "required_labels = [\"owner\"]\nadmin_ports = [22, 99999]\n")
	code, _, errs := run(t, "scan", "-c", c, "examples/inventory/")
	if code != ExitError || !strings.Contains(errs, "Invalid admin port") || !strings.Contains(errs, "admin_ports = [22, 99999]") {
		t.Errorf("exit %d stderr %q", code, errs)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"scan"},
		{"scan", "--format", "yaml", "examples/inventory"},
		{"scan", "--fail-on", "urgent", "examples/inventory"},
		{"scan", "--no-such-flag"},
		{"scan", "does/not/exist.json"},
	} {
		code, _, errs := run(t, args...)
		if code != ExitError || errs == "" {
			t.Errorf("%v: exit %d stderr %q", args, code, errs)
		}
	}
}

func TestPolicyCommands(t *testing.T) {
	code, out, _ := run(t, "policy", "list")
	if code != 0 || !strings.Contains(out, "VGL-NET-001") || !strings.Contains(out, "Administrative ports open to the internet") {
		t.Errorf("policy list: %d %s", code, out)
	}
	code, out, _ = run(t, "policy", "test")
	if code != 0 || !strings.Contains(out, "0 failed") {
		t.Errorf("policy test: %d %s", code, out)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x_test.rego"), []byte("package x_test\nimport rego.v1\ntest_fails if { 1 == 2 }\n"), 0o644)
	code, out, _ = run(t, "policy", "test", "--no-builtin", dir)
	if code != ExitFindings || !strings.Contains(out, "FAIL") {
		t.Errorf("a failing user test: exit %d %s", code, out)
	}
}

func TestInventoryShow(t *testing.T) {
	code, out, _ := run(t, "inventory", "show", "examples/inventory/")
	if code != 0 || !strings.Contains(out, "99 assets from 4 files") || !strings.Contains(out, "acme-prod") || !strings.Contains(out, "eu-west-1") {
		t.Errorf("inventory show: %d\n%s", code, out)
	}
}

func TestInventoryExportIsScannable(t *testing.T) {
	out := filepath.Join(t.TempDir(), "assets.ndjson")
	if code, _, errs := run(t, "inventory", "export", "examples/inventory/", "--out", out); code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	_, a, _ := run(t, "scan", "-c", "examples/vigil.hcl", "-f", "json", "-q", "examples/inventory/")
	_, b, _ := run(t, "scan", "-c", "examples/vigil.hcl", "-f", "json", "-q", out)
	count := func(s string) int {
		var doc struct{ Findings []any }
		json.Unmarshal([]byte(s), &doc)
		return len(doc.Findings)
	}
	if count(a) != count(b) || count(a) == 0 {
		t.Errorf("scanning the export gives %d findings, the sources %d", count(b), count(a))
	}
}

func write2(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A Config Validator policy library runs next to the built-in policies:
// the example constraints over the bundled inventory, the templates from
// Google's policy-library; waivers name constraints by kind/name.
func TestScanWithPolicyLibrary(t *testing.T) {
	waivers := write(t, "waivers.hcl", `waiver {
  policy  = "GCPStorageLocationConstraintV1/*"
  asset   = "//storage.googleapis.com/sandbox-*"
  reason  = "sandbox buckets hold no data"
  expires = "2099-01-01"
}
`)
	code, out, errs := run(t, "scan", "-c", "examples/vigil.hcl", "-f", "json", "-w", waivers,
		"--policy-library", "testdata/fixtures/GoogleCloudPlatform__policy-library",
		"--policy-library", "examples/policy-library", "examples/inventory/")
	if code != ExitFindings {
		t.Fatalf("exit %d; stderr: %s", code, errs)
	}
	var doc struct {
		Findings []struct {
			PolicyID string `json:"policy_id"`
			AssetID  string `json:"asset_id"`
			Severity string `json:"severity"`
			Waived   bool   `json:"waived"`
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range doc.Findings {
		if strings.HasPrefix(f.PolicyID, "GCP") {
			got[f.PolicyID+" "+f.AssetID+" "+fmt.Sprint(f.Waived)] = true
		}
	}
	for _, want := range []string{
		"GCPStorageLocationConstraintV1/buckets_in_eu //storage.googleapis.com/acme-prod-customer-exports false",
		"GCPStorageLocationConstraintV1/buckets_in_eu //storage.googleapis.com/sandbox-tmp-7731 true",
		"GCPRestrictedFirewallRulesConstraintV1/no_world_ingress //compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-debug false",
	} {
		if !got[want] {
			t.Errorf("missing %s; library findings: %v", want, got)
		}
	}
	for k := range got {
		if strings.HasPrefix(k, "GCPNetworkRestrictDefaultV1") {
			t.Errorf("%s: the sandbox project is excluded by id", k)
		}
	}
}

func TestBrokenPolicyLibrary(t *testing.T) {
	lib := t.TempDir()
	if err := os.MkdirAll(filepath.Join(lib, "policies", "constraints"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lib, "policies", "constraints", "c.yaml"), []byte("apiVersion: constraints.gatekeeper.sh/v1alpha1\nkind: NoSuchTemplateV1\nmetadata:\n  name: c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, "scan", "--policy-library", lib, "examples/inventory/")
	if code != ExitError || !strings.Contains(errs, "c.yaml:2: constraint c is of kind NoSuchTemplateV1") {
		t.Errorf("exit %d, stderr %q: want 2 naming c.yaml:2", code, errs)
	}
}

// vigil scan --compliance prints the per-control table after the findings;
// on the examples, 5.2 fails (sg bastion and launch-wizard-1 admit 0.0.0.0/0
// to 22 and everything), 3.2 fails (dev-trail does not validate), 1.4
// passes (account 111's root has no key; 222 is a placeholder, not
// counted), 5.4 is not assessed (no security group named default), 1.12
// is partial (console passwords are not checked) and 1.6 is not covered.
func TestScanComplianceTable(t *testing.T) {
	code, out, errs := run(t, "scan", "-c", "examples/vigil.hcl", "--as-of", "2026-11-27", "--compliance", "cis-aws-3.0", "examples/inventory/")
	if code != ExitFindings {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "CIS Amazon Web Services Foundations Benchmark v3.0.0: ") {
		t.Errorf("no title:\n%s", out)
	}
	for _, want := range []struct{ status, control, title string }{
		{"FAIL", "5.2", "No security group admits 0.0.0.0/0 to admin ports"},
		{"FAIL", "3.2", "CloudTrail log file validation"},
		{"PASS", "1.4", "No access keys for the root user [active_keys known for 1 of 2 account assets]"},
		{"NOT ASSESSED", "5.4", "The default security group restricts all traffic [not in the inventory: VGL-NET-005: no firewall with name=default]"},
		{"PARTIAL", "1.12", "Disable credentials unused for 45 days [only in part: VGL-KEY-002 checks active access keys"},
		{"NOT COVERED", "1.6", "Hardware MFA for the root user"},
	} {
		re := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(want.status) + `\s+` + regexp.QuoteMeta(want.control) + `\s+` + regexp.QuoteMeta(want.title))
		if !re.MatchString(out) {
			t.Errorf("output lacks %s %s %q:\n%s", want.status, want.control, want.title, out)
		}
	}
	code, out, _ = run(t, "scan", "-c", "examples/vigil.hcl", "--compliance", "cis-gcp-3.0", "-f", "json", "examples/inventory/")
	var doc struct {
		Compliance []struct {
			Benchmark string `json:"benchmark"`
			Controls  []struct {
				Control, Status string
				Policies        []string
			} `json:"controls"`
		} `json:"compliance"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Compliance) != 1 || doc.Compliance[0].Benchmark != "cis-gcp-3.0" {
		t.Fatalf("json: %v %s", err, out[:min(len(out), 400)])
	}
	status := map[string]string{}
	for _, c := range doc.Compliance[0].Controls {
		status[c.Control] = c.Status
	}
	// 3.6: allow-ssh-debug and default-allow-ssh; 3.8: the sandbox
	// subnets; 4.4: acme-sandbox-7731's metadata has no enable-oslogin;
	// 4.3: no VM sets block-project-ssh-keys (OS Login is no substitute);
	// 1.4: VGL-KEY-006 checks the default compute account's keys only.
	for c, want := range map[string]string{"3.6": "fail", "3.8": "fail", "4.4": "fail", "4.3": "fail", "1.4": "partial", "1.13": "not covered"} {
		if status[c] != want {
			t.Errorf("control %s: %q, want %q", c, status[c], want)
		}
	}
	code, _, errs = run(t, "scan", "--compliance", "cis-azure-2.0", "examples/inventory/")
	if code != ExitError || !strings.Contains(errs, "unknown benchmark") {
		t.Errorf("unknown benchmark: exit %d, %s", code, errs)
	}
	// CSV gets a column of the controls each finding breaks; a format
	// with no place for controls refuses the flag instead of ignoring it.
	code, out, _ = run(t, "scan", "-c", "examples/vigil.hcl", "--as-of", "2026-11-27", "--compliance", "cis-aws-3.0", "-f", "csv", "examples/inventory/")
	if code != ExitFindings || !strings.HasSuffix(strings.SplitN(out, "\n", 2)[0], ",remediation,cis-aws-3.0") {
		t.Errorf("csv: exit %d, header %q", code, strings.SplitN(out, "\n", 2)[0])
	}
	for _, format := range []string{"junit", "github", "asff", "ocsf"} {
		code, _, errs = run(t, "scan", "-c", "examples/vigil.hcl", "--compliance", "cis-aws-3.0", "-f", format, "examples/inventory/")
		if code != ExitError || !strings.Contains(errs, "--compliance has no place in --format "+format) {
			t.Errorf("%s: exit %d, %s", format, code, errs)
		}
	}
}

func TestPolicyListCompliance(t *testing.T) {
	code, out, _ := run(t, "policy", "list", "--compliance", "cis-aws-3.0")
	if code != 0 || !strings.Contains(out, "5.1      VGL-NET-006") || !strings.Contains(out, "1.1      not covered") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}
