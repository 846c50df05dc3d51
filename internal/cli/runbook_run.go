package cli

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/report"
	"github.com/vigil-ir/vigil/internal/store"
)

func (a *app) actorName(f *runbookFlags) string {
	if f.actor != "" {
		return f.actor
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

// cliIdentity is who runs the CLI, for the two-person rule: the OS user
// (not verified: nothing checked who typed the command), also known by
// --actor when that names someone else.
func cliIdentity(f *runbookFlags) runbook.Identity {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	id := runbook.Identity{Subject: "os:" + name, Name: name, Via: "vigil CLI"}
	if f.actor != "" && f.actor != name {
		id.Name, id.Aliases = f.actor, []string{f.actor}
	}
	return id
}

// executor wires an executor for apply, resume and unlock: the store, the
// journal key and anchor, the lease holder, approvals and the console.
func (a *app) executor(ctx context.Context, f *runbookFlags, s *rbSession, st store.RunStore) (*runbook.Executor, error) {
	key, _, err := a.journalKey(f)
	if err != nil {
		return nil, err
	}
	an, err := a.openAnchor(ctx, f, st)
	if err != nil {
		return nil, err
	}
	actor := a.actorName(f)
	x := &runbook.Executor{Store: st, Key: key, Anchor: an, Actor: actor, Holder: localHolder(actor), HolderGone: holderGone,
		// --auto-approve confirms the plan only (confirmApply): step
		// approvals stay with --approve, the terminal and vigil serve
		Approve: splitList(f.approve), Parallel: f.parallel, Starter: cliIdentity(f)}
	if x.ServeKey, _, err = a.servePublicKey(f); err != nil {
		return nil, err
	}
	// Decisions given through vigil serve are read from the store; a step
	// that needs a second person waits for one there (nothing typed here
	// approves it), unless --no-wait.
	if ap, ok := st.(store.Approvals); ok {
		x.Approvals, x.Wait = store.DecisionSource{Store: ap}, runbook.WaitDistinct
		if f.noWait {
			x.Wait = runbook.WaitNone
		}
		if d, err := time.ParseDuration(a.env("VIGIL_APPROVAL_POLL")); err == nil && d > 0 {
			x.ApprovalPoll = d
		}
	}
	if s != nil {
		x.Registry, x.Env, x.Data = s.reg, s.env, s.data
	}
	x.Progress = a.progressView()
	if in, ok := a.stdin.(*os.File); ok && isTerminal(in) && isTerminal(a.stdout) {
		x.Prompt = a.approvalPrompt(a.stdinLines())
	}
	if fp := a.failpoint(); fp != nil {
		x.Failpoint = fp
		st.SetFailpoint(fp)
	}
	return x, nil
}

// failpoint is a crash-test hook: VIGIL_FAILPOINT=during:snapshot (or a
// comma-separated list; #N is the N-th point reached) kills the process
// with SIGKILL at that point, as a crash would; VIGIL_FAILPOINT_TRACE=FILE
// appends every point reached.
func (a *app) failpoint() func(string) {
	points, trace := a.hook("VIGIL_FAILPOINT"), a.hook("VIGIL_FAILPOINT_TRACE")
	if points == "" && trace == "" {
		return nil
	}
	kill := map[string]bool{}
	for _, p := range strings.Split(points, ",") {
		if p = strings.TrimSpace(p); p != "" {
			kill[p] = true
		}
	}
	var mu sync.Mutex
	n := 0
	return func(p string) {
		mu.Lock()
		n++
		nth := fmt.Sprintf("#%d", n)
		if trace != "" {
			if fh, err := os.OpenFile(trace, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
				fmt.Fprintln(fh, p)
				fh.Close()
			}
		}
		mu.Unlock()
		if kill[p] || kill[nth] {
			fmt.Fprintf(a.stderr, "vigil: failpoint %s reached: killing the process\n", p)
			killSelf()
		}
	}
}

// simStatePath is where the simulated cloud of a new run is kept: beside
// the state file, or in the default state directory for a server.
func simStatePath(st store.RunStore) string {
	dir := filepath.Dir(st.Path())
	if st.Path() == "" {
		dir = filepath.Dir(store.DefaultPath())
	}
	return filepath.Join(dir, "sim", fmt.Sprintf("state-%d.json", time.Now().UnixNano()))
}

func (a *app) rbApplyCmd() *cobra.Command {
	var f runbookFlags
	c := &cobra.Command{
		Use:   "apply RUNBOOK|PLAN.json",
		Short: "Run a runbook (or a saved plan) step by step, with approvals and a journal",
		Long: `Apply runs the steps in dependency order, phase after phase, independent
steps in parallel (--parallel). A saved plan is a contract: apply runs exactly
the step instances it shows, with the arguments it shows, and refuses ("Saved
plan is stale") when the runbook, the variables or what a step would act on
changed since it was made; instances whose for_each was known only at apply
are expanded then and journaled as such.

Against the real cloud (--provider cloud, the default), apply prints the plan
and asks for 'yes' before the first step that changes anything, as terraform
apply does; without a terminal it exits 2 unless --auto-approve is given. A
saved plan is applied without asking: it was reviewed when it was made. This
confirmation, and --auto-approve, approve no step.

Steps that need an approval (an approval block, destructive actions,
core.approval gates) ask at the terminal one at a time, are approved up front
with --approve ADDRESS (isolate, 'revoke["sg-0a1"]', 'revoke[*]'), or
else the run stops in awaiting_approval: continue it with
'vigil runbook resume RUN --approve ADDRESS'.

A step that needs a second person's approval (distinct_approver: by default
destructive steps against the real cloud) is approved through vigil serve by
someone other than the run's starter, so the starter must be signed in:
--server (or VIGIL_SERVER) and VIGIL_TOKEN name the server and your token
there, and the journal records who serve says the token is, as serve's
signed statement, checked against serve's public key pinned here
(--serve-public-key, VIGIL_SERVE_PUBLIC_KEY or serve_public_key in vigil.hcl;
vigil serve --show-signing-key prints it). Without them, without a pinned
key, with a statement that does not verify with it, or with --actor (which
nobody checks), such a run is refused before anything runs (exit 2). The step
then takes only a decision serve signed with that key for this run, plan
hash and step: anything else in the store leaves it waiting. Runs with no
such step need no sign-in.

The run is leased to this process (a second apply or resume of it exits 2,
naming the holder), and every step is journaled with its arguments, outputs,
actor and times, each entry hash-chained to the previous one, signed with the
journal key (--journal-key, VIGIL_JOURNAL_KEY, or one made on first use) and
its head copied to the anchor (vigil.hcl's anchor, else a file beside the
state).

Exit codes: 0 completed, 1 failed (or the journal could not be written),
2 bad input, a stale plan or a run held by another process, 3 waiting for an
approval or interrupted (resume it).`,
		Example: `  vigil runbook plan compromised-vm-gcp --provider sim -i examples/inventory \
      -var instance=//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1 \
      -var incident=INC-2041 -out plan.json
  vigil runbook apply plan.json --approve isolate
  vigil runbook apply compromised-ec2 --provider sim -i examples/inventory \
      -var instance=i-0a1b2c3d4e5f60001 -var incident=INC-7 --approve isolate \
      --inventory-out after.ndjson`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			f.given = c.Flags()
			ctx := c.Context()
			st, err := a.openRunStore(ctx, &f)
			if err != nil {
				return err
			}
			defer st.Close()
			var plan *runbook.Plan
			var rb *runbook.Runbook
			var files map[string]*hcl.File
			simState := simStatePath(st)
			var s *rbSession
			var starter *runbook.Identity
			if runbook.IsPlanFile(args[0]) {
				plan, err = runbook.ReadPlan(args[0])
				if err != nil {
					return &exitError{code: ExitError, err: err}
				}
				if plan.Provider != "" {
					f.provider = plan.Provider
				}
				if rb, files, _, err = a.loadRunbook(plan.Runbook.File); err != nil {
					return err
				}
				if rb.Hash() != plan.Runbook.Hash {
					return &exitError{code: ExitError, err: fmt.Errorf("refusing to apply %s: runbook %s changed since the plan was made; make a new plan", args[0], plan.Runbook.File)}
				}
				if starter, err = a.starter(ctx, &f, plan); err != nil {
					return err
				}
				inv := f.inventory
				if len(inv) == 0 {
					inv = plan.Inventory
				}
				if s, err = a.session(ctx, &f, inv, "", simState); err != nil {
					return err
				}
			} else {
				if s, err = a.session(ctx, &f, f.inventory, "", simState); err != nil {
					return err
				}
				var label string
				if rb, files, label, err = a.loadRunbook(args[0]); err != nil {
					return err
				}
				fromAlert, err := a.alertInputs(rb, f.fromAlert)
				if err != nil {
					return err
				}
				vars, vf, diags := rb.ResolveVariables(runbook.Inputs{Vars: f.vars, VarFiles: f.varFiles, Environ: os.Environ(), Alert: fromAlert})
				for k, v := range vf {
					files[k] = v
				}
				if err := a.diagsError(files, diags); err != nil {
					return err
				}
				key, err := a.valueKeyFor(&f, vars)
				if err != nil {
					return err
				}
				planner := &runbook.Planner{Registry: s.reg, Env: s.env, Data: s.data, Provider: f.provider, Inventory: f.inventory, Key: key}
				var pd hcl.Diagnostics
				plan, pd = planner.Plan(ctx, rb, label, vars)
				if err := a.diagsError(files, pd); err != nil {
					return err
				}
				if err := report.PlanText(a.stdout, plan); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "Plan sha256 %s.\n\n", plan.Hash())
				if starter, err = a.starter(ctx, &f, plan); err != nil {
					return err
				}
				if err := a.confirmApply(ctx, &f, plan); err != nil {
					return err
				}
			}
			vars, err := a.planVars(rb, plan, &f, files)
			if err != nil {
				return err
			}
			x, err := a.executor(ctx, &f, s, st)
			if err != nil {
				return err
			}
			if s.cloud != nil {
				x.State = simState
				if err := s.cloud.Save(); err != nil {
					return err
				}
			}
			if starter != nil {
				x.Starter, x.Actor = *starter, starter.String()
				x.Holder = localHolder(x.Actor)
			}
			res, err := x.Start(ctx, rb, plan, vars)
			return a.finishRun(ctx, &f, s, res, err)
		},
	}
	f.varFlags(c)
	f.envFlags(c)
	f.applyFlags(c)
	c.Flags().StringVar(&f.server, "server", "", "sign in to this vigil serve (VIGIL_SERVER works too) with VIGIL_TOKEN: the run's starter is who the token belongs to, which a step needing a second person's approval requires")
	f.aws.registerRunbook(c)
	f.gcp.registerRunbook(c)
	return c
}

