package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/internal/testutil"
)

const gateRunbook = `runbook "gate" {
  phase "containment" {
    step "gate" {
      action = "core.approval"
      args   = { reason = "go?" }
    }
    step "work" {
      action     = "core.wait"
      args       = { duration = "1500ms" }
      depends_on = [step.gate]
    }
    step "done" {
      action     = "core.log"
      args       = { message = "done" }
      depends_on = [step.work]
    }
  }
}
`

var runIDRe = regexp.MustCompile(`Run (run-[0-9]{8}-[0-9]{6}-[0-9a-f]{6})`)

// Two resumes of one run started together, 20 times: each time exactly
// one proceeds, the other exits 2 naming the holder; the run's steps run
// once. On SQLite, and on PostgreSQL (where the lease is a row and the
// clock the server's, as for machines sharing it).
func TestTwoResumesOneOwner(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		twoResumes(t, func(i int) string { return filepath.Join(dir, fmt.Sprintf("s%d.db", i)) })
	})
	t.Run("postgres", func(t *testing.T) {
		url := testutil.Postgres(t)
		twoResumes(t, func(int) string { return url })
	})
}

func twoResumes(t *testing.T, stateFor func(i int) string) {
	rb := filepath.Join(t.TempDir(), "gate.hcl")
	os.WriteFile(rb, []byte(gateRunbook), 0o644)
	trials := 20
	if testing.Short() || raceEnabled {
		trials = 6
	}
	// Trials run ten at a time: each is two processes racing for one run,
	// and the run's wait keeps the winner's lease long past the loser's
	// start.
	const batch = 10
	for first := 0; first < trials; first += batch {
		errs := make(chan error, batch)
		n := 0
		for i := first; i < first+batch && i < trials; i++ {
			n++
			go func() { errs <- trial(t, i, rb, stateFor(i)) }()
		}
		for ; n > 0; n-- {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	}
}

// trial applies the gate runbook (it stops at the gate) and starts two
// resumes of the run at once.
func trial(t *testing.T, i int, rb, state string) error {
	code, out := vigil(t, nil, "runbook", "apply", rb, "--state", state)
	m := runIDRe.FindStringSubmatch(out)
	if code != 3 || m == nil {
		return fmt.Errorf("trial %d: apply: exit %d\n%s", i, code, out)
	}
	id := m[1]
	type result struct {
		code int
		out  string
	}
	results := make(chan result, 2)
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for _, actor := range []string{"first", "second"} {
		cmd := exec.Command(binPath, "runbook", "resume", id, "--approve", "gate", "--actor", actor, "--state", state)
		cmd.Dir = testutil.Root(t)
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		cmds, outs = append(cmds, cmd), append(outs, &b)
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			return err
		}
	}
	for k, c := range cmds {
		go func() { err := c.Wait(); results <- result{exitCode(t, err), outs[k].String()} }()
	}
	a, b := <-results, <-results
	if a.code != 0 {
		a, b = b, a
	}
	named := regexp.MustCompile(`locked by (first|second) \(pid [0-9]+ on [^)]+\)`).FindStringSubmatch(b.out)
	if a.code != 0 || b.code != 2 || named == nil {
		return fmt.Errorf("trial %d: want one resume to proceed and the other to exit 2 naming the holder; got exit %d:\n%s\nand exit %d:\n%s", i, a.code, a.out, b.code, b.out)
	}
	if !strings.Contains(a.out, ": completed.") {
		return fmt.Errorf("trial %d: the resume that proceeded: %s", i, a.out)
	}
	st, err := store.OpenRuns(context.Background(), state)
	if err != nil {
		return err
	}
	es, err := st.Entries(context.Background(), id)
	st.Close()
	if err != nil {
		return err
	}
	succeeded, resumed := map[string]int{}, 0
	for _, e := range es {
		if e.Kind == runbook.EntryStepSucceeded {
			succeeded[e.Step]++
		}
		if e.Kind == runbook.EntryRunResumed {
			resumed++
			if e.Actor != named[1] {
				return fmt.Errorf("trial %d: resumed by %s, but the loser was told %s held it", i, e.Actor, named[1])
			}
		}
	}
	if resumed != 1 || succeeded["gate"] != 1 || succeeded["work"] != 1 || succeeded["done"] != 1 {
		return fmt.Errorf("trial %d: %d resumes, succeeded %v", i, resumed, succeeded)
	}
	if code, out := vigil(t, nil, "runbook", "verify", id, "--state", state); code != 0 {
		return fmt.Errorf("trial %d: verify: %s", i, out)
	}
	return nil
}

// A saved plan is applied once: two applies of it at once, one proceeds
// and the other exits 2 naming the holder; applying it again later is
// refused, naming the run to resume instead.
func TestTwoAppliesOfOnePlan(t *testing.T) {
	dir := t.TempDir()
	rb := filepath.Join(dir, "slow.hcl")
	os.WriteFile(rb, []byte(`runbook "slow" {
  phase "containment" {
    step "work" {
      action = "core.wait"
      args   = { duration = "1500ms" }
    }
  }
}
`), 0o644)
	trials := 5
	if testing.Short() || raceEnabled {
		trials = 2
	}
	errs := make(chan error, trials)
	for i := 0; i < trials; i++ {
		go func() {
			state := filepath.Join(dir, fmt.Sprintf("s%d.db", i))
			plan := filepath.Join(dir, fmt.Sprintf("plan%d.json", i))
			if code, out := vigil(t, nil, "runbook", "plan", rb, "-out", plan); code != 0 {
				errs <- fmt.Errorf("plan: %d %s", code, out)
				return
			}
			var cmds []*exec.Cmd
			var outs []*bytes.Buffer
			for _, actor := range []string{"first", "second"} {
				cmd := exec.Command(binPath, "runbook", "apply", plan, "--actor", actor, "--state", state)
				cmd.Dir = testutil.Root(t)
				var b bytes.Buffer
				cmd.Stdout, cmd.Stderr = &b, &b
				cmds, outs = append(cmds, cmd), append(outs, &b)
			}
			for _, c := range cmds {
				c.Start()
			}
			codes := []int{exitCode(t, cmds[0].Wait()), exitCode(t, cmds[1].Wait())}
			a, b := 0, 1
			if codes[0] != 0 {
				a, b = 1, 0
			}
			if codes[a] != 0 || codes[b] != 2 || !regexp.MustCompile(`locked by (first|second) \(pid [0-9]+ on `).MatchString(outs[b].String()) {
				errs <- fmt.Errorf("trial %d: two applies of one plan: exit %d:\n%s\nexit %d:\n%s", i, codes[a], outs[a], codes[b], outs[b])
				return
			}
			id := runIDRe.FindStringSubmatch(outs[a].String())[1]
			code, out := vigil(t, nil, "runbook", "apply", plan, "--state", state)
			if code != 2 || !strings.Contains(out, "this plan was applied already, as run "+id+": continue that run with 'vigil runbook resume "+id+"'") {
				errs <- fmt.Errorf("trial %d: applying the plan again: %d %s", i, code, out)
				return
			}
			errs <- nil
		}()
	}
	for i := 0; i < trials; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
