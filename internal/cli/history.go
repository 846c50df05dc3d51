package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ir/vigil/engine/compliance"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/internal/history"
	"github.com/vigil-ir/vigil/internal/serve"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/policies"
)

func init() {
	extraCommands = append(extraCommands, (*app).historyCmd, (*app).diffCmd, (*app).reportCmd, (*app).serveCmd)
}

func (a *app) openHistory(ctx context.Context, dsn string) (store.History, error) {
	dsn, err := a.resolveStore(dsn)
	if err != nil {
		return nil, err
	}
	h, err := store.OpenHistory(ctx, dsn)
	if err != nil {
		return nil, &exitError{code: ExitError, err: err}
	}
	return h, nil
}

// recordScan stores a finished scan and tells the notify blocks about
// findings they have not been sent.
func (a *app) recordScan(ctx context.Context, f *judgeFlags, j *judge, started time.Time, res *scan.Result, judged *history.JudgedSet) error {
	rec, fs := history.Record(f.shard.schedule, started, &res.Summary, j.engine.Policies(), res.Findings.Slice())
	if f.shard.enabled() {
		return a.recordShard(ctx, f, j, rec, fs)
	}
	h, err := a.openHistory(ctx, f.store)
	if err != nil {
		return err
	}
	defer h.Close()
	if _, err := h.RecordScan(ctx, rec, fs); err != nil {
		return &exitError{code: ExitError, err: err}
	}
	if !f.quiet {
		fmt.Fprintf(a.stderr, "vigil: recorded scan %d (%d open findings)\n", rec.ID, rec.Findings)
	}
	sc := history.Scan{Findings: fs, Judged: judged.IDs(), Policies: history.PolicyIDs(j.engine.Policies())}
	if err := history.Notify(ctx, h, j.cfg.Notify, []history.Scan{sc}, http.DefaultClient); err != nil {
		fmt.Fprintf(a.stderr, "vigil: warning: %v\n", err)
	}
	return nil
}

// notifiedAssets starts collecting, for a scan that --store records and
// notify blocks hear of, which assets with announced findings it judges
// (history.JudgedSet): a finding the scan no longer finds is forgotten,
// and announced again if it comes back.
func (a *app) notifiedAssets(ctx context.Context, dsn string, blocks []config.Notify) (*history.JudgedSet, error) {
	if len(blocks) == 0 {
		return nil, nil
	}
	h, err := a.openHistory(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	js, err := history.NewJudgedSet(ctx, h, blocks)
	if err != nil {
		return nil, &exitError{code: ExitError, err: err}
	}
	return js, nil
}

// judgedBySchedule hands what a scheduled scan judged (the assets with
// announced findings it saw, the policies it ran) from the scan to its
// notification (a schedule never overlaps itself).
type judgedBySchedule struct {
	mu sync.Mutex
	m  map[string]history.Scan
}

func (j *judgedBySchedule) put(schedule string, sc history.Scan) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.m == nil {
		j.m = map[string]history.Scan{}
	}
	j.m[schedule] = sc
}

// scheduleNotify is serve's notification of a recorded scheduled scan,
// with what scheduleScan judged.
func scheduleNotify(h store.History, blocks []config.Notify, judged *judgedBySchedule) func(context.Context, *store.ScanRecord, []store.StoredFinding) error {
	return func(ctx context.Context, rec *store.ScanRecord, fs []store.StoredFinding) error {
		return history.Notify(ctx, h, blocks, []history.Scan{judged.scan(rec.Schedule, fs)}, http.DefaultClient)
	}
}

// scan is the schedule's scan with its findings.
func (j *judgedBySchedule) scan(schedule string, fs []store.StoredFinding) history.Scan {
	j.mu.Lock()
	defer j.mu.Unlock()
	sc := j.m[schedule]
	delete(j.m, schedule)
	sc.Findings = fs
	return sc
}

