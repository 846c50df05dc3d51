package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/compliance"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/internal/gctune"
	"github.com/vigil-ir/vigil/internal/history"
	"github.com/vigil-ir/vigil/internal/report"
	"github.com/vigil-ir/vigil/policies"
)

// judgeFlags are the flags every command that judges assets shares (scan,
// check): which policies, which settings, which waivers, which output.
type judgeFlags struct {
	config     string
	policyDirs []string
	libraries  []string
	only       []string
	noBuiltins bool
	waivers    string
	format     string
	output     string
	failOn     string
	timeout    time.Duration
	workers    int
	quiet      bool
	// store, when set, records the scan in that history (and notifies);
	// history records it in the default one.
	store   string
	history bool
	// compliance are benchmarks whose per-control table the report adds.
	compliance []string
	// asOf is the time ages and waiver expiry are judged by.
	asOf string
	// shard, when enabled, judges one slice of the scopes (shard.go).
	shard shardFlags
	// productARN is the Security Hub product --format asff imports under.
	productARN string
	// inputs are -i/--inventory, the name runbook and triage use, taken
	// before the positional inputs.
	inputs []string
}

// withInputs is the command's inputs: -i's, then the positional ones.
func (f *judgeFlags) withInputs(args []string) []string {
	return append(append([]string(nil), f.inputs...), args...)
}

func (f *judgeFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringArrayVarP(&f.inputs, "inventory", "i", nil, "input file or directory, - for standard input (repeatable; positional arguments work too)")
	fl.StringVarP(&f.config, "config", "c", "", "organization settings (vigil.hcl); default ./vigil.hcl when present")
	fl.StringArrayVarP(&f.policyDirs, "policies", "p", nil, "directory of additional Rego policies (repeatable)")
	fl.StringArrayVar(&f.libraries, "policy-library", nil, "Config Validator policy library (policies/templates, policies/constraints) whose constraints judge GCP assets too (repeatable; also policy_libraries in vigil.hcl)")
	fl.StringSliceVar(&f.only, "policy", nil, "run only these policies: ids or globs such as VGL-NET-* (repeatable or comma-separated)")
	fl.BoolVar(&f.noBuiltins, "no-builtin", false, "do not load the built-in policy library")
	fl.StringVarP(&f.waivers, "waivers", "w", "", "waiver file (HCL)")
	fl.StringVarP(&f.format, "format", "f", "table", "output format: "+strings.Join(report.Formats, ", "))
	fl.StringVarP(&f.output, "output", "o", "", "write the report to a file instead of stdout")
	fl.StringVar(&f.failOn, "fail-on", "low", "lowest severity that fails (exit 1): critical, high, medium, low, info or none")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Minute, "give up after this long")
	fl.IntVar(&f.workers, "workers", 0, "decoding and evaluation goroutines (default: number of CPUs)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress on stderr")
	fl.StringSliceVar(&f.compliance, "compliance", nil, "add a per-control table for a benchmark: "+strings.Join(compliance.IDs(), ", ")+" (table, json and sarif run properties; csv and sarif results name each finding's controls)")
	fl.StringVar(&f.productARN, "asff-product-arn", "", "--format asff: the Security Hub product ARN the findings are imported under (default arn:aws:securityhub:$AWS_REGION:ACCOUNT:product/ACCOUNT/default, ACCOUNT the findings' one AWS account)")
	fl.StringVar(&f.asOf, "as-of", "", "judge key ages and waiver expiry as of this time (RFC 3339, e.g. 2026-11-27T09:00:00Z; default now)")
}

// now is the clock of --as-of.
func (f *judgeFlags) now() (func() time.Time, error) {
	if f.asOf == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, f.asOf)
	if err != nil {
		if d, derr := time.Parse("2006-01-02", f.asOf); derr == nil {
			t = d
		} else {
			return nil, err
		}
	}
	return func() time.Time { return t }, nil
}

// registerStore adds --store to the commands that can record scans.
func (f *judgeFlags) registerStore(c *cobra.Command) {
	storeFlag(c, &f.store)
	c.Flags().BoolVar(&f.history, "history", false, "record the scan in the default history (VIGIL_STORE, store in vigil.hcl, or the state file)")
}

