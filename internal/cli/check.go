package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/internal/report"
)

func (a *app) checkCmd() *cobra.Command {
	var f judgeFlags
	var chdir, stdinName string
	c := &cobra.Command{
		Use:   "check [flags] PLAN.json...",
		Short: "Judge a Terraform plan with the posture policies before it deploys",
		Long: `Check reads the JSON form of Terraform and OpenTofu plans ('terraform show
-json plan.out', 'tofu show -json plan.out'; '-' reads standard input) and
judges every resource the plan would create, update or replace with the same
policies, settings, waivers and output formats as 'vigil scan'. Each planned
resource becomes an asset whose id is its full address
(module.net.aws_security_group.web["a"]). Resources the plan leaves unchanged
(no-op, also when only moved or imported), deletes, forgets or defers are not
judged: there is no change to stop. They are counted in the summary, and
still inform the resources that change (a new policy on an unchanged bucket).
Deleting a public access block is judged on the buckets it protected.

What a plan cannot know is not passed silently: a rule whose sources or
ports come from something only apply knows, an instance whose public IP
depends on a subnet outside the plan, a bucket policy computed at apply, all
give findings that say the value is unknown; --fail-on decides whether they
fail the build. An attribute the provider computes although the
configuration does not set it (the acl of every new aws_s3_bucket, the rule
list of a security group without in-line rules) is judged by its documented
default instead. Only the .tf source tells such an unset rule or grant list
from a dynamic block (the plan's configuration section leaves dynamic blocks
out): without it vigil judges the list as unset and names each such resource
in a warning on stderr, in the JSON report ("warnings") and in SARIF (tool
execution notifications). Resource types vigil has no mapping for are listed
in the summary. Several plans may be given; each finding keeps its plan.

Findings point at the .tf source: vigil reads the Terraform configuration in
--chdir (default: the plan file's directory, when it holds .tf files),
follows local module sources, and puts each finding on the block that
declares its resource; JSON, SARIF and GitHub annotations report that file
and line, with the plan entry as a related location, so code scanning
annotates the changed line of the pull request. A resource in a module from
the registry is placed on its module block. Addresses vigil cannot place are
reported as such (and keep the plan's line).

Exit codes: 0 nothing at or above --fail-on, 1 findings, 2 bad input or usage.`,
		Example: `  terraform plan -out plan.out && terraform show -json plan.out > plan.json
  vigil check plan.json

  # the bundled example, findings on its .tf lines, as SARIF for code scanning
  vigil check examples/terraform/plan.json --chdir examples/terraform --format sarif

  # in CI: SARIF for code scanning, fail only on high and critical
  vigil check plan.json --format sarif --output vigil.sarif --fail-on high

  # annotations on the pull request (GitHub Actions)
  vigil check plan.json --format github

  # Security Hub findings of the plan (its resources have no account yet:
  # the product ARN names the importing account)
  vigil check plan.json --format asff --asff-product-arn arn:aws:securityhub:eu-west-1:111111111111:product/111111111111/default --output plan.asff

  # straight from terraform, without a file
  terraform show -json plan.out | vigil check -

  # the same from the repository root, with the plan's .tf files in infra/
  terraform -chdir=infra show -json plan.out | vigil check - --stdin-filename infra/plan.json`,
		RunE: func(c *cobra.Command, args []string) error {
			args = f.withInputs(args)
			if len(args) == 0 {
				return usageError(c, "no plan given (a file, or - for standard input)")
			}
			if err := f.validate(c); err != nil {
				return err
			}
			plans, cleanup, err := a.planInputs(args, stdinName)
			defer cleanup()
			if err != nil {
				return err
			}
			for _, p := range plans {
				format, err := inventory.Detect(p.path)
				if err != nil {
					return a.inputError(p.rename(err))
				}
				if format != inventory.FormatTerraformPlan {
					return &exitError{code: ExitError, err: fmt.Errorf("%s is not a Terraform plan (it looks like %s); create one with 'terraform show -json plan.out > plan.json', or use 'vigil scan' for inventories", p.name, describeFormat(format))}
				}
			}
			srcs, err := a.terraformSources(plans, chdir)
			if err != nil {
				return err
			}
			j, err := a.loadJudge(c.Context(), &f)
			if err != nil {
				return err
			}
			paths := make([]string, len(plans))
			for i, p := range plans {
				paths[i] = p.path
			}
			fs, err := inventory.Open(paths...)
			if err != nil {
				return a.inputError(err)
			}
			fs.Workers = f.workers
			fs.PlanSource = func(path string) *inventory.TFSource { return srcs.byPlan[path] }
			srcs.several = len(plans) > 1
			j.place = srcs.place
			var stdinWarning []report.Warning
			if slices.Contains(args, "-") && stdinName == "" && (f.format == "sarif" || f.format == "github") {
				// the plan entries' locations would name "-", which code
				// scanning and annotations cannot put on a file
				w := report.Warning{Title: "plan read from standard input",
					Message: fmt.Sprintf("the plan was read from standard input: %s locations of plan entries name \"-\", which cannot be resolved to a file; give --stdin-filename with the plan's path from the repository root (e.g. --stdin-filename infra/plan.json)", f.format)}
				stdinWarning = append(stdinWarning, w)
				fmt.Fprintf(a.stderr, "vigil: warning: %s\n", w.Message)
			}
			j.warnings = func() []report.Warning { return append(stdinWarning, srcs.warnings(fs.PlanStats())...) }
			err = a.runJudge(c.Context(), &f, j, []inventory.Source{fs})
			for _, p := range plans {
				err = p.renameExit(err)
			}
			// Assumptions are reported even with -q: they qualify a pass.
			srcs.reportWarnings(a.stderr, fs.PlanStats())
			if !f.quiet {
				srcs.reportUnplaced(a.stderr)
			}
			return err
		},
	}
	f.register(c)
	c.Flags().StringVar(&chdir, "chdir", "", "the Terraform working directory the plan was made in, whose .tf files locate findings (default: the plan file's directory when it holds .tf files)")
	c.Flags().StringVar(&stdinName, "stdin-filename", "", "the name reports give a plan read from standard input, as a path from the repository root (default \"-\"); its directory is the default --chdir")
	return c
}

