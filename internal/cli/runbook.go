package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/provider/core"
	"github.com/vigil-ir/vigil/internal/provider/sim"
	"github.com/vigil-ir/vigil/internal/report"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/runbooks"
)

// Exit codes of apply and resume beyond the common ones.
const ExitWaiting = 3 // the run waits for an approval, or was interrupted: resume it

func init() { extraCommands = append(extraCommands, (*app).runbookCmd) }

// cloudProviders registers the real cloud providers; the provider packages
// add themselves (aws, gcp).
var cloudProviders []func(ctx context.Context, a *app, f *runbookFlags) (action.Provider, error)

type runbookFlags struct {
	vars, varFiles []string
	inventory      []string
	provider       string
	config         string
	policyDirs     []string
	waivers        string
	state          string
	actor          string
	server         string
	format         string
	out            string
	approve        []string
	autoApprove    bool
	parallel       int
	inventoryOut   string
	noWait         bool
	journalKey     string
	servePublicKey string
	force          bool
	showKey        bool
	all            bool
	reanchor       string
	dirs           []string
	aws            awsFlags
	gcp            gcpFlags
	fromAlert      string

	// given are the command's flags, for the resume hint.
	given *pflag.FlagSet
}

func (f *runbookFlags) varFlags(c *cobra.Command) {
	c.Flags().StringArrayVar(&f.vars, "var", nil, "set a variable: -var name=value (repeatable)")
	c.Flags().StringVar(&f.fromAlert, "from-alert", "", "fill variables from a provider alert through the runbook's from_alert block (-var still wins)")
	c.Flags().StringArrayVar(&f.varFiles, "var-file", nil, "read variables from an HCL or JSON file (repeatable)")
}

func (f *runbookFlags) envFlags(c *cobra.Command) {
	c.Flags().StringArrayVarP(&f.inventory, "inventory", "i", nil, "inventory files or directories for assets(), findings() and the simulated cloud")
	c.Flags().StringVar(&f.provider, "provider", "cloud", "cloud (the real providers) or sim (rehearse against --inventory)")
	c.Flags().StringVarP(&f.config, "config", "c", "", "vigil.hcl for findings() (default ./vigil.hcl when present)")
	c.Flags().StringArrayVarP(&f.policyDirs, "policies", "p", nil, "additional policy directories for findings()")
	c.Flags().StringVarP(&f.waivers, "waivers", "w", "", "waiver file for findings()")
}

func (f *runbookFlags) stateFlags(c *cobra.Command) {
	c.Flags().StringVar(&f.state, "state", "", "state: a SQLite file (default "+store.DefaultPath()+") or a postgres:// URL shared by several machines")
}

func (f *runbookFlags) keyFlags(c *cobra.Command) {
	c.Flags().StringVar(&f.journalKey, "journal-key", "", "ed25519 key (PEM) that signs the journal; VIGIL_JOURNAL_KEY works too (default "+defaultKeyPath()+", made on first use)")
	c.Flags().StringVar(&f.servePublicKey, "serve-public-key", "", "vigil serve's public signing key (PEM; vigil serve --show-signing-key prints it), pinned to check who started a run and approvals by a second person; VIGIL_SERVE_PUBLIC_KEY or serve_public_key in vigil.hcl work too")
}

func (f *runbookFlags) applyFlags(c *cobra.Command) {
	f.stateFlags(c)
	f.keyFlags(c)
	c.Flags().StringVar(&f.actor, "actor", "", "who runs it, for the journal (default: the OS user)")
	c.Flags().StringArrayVar(&f.approve, "approve", nil, "approve step instances up front (repeatable): isolate, 'revoke[\"sg-0a1\"]', 'revoke[*]'")
	c.Flags().BoolVar(&f.autoApprove, "auto-approve", false, "do not ask to confirm the plan against the real cloud (CI); approves no step: steps that need an approval still take --approve")
	c.Flags().IntVar(&f.parallel, "parallel", 4, "how many independent steps run at once")
	c.Flags().StringVar(&f.inventoryOut, "inventory-out", "", "with --provider sim: write the simulated cloud's inventory here when done")
	c.Flags().BoolVar(&f.noWait, "no-wait", false, "a step that needs a second person's approval (through vigil serve) stops the run in awaiting_approval instead of waiting; resume reads the approval")
}