// complianceFormats are the formats --compliance adds to: the table and
// JSON print the per-control table, SARIF carries it in the run's
// properties and each result's controls, CSV a column of controls per
// benchmark.
var complianceFormats = []string{"table", "json", "sarif", "csv"}

func (f *judgeFlags) validate(c *cobra.Command) error {
	if !slices.Contains(report.Formats, f.format) {
		return usageError(c, "unknown --format %q: use %s", f.format, strings.Join(report.Formats, ", "))
	}
	if f.failOn != "none" && policy.SeverityRank(f.failOn) < 0 {
		return usageError(c, "unknown --fail-on %q: use critical, high, medium, low, info or none", f.failOn)
	}
	for _, id := range f.compliance {
		if _, err := compliance.Get(id); err != nil {
			return usageError(c, "--compliance: %v", err)
		}
	}
	if len(f.compliance) > 0 && !slices.Contains(complianceFormats, f.format) {
		return usageError(c, "--compliance has no place in --format %s: use %s (asff and ocsf name each finding's requirements without it)", f.format, strings.Join(complianceFormats, ", "))
	}
	if f.productARN != "" {
		if _, err := report.ParseProductARN(f.productARN); err != nil {
			return usageError(c, "--asff-product-arn: %v", err)
		}
		if f.format != "asff" {
			return usageError(c, "--asff-product-arn is for --format asff")
		}
	}
	if _, err := f.now(); err != nil {
		return usageError(c, "--as-of %q: not an RFC 3339 time or a date (2026-11-27T09:00:00Z, 2026-11-27)", f.asOf)
	}
	return nil
}

// loadConfig reads --config, or ./vigil.hcl when present, or the defaults.
func (a *app) loadConfig(path string) (*config.Config, error) {
	if path == "" {
		if _, err := os.Stat("vigil.hcl"); err != nil {
			return config.Default(), nil
		}
		path = "vigil.hcl"
	}
	cfg, files, diags := config.Load(path)
	if err := a.diagsError(files, diags); err != nil {
		return nil, err
	}
	a.noteConfig(cfg)
	return cfg, nil
}

// libraryDirs are the policy libraries of vigil.hcl (relative to its
// directory) and of --policy-library.
func libraryDirs(cfg *config.Config, flags []string) []string {
	var out []string
	for _, d := range cfg.PolicyLibraries {
		if !filepath.IsAbs(d) && cfg.File != "" {
			d = filepath.Join(filepath.Dir(cfg.File), d)
		}
		out = append(out, d)
	}
	return append(out, flags...)
}

// judge is the shared set-up: config, policy engine and waivers.
type judge struct {
	cfg     *config.Config
	engine  *policy.Engine
	waivers *policy.Waivers
	// place, when set, puts findings on their source (vigil check: the
	// .tf blocks of the planned resources).
	place func(f *policy.Finding) (report.Placement, bool)
	now   func() time.Time // --as-of, or nil for time.Now
	// warnings, when set, are the assumptions behind the report (vigil
	// check: plans judged without their .tf source), asked for once the
	// inputs are read.
	warnings func() []report.Warning
}

// findings runs the judge over sources and returns every finding, in
// memory, with the scan's summary: for commands that use the findings
// rather than render them (triage, runbooks, scheduled scans).
func (j *judge) findings(ctx context.Context, sources ...inventory.Source) ([]policy.Finding, *scan.Summary, error) {
	return j.findingsSeeing(ctx, nil, sources...)
}

// alsoSee chains two of scan.Options.Assets (either may be nil).
func alsoSee(first, then func(*asset.Asset) error) func(*asset.Asset) error {
	if first == nil {
		return then
	}
	return func(a *asset.Asset) error {
		if err := first(a); err != nil {
			return err
		}
		return then(a)
	}
}

// findingsSeeing is findings, telling js (when set) of every asset judged.
func (j *judge) findingsSeeing(ctx context.Context, js *history.JudgedSet, sources ...inventory.Source) ([]policy.Finding, *scan.Summary, error) {
	opts := scan.Options{Sources: sources, Engine: j.engine, Waivers: j.waivers, Now: j.now}
	if js != nil {
		opts.Assets = js.See
	}
	return j.collect(ctx, opts)
}