func (a *app) historyCmd() *cobra.Command {
	var dsn, schedule, format string
	var limit int
	c := &cobra.Command{
		Use:   "history",
		Short: "List recorded scans",
		Long: `History lists the scans 'vigil scan --history' (or --store URL) and 'vigil
serve' recorded: when, which schedule, how many assets and open findings by
severity.

The history is --store (a SQLite file, or postgres://USER@HOST/DB), else
VIGIL_STORE, else store = "..." in vigil.hcl (--config, or ./vigil.hcl), else
the state file the runbook journal uses.`,
		Example: `  vigil history
  vigil history --store postgres://vigil@db/vigil --schedule hourly-prod --format json`,
		RunE: func(c *cobra.Command, args []string) error {
			h, err := a.openHistory(c.Context(), dsn)
			if err != nil {
				return err
			}
			defer h.Close()
			scans, err := h.Scans(c.Context(), schedule, limit)
			if err != nil {
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if scans == nil {
					scans = []*store.ScanRecord{}
				}
				return enc.Encode(scans)
			}
			tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCAN\tSCHEDULE\tSTARTED\tDURATION\tASSETS\tOPEN\tCRIT\tHIGH\tMED\tLOW\tWAIVED")
			for _, s := range scans {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", s.ID, dash(s.Schedule), s.StartedAt.Local().Format("2006-01-02 15:04:05"),
					s.Duration().Round(time.Millisecond), s.Assets, s.Findings, s.BySeverity["critical"], s.BySeverity["high"], s.BySeverity["medium"], s.BySeverity["low"], s.Waived)
			}
			return tw.Flush()
		},
	}
	storeFlag(c, &dsn)
	a.storeConfigFlag(c)
	c.Flags().StringVar(&schedule, "schedule", "", "only scans of this schedule")
	c.Flags().IntVar(&limit, "limit", 20, "how many scans (0: all)")
	c.Flags().StringVarP(&format, "format", "f", "text", "text or json")
	return c
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func parseScanID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q is not a scan id: see 'vigil history'", s)
	}
	return id, nil
}

func (a *app) diffCmd() *cobra.Command {
	var dsn, schedule, format string
	c := &cobra.Command{
		Use:   "diff [SCAN_A] [SCAN_B]",
		Short: "What changed between two scans: new, resolved, still open, newly waived",
		Long: `Diff compares two recorded scans, counting every finding: a policy (a
Config Validator constraint, say) may find several things wrong with one
asset. A finding is the same finding across scans when its policy, asset and
message are; findings of one policy on one asset whose messages changed (a
count, a list of ports) are paired one to one. Without arguments it compares
the latest scan with the previous scan of the same schedule, policy set and
inputs (an ad-hoc --policy scan does not "resolve" what it did not look for,
nor a scan of fewer files or regions what it did not read), and
says which it took and why; when there is none, it says so and exits 2. With
one id, that scan and the latest; with two, those (a warning says when they
are not comparable).

Exit codes: 0 no new findings, 1 new findings, 2 bad input.`,
		Example: `  vigil diff
  vigil diff 1 2 --format json`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			var ids [2]int64
			for i, arg := range args {
				id, err := parseScanID(arg)
				if err != nil {
					return usageError(c, "%v", err)
				}
				ids[i] = id
			}
			h, err := a.openHistory(c.Context(), dsn)
			if err != nil {
				return err
			}
			defer h.Close()
			d, err := history.Between(c.Context(), h, schedule, ids[0], ids[1])
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			if format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(d); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "Scan %d (%s) -> scan %d (%s)\n%s\n", d.FromID, d.From.StartedAt.Local().Format("2006-01-02 15:04"), d.ToID, d.To.StartedAt.Local().Format("2006-01-02 15:04"),
					upperFirst(d.Why)+".")
				section := func(title, mark string, fs []store.StoredFinding) {
					fmt.Fprintf(a.stdout, "\n%s (%d)\n", title, len(fs))
					for _, f := range fs {
						fmt.Fprintf(a.stdout, "  %s %-12s %-8s %s\n      %s\n", mark, f.PolicyID, f.Severity, f.AssetID, f.Message)
					}
				}
				section("NEW", "+", d.New)
				section("RESOLVED", "-", d.Resolved)
				section("NEWLY WAIVED", "~", d.NewlyWaived)
				fmt.Fprintf(a.stdout, "\nSTILL OPEN: %d\n", len(d.StillOpen))
			}
			if len(d.New) > 0 {
				return exit(ExitFindings)
			}
			return nil
		},
	}
	storeFlag(c, &dsn)
	a.storeConfigFlag(c)
	c.Flags().StringVar(&schedule, "schedule", "", "compare scans of this schedule")
	c.Flags().StringVarP(&format, "format", "f", "text", "text or json")
	return c
}