// planInput is a plan given on the command line: a file, or standard input
// copied to a temporary file (findings and errors name it "-").
type planInput struct {
	path, name string
	stdin      bool
}

func (p planInput) rename(err error) error {
	if p.path == p.name {
		return err
	}
	var pe *inventory.ParseError
	if errors.As(err, &pe) && pe.File == p.path {
		e := *pe
		e.File = p.name
		return &e
	}
	return err
}

// renameExit is rename for the errors runJudge returns.
func (p planInput) renameExit(err error) error {
	if e, ok := err.(*exitError); ok && e.err != nil {
		return &exitError{code: e.code, err: p.rename(e.err)}
	}
	return p.rename(err)
}

// stdinArg is the argument that reads a plan from standard input, and how
// errors and reports name it unless --stdin-filename names it.
const stdinArg = "-"

// planInputs resolves the plan arguments; a plan on standard input is
// copied to a temporary file (named name, or "-").
func (a *app) planInputs(args []string, name string) ([]planInput, func(), error) {
	if name == "" {
		name = stdinArg
	}
	var plans []planInput
	var tmp string
	cleanup := func() {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}
	for _, arg := range args {
		if arg != stdinArg {
			plans = append(plans, planInput{path: arg, name: arg})
			continue
		}
		if tmp != "" {
			return nil, cleanup, &exitError{code: ExitError, err: fmt.Errorf("- (standard input) given twice")}
		}
		if a.stdin == nil {
			return nil, cleanup, &exitError{code: ExitError, err: fmt.Errorf("- given, but there is no standard input")}
		}
		dir, err := os.MkdirTemp("", "vigil-check-")
		if err != nil {
			return nil, cleanup, err
		}
		tmp = dir
		path := filepath.Join(dir, "plan.json")
		out, err := os.Create(path)
		if err != nil {
			return nil, cleanup, err
		}
		_, err = io.Copy(out, a.stdin)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, cleanup, fmt.Errorf("read standard input: %w", err)
		}
		if _, err := inventory.Detect(path); errors.Is(err, inventory.ErrBinaryPlan) {
			// the temporary file's name would mean nothing to the user
			return nil, cleanup, &exitError{code: ExitError, err: errors.New("standard input is a binary plan (terraform plan -out): pipe its JSON form instead, `terraform show -json plan.out | vigil check -` (or `tofu show -json`)")}
		}
		plans = append(plans, planInput{path: path, name: name, stdin: true})
	}
	return plans, cleanup, nil
}