// findingsOn is findings for the assets whose ids are in ids only: the
// others are the cross-asset policies' context, judged by no policy (a
// triage needs the findings of its cards' assets, not of the inventory).
func (j *judge) findingsOn(ctx context.Context, ids map[string]bool, sources ...inventory.Source) ([]policy.Finding, *scan.Summary, error) {
	opts := scan.Options{Sources: sources, Engine: j.engine, Waivers: j.waivers, Now: j.now,
		Judge: func(a *asset.Asset) bool { return ids[a.ID] }}
	return j.collect(ctx, opts)
}

func (j *judge) collect(ctx context.Context, opts scan.Options) ([]policy.Finding, *scan.Summary, error) {
	res, err := scan.Run(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	defer res.Findings.Close()
	all := res.Findings.Slice()
	return all, &res.Summary, res.Findings.Err()
}

func (a *app) loadJudge(ctx context.Context, f *judgeFlags) (*judge, error) {
	cfg, err := a.loadConfig(f.config)
	if err != nil {
		return nil, err
	}
	now, _ := f.now()
	opts := policy.Options{Dirs: f.policyDirs, Config: cfg.Data(), Only: splitList(f.only), Libraries: libraryDirs(cfg, f.libraries), Now: now}
	if !f.noBuiltins {
		opts.Builtins = policies.FS
	}
	eng, err := policy.Load(ctx, opts)
	if err != nil {
		return nil, a.inputError(err)
	}
	for _, w := range eng.Warnings() {
		fmt.Fprintf(a.stderr, "vigil: warning: %s\n", w)
	}
	if len(eng.Policies()) == 0 {
		return nil, &exitError{code: ExitError, err: errors.New("no policies to run (--no-builtin without --policies or --policy-library?)")}
	}
	j := &judge{cfg: cfg, engine: eng, now: now}
	if f.waivers != "" {
		ws, file, diags := policy.LoadWaivers(f.waivers)
		if err := a.diagsError(map[string]*hcl.File{f.waivers: file}, diags); err != nil {
			return nil, err
		}
		j.waivers = ws
	}
	return j, nil
}

// run scans sources and renders the report; it returns the exit error.
func (a *app) runJudge(ctx context.Context, f *judgeFlags, j *judge, sources []inventory.Source) error {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	opts := scan.Options{Sources: sources, Engine: j.engine, Waivers: j.waivers, Workers: f.workers, Now: j.now}
	var evidence *compliance.Evidence
	if len(f.compliance) > 0 {
		// what the assets show of the facts each control reads
		ev, err := compliance.NewEvidence(j.engine.Policies())
		if err != nil {
			return a.inputError(err)
		}
		evidence, opts.Assets = ev, ev.Observe
	}
	if f.shard.enabled() {
		opts.Judge = f.shard.mine
	}
	var input int64
	var files []*inventory.FileSet
	for _, src := range sources {
		if fs, ok := src.(*inventory.FileSet); ok {
			input += fs.Bytes()
			files = append(files, fs)
		} else {
			input = gctune.MaxFloor // a live collector: size unknown
		}
	}
	var progress *meter
	if !f.quiet {
		tty, clock := a.progressTTY(), a.progressClock()
		total := input
		if len(files) < len(sources) {
			total = 0 // a live collection's size is not known
		}
		progress = newMeter(a.stderr, tty, total, clock)
		opts.Progress = func(p scan.Progress) {
			var read int64
			for _, fs := range files {
				read += fs.BytesRead()
			}
			progress.update(p.Phase, read, p.Assets, p.Findings)
		}
	}
	var judged *history.JudgedSet
	if f.store != "" || f.history {
		// What the recorded scan's notification needs to forget fixed
		// findings.
		js, err := a.notifiedAssets(ctx, f.store, j.cfg.Notify)
		if err != nil {
			return err
		}
		if judged = js; js != nil {
			opts.Assets = alsoSee(opts.Assets, js.See)
		}
	}
	defer gctune.Start(gctune.FloorFor(input))()
	res, err := scan.Run(ctx, opts)
	if err != nil {
		if progress != nil {
			progress.stop()
		}
		var stopped *policy.StoppedError
		switch {
		case errors.As(err, &stopped) && errors.Is(err, context.DeadlineExceeded):
			return &exitError{code: ExitError, err: fmt.Errorf("scan did not finish within --timeout %s: %v", f.timeout, stopped)}
		case errors.Is(err, context.DeadlineExceeded):
			return &exitError{code: ExitError, err: fmt.Errorf("scan did not finish within --timeout %s", f.timeout)}
		case stopped != nil:
			return &exitError{code: ExitError, err: fmt.Errorf("scan stopped: %v", stopped)}
		}
		return a.inputError(err)
	}
	defer res.Findings.Close()
	started := time.Now().Add(-res.Summary.Duration)
	rep := &report.Report{
		Tool: "vigil", Version: Version, Findings: res.Findings, Summary: res.Summary,
		Policies: j.engine.Policies(), FailOn: f.failOn, UnusedWaivers: res.UnusedWaivers, Place: j.place,
		SecurityHub: report.SecurityHub{ProductARN: f.productARN, Region: cmp.Or(a.env("AWS_REGION"), a.env("AWS_DEFAULT_REGION"))},
	}
	if f.format == "asff" {
		// before --output is opened: a report that cannot be imported
		// must not replace the last one
		if err := rep.CheckSecurityHub(); err != nil {
			return &exitError{code: ExitError, err: err}
		}
	}
	w, closeOut, err := a.openOutput(f.output)
	if err != nil {
		return err
	}
	if len(f.compliance) > 0 {
		if rep.Compliance, err = report.ComplianceTables(f.compliance, j.engine.Policies(), res.Findings.All(), evidence); err != nil {
			closeOut()
			return err
		}
	}
	if j.warnings != nil {
		rep.Warnings = j.warnings()
	}
	rep.Warnings = append(rep.Warnings, collectionGaps(sources)...)
	for _, fs := range files {
		// a live collection's were printed as it went; a file's are known now
		for _, g := range fs.CollectionGaps() {
			fmt.Fprintf(a.stderr, "vigil: warning: incomplete collection: %s\n", g.Message)
		}
	}
	if err := report.Render(w, f.format, rep); err != nil {
		closeOut()
		return err
	}
	if err := res.Findings.Err(); err != nil {
		closeOut()
		return err
	}
	if err := closeOut(); err != nil {
		return err
	}
	if f.store != "" || f.history {
		if err := a.recordScan(ctx, f, j, started, res, judged); err != nil {
			return err
		}
	}
	if f.output != "" && f.format != "table" && !f.quiet {
		// a short summary still goes to the terminal
		fmt.Fprintf(a.stderr, "vigil: wrote %s report to %s: %d findings, %d failing at %s\n",
			f.format, f.output, res.Summary.Findings-res.Summary.Waived, res.Summary.Failing(f.failOn), f.failOn)
	}
	if res.Summary.Failing(f.failOn) > 0 {
		return exit(ExitFindings)
	}
	return nil
}

func (a *app) scanCmd() *cobra.Command {
	var f judgeFlags
	var live liveFlags
	c := &cobra.Command{
		Use:   "scan [flags] INVENTORY...",
		Short: "Judge asset inventories with the posture policies",
		Long: `Scan reads asset inventories and reports the gaps that would hurt during an
incident. Inputs are files or directories (taken recursively: *.json, *.ndjson,
*.jsonl, *.dump); the format of each is detected from its content:

  - Google Cloud Asset Inventory exports: NDJSON from 'gcloud asset export'
    (content types RESOURCE and IAM_POLICY, in one file or several) and JSON
    arrays from 'gcloud asset list --format=json'
  - AWS Config: snapshot files, single configuration items, history files and
    'aws configservice get-resource-config-history' output
  - vigil NDJSON, as written by 'vigil inventory collect'
  - a live AWS or Google Cloud inventory with --aws or --gcp-scope (see
    'vigil inventory collect --help')
  - Terraform plans ('terraform show -json'); 'vigil check' is made for those
  - vulnerability scanner exports: 'aws inspector2 list-findings' and
    'gcloud artifacts vulnerabilities list IMAGE --format=json' (one report
    per instance or image, as the live collectors make)

Organization settings (approved networks, required labels, the IR team's
principals, admin ports, data residency) come from vigil.hcl (--config, or
./vigil.hcl when present).

Exit codes: 0 no unwaived finding at or above --fail-on, 1 findings, 2 bad
input or usage.`,
		Example: `  # the bundled examples
  vigil scan --config examples/vigil.hcl examples/inventory/

  # a CAI export with its IAM policies, SARIF for code scanning
  vigil scan resources.ndjson iam.ndjson --format sarif --output vigil.sarif

  # only fail on high and critical, with waivers and your own policies
  vigil scan inv/ --fail-on high --waivers waivers.hcl --policies ./policies

  # one policy, as JSON
  vigil scan inv/ --policy VGL-NET-001 --format json

  # which CIS AWS Foundations 3.0 controls pass, fail or are not covered
  vigil scan -c examples/vigil.hcl examples/inventory/ --compliance cis-aws-3.0

  # Security Hub (ASFF): each line is one BatchImportFindings call of at
  # most 100 findings; with more, split -l 1 findings.asff batch- and run
  # aws securityhub batch-import-findings --findings file://FILE per file
  vigil scan -c examples/vigil.hcl examples/inventory/ --format asff --asff-product-arn arn:aws:securityhub:eu-west-1:111111111111:product/111111111111/default --output findings.asff

  # OCSF Compliance Findings (class 2003), one event per line, for a SIEM
  vigil scan -c examples/vigil.hcl examples/inventory/ --format ocsf --output findings.ocsf.jsonl

  # judge key ages as of a given day (reproducible scans of old exports)
  vigil scan -c examples/vigil.hcl examples/inventory/ --as-of 2026-11-27

  # collect a live AWS account (every enabled region), then scan it
  vigil scan --aws --regions eu-west-1,us-east-1

  # a Google Cloud organization through the Cloud Asset API
  vigil scan --gcp-scope organizations/684315297612`,
		RunE: func(c *cobra.Command, args []string) error {
			args = f.withInputs(args)
			if len(args) == 0 && !live.enabled() {
				return usageError(c, "no inventory given (files, directories, or --aws / --gcp-scope to collect a live one)")
			}
			if err := f.validate(c); err != nil {
				return err
			}
			if err := f.shard.parse(c, a.env, f.store != "" || f.history); err != nil {
				return err
			}
			j, err := a.loadJudge(c.Context(), &f)
			if err != nil {
				return err
			}
			args, names, rename, cleanup, err := a.stdinInventoryNamed(args)
			defer cleanup()
			if err != nil {
				return err
			}
			var sources []inventory.Source
			if len(args) > 0 {
				fs, err := inventory.Open(args...)
				if err != nil {
					return a.inputError(rename(err))
				}
				fs.Names = names
				fs.Workers = f.workers
				sources = append(sources, fs)
			}
			if f.shard.enabled() {
				f.shard.inputs = shardInputs(sources, &live)
			}
			if live.enabled() && f.shard.enabled() {
				inv, err := a.collectShard(c.Context(), &live, &f.shard, f.quiet)
				if err != nil {
					return err
				}
				sources = append(sources, inv)
			} else if live.enabled() {
				inv, err := a.collectLive(c.Context(), &live, f.quiet)
				if err != nil {
					return err
				}
				sources = append(sources, inv)
			}
			return rename(a.runJudge(c.Context(), &f, j, sources))
		},
	}
	f.register(c)
	f.registerStore(c)
	f.shard.register(c)
	live.register(c)
	return c
}

// progressTTY says whether progress may draw a bar: stderr is a terminal
// (or a test says it is).
func (a *app) progressTTY() bool {
	if a.stderrTTY != nil {
		return a.stderrTTY()
	}
	return isTerminal(a.stderr)
}

// progressClock is the progress meters' clock (a test's, or the time).
func (a *app) progressClock() func() time.Time {
	if a.clock != nil {
		return a.clock
	}
	return time.Now
}

// collectionGaps are the warnings of what the collections behind the
// sources (live ones, and those that wrote the files read) could not
// read: no finding there does not mean nothing is wrong.
func collectionGaps(sources []inventory.Source) []report.Warning {
	var out []report.Warning
	for _, src := range sources {
		if gs, ok := src.(interface{ CollectionGaps() []inventory.Gap }); ok {
			for _, g := range gs.CollectionGaps() {
				out = append(out, report.Warning{Title: "incomplete collection", Message: g.Message, Subject: g.Part})
			}
		}
	}
	return out
}
