package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/internal/testutil"
)

// -i/--inventory names scan's and check's inputs as it does runbook's and
// triage's; positional inputs still work, and both together are read.
func TestInventoryFlagOnScanAndCheck(t *testing.T) {
	// the same scan three ways: the JSON report must be the same
	var reports []string
	for _, args := range [][]string{
		{"examples/inventory/aws-iam.ndjson", "examples/inventory/gcp-resources.ndjson"},
		{"-i", "examples/inventory/aws-iam.ndjson", "--inventory", "examples/inventory/gcp-resources.ndjson"},
		{"-i", "examples/inventory/aws-iam.ndjson", "examples/inventory/gcp-resources.ndjson"},
	} {
		code, out, errs := run(t, append([]string{"scan", "-q", "-c", "examples/vigil.hcl", "--as-of", "2026-11-27", "-f", "csv"}, args...)...)
		if code != ExitFindings {
			t.Fatalf("scan %v: exit %d: %s", args, code, errs)
		}
		reports = append(reports, out)
	}
	if reports[0] != reports[1] || reports[0] != reports[2] {
		t.Error("-i, --inventory and positional inputs gave different reports")
	}
	// aws-iam.ndjson alone has fewer findings: -i is read, not ignored
	_, one, _ := run(t, "scan", "-q", "-c", "examples/vigil.hcl", "--as-of", "2026-11-27", "-f", "csv", "-i", "examples/inventory/aws-iam.ndjson")
	if strings.Count(one, "\n") >= strings.Count(reports[0], "\n") {
		t.Error("the second input was not read")
	}
	if code, _, errs := run(t, "check", "-q", "-f", "csv", "-i", "examples/terraform/plan.json"); code != ExitFindings {
		t.Errorf("check -i: exit %d: %s", code, errs)
	}
	if code, _, errs := run(t, "scan", "-q"); code != ExitError || !strings.Contains(errs, "no inventory given") {
		t.Errorf("scan with no input: exit %d: %s", code, errs)
	}
}

// runbook plan takes --state, so an apply's command line runs as a plan;
// a state that cannot be opened fails the plan.
func TestPlanTakesState(t *testing.T) {
	state := filepath.Join(t.TempDir(), "runs.db")
	args := []string{"runbook", "plan", "compromised-ec2", "--provider", "sim", "-i", "examples/inventory",
		"-var", "instance=i-0a1b2c3d4e5f60001", "-var", "incident=INC-7"}
	if code, out, errs := run(t, append(args, "--state", state)...); code != 0 || !strings.Contains(out, "isolate") {
		t.Errorf("plan --state %s: exit %d\n%s%s", state, code, out, errs)
	}
	bad := t.TempDir() // a directory is no SQLite file
	if code, _, errs := run(t, append(args, "--state", bad)...); code != ExitError {
		t.Errorf("plan --state %s: exit %d, want 2: %s", bad, code, errs)
	}
}

// A mistyped runbook name gets the closest built-in one.
func TestRunbookDidYouMean(t *testing.T) {
	code, _, errs := run(t, "runbook", "plan", "compromised-ec3", "--provider", "sim", "-i", "examples/inventory")
	if code != ExitError || !strings.Contains(errs, "did you mean compromised-ec2?") {
		t.Errorf("exit %d: %s", code, errs)
	}
	_, _, errs = run(t, "runbook", "plan", "zzzzzzzz", "--provider", "sim")
	if strings.Contains(errs, "did you mean") {
		t.Errorf("a name like no runbook got a suggestion: %s", errs)
	}
}