// planVars resolves variables for applying a saved plan: the plan's own
// values, with sensitive ones given again.
func (a *app) planVars(rb *runbook.Runbook, plan *runbook.Plan, f *runbookFlags, files map[string]*hcl.File) (map[string]*runbook.VarValue, error) {
	pv, err := plan.PlanValues()
	if err != nil {
		return nil, &exitError{code: ExitError, err: err}
	}
	vars, vf, diags := rb.ResolveVariables(runbook.Inputs{Vars: f.vars, VarFiles: f.varFiles, Environ: os.Environ(), Plan: pv})
	for k, v := range vf {
		files[k] = v
	}
	if err := a.diagsError(files, diags); err != nil {
		return nil, err
	}
	return vars, nil
}

func (a *app) rbResumeCmd() *cobra.Command {
	var f runbookFlags
	c := &cobra.Command{
		Use:   "resume RUN",
		Short: "Continue a run: after an approval, a crash or Ctrl-C",
		Long: `Resume continues a run where it stopped. It first takes the run's lease: a
run another process holds is refused (exit 2, naming the holder) until that
process ends, its lease expires (2 minutes after its last heartbeat) or it is
broken with 'vigil runbook unlock'; a holder on this machine whose process is
gone (killed, crashed) holds nothing. It then verifies the journal (chain,
signatures, anchor, the runs row) and refuses a journal that is not intact,
or one its anchor has no record of (the anchor file was deleted, or the run
was written on a machine whose anchor file this one does not see): if you
know why, continue with --reanchor REASON, which the journal records.

Finished steps are not repeated; a step that was running when the process
died, or whose last call's outcome was unknown (a timeout, a reset, a 5xx),
is asked whether that attempt took effect (what it made carries the run and
step ids) before it is re-applied; steps waiting for an approval run once
approved with --approve.`,
		Example: `  vigil runbook resume run-20261127-091500-3fa2c1 --approve isolate
  vigil runbook resume run-20261127-091500-3fa2c1 --approve isolate --inventory-out after.ndjson`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			f.given = c.Flags()
			ctx := c.Context()
			st, err := a.openRunStore(ctx, &f)
			if err != nil {
				return err
			}
			defer st.Close()
			run, err := st.GetRun(ctx, args[0])
			if err != nil {
				return &exitError{code: ExitError, err: fmt.Errorf("run %s: %w", args[0], err)}
			}
			plan, err := runbook.DecodePlan(run.Plan)
			if err != nil {
				return &exitError{code: ExitError, err: fmt.Errorf("run %s: read its plan: %w", run.ID, err)}
			}
			f.provider = plan.Provider
			rb, files, _, err := a.loadRunbook(run.File)
			if err != nil {
				return err
			}
			s, err := a.session(ctx, &f, plan.Inventory, run.State, "")
			if err != nil {
				return err
			}
			vars, err := a.planVars(rb, plan, &f, files)
			if err != nil {
				return err
			}
			x, err := a.executor(ctx, &f, s, st)
			if err != nil {
				return err
			}
			x.Reanchor = f.reanchor
			res, err := x.Resume(ctx, run.ID, rb, vars)
			return a.finishRun(ctx, &f, s, res, err)
		},
	}
	f.varFlags(c)
	f.applyFlags(c)
	f.aws.registerRunbook(c)
	f.gcp.registerRunbook(c)
	c.Flags().StringArrayVarP(&f.policyDirs, "policies", "p", nil, "additional policy directories for findings()")
	c.Flags().StringVarP(&f.config, "config", "c", "", "vigil.hcl for findings() and the journal's anchor")
	c.Flags().StringVar(&f.reanchor, "reanchor", "", "continue a run whose anchor has no record of its journal (the anchor was lost), giving the reason; the journal records it")
	return c
}

