package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
)

// TestApplyWithoutTerminalNeedsAutoApprove is issue 20's "runbook apply
// without a TTY and without --auto-approve exits 2 with the hint": the
// binary is run with stdin from /dev/null against the AWS fake; it prints
// the plan, changes nothing, and says what to do.
func TestApplyWithoutTerminalNeedsAutoApprove(t *testing.T) {
	f := awsfake.Scenario()
	srv := f.Start()
	defer srv.Close()
	env := awsfake.Env(srv.URL)
	dir := t.TempDir()
	inv := filepath.Join(dir, "aws.ndjson")
	if code, out := vigil(t, env, "inventory", "collect", "--aws", "--regions", "eu-west-1", "-q", "--out", inv); code != 0 {
		t.Fatalf("collect: %d\n%s", code, out)
	}
	collected := len(f.Mutations())
	instance := "arn:aws:ec2:eu-west-1:111111111111:instance/" + awsfake.WebInstance
	code, out := vigil(t, env, "runbook", "apply", "compromised-ec2", "-i", inv, "-var", "instance="+instance, "-var", "incident=INC-9",
		"--approve", "isolate", "--state", filepath.Join(dir, "state.db"))
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, out)
	}
	for _, want := range []string{"step.snapshot", "stdin is not a terminal", "--auto-approve", "vigil runbook apply plan.json", "--provider sim"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if m := f.Mutations()[collected:]; len(m) > 0 {
		t.Errorf("an unconfirmed apply changed the cloud: %v", m)
	}
	// a rehearsal needs no confirmation
	code, out = vigil(t, nil, "runbook", "apply", "compromised-ec2", "--provider", "sim", "-i", "examples/inventory",
		"-var", "instance=i-0a1b2c3d4e5f60001", "-var", "incident=INC-7", "--approve", "isolate", "--state", filepath.Join(dir, "sim.db"))
	if code != 0 {
		t.Errorf("--provider sim: exit %d, want 0\n%s", code, out)
	}
}