func (a *app) runbookCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "runbook",
		Short: "Write, plan, apply and review incident-response runbooks",
		Long: `Runbooks are HCL files that declare an incident response phase by phase
(preparation, identification, triage, investigation, containment, recovery,
lessons_learned) as steps that run actions. vigil plans them as a dry run,
applies the plan with approvals and a hash-chained journal, resumes runs
after a crash or an approval, and renders a timeline for the review.

  vigil runbook list
  vigil runbook plan compromised-vm-gcp --provider sim -i examples/inventory \
      -var instance=//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1 \
      -var incident=INC-2041 -out plan.json
  vigil runbook apply plan.json --approve isolate
  vigil runbook timeline RUN

Runbook arguments are files or the names of built-in runbooks.`,
	}
	c.AddCommand(a.rbListCmd(), a.rbActionsCmd(), a.rbValidateCmd(), a.rbShowCmd(), a.rbPlanCmd(), a.rbApplyCmd(),
		a.rbResumeCmd(), a.rbUnlockCmd(), a.rbStatusCmd(), a.rbVerifyCmd(), a.rbTimelineCmd())
	return c
}

// loadRunbook reads a runbook file or a built-in one. The label is what a
// plan records to find it again: the path, or builtin:<name>.
func (a *app) loadRunbook(arg string) (*runbook.Runbook, map[string]*hcl.File, string, error) {
	if name, ok := strings.CutPrefix(arg, "builtin:"); ok {
		arg = name
	} else if _, err := os.Stat(arg); err == nil {
		rb, file, diags := runbook.ParseFile(arg)
		files := map[string]*hcl.File{arg: file}
		if err := a.diagsError(files, diags); err != nil {
			return nil, nil, "", err
		}
		return rb, files, arg, nil
	}
	src, err := runbooks.Source(arg)
	if err != nil {
		hint := ""
		if s := policy.Closest(arg, runbooks.Names()); s != "" {
			hint = fmt.Sprintf("; did you mean %s?", s)
		}
		return nil, nil, "", &exitError{code: ExitError, err: fmt.Errorf("%s is neither a file nor a built-in runbook (%s)%s", arg, strings.Join(runbooks.Names(), ", "), hint)}
	}
	name := "builtin/" + arg + ".hcl"
	rb, file, diags := runbook.Parse(src, name)
	files := map[string]*hcl.File{name: file}
	if err := a.diagsError(files, diags); err != nil {
		return nil, nil, "", err
	}
	return rb, files, "builtin:" + arg, nil
}