// --format asff needs the importing account and region: without them the
// error names the flag, and an earlier report is left as it was; AWS_REGION
// and the findings' one account make the product ARN.
func TestASFFProductARN(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	out := write(t, "findings.asff", "the last report\n")
	code, _, errs := run(t, "scan", "-q", "-c", "examples/vigil.hcl", "-i", "examples/inventory", "-f", "asff", "-o", out)
	if code != ExitError || !strings.Contains(errs, "--asff-product-arn arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if b, _ := os.ReadFile(out); string(b) != "the last report\n" {
		t.Errorf("the earlier report was replaced: %q", b)
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	code, stdout, errs := run(t, "scan", "-q", "-c", "examples/vigil.hcl", "-i", "examples/inventory/aws-iam.ndjson", "-f", "asff")
	if code != ExitFindings || !strings.Contains(stdout, `"ProductArn":"arn:aws:securityhub:eu-west-1:111111111111:product/111111111111/default"`) {
		t.Errorf("exit %d: %.300s %s", code, stdout, errs)
	}
	if code, _, errs := run(t, "scan", "-q", "-i", "examples/inventory", "-f", "json", "--asff-product-arn", "arn:aws:securityhub:eu-west-1:111111111111:product/111111111111/default"); code != ExitError || !strings.Contains(errs, "--asff-product-arn is for --format asff") {
		t.Errorf("--asff-product-arn with json: exit %d: %s", code, errs)
	}
}

// "-" reads standard input for scan (positional or -i), inventory show,
// alert show and triage --alert, as their --help says; what is read from
// it is named "-", never the temporary copy.
func TestStdinInputs(t *testing.T) {
	root := testutil.Root(t)
	inv, err := os.ReadFile(filepath.Join(root, "examples/inventory/gcp-resources.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	al, err := os.ReadFile(filepath.Join(root, "examples/alerts/scc-pubsub-notification.json"))
	if err != nil {
		t.Fatal(err)
	}
	scan := []string{"scan", "-q", "-c", "examples/vigil.hcl", "--as-of", "2026-11-27", "-f", "csv"}
	// the file's own report is what standard input must give
	code, want, errs := runIn(t, root, nil, append(scan, "examples/inventory/gcp-resources.ndjson")...)
	if code != ExitFindings || want == "" {
		t.Fatalf("scan FILE: exit %d: %s", code, errs)
	}
	// but for its file column: "-" (CSV quotes a leading '-' as text)
	want = strings.ReplaceAll(want, ",examples/inventory/gcp-resources.ndjson,", ",'-,")
	for _, args := range [][]string{{"-"}, {"-i", "-"}} {
		code, out, errs := runIn(t, root, inv, append(scan, args...)...)
		if code != ExitFindings || out != want {
			t.Errorf("scan %v < FILE: exit %d, report differs from scan FILE: %v\n%s\nstderr: %s", args, code, out != want, out, errs)
		}
	}
	// two inputs, one of them stdin: both are read (the AWS findings too)
	code, both, _ := runIn(t, root, inv, append(scan, "-", "examples/inventory/aws-iam.ndjson")...)
	if code != ExitFindings || !strings.Contains(both, "arn:aws:") || strings.Count(both, "\n") <= strings.Count(want, "\n") {
		t.Errorf("scan - FILE: exit %d, the file or stdin was not read:\n%s", code, both)
	}

	code, out, errs := runIn(t, root, inv, "inventory", "show", "-", "--format", "json")
	if code != ExitOK || !strings.Contains(out, `"files": {
    "-": "cai"
  }`) || strings.Contains(out, "vigil-stdin-") {
		t.Errorf("inventory show -: exit %d\n%s\nstderr: %s", code, out, errs)
	}
	_, fromFile, _ := runIn(t, root, nil, "inventory", "show", "examples/inventory/gcp-resources.ndjson", "--format", "json")
	if n := strings.SplitN(fromFile, "\n", 3)[1]; !strings.Contains(out, n) {
		t.Errorf("inventory show - counts other assets than the file (%s):\n%s", n, out)
	}

	code, out, errs = runIn(t, root, al, "alert", "show", "-")
	if code != ExitOK || !strings.Contains(out, "bucket acme-prod-customer-exports") || !strings.Contains(out, "from - (notification)") {
		t.Errorf("alert show -: exit %d\n%s\nstderr: %s", code, out, errs)
	}
	code, out, errs = runIn(t, root, al, "triage", "--alert", "-", "-i", "examples/inventory", "-c", "examples/vigil.hcl")
	if code != ExitOK || !strings.Contains(out, "Triage: bucket acme-prod-customer-exports") {
		t.Errorf("triage --alert -: exit %d\n%s\nstderr: %s", code, out, errs)
	}

	// errors name "-", and stdin is read once
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"SELECT 1\n", []string{"scan", "-q", "-"}, "vigil: -:1: not JSON (starts with 'S')"},
		{"SELECT 1\n", []string{"inventory", "show", "-"}, "vigil: -:1: not JSON (starts with 'S')"},
		{"", []string{"scan", "-q", "-", "-i", "-"}, "- (standard input) given twice"},
		{string(al), []string{"alert", "show", "-", "-"}, "- (standard input) given twice"},
		{"{}", []string{"alert", "show", "-"}, "vigil: -: not an alert vigil knows"},
	} {
		code, _, errs := runIn(t, root, []byte(tc.stdin), tc.args...)
		if code != ExitError || !strings.Contains(errs, tc.want) || strings.Contains(errs, "vigil-stdin-") {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", tc.args, code, tc.want, errs)
		}
	}
}
