package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/vigil-ir/vigil/engine/alert"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	awsprov "github.com/vigil-ir/vigil/internal/provider/aws"
	gcpprov "github.com/vigil-ir/vigil/internal/provider/gcp"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/internal/watch"
)

func init() {
	extraCommands = append(extraCommands, (*app).watchCmd)
}

// watchFlags are what `vigil watch` and `vigil serve` share for watches.
type watchFlags struct {
	names     []string
	inventory []string
	dir       string
	aws       awsFlags
	gcp       gcpFlags
	quiet     bool
}

func (f *watchFlags) registerProviders(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.aws.profile, "aws-profile", "", "AWS shared-config profile for re-reading changed resources (default AWS_PROFILE)")
	fl.StringVar(&f.aws.assumeRole, "aws-assume-role", "", "AWS role ARN to assume for the re-reads")
	fl.StringVar(&f.aws.orgRole, "aws-org-role", "", "role name to assume in an event's account when it is not the credentials' own")
	fl.StringVar(&f.aws.endpoint, "aws-endpoint", "", "send AWS re-reads to this endpoint (an emulator); AWS_ENDPOINT_URL works too")
	fl.Float64Var(&f.aws.rateLimit, "aws-rate-limit", 20, "AWS requests per second per account")
	f.gcp.common(c)
	fl.StringVar(&f.dir, "dir", "", "where alert files, the inventory snapshot and plans are kept (default: beside the state file, watch/NAME)")
}

func (a *app) watchCmd() *cobra.Command {
	var f watchFlags
	var cfgPath, dsn, listen string
	var grace time.Duration
	c := &cobra.Command{
		Use:   "watch --config vigil.hcl [--watch NAME]...",
		Short: "React to cloud events within seconds: re-read what changed, notify new findings, triage alerts",
		Long: `Watch consumes the queues of the watch blocks in vigil.hcl: an SQS queue fed by
EventBridge (CloudTrail management events, GuardDuty and Security Hub
findings) or a Pub/Sub subscription fed by a log sink of Cloud Audit Logs and
by Security Command Center notifications. examples/watch has the Terraform
that builds both, with their IAM.

For a configuration change (AuthorizeSecurityGroupIngress, PutBucketPolicy,
StopLogging, CreateAccessKey, v1.compute.firewalls.insert, SetIamPolicy, ...)
it reads the changed assets again from the provider, judges them with the
policies against the last recorded inventory (so cross-asset policies keep
their context), records an event scan in the history ('vigil history
--schedule watch/NAME') and tells the notify blocks about each new finding,
once. For an alert it posts the triage card, with the runbook commands that
fit; a respond block may plan a runbook, which waits for a person to apply
it. Nothing that changes the cloud runs.

Each event is handled once, by its provider's event id, however often the
queue delivers it; a message is deleted only after its result is recorded;
a message that cannot be processed goes to the dead-letter queue after
max_attempts tries (or is reported and dropped without one). SIGTERM lets
events in flight finish (--grace); the rest stays on the queue.

Notifications are delivered at least once. Every post carries an
Idempotency-Key header, the same on every resend of that post: a receiver
that deduplicates by it (as PagerDuty does by dedup_key) sees each
notification once. Around each post the watcher writes notify-inflight.log
in the watch's directory (--dir): the intent, then the answer the moment it
is read. After a crash it sends again only the posts that log has in doubt (sent,
no answer read), with the same key, and logs "redelivering N in-doubt
notifications"; a post whose 2xx was read is not sent again.

  watch "aws-events" {
    sqs {
      queue_url             = "https://sqs.eu-west-1.amazonaws.com/111111111111/vigil-events"
      dead_letter_queue_url = "https://sqs.eu-west-1.amazonaws.com/111111111111/vigil-events-dlq"
    }
    inventory   = ["/var/lib/vigil/inventory/"]  # or "aws", "gcp:organizations/N"
    concurrency = 8                             # events in flight
  }

  respond "ec2-compromise" {
    source   = "guardduty"
    types    = ["UnauthorizedAccess:EC2/*", "Backdoor:EC2/*"]
    runbook  = "compromised-ec2"
  }

--listen serves Prometheus metrics (/metrics: events received, processed,
failed, dead-lettered, in flight, lag, end-to-end latency) and /healthz.`,
		Example: `  vigil watch --config vigil.hcl --listen 127.0.0.1:9464
  vigil watch --config vigil.hcl --watch aws-events --store postgres://vigil@db/vigil`,
		RunE: func(c *cobra.Command, args []string) error {
			if cfgPath == "" {
				return usageError(c, "watch needs --config: the queues are the watch blocks of vigil.hcl")
			}
			cfg, err := a.loadConfig(cfgPath)
			if err != nil {
				return err
			}
			ctx := c.Context()
			h, err := a.openHistory(ctx, dsn)
			if err != nil {
				return err
			}
			defer h.Close()
			reg := prometheus.NewRegistry()
			watchers, closeAll, err := a.buildWatchers(ctx, cfgPath, cfg, h, &f, dsn, reg, grace)
			if err != nil {
				return err
			}
			defer closeAll()
			if len(watchers) == 0 {
				return &exitError{code: ExitError, err: fmt.Errorf("%s declares no watch: add watch \"NAME\" { sqs { queue_url = ... } } or pubsub { subscription = ... }", cfgPath)}
			}
			if listen != "" {
				lis, err := net.Listen("tcp", listen)
				if err != nil {
					return &exitError{code: ExitError, err: err}
				}
				mux := http.NewServeMux()
				mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
				mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					fmt.Fprintf(w, `{"status":"ok","watches":%d}`+"\n", len(watchers))
				})
				srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
				go srv.Serve(lis)
				defer srv.Close()
				fmt.Fprintf(a.stderr, "vigil: metrics on http://%s/metrics\n", lis.Addr())
			}
			return runWatchers(ctx, watchers)
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "vigil.hcl with the watch, notify and respond blocks")
	c.Flags().StringArrayVar(&f.names, "watch", nil, "run only these watch blocks (repeatable; default all)")
	c.Flags().StringArrayVarP(&f.inventory, "inventory", "i", nil, "the last recorded inventory (files, directories), instead of the watch blocks' inventory")
	storeFlag(c, &dsn)
	c.Flags().StringVar(&listen, "listen", "", "serve /metrics and /healthz on this address")
	c.Flags().DurationVar(&grace, "grace", 30*time.Second, "on SIGTERM, how long events in flight get to finish")
	c.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "no progress on stderr")
	f.registerProviders(c)
	return c
}