func (a *app) rbListCmd() *cobra.Command {
	var f runbookFlags
	c := &cobra.Command{
		Use:   "list",
		Short: "List the built-in runbooks and those in --dir",
		RunE: func(c *cobra.Command, args []string) error {
			type row struct{ name, title, phases, where string }
			var rows []row
			add := func(rb *runbook.Runbook, where string) {
				var phases []string
				for _, p := range rb.Phases {
					phases = append(phases, p.Name)
				}
				rows = append(rows, row{rb.ID, rb.Title, strings.Join(phases, ","), where})
			}
			for _, name := range runbooks.Names() {
				src, _ := runbooks.Source(name)
				rb, _, diags := runbook.Parse(src, "builtin/"+name+".hcl")
				if diags.HasErrors() {
					return fmt.Errorf("built-in runbook %s: %s", name, diags.Error())
				}
				add(rb, "built-in")
			}
			for _, dir := range f.dirs {
				files, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
				if err != nil {
					return err
				}
				for _, p := range files {
					rb, file, diags := runbook.ParseFile(p)
					if diags.HasErrors() {
						a.printDiags(map[string]*hcl.File{p: file}, diags)
						continue
					}
					add(rb, p)
				}
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTITLE\tPHASES\tFROM")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.name, r.title, r.phases, r.where)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringArrayVar(&f.dirs, "dir", nil, "also list the runbooks (*.hcl) in this directory")
	return c
}

func (a *app) rbActionsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "actions [NAME]",
		Short: "List the actions steps can run, or show one",
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				s, ok := action.Catalog[args[0]]
				if !ok {
					return usageError(c, "no action %q", args[0])
				}
				fmt.Fprintf(a.stdout, "%s (%s)\n  %s\n\nArguments:\n", s.Name, s.Effect, s.Description)
				for _, n := range sortedNames(s.Args) {
					ar := s.Args[n]
					req := "optional"
					if ar.Required {
						req = "required"
					}
					fmt.Fprintf(a.stdout, "  %-22s %-28s %s. %s\n", n, ar.Type.FriendlyName(), req, ar.Description)
				}
				if len(s.Outputs) > 0 {
					fmt.Fprintln(a.stdout, "\nOutputs:")
					for _, n := range sortedNames(s.Outputs) {
						fmt.Fprintf(a.stdout, "  %-22s %s\n", n, s.Outputs[n].FriendlyName())
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ACTION\tEFFECT\tDESCRIPTION")
			for _, n := range action.Names() {
				s := action.Catalog[n]
				fmt.Fprintf(tw, "%s\t%s\t%s\n", n, s.Effect, s.Description)
			}
			return tw.Flush()
		},
	}
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// registryFor builds the action registry: core, then the real providers,
// or the simulated cloud over them.
func (a *app) registryFor(ctx context.Context, f *runbookFlags, cloud *sim.Cloud) (*action.Registry, error) {
	reg := action.NewRegistry()
	if err := reg.Register(core.Provider()); err != nil {
		return nil, err
	}
	if cloud != nil {
		return reg, reg.Register(cloud.Provider())
	}
	for _, mk := range cloudProviders {
		p, err := mk(ctx, a, f)
		if err != nil {
			return nil, err
		}
		if p != nil {
			if err := reg.Register(p); err != nil {
				return nil, err
			}
		}
	}
	return reg, nil
}

func (a *app) rbValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate RUNBOOK...",
		Short: "Check runbooks without running anything",
		Long: `Validate reports every problem at once, each with file, line, column and the
source line: unknown actions (with the closest names), missing, unknown and
mistyped arguments, references to undeclared variables, locals and steps,
dependency cycles and phases out of order.`,
		Example: `  vigil runbook validate my-runbook.hcl
  vigil runbook validate compromised-vm-gcp`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(c, "no runbook given")
			}
			reg, err := a.registryFor(c.Context(), &runbookFlags{}, sim.New(inventory.New(), ""))
			if err != nil {
				return err
			}
			failed := false
			for _, arg := range args {
				rb, files, _, err := a.loadRunbook(arg)
				if err != nil {
					// report it and go on: validate reports every runbook's
					// problems at once (parse errors are printed already,
					// this adds their count; an unknown name its did-you-mean)
					fmt.Fprintf(a.stderr, "vigil: %v\n", err)
					failed = true
					continue
				}
				diags := runbook.Validate(rb, reg)
				a.printDiags(files, diags)
				if diags.HasErrors() {
					failed = true
					continue
				}
				fmt.Fprintf(a.stdout, "%s: runbook %s is valid (%d steps in %d phases)\n", arg, rb.ID, len(rb.Steps), len(rb.Phases))
			}
			if failed {
				return exit(ExitError)
			}
			return nil
		},
	}
}

func (a *app) rbShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show RUNBOOK",
		Short: "Describe a runbook: variables, phases, steps and outputs",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			rb, _, label, err := a.loadRunbook(args[0])
			if err != nil {
				return err
			}
			w := a.stdout
			fmt.Fprintf(w, "%s — %s\n(%s, sha256 %.12s)\n\n", rb.ID, rb.Title, label, rb.Hash())
			if rb.Description != "" {
				fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(rb.Description))
			}
			if len(rb.Variables) > 0 {
				fmt.Fprintln(w, "Variables:")
				for _, v := range rb.Variables {
					def := "required"
					if !v.Required() {
						def = "default " + report.RenderValueForCLI(runbook.Encode(v.Default))
					}
					if v.Sensitive {
						def += ", sensitive"
					}
					fmt.Fprintf(w, "  %-18s %-14s %s. %s\n", v.Name, v.Type.FriendlyName(), def, v.Description)
				}
				fmt.Fprintln(w)
			}
			for _, p := range rb.Phases {
				fmt.Fprintf(w, "# %s\n", p.Name)
				for _, s := range p.Steps {
					extra := []string{}
					if s.ForEach != nil {
						extra = append(extra, "for_each")
					}
					if s.When != nil {
						extra = append(extra, "when")
					}
					if s.Approval != nil {
						extra = append(extra, "approval")
					}
					if s.Evidence {
						extra = append(extra, "evidence")
					}
					e := ""
					if len(extra) > 0 {
						e = " [" + strings.Join(extra, ", ") + "]"
					}
					fmt.Fprintf(w, "  step.%-14s %s%s\n", s.Name, s.Action, e)
					if s.Description != "" {
						fmt.Fprintf(w, "                      %s\n", s.Description)
					}
				}
			}
			if len(rb.Outputs) > 0 {
				fmt.Fprintln(w, "\nOutputs:")
				for _, o := range rb.Outputs {
					fmt.Fprintf(w, "  %s %s\n", o.Name, o.Description)
				}
			}
			return nil
		},
	}
}

