package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/internal/testutil"
)

// runAt runs vigil in-process as if at a terminal, typing input.
func runAt(t *testing.T, input string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Chdir(testutil.Root(t))
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, stdin: strings.NewReader(input), env: func(k string) string { return "" },
		terminal: func() bool { return true }}
	code = a.run(context.Background(), args)
	return code, out.String(), errb.String()
}

// runConfirmed applies against the cloud answering "yes" to the plan's
// confirmation; step approvals still come from --approve.
func runConfirmed(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runAt(t, "yes\n", args...)
}

func TestConfirmApply(t *testing.T) {
	f := awsWorld(t)
	dir := t.TempDir()
	collectTo(t, dir+"/before.ndjson")
	collected := len(f.Mutations()) // collection asks for credential reports
	args := []string{"runbook", "apply", "compromised-ec2", "-i", dir + "/before.ndjson", "-var", "instance=" + webARN, "-var", "incident=INC-7",
		"--approve", "isolate", "--state", dir + "/state.db", "--aws-rate-limit", "500", "--aws-evidence-role", "arn:aws:iam::333333333333:role/vigil-evidence"}

	// no terminal: exit 2 with the hint, nothing done
	code, out, errs := run(t, args...)
	if code != ExitError || !strings.Contains(errs, "stdin is not a terminal") || !strings.Contains(errs, "--auto-approve") {
		t.Fatalf("no terminal: exit %d, want 2 with the hint\n%s\n%s", code, out, errs)
	}
	// the hint leads with the interactive path, and says what
	// --auto-approve does not do
	if term, auto := strings.Index(errs, "answer 'yes'"), strings.Index(errs, "--auto-approve"); term < 0 || term > auto ||
		!strings.Contains(errs, "it confirms this plan only; steps that need an approval still need --approve STEP") {
		t.Errorf("the hint should offer the terminal first and say --auto-approve approves no step:\n%s", errs)
	}
	if !strings.Contains(out, "step.snapshot") {
		t.Errorf("the plan should be shown before asking:\n%s", out)
	}
	if m := f.Mutations()[collected:]; len(m) > 0 {
		t.Fatalf("unconfirmed apply changed the cloud: %v", m)
	}

	// at a terminal, anything but "yes" cancels
	for _, answer := range []string{"no\n", "y\n", "YES\n", ""} {
		code, out, errs = runAt(t, answer, args...)
		if code == 0 || !strings.Contains(out, "Only 'yes' will be accepted") {
			t.Errorf("answer %q: exit %d\n%s\n%s", answer, code, out, errs)
		}
		if m := f.Mutations()[collected:]; len(m) > 0 {
			t.Fatalf("answer %q changed the cloud: %v", answer, m)
		}
	}

	// "yes" runs it; isolate's approval came from --approve, the
	// confirmation approves no step: without --approve the run waits.
	noApprove := append([]string(nil), args...)
	for i, a := range noApprove {
		if a == "--approve" {
			noApprove = append(noApprove[:i:i], noApprove[i+2:]...)
			break
		}
	}
	code, out, errs = runAt(t, "yes\n", noApprove...)
	if code != 3 || !strings.Contains(out, "awaiting") {
		t.Errorf("yes without --approve: exit %d, want 3 (isolate awaits its approval)\n%s\n%s", code, out, errs)
	}
	if len(f.Mutations()) == collected {
		t.Error("yes should have let the steps before isolate run")
	}
}

// --auto-approve confirms the plan and nothing more (issue 20: "Step
// approvals are unchanged and separate"): a step that needs an approval
// still waits for --approve, here on the simulated provider, where there
// is no confirmation at all.
func TestAutoApproveApprovesNoStep(t *testing.T) {
	dir := t.TempDir()
	args := []string{"runbook", "apply", "compromised-ec2", "--provider", "sim", "-i", "examples/inventory", "-var", "instance=i-0a1b2c3d4e5f60001",
		"-var", "incident=INC-7", "--auto-approve"}
	code, out, errs := run(t, append(args, "--state", dir+"/a.db")...)
	if code != 3 || !strings.Contains(out, "Waiting for approval of: isolate") {
		t.Errorf("--auto-approve alone: exit %d, want 3 with isolate awaiting its approval\n%s\n%s", code, out, errs)
	}
	code, out, errs = run(t, append(args, "--approve", "isolate", "--state", dir+"/b.db")...)
	if code != 0 || !strings.Contains(out, "step.isolate: approved (--approve isolate)") {
		t.Errorf("--auto-approve --approve isolate: exit %d, want 0\n%s\n%s", code, out, errs)
	}
}