// runWatchers runs every watcher until ctx ends.
func runWatchers(ctx context.Context, ws []*watch.Watcher) error {
	var wg sync.WaitGroup
	errs := make([]error, len(ws))
	for i, w := range ws {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = w.Run(ctx) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// buildWatchers makes a watcher for each selected watch block.
func (a *app) buildWatchers(ctx context.Context, cfgPath string, cfg *config.Config, h store.History, f *watchFlags, dsn string,
	reg prometheus.Registerer, grace time.Duration) ([]*watch.Watcher, func(), error) {
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	for _, n := range f.names {
		if !slices.ContainsFunc(cfg.Watches, func(w *config.Watch) bool { return w.Name == n }) {
			return nil, closeAll, &exitError{code: ExitError, err: fmt.Errorf("--watch %q: %s has no such watch block", n, cfgPath)}
		}
	}
	wl, err := store.WatchLogOf(ctx, h)
	if err != nil {
		return nil, closeAll, &exitError{code: ExitError, err: err}
	}
	absCfg, _ := filepath.Abs(cfgPath)
	metrics := watch.NewMetrics(reg)
	logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if f.quiet {
		logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	var out []*watch.Watcher
	for _, wc := range cfg.Watches {
		if len(f.names) > 0 && !slices.Contains(f.names, wc.Name) {
			continue
		}
		jf := judgeFlags{config: cfgPath, only: wc.Policies, quiet: true}
		j, err := a.loadJudge(ctx, &jf)
		if err != nil {
			return nil, closeAll, err
		}
		w := &watch.Watcher{Name: wc.Name, History: h, Log: wl, Engine: j.engine, Waivers: j.waivers, Config: cfg, ConfigPath: absCfg,
			Notify: cfg.NotifyFor(wc), Concurrency: wc.Concurrency, MaxAttempts: wc.MaxAttempts, Settle: wc.Settle, Grace: grace,
			Dir: a.watchDir(f.dir, dsn, wc.Name), Responses: cfg.Responses, Runbooks: runbookInfos(), Metrics: metrics, Logger: logger}
		sources := wc.Inventory
		if len(f.inventory) > 0 {
			sources = f.inventory
		}
		w.Baseline = func(ctx context.Context) (*inventory.Inventory, time.Time, error) {
			return a.watchBaseline(ctx, sources, f, logger, wc.Name)
		}
		if len(sources) > 0 && !slices.ContainsFunc(sources, func(s string) bool { return s == "aws" || strings.HasPrefix(s, "gcp:") }) {
			// Files and directories are loaded again when rewritten.
			w.Recorded, w.Reload = func() time.Time { return newestFile(sources) }, time.Minute
		}
		w.Plan = a.planResponse(absCfg)
		switch {
		case wc.SQS != nil:
			src, err := watch.NewSQS(ctx, wc.SQS, logger)
			if err != nil {
				return nil, closeAll, &exitError{code: ExitError, err: err}
			}
			src.Backlog = func(n float64) { metrics.Backlog.WithLabelValues(wc.Name).Set(n) }
			w.Source = src
			r, err := awsprov.NewReader(ctx, f.aws.options(nil))
			if err != nil {
				return nil, closeAll, &exitError{code: ExitError, err: err}
			}
			w.AWS = r
		case wc.PubSub != nil:
			src, err := watch.NewPubSub(ctx, wc.PubSub, watch.MaxOutstanding(wc.Concurrency), logger)
			if err != nil {
				return nil, closeAll, &exitError{code: ExitError, err: err}
			}
			closers = append(closers, func() { src.Close() })
			w.Source = src
			r, err := gcpprov.NewReader(ctx, f.gcp.options(nil))
			if err != nil {
				return nil, closeAll, &exitError{code: ExitError, err: err}
			}
			closers = append(closers, func() { r.Close() })
			w.GCP = r
		}
		out = append(out, w)
	}
	return out, closeAll, nil
}

// watchDir is where a watch keeps its files: --dir/NAME, or beside the
// state file.
func (a *app) watchDir(flag, dsn, name string) string {
	if flag != "" {
		return filepath.Join(flag, name)
	}
	dsn, _ = a.resolveStore(dsn) // openHistory has resolved it already
	base := filepath.Dir(store.DefaultPath())
	if dsn != "" && !strings.Contains(dsn, "://") {
		base = filepath.Dir(dsn)
	}
	return filepath.Join(base, "watch", name)
}

// watchBaseline loads the last recorded inventory of a watch: files and
// directories (recorded when they were last written), "aws" and
// "gcp:SCOPE" (collected now).
func (a *app) watchBaseline(ctx context.Context, sources []string, f *watchFlags, log *slog.Logger, name string) (*inventory.Inventory, time.Time, error) {
	var parts []*inventory.Inventory
	var paths []string
	var when time.Time
	for _, src := range sources {
		switch {
		case src == "aws":
			when = time.Now()
			af := f.aws
			af.enabled = true
			inv, err := a.collectAWS(ctx, &af, true)
			if err != nil {
				return nil, when, err
			}
			parts = append(parts, inv)
		case strings.HasPrefix(src, "gcp:"):
			when = time.Now()
			gf := f.gcp
			gf.scope = strings.TrimPrefix(src, "gcp:")
			inv, err := a.collectGCP(ctx, &gf, true)
			if err != nil {
				return nil, when, err
			}
			parts = append(parts, inv)
		default:
			paths = append(paths, src)
		}
	}
	if len(paths) > 0 {
		// When the files were written, read before them: a file rewritten
		// while it is read is loaded again later.
		if t := newestFile(paths); t.After(when) {
			when = t
		}
		inv, err := inventory.Load(ctx, paths...)
		if err != nil {
			return nil, when, err
		}
		parts = append(parts, inv)
	}
	inv := merge(parts...)
	if inv == nil {
		log.Warn("watch: no inventory given: cross-asset policies judge changed assets without their context (set inventory in the watch block, or -i)", "watch", name)
		inv = inventory.New()
	}
	return inv, when, nil
}

// newestFile is the modification time of the newest file under paths.
func newestFile(paths []string) time.Time {
	var when time.Time
	for _, p := range paths {
		filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() && fi.ModTime().After(when) {
				when = fi.ModTime()
			}
			return nil
		})
	}
	return when
}

// planResponse plans a runbook for a respond rule with the command a
// person would type: vigil runbook plan RUNBOOK --from-alert FILE ... -out
// PLAN. It only plans.
func (a *app) planResponse(cfgPath string) watch.Planner {
	return func(ctx context.Context, r *config.Respond, al *alert.Alert, alertFile, invFile, planFile string) error {
		args := []string{"runbook", "plan", r.Runbook, "--from-alert", alertFile, "-i", invFile, "-c", cfgPath, "-out", planFile}
		if r.Provider == "sim" {
			args = append(args, "--provider", "sim")
		}
		keys := make([]string, 0, len(r.Vars))
		for k := range r.Vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			args = append(args, "-var", k+"="+r.Vars[k])
		}
		var out, errb bytes.Buffer
		if code := Run(ctx, args, nil, &out, &errb); code != ExitOK {
			return fmt.Errorf("vigil %s: exit %d: %s", strings.Join(args, " "), code, strings.TrimSpace(errb.String()))
		}
		return nil
	}
}

// serveWatches builds the watch blocks of vigil.hcl for `vigil serve`: it
// returns a function that runs them, and their metrics for /metrics.
func (a *app) serveWatches(ctx context.Context, cfgPath string, cfg *config.Config, h store.History, dsn string, grace time.Duration) (func(context.Context) error, prometheus.Gatherer, func(), error) {
	if len(cfg.Watches) == 0 {
		return func(context.Context) error { return nil }, nil, func() {}, nil
	}
	reg := prometheus.NewRegistry()
	var f watchFlags
	ws, closeAll, err := a.buildWatchers(ctx, cfgPath, cfg, h, &f, dsn, reg, grace)
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	return func(ctx context.Context) error { return runWatchers(ctx, ws) }, reg, closeAll, nil
}