// rbSession is what plan and apply share: the registry, the environment of
// actions and the data functions read.
type rbSession struct {
	reg   *action.Registry
	env   *action.Env
	data  *runbook.Data
	cloud *sim.Cloud
	inv   *inventory.Inventory
}

// session wires the providers, the inventory and the policy engine.
// simState restores the simulated cloud of a run being resumed.
func (a *app) session(ctx context.Context, f *runbookFlags, inventoryPaths []string, simState, newState string) (*rbSession, error) {
	s := &rbSession{}
	if f.provider != "cloud" && f.provider != "sim" {
		return nil, &exitError{code: ExitError, err: fmt.Errorf("--provider %q: use cloud or sim", f.provider)}
	}
	if len(inventoryPaths) > 0 {
		inv, err := inventory.Load(ctx, inventoryPaths...)
		if err != nil {
			return nil, a.inputError(err)
		}
		s.inv = inv
	}
	var lf liveFlags
	if f.provider == "cloud" {
		lf.aws, lf.aws.enabled = f.aws, f.aws.live
		if f.gcp.live {
			if f.gcp.scope == "" {
				return nil, &exitError{code: ExitError, err: errors.New("--gcp-live needs --gcp-scope: the organization, folder or project to collect")}
			}
			lf.gcp = f.gcp
		}
	}
	live := lf.enabled()
	if live {
		inv, err := a.collectLive(ctx, &lf, false)
		if err != nil {
			return nil, err
		}
		s.inv = merge(s.inv, inv)
	}
	if f.provider == "sim" {
		switch {
		case simState != "":
			cloud, err := sim.Load(simState)
			if err != nil {
				return nil, err
			}
			s.cloud = cloud
		case s.inv == nil:
			return nil, &exitError{code: ExitError, err: errors.New("--provider sim needs --inventory: the simulated cloud starts as that inventory")}
		default:
			s.cloud = sim.New(s.inv, newState)
		}
		// VIGIL_SIM_FAULTS makes simulated calls fail as networks do (a
		// rehearsal of a timeout after the cloud acted, for instance).
		if spec := a.env("VIGIL_SIM_FAULTS"); spec != "" {
			faults, err := sim.ParseFaults(spec)
			if err != nil {
				return nil, &exitError{code: ExitError, err: err}
			}
			s.cloud.Inject(faults...)
		}
	}
	reg, err := a.registryFor(ctx, f, s.cloud)
	if err != nil {
		return nil, err
	}
	s.reg = reg
	jf := judgeFlags{config: f.config, policyDirs: f.policyDirs, waivers: f.waivers}
	var j *judge
	var jerr error
	var jonce sync.Once
	var scanMu sync.Mutex
	judgeOnce := func() (*judge, error) {
		jonce.Do(func() { j, jerr = a.loadJudge(ctx, &jf) })
		return j, jerr
	}
	scanOf := func(ctx context.Context, inv *inventory.Inventory) ([]policy.Finding, error) {
		j, err := judgeOnce()
		if err != nil {
			return nil, err
		}
		scanMu.Lock() // one engine: its cross-asset index is per scan
		defer scanMu.Unlock()
		fs, _, err := j.findings(ctx, inv)
		return fs, err
	}
	s.data = &runbook.Data{Inventory: s.inv}
	s.env = &action.Env{Log: a.log, Now: time.Now}
	if s.inv != nil {
		var cached []policy.Finding
		var cerr error
		var once sync.Once
		initial := s.inv
		s.data.Findings = func(ctx context.Context) ([]policy.Finding, error) {
			once.Do(func() { cached, cerr = scanOf(ctx, initial) })
			return cached, cerr
		}
		s.env.Inventory = func() *inventory.Inventory { return initial }
		s.env.Findings = s.data.Findings
	}
	if live {
		// core.scan collects again, so a final scan shows what is left.
		s.env.Findings = func(ctx context.Context) ([]policy.Finding, error) {
			inv, err := a.collectLive(ctx, &lf, true)
			if err != nil {
				return nil, err
			}
			return scanOf(ctx, inv)
		}
	}
	if s.cloud != nil {
		cloud := s.cloud
		s.env.Inventory = cloud.Inventory
		s.env.Findings = func(ctx context.Context) ([]policy.Finding, error) { return scanOf(ctx, cloud.Inventory()) }
	}
	return s, nil
}