func (a *app) reportCmd() *cobra.Command {
	var dsn, schedule, format, out string
	var last int
	var benchmarks []string
	c := &cobra.Command{
		Use:   "report --format html [--output FILE]",
		Short: "Write the posture report from the scan history",
		Long: `Report writes one self-contained HTML file (no network needed to open it)
from the history: open findings by severity and by phase of the incident-
response lifecycle, the trend over past scans as a chart, the top policies and
scopes, what is new and resolved since the scan before, and every finding with
its asset, message, waiver and remediation runbook. 'vigil serve' serves the
same page.`,
		Example: `  vigil scan --history -c examples/vigil.hcl examples/inventory/; vigil report --format html --output posture.html`,
		RunE: func(c *cobra.Command, args []string) error {
			if format != "html" {
				return usageError(c, "unknown --format %q: html is the report's format (scans have --format json, sarif, ...)", format)
			}
			h, err := a.openHistory(c.Context(), dsn)
			if err != nil {
				return err
			}
			defer h.Close()
			p, err := history.Load(c.Context(), h, schedule, last)
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			p.RunbookVars = requiredVars()
			if len(benchmarks) > 0 {
				eng, err := policy.Load(c.Context(), policy.Options{Builtins: policies.FS})
				if err != nil {
					return a.inputError(err)
				}
				if err := p.ComplianceTables(benchmarks, eng.Policies()); err != nil {
					return usageError(c, "--compliance: %v", err)
				}
			}
			w, closeOut, err := a.openOutput(out)
			if err != nil {
				return err
			}
			if err := p.HTML(w); err != nil {
				closeOut()
				return err
			}
			return closeOut()
		},
	}
	storeFlag(c, &dsn)
	a.storeConfigFlag(c)
	c.Flags().StringVar(&schedule, "schedule", "", "report on this schedule's scans")
	c.Flags().StringVarP(&format, "format", "f", "html", "html")
	c.Flags().StringVarP(&out, "out", "o", "", "output file (default stdout)")
	c.Flags().IntVar(&last, "scans", 30, "how many past scans the trend shows")
	c.Flags().StringSliceVar(&benchmarks, "compliance", nil, "add a per-control table of the latest scan: "+strings.Join(compliance.IDs(), ", "))
	return c
}

// scheduleScan runs one schedule: its sources (files, directories, "aws",
// "gcp:SCOPE") through its policies (the built-in library, policy
// libraries of vigil.hcl and serve's --policies).
func (a *app) scheduleScan(cfgPath string, policyDirs []string, h store.History, blocks []config.Notify, judged *judgedBySchedule) serve.ScanFunc {
	return func(ctx context.Context, sc config.Schedule) (*store.ScanRecord, []store.StoredFinding, error) {
		jf := judgeFlags{config: cfgPath, only: sc.Policies, quiet: true, policyDirs: policyDirs}
		j, err := a.loadJudge(ctx, &jf)
		if err != nil {
			return nil, nil, err
		}
		var js *history.JudgedSet
		if len(blocks) > 0 {
			if js, err = history.NewJudgedSet(ctx, h, blocks); err != nil {
				return nil, nil, err
			}
		}
		var sources []inventory.Source
		var paths []string
		for _, src := range sc.Sources {
			switch {
			case src == "aws":
				inv, err := a.collectAWS(ctx, &awsFlags{enabled: true}, true)
				if err != nil {
					return nil, nil, err
				}
				sources = append(sources, inv)
			case strings.HasPrefix(src, "gcp:"):
				inv, err := a.collectGCP(ctx, &gcpFlags{scope: strings.TrimPrefix(src, "gcp:")}, true)
				if err != nil {
					return nil, nil, err
				}
				sources = append(sources, inv)
			default:
				paths = append(paths, src)
			}
		}
		if len(paths) > 0 {
			fs, err := inventory.Open(paths...)
			if err != nil {
				return nil, nil, err
			}
			sources = append(sources, fs)
		}
		started := time.Now()
		all, sum, err := j.findingsSeeing(ctx, js, sources...)
		if err != nil {
			return nil, nil, err
		}
		rec, fs := history.Record(sc.Name, started, sum, j.engine.Policies(), all)
		if judged != nil {
			judged.put(sc.Name, history.Scan{Judged: js.IDs(), Policies: history.PolicyIDs(j.engine.Policies())})
		}
		return rec, fs, nil
	}
}