// tfSources are the Terraform configurations of the plans being checked.
type tfSources struct {
	byPlan map[string]*inventory.TFSource // plan path -> configuration (nil: none read)
	names  map[string]string              // plan path -> name to show
	// several is set when more than one plan is checked: the same address
	// in two of them is two resources.
	several bool

	mu       sync.Mutex
	unplaced map[string]string // address -> why
}

// terraformSources reads the configuration of each plan: --chdir for all,
// or else each plan's own directory when it holds .tf files (the working
// directory for standard input). A --chdir that cannot be read is an
// error; an implied directory's problems are warnings.
func (a *app) terraformSources(plans []planInput, chdir string) (*tfSources, error) {
	s := &tfSources{byPlan: map[string]*inventory.TFSource{}, names: map[string]string{}, unplaced: map[string]string{}}
	byDir := map[string]*inventory.TFSource{}
	for _, p := range plans {
		s.names[p.path] = p.name
		dir, explicit := chdir, chdir != ""
		if !explicit {
			dir = filepath.Dir(p.name) // "." for standard input without --stdin-filename
			if !inventory.HasTerraformFiles(dir) {
				continue
			}
		}
		src, seen := byDir[dir]
		if !seen {
			var diags hcl.Diagnostics
			src, diags = inventory.LoadTFSource(dir)
			if explicit && diags.HasErrors() {
				a.printDiags(src.Files, diags)
				return nil, &exitError{code: ExitError, err: fmt.Errorf("--chdir %s: the Terraform configuration has errors (see above); findings cannot be placed on it", dir)}
			}
			for _, d := range diags {
				d.Severity = hcl.DiagWarning
			}
			a.printDiags(src.Files, diags)
			byDir[dir] = src
		}
		s.byPlan[p.path] = src
	}
	return s, nil
}

// place puts a plan finding on the block that declares its resource, with
// the plan entry as a related location; without the configuration, on the
// plan entry (for standard input, named "-" or by --stdin-filename).
func (s *tfSources) place(f *policy.Finding) (report.Placement, bool) {
	if f.Source != asset.SourceTerraformPlan {
		return report.Placement{}, false
	}
	name, ok := s.names[f.File]
	if !ok {
		return report.Placement{}, false
	}
	where := "in " + name
	if name == stdinArg {
		where = "in the plan read from standard input"
	}
	plan := report.Location{File: name, Line: f.Line, Message: fmt.Sprintf("the planned change (%s) %s", f.Change, where)}
	input := ""
	if s.several {
		input = name
	}
	src := s.byPlan[f.File]
	if src == nil {
		return report.Placement{Primary: plan, Input: input}, true
	}
	pl := src.Locate(f.AssetID)
	if pl.Unplaced != "" {
		s.mu.Lock()
		s.unplaced[f.AssetID] = pl.Unplaced
		s.mu.Unlock()
		return report.Placement{Primary: plan, Unplaced: pl.Unplaced, Input: input}, true
	}
	primary := report.Location{File: pl.Range.File, Line: pl.Range.Line, Column: pl.Range.Column, EndLine: pl.Range.EndLine}
	if pl.Via != "" {
		primary.Message = fmt.Sprintf("%s is declared in %s, a module vigil does not read; this is its module block", f.AssetID, pl.Via)
	}
	return report.Placement{Primary: primary, Related: []report.Location{plan}, Input: input}, true
}