func (a *app) rbPlanCmd() *cobra.Command {
	var f runbookFlags
	c := &cobra.Command{
		Use:   "plan RUNBOOK",
		Short: "Show what a runbook would do, changing nothing",
		Long: `Plan evaluates the runbook's steps in dependency order and asks each action
what it would do; actions only read. The view shows, per phase and step, the
effect (<= read, ~ reversible, - destructive), the resolved arguments, the
concrete targets, "(known after apply)" for what only a run can know, and the
approvals needed. -out saves the plan for 'vigil runbook apply'.

Variables come from -var name=value, -var-file FILE and VIGIL_VAR_<name>.`,
		Example: `  vigil runbook plan compromised-vm-gcp --provider sim -i examples/inventory \
      -var instance=//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1 \
      -var incident=INC-2041 -out plan.json
  vigil runbook plan open-firewall-remediation --provider sim -i examples/inventory --format json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if c.Flags().Changed("state") {
				// A plan records nothing; --state is taken so that an
				// apply's command line runs as a plan, and opened so that
				// a mistyped state fails now rather than at apply.
				st, err := a.openRunStore(c.Context(), &f)
				if err != nil {
					return err
				}
				st.Close()
			}
			plan, _, err := a.makePlan(c.Context(), &f, args[0])
			if err != nil {
				return err
			}
			if f.out != "" {
				fh, err := os.Create(f.out)
				if err != nil {
					return err
				}
				if err := report.PlanJSON(fh, plan); err != nil {
					fh.Close()
					return err
				}
				if err := fh.Close(); err != nil {
					return err
				}
			}
			switch f.format {
			case "json":
				return report.PlanJSON(a.stdout, plan)
			case "text", "":
				if err := report.PlanText(a.stdout, plan); err != nil {
					return err
				}
				if f.out != "" {
					fmt.Fprintf(a.stdout, "\nSaved the plan to %s (sha256 %s). Apply it with: vigil runbook apply %s\n", f.out, plan.Hash(), f.out)
				}
				return nil
			}
			return usageError(c, "unknown --format %q: use text or json", f.format)
		},
	}
	f.varFlags(c)
	f.envFlags(c)
	f.keyFlags(c)
	f.stateFlags(c)
	f.aws.registerRunbook(c)
	f.gcp.registerRunbook(c)
	c.Flags().StringVar(&f.out, "out", "", "save the plan to this file")
	c.Flags().StringVarP(&f.format, "format", "f", "text", "text or json")
	return c
}

func (a *app) makePlan(ctx context.Context, f *runbookFlags, arg string) (*runbook.Plan, *rbSession, error) {
	rb, files, label, err := a.loadRunbook(arg)
	if err != nil {
		return nil, nil, err
	}
	s, err := a.session(ctx, f, f.inventory, "", "")
	if err != nil {
		return nil, nil, err
	}
	fromAlert, err := a.alertInputs(rb, f.fromAlert)
	if err != nil {
		return nil, nil, err
	}
	vars, vfiles, diags := rb.ResolveVariables(runbook.Inputs{Vars: f.vars, VarFiles: f.varFiles, Environ: os.Environ(), Alert: fromAlert})
	for k, v := range vfiles {
		files[k] = v
	}
	if err := a.diagsError(files, diags); err != nil {
		return nil, nil, err
	}
	key, err := a.valueKeyFor(f, vars)
	if err != nil {
		return nil, nil, err
	}
	planner := &runbook.Planner{Registry: s.reg, Env: s.env, Data: s.data, Provider: f.provider, Inventory: f.inventory, Key: key}
	plan, diags := planner.Plan(ctx, rb, label, vars)
	if err := a.diagsError(files, diags); err != nil {
		return nil, nil, err
	}
	return plan, s, nil
}

// valueKeyFor is the journal key a plan hashes its sensitive values and
// for_each keys with (keyed, so that a short secret cannot be brute forced
// from the plan). Only a plan with sensitive variables needs it, so only
// then is the key read, or made on first use; apply must use the same key.
func (a *app) valueKeyFor(f *runbookFlags, vars map[string]*runbook.VarValue) (ed25519.PrivateKey, error) {
	for _, v := range vars {
		if v.Sensitive {
			key, _, err := a.journalKey(f)
			return key, err
		}
	}
	return nil, nil
}