func (a *app) rbUnlockCmd() *cobra.Command {
	var f runbookFlags
	c := &cobra.Command{
		Use:   "unlock RUN",
		Short: "Break a run's lease, as terraform force-unlock does",
		Long: `Unlock removes the lease on a run whose holder cannot give it back: a
machine that went away, a process stuck for good. The breaking is journaled
(who broke whose lease, and when), and a run that was running becomes
interrupted, so that 'vigil runbook resume' can continue it. A holder that is
in fact still running finds out at its next journal write and stops.

Without a terminal to confirm at, pass --force.`,
		Example: `  vigil runbook unlock run-20261127-091500-3fa2c1
  vigil runbook unlock run-20261127-091500-3fa2c1 --force`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			st, err := a.openRunStore(ctx, &f)
			if err != nil {
				return err
			}
			defer st.Close()
			cur, err := st.Lease(ctx, args[0])
			if err != nil {
				return err
			}
			if cur == nil {
				if _, err := st.GetRun(ctx, args[0]); err != nil {
					return &exitError{code: ExitError, err: fmt.Errorf("run %s: %w", args[0], err)}
				}
				fmt.Fprintf(a.stdout, "Run %s is not locked: nothing to unlock.\n", args[0])
				return nil
			}
			fmt.Fprintf(a.stdout, "Run %s is locked by %s since %s; last heartbeat %s, the lease expires at %s.\n", args[0], cur.Holder,
				cur.AcquiredAt.Local().Format(time.RFC3339), cur.HeartbeatAt.Local().Format(time.RFC3339), cur.ExpiresAt.Local().Format(time.RFC3339))
			if !f.force {
				in, ok := a.stdin.(*os.File)
				if !ok || !isTerminal(in) {
					return &exitError{code: ExitError, err: fmt.Errorf("no terminal to confirm at: pass --force to unlock run %s", args[0])}
				}
				fmt.Fprint(a.stdout, "Unlocking lets another process take the run while this holder may still act. Only 'yes' unlocks: ")
				line, err := newLineReader(a.stdin).next(ctx)
				if err != nil || strings.TrimSpace(line) != "yes" {
					return &exitError{code: ExitError, err: fmt.Errorf("run %s stays locked", args[0])}
				}
			}
			x, err := a.executor(ctx, &f, nil, st)
			if err != nil {
				return err
			}
			old, err := x.Unlock(ctx, args[0])
			if err != nil {
				return &exitError{code: ExitFindings, err: err}
			}
			if old == nil {
				fmt.Fprintf(a.stdout, "Run %s is not locked any more: nothing to unlock.\n", args[0])
				return nil
			}
			fmt.Fprintf(a.stdout, "Unlocked run %s: broke the lease of %s (journaled). Continue it with: vigil runbook resume %s\n", args[0], old.Holder, args[0])
			return nil
		},
	}
	f.stateFlags(c)
	f.keyFlags(c)
	c.Flags().StringVar(&f.actor, "actor", "", "who unlocks, for the journal (default: the OS user)")
	c.Flags().BoolVar(&f.force, "force", false, "unlock without asking for confirmation")
	c.Flags().StringVarP(&f.config, "config", "c", "", "vigil.hcl for the journal's anchor")
	return c
}
