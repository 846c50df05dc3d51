package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
			// Only the slow policy runs, so once evaluation has begun it is
			// the one running.
			cmd := exec.Command(bin, "scan", "--policies", dir, "--policy", "SLOW-001", testutil.Path(t, "examples/inventory"))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Give it time to load the policies and reach the slow one (the
			// race detector's binary starts several times slower).
			wait := 1500 * time.Millisecond
			if raceEnabled {
				wait = 5 * time.Second
			}
			time.Sleep(wait)
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

// serveProcess is a running 'vigil serve' and what it logged.
type serveProcess struct {
	cmd  *exec.Cmd
	base string // http://host:port
	mu   sync.Mutex
	log  strings.Builder
}

func (p *serveProcess) logged() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// startServe runs serve with one schedule every second over the example
// inventory, with the never-ending policy.
func startServe(t *testing.T, timeout, grace string) *serveProcess {
	bin := buildVigil(t)
	dir := slowPolicies(t)
	work := t.TempDir()
	cfg := filepath.Join(work, "vigil.hcl")
	os.WriteFile(cfg, []byte(`schedule "slow" {
  cron    = "@every 1s"
  sources = ["`+testutil.Path(t, "examples/inventory")+`"]
  timeout = "`+timeout+`"
}
`), 0o644)
	p := &serveProcess{cmd: exec.Command(bin, "serve", "--config", cfg, "--policies", dir, "--store", filepath.Join(work, "h.db"), "--listen", "127.0.0.1:0", "--grace", grace)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if _, a, ok := strings.Cut(sc.Text(), "serving on "); ok {
				a, _, _ = strings.Cut(a, " ")
				addr <- a
			}
		}
	}()
	select {
	case p.base = <-addr:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not say where it listens:\n%s", p.logged())
	}
	return p
}

// stop sends SIGTERM and returns how long serve took to exit.
func (p *serveProcess) stop(t *testing.T) time.Duration {
	sent := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve still running 20s after SIGTERM:\n%s", p.logged())
	}
	return time.Since(sent)
}

// With a never-ending policy, each run of a schedule is stopped at its
// deadline and /healthz says the schedule is stuck, naming the policy.
func TestServeHealthzSaysStuck(t *testing.T) {
	p := startServe(t, "2s", "2s")
	// The first run starts after a second and is stopped two seconds later.
	var body map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.base + "/healthz")
		if err == nil {
			code := resp.StatusCode
			body = nil
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if code == http.StatusServiceUnavailable {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never said the schedule was stuck: %v", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	reasons, _ := body["reasons"].([]any)
	want := "schedule slow: the last scan did not finish within its deadline of 2s: policy SLOW-001 ("
	if body["status"] != "stuck" || len(reasons) != 1 || !strings.HasPrefix(reasons[0].(string), want) || !strings.Contains(reasons[0].(string), "slow.rego:13) was still running on ") {
		t.Errorf("/healthz: %v\nwant a reason starting %q", body, want)
	}
	took := p.stop(t)
	t.Logf("shut down %v after SIGTERM; log:\n%s", took.Round(time.Millisecond), p.logged())
}

// SIGTERM while a run is inside the never-ending policy, its deadline far
// away: serve waits --grace, abandons the run, and the policy stops with
// it, so serve exits within its grace.
func TestServeShutsDownWithinGrace(t *testing.T) {
	p := startServe(t, "10m", "2s")
	// the first run starts after a second; let it reach the policy
	time.Sleep(2500 * time.Millisecond)
	took := p.stop(t)
	if took > 3500*time.Millisecond {
		t.Errorf("serve took %v to shut down with --grace 2s", took)
	}
	if !strings.Contains(p.logged(), "abandoning running scans after the grace period") {
		t.Errorf("the run was not abandoned:\n%s", p.logged())
	}
	t.Logf("shut down %v after SIGTERM; log:\n%s", took.Round(time.Millisecond), p.logged())
}
