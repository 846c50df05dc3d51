package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/internal/testutil"
)

// neverEnding is a policy that would run for hours on every firewall: a
// set comprehension over hundreds of millions of numbers. Its
// comprehension is on line 13.
const neverEnding = `# METADATA
# title: Takes forever
# custom:
#   id: SLOW-001
#   severity: low
#   kinds: [firewall]
package vigil.policies.acme.slow

import rego.v1

deny contains "never" if {
	n := count(input.asset.name)
	count({x | some x in numbers.range(1, n * 100000000)}) == -1
}
`

func slowPolicies(t *testing.T) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "slow.rego"), []byte(neverEnding), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The timeout reaches the policy: the scan stops mid-evaluation and says
// which policy was running, where.
func TestScanTimeoutStopsPolicy(t *testing.T) {
	bin := buildVigil(t)
	dir := slowPolicies(t)
	cmd := exec.Command(bin, "scan", "--timeout", "2s", "--policies", dir, testutil.Path(t, "examples/inventory"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2:\n%s", err, stderr.String())
	}
	if took > 3*time.Second {
		t.Errorf("took %v, want at most 3s for a 2s timeout", took)
	}
	want := "scan did not finish within --timeout 2s: policy SLOW-001 (" + filepath.Join(dir, "slow.rego") + ":13) was still running on "
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}
	t.Logf("stopped after %v: %s", took.Round(time.Millisecond), strings.TrimSpace(stderr.String()))
}

// SIGTERM and Ctrl-C (SIGINT) stop a policy mid-evaluation too.
func TestScanSignalStopsPolicy(t *testing.T) {
	bin := buildVigil(t)
	dir := slowPolicies(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "scan", "--policies", dir, testutil.Path(t, "examples/inventory"))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Give it time to load the policies and reach the slow one.
			time.Sleep(1500 * time.Millisecond)
			sent := time.Now()
			cmd.Process.Signal(sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("still running 20s after %v", sig)
			}
			took := time.Since(sent)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2:\n%s", err, stderr.String())
			}
			// A second on an idle machine; the margin is for a loaded one.
			if took > 2*time.Second {
				t.Errorf("stopped %v after the signal", took)
			}
			want := "policy SLOW-001 (" + filepath.Join(dir, "slow.rego") + ":13) was still running on "
			if !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), "signal received") {
				t.Errorf("stderr lacks %q and the signal:\n%s", want, stderr.String())
			}
			t.Logf("stopped %v after %v: %s", took.Round(time.Millisecond), sig, strings.TrimSpace(stderr.String()))
		})
	}
}
