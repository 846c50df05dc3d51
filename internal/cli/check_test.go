package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/report/schematest"
	"github.com/vigil-ir/vigil/internal/testutil"
)

func TestCheckExamplePlan(t *testing.T) {
	code, out, _ := run(t, "check", "-c", "examples/vigil.hcl", "examples/terraform/plan.json")
	if code != ExitFindings {
		t.Fatalf("exit %d", code)
	}
	// The plan creates 23 resources (a policy, a public access block and an
	// IAM member among them, judged with their buckets) and deletes one.
	// Every type is mapped: the Elastic IPs and the Google address are
	// addresses, as in live inventories.
	for _, want := range []string{
		"aws_security_group.vpn",
		"its sources known only after apply",
		"Judged 23 planned resources (create 23).",
		"Not judged: 1 resource planned for deletion.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "not understood") {
		t.Errorf("every type of the example is mapped:\n%s", out)
	}
}

// The bundled example's SARIF puts each result on the header line of the
// .tf block that declares its resource (lines read off examples/terraform
// main.tf), keeps the plan entry as a related location, and follows the
// SARIF 2.1.0 schema.
func TestCheckSARIFOnTerraformLines(t *testing.T) {
	code, out, errs := run(t, "check", "examples/terraform/plan.json", "--chdir", "examples/terraform", "--format", "sarif")
	if code != ExitFindings {
		t.Fatalf("exit %d: %s", code, errs)
	}
	schematest.Validate(t, testutil.Path(t, "testdata", "schemas", "sarif", "sarif-2.1.0.json"), []byte(out))
	type physical struct {
		ArtifactLocation struct{ URI, URIBaseID string }
		Region           struct{ StartLine int }
	}
	var log struct {
		Runs []struct {
			OriginalURIBaseIDs map[string]struct{ URI string }
			Results            []struct {
				RuleID    string
				Locations []struct {
					PhysicalLocation physical
					LogicalLocations []struct{ FullyQualifiedName string }
				}
				RelatedLocations []struct {
					PhysicalLocation physical
					Message          struct{ Text string }
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	if base := log.Runs[0].OriginalURIBaseIDs["%SRCROOT%"].URI; !strings.HasPrefix(base, "file:///") || !strings.HasSuffix(base, "/") {
		t.Errorf("originalUriBaseIds: %q", base)
	}
	// resource address -> line of its block in main.tf
	want := map[string]int{
		"aws_security_group.bastion":              35,
		"aws_vpc_security_group_ingress_rule.rdp": 46,
		"aws_security_group.vpn":                  60,
		"aws_instance.web[0]":                     71, // count instances share the block
		"aws_instance.web[1]":                     71,
		"aws_s3_bucket.reports":                   80,
		"aws_cloudtrail.main":                     108, // VGL-LOG-002: enable_log_file_validation defaults to false
		"google_compute_firewall.office_ssh":      133,
		"google_compute_firewall.iap_ssh":         155,
		"google_storage_bucket.exports":           164,
	}
	got := map[string]int{}
	for _, r := range log.Runs[0].Results {
		l := r.Locations[0]
		addr := l.LogicalLocations[0].FullyQualifiedName
		if l.PhysicalLocation.ArtifactLocation.URI != "examples/terraform/main.tf" || l.PhysicalLocation.ArtifactLocation.URIBaseID != "%SRCROOT%" {
			t.Errorf("%s %s: artifact %+v", r.RuleID, addr, l.PhysicalLocation.ArtifactLocation)
		}
		got[addr] = l.PhysicalLocation.Region.StartLine
		if len(r.RelatedLocations) != 1 || r.RelatedLocations[0].PhysicalLocation.ArtifactLocation.URI != "examples/terraform/plan.json" ||
			r.RelatedLocations[0].PhysicalLocation.Region.StartLine < 1 || !strings.Contains(r.RelatedLocations[0].Message.Text, "planned change (create)") {
			t.Errorf("%s %s: related locations %+v", r.RuleID, addr, r.RelatedLocations)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result lines (-want +got):\n%s", diff)
	}
}

// Without --chdir, the plan's directory holds the configuration.
func TestCheckDefaultsToThePlansDirectory(t *testing.T) {
	_, out, _ := run(t, "check", "-f", "github", "--policy", "VGL-DATA-002", "examples/terraform/plan.json")
	if !strings.Contains(out, "::error file=examples/terraform/main.tf,line=80,title=VGL-DATA-002 Publicly readable bucket::aws_s3_bucket.reports") {
		t.Errorf("annotations:\n%s", out)
	}
	// JSON: the .tf line is the finding's file and line, the plan entry a
	// related location (line 890: the resource_changes entry of the bucket).
	_, out, _ = run(t, "check", "-f", "json", "--policy", "VGL-DATA-002", "examples/terraform/plan.json")
	var rep struct {
		Findings []struct {
			AssetID          string `json:"asset_id"`
			File             string
			Line             int
			RelatedLocations []struct {
				File string
				Line int
			} `json:"related_locations"`
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Findings {
		if f.AssetID != "aws_s3_bucket.reports" {
			continue
		}
		if f.File != "examples/terraform/main.tf" || f.Line != 80 || len(f.RelatedLocations) != 1 ||
			f.RelatedLocations[0].File != "examples/terraform/plan.json" || f.RelatedLocations[0].Line != 890 {
			t.Errorf("placement: %+v", f)
		}
	}
}

// An address without a block is reported as such, on the plan's line.
func TestCheckReportsUnplacedAddresses(t *testing.T) {
	dir := t.TempDir()
	plan, err := os.ReadFile(testutil.Path(t, "examples", "terraform", "plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	write2(t, filepath.Join(dir, "plan.json"), string(plan))
	write2(t, filepath.Join(dir, "main.tf"), "resource \"aws_s3_bucket\" \"reports\" {\n  bucket = \"acme-partner-reports-2026\"\n}\n")
	code, out, errs := run(t, "check", "-f", "json", "--policy", "VGL-NET-001", filepath.Join(dir, "plan.json"))
	if code != ExitFindings {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, `"unplaced": "aws_security_group.bastion has no block in the .tf files of `+dir) {
		t.Errorf("unplaced not reported:\n%s", out)
	}
	if !strings.Contains(errs, "finding not placed on the configuration: aws_security_group.bastion has no block") {
		t.Errorf("stderr: %s", errs)
	}
}

func TestCheckChdirErrors(t *testing.T) {
	code, _, errs := run(t, "check", "--chdir", t.TempDir(), "examples/terraform/plan.json")
	if code != ExitError || !strings.Contains(errs, "holds no .tf or .tf.json files") {
		t.Errorf("empty --chdir: exit %d, %s", code, errs)
	}
	dir := t.TempDir()
	write2(t, filepath.Join(dir, "main.tf"), "resource \"aws_vpc\" \"main\" {\n  cidr_block = \n}\n")
	code, _, errs = run(t, "check", "--chdir", dir, "examples/terraform/plan.json")
	if code != ExitError || !strings.Contains(errs, "on "+filepath.Join(dir, "main.tf")+" line 2") || !strings.Contains(errs, "the Terraform configuration has errors") {
		t.Errorf("broken --chdir: exit %d, %s", code, errs)
	}
}

// A binary plan (terraform plan -out) gets the command that makes its JSON.
func TestCheckBinaryPlanHint(t *testing.T) {
	p := filepath.Join(t.TempDir(), "plan.out")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("tfplan")
	w.Write([]byte("binary"))
	zw.Close()
	write2(t, p, buf.String())
	code, _, errs := run(t, "check", p)
	if code != ExitError || !strings.Contains(errs, "this is a binary plan: run `terraform show -json "+p) {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

// '-' reads the plan from standard input; errors name it "-".
func TestCheckStdin(t *testing.T) {
	t.Chdir(testutil.Root(t))
	plan, err := os.ReadFile("examples/terraform/plan.json")
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"check", "-", "--chdir", "examples/terraform", "-f", "github", "--policy", "VGL-DATA-002"}, bytes.NewReader(plan), &out, &errb)
	if code != ExitFindings || !strings.Contains(out.String(), "::error file=examples/terraform/main.tf,line=80,") {
		t.Errorf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	errb.Reset()
	code = Run(context.Background(), []string{"check", "-"}, strings.NewReader("{\"format_version\": \"1.2\",\n\"resource_changes\": [\n  {\"address\": \"aws_vpc.a\",,}\n]}\n"), &out, &errb)
	if code != ExitError || !strings.HasPrefix(errb.String(), "vigil: -:3: invalid JSON") {
		t.Errorf("broken stdin plan: exit %d, %q", code, errb.String())
	}
}

func TestCheckRejectsNonPlans(t *testing.T) {
	code, _, errs := run(t, "check", "examples/inventory/gcp-resources.ndjson")
	if code != ExitError || !strings.Contains(errs, "is not a Terraform plan (it looks like a Cloud Asset Inventory export)") {
		t.Errorf("exit %d stderr %q", code, errs)
	}
	p := write(t, "plan.json", "{\"format_version\": \"1.2\",\n\"resource_changes\": [\n  {\"address\": \"aws_vpc.a\",,}\n]}\n")
	code, _, errs = run(t, "check", p)
	if code != ExitError || !strings.Contains(errs, p+":3: invalid JSON") {
		t.Errorf("malformed plan: exit %d stderr %q", code, errs)
	}
}

func TestCheckFailOnUnknowns(t *testing.T) {
	// Findings that only say a value is unknown are findings like any other:
	// --fail-on decides.
	code, _, _ := run(t, "check", "--policy", "VGL-NET-002", "-c", "examples/vigil.hcl", "--fail-on", "high", "examples/terraform/plan.json")
	if code != ExitOK {
		t.Errorf("medium unknown-network findings with --fail-on high: exit %d", code)
	}
	code, _, _ = run(t, "check", "--policy", "VGL-NET-002", "-c", "examples/vigil.hcl", "--fail-on", "medium", "examples/terraform/plan.json")
	if code != ExitFindings {
		t.Errorf("with --fail-on medium: exit %d", code)
	}
}

// runIn runs vigil from dir with stdin.
func runIn(t *testing.T, dir string, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, bytes.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// A plan read without its .tf source (standard input from another
// directory) cannot tell an unset rule list from a dynamic block: the
// group is judged as configuring no rules, and stderr, JSON and SARIF say
// so. SARIF results keep a physical location: the plan, as "-".
func TestCheckWithoutConfigurationWarns(t *testing.T) {
	root := testutil.Root(t)
	dir := filepath.Join(root, "testdata", "plans", "constructed", "review-15", "dynamic-ingress")
	plan, err := os.ReadFile(filepath.Join(dir, "plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	code, out, errs := runIn(t, elsewhere, plan, "check", "-q", "-f", "json", "-")
	if code != ExitOK || !strings.Contains(errs, "vigil: warning: 1 planned resource was judged without its .tf source") ||
		!strings.Contains(errs, "vigil: warning:   -:9: aws_security_group.dyn (ingress, egress)\n") || !strings.Contains(errs, "vigil: warning: no .tf files were read: pass --chdir DIR") {
		t.Errorf("exit %d, stderr:\n%s", code, errs)
	}
	var rep struct {
		Findings []any
		Warnings []struct {
			Message, File, Subject string
			Line                   int
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 0 || len(rep.Warnings) != 1 || rep.Warnings[0].File != "-" || rep.Warnings[0].Line != 9 || rep.Warnings[0].Subject != "aws_security_group.dyn" ||
		!strings.HasPrefix(rep.Warnings[0].Message, "aws_security_group.dyn: ingress and egress are known only after apply") {
		t.Errorf("JSON: %+v", rep)
	}

	// --format github: a workflow warning (standard input has no file to
	// annotate)
	_, out, _ = runIn(t, elsewhere, plan, "check", "-q", "-f", "github", "-")
	if !strings.Contains(out, "::warning title=judged without its .tf source::aws_security_group.dyn: ingress and egress are known only after apply") {
		t.Errorf("github:\n%s", out)
	}

	// SARIF: the warning as a tool execution notification; every result
	// (eip-and-rules has five, no .tf) on the plan line, uri "-".
	plan, err = os.ReadFile(filepath.Join(root, "testdata", "plans", "constructed", "review-15", "eip-and-rules.json"))
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ = runIn(t, elsewhere, plan, "check", "-q", "-f", "sarif", "-")
	if code != ExitFindings {
		t.Fatalf("exit %d", code)
	}
	schematest.Validate(t, filepath.Join(root, "testdata", "schemas", "sarif", "sarif-2.1.0.json"), []byte(out))
	var log struct {
		Runs []struct {
			Invocations []struct {
				ExecutionSuccessful        bool
				ToolExecutionNotifications []struct {
					Level   string
					Message struct{ Text string }
				}
			}
			Results []struct {
				Locations []struct {
					PhysicalLocation *struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	// the plan's assumption, and that "-" names no file (no --stdin-filename)
	if len(run.Invocations) != 1 || !run.Invocations[0].ExecutionSuccessful || len(run.Invocations[0].ToolExecutionNotifications) != 2 ||
		run.Invocations[0].ToolExecutionNotifications[0].Level != "warning" || !strings.HasPrefix(run.Invocations[0].ToolExecutionNotifications[0].Message.Text, "the plan was read from standard input") ||
		run.Invocations[0].ToolExecutionNotifications[1].Level != "warning" || !strings.HasPrefix(run.Invocations[0].ToolExecutionNotifications[1].Message.Text, "aws_security_group.g: ingress and egress") {
		t.Errorf("notifications: %+v", run.Invocations)
	}
	if len(run.Results) != 5 {
		t.Errorf("%d results, want 5", len(run.Results))
	}
	for i, r := range run.Results {
		if pl := r.Locations[0].PhysicalLocation; pl == nil || pl.ArtifactLocation.URI != "-" || pl.Region.StartLine < 1 {
			t.Errorf("result %d: no physical location on the plan: %+v", i, r.Locations)
		}
	}

	// With the .tf source the dynamic block is seen: a finding, no warning.
	code, _, errs = runIn(t, elsewhere, nil, "check", "-q", filepath.Join(dir, "plan.json"))
	if code != ExitFindings || strings.Contains(errs, "warning") {
		t.Errorf("with main.tf beside the plan: exit %d, %s", code, errs)
	}
}

// --stdin-filename names the plan on standard input; its directory is the
// default --chdir.
func TestCheckStdinFilename(t *testing.T) {
	rel := "testdata/plans/constructed/review-15/dynamic-ingress/plan.json"
	plan, err := os.ReadFile(testutil.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := runIn(t, testutil.Root(t), plan, "check", "-f", "github", "--stdin-filename", rel, "-")
	// main.tf declares aws_security_group.dyn on line 5
	if code != ExitFindings || !strings.Contains(out, "::error file=testdata/plans/constructed/review-15/dynamic-ingress/main.tf,line=5,title=VGL-NET-001") || strings.Contains(errs, "warning") {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
}

// Two plans with the same addresses (two workspaces) are two change sets:
// every finding of each is kept, with its own file, and SARIF tells them
// apart.
func TestCheckSeveralPlans(t *testing.T) {
	a := "testdata/plans/constructed/review-15/two-workspaces/a/plan.json"
	b := "testdata/plans/constructed/review-15/two-workspaces/b/plan.json"
	code, out, errs := run(t, "check", "-q", "-f", "json", a, b)
	if code != ExitFindings {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep struct {
		Findings []struct {
			PolicyID string `json:"policy_id"`
			AssetID  string `json:"asset_id"`
			File     string
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, f := range rep.Findings {
		got[f.File] = append(got[f.File], f.PolicyID+" "+f.AssetID)
	}
	// a: the rule on 22 admits 10.0.0.0/8; b: 0.0.0.0/0 (see the corpus)
	want := map[string][]string{
		a: {"VGL-NET-001 aws_security_group_rule.unk", "VGL-NET-001 aws_vpc_security_group_ingress_rule.all", "VGL-NET-001 aws_vpc_security_group_ingress_rule.num", "VGL-NET-004 aws_instance.i"},
		b: {"VGL-NET-001 aws_security_group_rule.ssh", "VGL-NET-001 aws_security_group_rule.unk", "VGL-NET-001 aws_vpc_security_group_ingress_rule.all", "VGL-NET-001 aws_vpc_security_group_ingress_rule.num", "VGL-NET-004 aws_instance.i"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings by plan (-want +got):\n%s", diff)
	}
	_, out, _ = run(t, "check", "-q", "-f", "sarif", a, b)
	var log struct {
		Runs []struct {
			Results []struct{ PartialFingerprints map[string]string }
		}
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range log.Runs[0].Results {
		seen[r.PartialFingerprints["vigilFinding/v1"]] = true
	}
	if len(log.Runs[0].Results) != 9 || len(seen) != 9 {
		t.Errorf("%d results, %d distinct fingerprints; want 9 and 9", len(log.Runs[0].Results), len(seen))
	}
	// the table says which plan each finding is in
	_, out, _ = run(t, "check", "-q", a, b)
	if !strings.Contains(out, "at "+a+":") || !strings.Contains(out, "at "+b+":") {
		t.Errorf("table:\n%s", out)
	}
}

// A binary plan on standard input gets the pipe that makes its JSON, not
// the name of a temporary file.
func TestCheckBinaryPlanOnStdin(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("tfplan")
	w.Write([]byte("binary"))
	zw.Close()
	code, _, errs := runIn(t, t.TempDir(), buf.Bytes(), "check", "-")
	if code != ExitError || !strings.Contains(errs, "standard input is a binary plan (terraform plan -out): pipe its JSON form instead, `terraform show -json plan.out | vigil check -`") ||
		strings.Contains(errs, "vigil-check-") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

// Several notes in one plan each get their own line, found in one pass
// over the plan. The lines are those of the "{" opening each group's entry
// in resource_changes of examples/terraform/plan.json (the line above its
// "address", found by grep -n '"address": "aws_security_group' and
// module.edge's): the four groups without in-line egress rules.
func TestCheckWarningLinesOfSeveralNotes(t *testing.T) {
	plan, err := os.ReadFile(filepath.Join(testutil.Root(t), "examples", "terraform", "plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() // no .tf files: every group is judged without its source
	if err := os.WriteFile(filepath.Join(dir, "plan.json"), plan, 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, errs := runIn(t, dir, nil, "check", "-q", "-f", "json", "plan.json")
	var rep struct {
		Warnings []struct {
			Subject string
			Line    int
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, errs)
	}
	want := map[string]int{
		"aws_security_group.bastion":             584,
		"aws_security_group.vpn":                 750,
		`module.edge.aws_security_group.lb["a"]`: 1096,
		`module.edge.aws_security_group.lb["b"]`: 1153,
	}
	got := map[string]int{}
	for _, w := range rep.Warnings {
		got[w.Subject] = w.Line
	}
	if !cmp.Equal(got, want) {
		t.Errorf("warning lines: %s", cmp.Diff(want, got))
	}
}

// A generated plan can have thousands of resources judged without their
// source: stderr names the first ten of each reason and counts the rest;
// the report keeps all of them.
func TestCheckWarningsAreFoldedOnStderr(t *testing.T) {
	ps := &inventory.PlanStats{}
	for i := range 12 {
		ps.Notes = append(ps.Notes, inventory.PlanNote{File: "/nonexistent/plan.json", Address: fmt.Sprintf("aws_security_group.g%02d", i), Attrs: []string{"ingress"}, Why: "no .tf files were read"})
	}
	ps.Notes = append(ps.Notes, inventory.PlanNote{File: "/nonexistent/plan.json", Address: "aws_security_group.other", Attrs: []string{"egress"}, Why: "another reason"})
	s := &tfSources{names: map[string]string{"/nonexistent/plan.json": "plan.json"}}
	if n := len(s.warnings(ps)); n != 13 {
		t.Errorf("the report should keep all 13 warnings, has %d", n)
	}
	var b strings.Builder
	s.reportWarnings(&b, ps)
	got := b.String()
	for _, want := range []string{
		"vigil: warning: 13 planned resources were judged without their .tf source",
		"aws_security_group.g00 (ingress)\n",
		"aws_security_group.g09 (ingress)\n",
		"vigil: warning:   (and 2 more like these: --format json or sarif lists every one)\nvigil: warning: no .tf files were read\n",
		"aws_security_group.other (egress)\nvigil: warning: another reason\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("stderr lacks %q:\n%s", want, got)
		}
	}
	for _, hidden := range []string{"g10", "g11"} {
		if strings.Contains(got, hidden) {
			t.Errorf("stderr names %s, past the first ten:\n%s", hidden, got)
		}
	}
}
