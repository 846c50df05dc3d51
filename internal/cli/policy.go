package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vigil-ir/vigil/engine/compliance"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/policies"
)

func (a *app) policyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "List and test policies",
		Long: `Policies are Rego v1 packages under vigil.policies.* with deny (and
optionally warn) rules returning {"msg": ..., "details": {...}}, and a
# METADATA block whose custom section carries id, severity and kinds:

  # METADATA
  # title: Buckets must have versioning
  # custom:
  #   id: ACME-001
  #   severity: medium
  #   kinds: [bucket]
  package vigil.policies.acme.versioning

  import rego.v1

  deny contains {"msg": sprintf("%s has no versioning", [input.asset.name])} if {
      not input.asset.data.resource.data.versioning.enabled
  }

Policies read one asset as input.asset, the settings of vigil.hcl as
data.vigil.config and cross-asset facts through data.vigil.lib helpers.`,
	}
	c.AddCommand(a.policyListCmd(), a.policyTestCmd())
	return c
}

func (a *app) policyListCmd() *cobra.Command {
	var dirs, libraries []string
	var format, configPath, bench string
	c := &cobra.Command{
		Use:   "list",
		Short: "List the built-in policies, your own and your policy libraries' constraints",
		Example: `  vigil policy list
  vigil policy list --compliance cis-gcp-3.0
  vigil policy list --policies ./policies --format json
  vigil policy list --policy-library ./policy-library`,
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := a.loadConfig(configPath)
			if err != nil {
				return err
			}
			eng, err := policy.Load(c.Context(), policy.Options{Builtins: policies.FS, Dirs: dirs, Config: cfg.Data(), Libraries: libraryDirs(cfg, libraries)})
			if err != nil {
				return a.inputError(err)
			}
			for _, w := range eng.Warnings() {
				fmt.Fprintf(a.stderr, "vigil: warning: %s\n", w)
			}
			if bench != "" {
				b, err := compliance.Get(bench)
				if err != nil {
					return usageError(c, "--compliance: %v", err)
				}
				return a.listControls(b, eng.Policies(), format)
			}
			if format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(eng.Policies())
			}
			if format != "table" {
				return usageError(c, "unknown --format %q: use table or json", format)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSEVERITY\tKINDS\tPHASE\tTITLE")
			for _, p := range eng.Policies() {
				kinds := strings.Join(p.Kinds, ",")
				if p.IsConstraint() {
					kinds = "gcp (CAI)" // the template filters asset types itself
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.ID, p.Severity, kinds, p.Phase, p.Title)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringArrayVarP(&dirs, "policies", "p", nil, "directory of additional Rego policies (repeatable)")
	c.Flags().StringArrayVar(&libraries, "policy-library", nil, "Config Validator policy library to list the constraints of (repeatable)")
	c.Flags().StringVarP(&configPath, "config", "c", "", "vigil.hcl (for its policy_libraries); default ./vigil.hcl when present")
	c.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	c.Flags().StringVar(&bench, "compliance", "", "list a benchmark's controls and the policies that implement them: "+strings.Join(compliance.IDs(), ", "))
	return c
}

// listControls prints which controls of a benchmark the loaded policies
// implement.
func (a *app) listControls(b *compliance.Benchmark, ps []*policy.Policy, format string) error {
	impl := b.Implemented(ps)
	type row struct {
		Control  string   `json:"control"`
		Title    string   `json:"title"`
		Manual   bool     `json:"manual,omitempty"`
		Policies []string `json:"policies"`
	}
	var rows []row
	n := 0
	partial := map[string]bool{}
	for _, p := range ps {
		for tag := range p.Partial {
			partial[p.ID+" "+tag] = true
		}
	}
	for _, c := range b.Controls {
		var ids []string
		for _, id := range impl[c.ID] {
			if partial[id+" "+compliance.Tag(b.ID, c.ID)] {
				id += " (partial)"
			}
			ids = append(ids, id)
		}
		rows = append(rows, row{c.ID, c.Title, c.Manual, ids})
		if len(impl[c.ID]) > 0 {
			n++
		}
	}
	if format == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"benchmark": b.ID, "title": b.Title, "controls": rows})
	}
	fmt.Fprintf(a.stdout, "%s: vigil implements %d of %d controls\n", b.Title, n, len(b.Controls))
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTROL\tPOLICIES\tTITLE")
	for _, r := range rows {
		pol := strings.Join(r.Policies, ",")
		if pol == "" {
			pol = "not covered"
		}
		title := r.Title
		if r.Manual {
			title += " (manual)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Control, pol, title)
	}
	return tw.Flush()
}

func (a *app) policyTestCmd() *cobra.Command {
	var run string
	var verbose, noBuiltins bool
	var configPath string
	c := &cobra.Command{
		Use:   "test [DIR...]",
		Short: "Run the Rego unit tests of the built-in policies and your own",
		Long: `Runs every test_ rule in *_test.rego files: the built-in library's and those
under the given directories. Tests see data.vigil.config from --config (or the
defaults) and an empty data.vigil.inventory; override either with 'with'.`,
		Example: `  vigil policy test
  vigil policy test ./policies --run open_admin -v`,
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := a.loadConfig(configPath)
			if err != nil {
				return err
			}
			opts := policy.Options{Dirs: args, Config: cfg.Data()}
			if !noBuiltins {
				opts.Builtins = policies.FS
			}
			results, err := policy.RunTests(c.Context(), opts, run)
			if err != nil {
				return a.inputError(err)
			}
			var pass, fail, skip int
			for _, r := range results {
				switch {
				case r.Skip:
					skip++
				case r.Pass:
					pass++
				default:
					fail++
				}
				if verbose || (!r.Pass && !r.Skip) {
					status := "PASS"
					if r.Skip {
						status = "SKIP"
					} else if !r.Pass {
						status = "FAIL"
					}
					fmt.Fprintf(a.stdout, "%s %s:%d %s.%s", status, r.File, r.Line, r.Package, r.Name)
					if r.Error != "" {
						fmt.Fprintf(a.stdout, ": %s", r.Error)
					}
					fmt.Fprintln(a.stdout)
					if r.Output != "" && (!r.Pass || verbose) {
						fmt.Fprintf(a.stdout, "    %s\n", strings.ReplaceAll(strings.TrimSpace(r.Output), "\n", "\n    "))
					}
				}
			}
			if len(results) == 0 {
				return &exitError{code: ExitError, err: fmt.Errorf("no tests found")}
			}
			fmt.Fprintf(a.stdout, "%d passed, %d failed, %d skipped\n", pass, fail, skip)
			if fail > 0 {
				return exit(ExitFindings)
			}
			return nil
		},
	}
	c.Flags().StringVar(&run, "run", "", "run only tests whose name matches this regular expression")
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "list every test")
	c.Flags().BoolVar(&noBuiltins, "no-builtin", false, "skip the built-in library's tests")
	c.Flags().StringVarP(&configPath, "config", "c", "", "vigil.hcl to expose as data.vigil.config")
	return c
}
