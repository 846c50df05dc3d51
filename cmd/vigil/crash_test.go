package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/provider/sim"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/internal/testutil"
)

const webVM = "//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1"

func vigil(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = testutil.Root(t)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return exitCode(t, err), string(out)
}

// exitCode is a process's exit code, 128+N when signal N ended it (as a
// shell says: 137 for SIGKILL).
func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func onlyRun(t *testing.T, state string) (*runbook.Run, []*runbook.Entry) {
	t.Helper()
	st, err := store.OpenSQLite(state)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.ListRuns(context.Background())
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs: %v %v", runs, err)
	}
	es, err := st.Entries(context.Background(), runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return runs[0], es
}

// exactlyOnce checks that every step succeeded once in the journal and made
// its change once in the simulated cloud.
func exactlyOnce(t *testing.T, run *runbook.Run, es []*runbook.Entry, steps []string) {
	t.Helper()
	succeeded := map[string]int{}
	for _, e := range es {
		if e.Kind == runbook.EntryStepSucceeded {
			succeeded[e.Step]++
		}
	}
	for _, s := range steps {
		if succeeded[s] != 1 {
			t.Errorf("step %s succeeded %d times in the journal", s, succeeded[s])
		}
	}
	if run.State == "" {
		return
	}
	cloud, err := sim.Load(run.State)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, op := range cloud.Ops() {
		ops[op.Step]++
	}
	for step, n := range ops {
		if n != 1 {
			t.Errorf("the simulated cloud saw step %s change things %d times", step, n)
		}
	}
	if tam := runbook.Verify(es); tam != nil {
		t.Errorf("journal: %v", tam)
	}
}

var vmSteps = []string{"record", "snapshot", "export", "isolate", "suspend"}

func applyVM(t *testing.T, state string, env ...string) (int, string) {
	return vigil(t, env, "runbook", "apply", "compromised-vm-gcp", "--provider", "sim", "-i", "examples/inventory",
		"-var", "instance="+webVM, "-var", "incident=INC-2041", "--approve", "isolate", "--state", state)
}

func TestCrashBetweenSteps(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.db")
	code, out := applyVM(t, state, "VIGIL_FAILPOINT=after:snapshot")
	if code != 137 {
		t.Fatalf("the failpoint should end the process: %d\n%s", code, out)
	}
	run, _ := onlyRun(t, state)
	code, out = vigil(t, nil, "runbook", "resume", run.ID, "--approve", "isolate", "--state", state)
	if code != 0 {
		t.Fatalf("resume: %d\n%s", code, out)
	}
	run, es := onlyRun(t, state)
	if run.Status != runbook.RunCompleted {
		t.Fatalf("status %s", run.Status)
	}
	exactlyOnce(t, run, es, vmSteps)
}

// The process dies after the snapshots were made but before the journal
// says so: resume must find them (they carry the run and step ids) rather
// than snapshot twice.
func TestCrashDuringStep(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.db")
	code, out := applyVM(t, state, "VIGIL_FAILPOINT=during:snapshot")
	if code != 137 {
		t.Fatalf("failpoint: %d\n%s", code, out)
	}
	run, es := onlyRun(t, state)
	for _, e := range es {
		if e.Kind == runbook.EntryStepSucceeded && e.Step == "snapshot" {
			t.Fatal("the crash came before the journal recorded the snapshot")
		}
	}
	code, out = vigil(t, nil, "runbook", "resume", run.ID, "--approve", "isolate", "--state", state)
	if code != 0 || !regexp.MustCompile(`step.snapshot: the interrupted attempt had taken effect`).MatchString(out) {
		t.Fatalf("resume: %d\n%s", code, out)
	}
	run, es = onlyRun(t, state)
	exactlyOnce(t, run, es, vmSteps)
	recovered := 0
	for _, e := range es {
		if e.Kind == runbook.EntryStepRecovered {
			recovered++
		}
	}
	if recovered != 1 {
		t.Errorf("%d recovered entries, want 1", recovered)
	}
}

// A real kill -9 while a step runs.
func TestKillDuringStep(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "s.db")
	rb := filepath.Join(dir, "slow.hcl")
	os.WriteFile(rb, []byte(`runbook "slow" {
  phase "triage" {
    step "before" {
      action = "core.log"
      args   = { message = "before" }
    }
    step "wait" {
      action     = "core.wait"
      args       = { duration = "2s" }
      depends_on = [step.before]
    }
    step "after" {
      action     = "core.log"
      args       = { message = "after" }
      depends_on = [step.wait]
    }
  }
}
`), 0o644)
	cmd := exec.Command(binPath, "runbook", "apply", rb, "--state", state)
	cmd.Dir = testutil.Root(t)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Kill it once the journal says the wait started.
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("apply ended (%v) before it could be killed:\n%s", err, output.String())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("the wait step never started:\n%s", output.String())
		}
		if st, err := store.OpenSQLite(state); err == nil {
			var n int
			st.DB().QueryRow(`SELECT count(*) FROM journal WHERE kind = 'step.started' AND step = 'wait'`).Scan(&n)
			st.Close()
			if n > 0 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	run, _ := onlyRun(t, state)
	if run.Status != runbook.RunRunning {
		t.Fatalf("a killed run stays running in the store: %s", run.Status)
	}
	code, out := vigil(t, nil, "runbook", "resume", run.ID, "--state", state)
	if code != 0 {
		t.Fatalf("resume: %d\n%s", code, out)
	}
	run, es := onlyRun(t, state)
	exactlyOnce(t, run, es, []string{"before", "wait", "after"})
	var startedWait int
	for _, e := range es {
		if e.Kind == runbook.EntryStepStarted && e.Step == "wait" {
			startedWait++
			var args map[string]any
			json.Unmarshal(e.Args, &args)
			if args["duration"] != "2s" {
				t.Errorf("journaled arguments: %v", args)
			}
		}
	}
	if startedWait != 2 {
		t.Errorf("the interrupted wait was started %d times, want 2 (once, then again on resume)", startedWait)
	}
}