// warnings are the plans' notes (what vigil assumed without the .tf
// source), for the report.
func (s *tfSources) warnings(ps *inventory.PlanStats) []report.Warning {
	if ps == nil {
		return nil
	}
	// one pass over each plan for all its notes' lines: a plan is most
	// often one long line, and a pass per note made a check of thousands
	// of resources spend its time re-reading the plan
	offsets := map[string][]int64{}
	for _, n := range ps.Notes {
		offsets[n.File] = append(offsets[n.File], n.Offset)
	}
	lines := map[string][]int{}
	for file, offs := range offsets {
		if l, err := inventory.LinesAt(file, offs); err == nil {
			lines[file] = l
		}
	}
	seen := map[string]int{}
	var out []report.Warning
	for _, n := range ps.Notes {
		w := report.Warning{Title: "judged without its .tf source", Message: n.Message(), File: n.File, Subject: n.Address}
		if l := lines[n.File]; l != nil {
			w.Line = l[seen[n.File]]
		}
		seen[n.File]++
		if name, ok := s.names[n.File]; ok {
			w.File = name
		}
		out = append(out, w)
	}
	return out
}

// reportWarnings prints the plans' notes on stderr: a check that passed
// under an assumption must say so.
func (s *tfSources) reportWarnings(w io.Writer, ps *inventory.PlanStats) {
	ws := s.warnings(ps)
	if len(ws) == 0 {
		return
	}
	fmt.Fprintf(w, "vigil: warning: %d planned resource%s judged without %s .tf source: rule or grant lists known only after apply and absent from the plan's configuration section (which leaves dynamic blocks out) were taken as unset:\n",
		len(ws), pluralVerb(len(ws), " was", "s were"), pluralVerb(len(ws), "its", "their"))
	// one line a resource, then each reason once
	var whys []string
	byWhy := map[string][]string{}
	for i, x := range ws {
		n := ps.Notes[i]
		if _, ok := byWhy[n.Why]; !ok {
			whys = append(whys, n.Why)
		}
		byWhy[n.Why] = append(byWhy[n.Why], fmt.Sprintf("%s:%d: %s (%s)", x.File, x.Line, n.Address, strings.Join(n.Attrs, ", ")))
	}
	for _, why := range whys {
		lines := byWhy[why]
		shown := min(len(lines), maxWarningLines)
		for _, line := range lines[:shown] {
			fmt.Fprintf(w, "vigil: warning:   %s\n", line)
		}
		if more := len(lines) - shown; more > 0 {
			fmt.Fprintf(w, "vigil: warning:   (and %d more like these: --format json or sarif lists every one)\n", more)
		}
		fmt.Fprintf(w, "vigil: warning: %s\n", why)
	}
}

// maxWarningLines is how many resources of one reason stderr names: a
// generated plan can have thousands, and a terminal full of them hides
// the findings (as Terraform folds its own repeated warnings). The
// report's warnings keep every one.
const maxWarningLines = 10

func pluralVerb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// reportUnplaced says which addresses could not be placed on the
// configuration.
func (s *tfSources) reportUnplaced(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	addrs := make([]string, 0, len(s.unplaced))
	for a := range s.unplaced {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		fmt.Fprintf(w, "vigil: warning: finding not placed on the configuration: %s\n", s.unplaced[a])
	}
	if len(addrs) > 0 {
		fmt.Fprintf(w, "vigil: %d finding%s kept the plan's line instead (is --chdir the directory the plan was made in?)\n", len(addrs), plural(len(addrs)))
	}
}

func describeFormat(f inventory.Format) string {
	switch f {
	case inventory.FormatCAI:
		return "a Cloud Asset Inventory export"
	case inventory.FormatAWSConfig:
		return "AWS Config items"
	case inventory.FormatVigil:
		return "vigil NDJSON"
	case inventory.FormatInspector:
		return "Inspector findings"
	}
	return "something else"
}
