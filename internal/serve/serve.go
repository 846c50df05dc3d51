// Package serve runs scheduled posture scans: each schedule of vigil.hcl on
// its cron expression, one run at a time, recorded in the history, with an
// HTTP API, Prometheus metrics, a health check and the dashboard.
package serve

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/robfig/cron/v3"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/internal/auth"
	"github.com/vigil-ir/vigil/internal/history"
	"github.com/vigil-ir/vigil/internal/store"
)

// Clock is time as the scheduler sees it; tests drive a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// RealClock is the wall clock.
var RealClock Clock = realClock{}

// ScanFunc runs one scan of a schedule and returns its record (not yet
// stored) and findings.
type ScanFunc func(ctx context.Context, s config.Schedule) (*store.ScanRecord, []store.StoredFinding, error)

// Server schedules scans and serves their results.
type Server struct {
	Schedules []config.Schedule
	History   store.History
	// RunbookVars are the runbooks' variables without a default, by
	// runbook: the dashboard's remediation commands set them.
	RunbookVars map[string][]string
	Scan        ScanFunc
	// Notify tells webhooks about new findings after each scan (rec is
	// the recorded scan: its Schedule names the schedule).
	Notify func(ctx context.Context, rec *store.ScanRecord, findings []store.StoredFinding) error
	Clock  Clock
	Log    *slog.Logger
	// Grace is how long shutdown waits for running scans before
	// abandoning them (their records are written whole or not at all).
	Grace time.Duration

	// Scheduling, when set, shares the schedules with other replicas on
	// the same database: each tick is scanned by one of them and recorded
	// once. Holder names this replica in the ticks it records.
	Scheduling store.Scheduling
	Holder     string
	// Guard signs requests in and checks their roles (nil: no sign-in,
	// for tests of the handlers alone).
	Guard *auth.Guard
	// Runs serves runs and their journals, approvals and starts (nil: no
	// runs API). Audit keeps who did what.
	Runs  Runs
	Audit store.AuditLog
	// Signer is serve's signing key: it signs the identity statements
	// /api/whoami gives a CLI that starts a run, and every decision it
	// records (nil: neither is signed, and no step that needs a second
	// person can be approved).
	Signer ed25519.PrivateKey
	// KeepRuns is how often runs started here whose holder is gone are
	// looked for and carried on (default 30s).
	KeepRuns time.Duration
	// Gatherers are more metrics for /metrics (the watches').
	Gatherers []prometheus.Gatherer
	// Failpoint is a crash-test hook called at "scan:<schedule>" once a
	// replica owns a tick, before it scans.
	Failpoint func(string)

	mu      sync.Mutex
	metrics map[string]*scheduleMetrics
	running map[string]bool
}

type scheduleMetrics struct {
	successes, failures int
	// skipped counts ticks another replica recorded.
	skipped int
	// seen are the finding series exported so far (kept at 0).
	seen        map[findingKey]bool
	last        *store.ScanRecord
	findings    []store.StoredFinding
	lastSuccess time.Time

	// The run in progress: when it started and when it must be done by.
	started, deadline time.Time
	// The last failed run: why, and whether its deadline stopped it.
	lastError string
	timedOut  bool
}

// Parse checks the schedules' cron expressions, naming the vigil.hcl line
// of a bad one.
func Parse(schedules []config.Schedule) (map[string]cron.Schedule, hcl.Diagnostics) {
	parser := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	out := map[string]cron.Schedule{}
	var diags hcl.Diagnostics
	for _, s := range schedules {
		spec, err := parser.Parse(s.Cron)
		if err != nil {
			r := s.Range
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid cron expression",
				Detail:  fmt.Sprintf("schedule %q: %v. Use five fields, minute hour day-of-month month day-of-week: \"0 * * * *\" is hourly.", s.Name, err),
				Subject: &r})
			continue
		}
		out[s.Name] = spec
	}
	return out, diags
}

// Run schedules every schedule until ctx ends, then waits for running
// scans up to Grace and abandons the rest.
func (s *Server) Run(ctx context.Context) error {
	specs, diags := Parse(s.Schedules)
	if diags.HasErrors() {
		return errors.New(diags.Error())
	}
	// healthz may already be serving: it reads the clock under mu.
	s.mu.Lock()
	if s.Clock == nil {
		s.Clock = RealClock
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	s.mu.Unlock()
	s.init(ctx)
	if s.Runs != nil {
		every := s.KeepRuns
		if every <= 0 {
			every = 30 * time.Second
		}
		go s.keepRuns(ctx, every)
	}
	// Scans get their own context: shutdown lets them finish for Grace.
	scanCtx, abandon := context.WithCancel(context.Background())
	defer abandon()
	var wg sync.WaitGroup
	for _, sc := range s.Schedules {
		spec := specs[sc.Name]
		wg.Add(1)
		go func(sc config.Schedule) {
			defer wg.Done()
			for {
				now := s.Clock.Now()
				next := spec.Next(now)
				select {
				case <-ctx.Done():
					return
				case <-s.Clock.After(next.Sub(now)):
				}
				// One run at a time per schedule: the next tick is computed
				// once this run is over, so runs never overlap.
				s.runTick(scanCtx, sc, spec, next)
			}
		}(sc)
	}
	<-ctx.Done()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	grace := s.Grace
	if grace <= 0 {
		grace = 30 * time.Second
	}
	select {
	case <-done:
	case <-time.After(grace):
		s.Log.Warn("abandoning running scans after the grace period", "grace", grace)
		abandon()
		<-done
	}
	return nil
}

// init loads each schedule's latest scan from history, so metrics survive
// a restart.
func (s *Server) init(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metrics = map[string]*scheduleMetrics{}
	s.running = map[string]bool{}
	for _, sc := range s.Schedules {
		m := &scheduleMetrics{}
		s.metrics[sc.Name] = m
		if scans, err := s.History.Scans(ctx, sc.Name, 1); err == nil && len(scans) == 1 {
			m.last, m.lastSuccess = scans[0], scans[0].FinishedAt
			m.findings, _ = s.History.Findings(ctx, scans[0].ID)
		}
	}
}

// Deadline is how long a run of the schedule may take: its timeout, or
// else until its next run is due.
func Deadline(sc config.Schedule, spec cron.Schedule, start time.Time) time.Duration {
	if sc.Timeout > 0 {
		return sc.Timeout
	}
	return spec.Next(start).Sub(start)
}

// runTick runs one tick of a schedule. With other replicas it first takes
// the schedule's lock, waiting while another replica scans it (until the
// tick's deadline), and scans only a tick nobody recorded: one whose
// scanner was killed is scanned again by the next replica to get the lock.
func (s *Server) runTick(ctx context.Context, sc config.Schedule, spec cron.Schedule, tick time.Time) {
	if s.Scheduling == nil {
		s.runOnce(ctx, sc, spec, tick)
		return
	}
	limit := Deadline(sc, spec, tick)
	lockCtx, cancel := context.WithTimeout(ctx, limit)
	unlock, err := s.Scheduling.Lock(lockCtx, "schedule:"+sc.Name)
	cancel()
	if err != nil {
		s.Log.Warn("schedule tick left to another replica: its lock stayed taken until the deadline", "schedule", sc.Name, "tick", tick, "err", err)
		return
	}
	defer unlock()
	if done, err := s.Scheduling.TickRecorded(ctx, sc.Name, tick); err == nil && done {
		s.skipped(ctx, sc.Name)
		return
	}
	if s.Failpoint != nil {
		s.Failpoint("scan:" + sc.Name)
	}
	s.runOnce(ctx, sc, spec, tick)
}

// skipped notes a tick another replica recorded, and shows its scan in
// this replica's metrics.
func (s *Server) skipped(ctx context.Context, name string) {
	scans, err := s.History.Scans(ctx, name, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.metrics[name]
	m.skipped++
	if err == nil && len(scans) == 1 && (m.last == nil || scans[0].ID != m.last.ID) {
		fs, ferr := s.History.Findings(ctx, scans[0].ID)
		if ferr == nil {
			m.last, m.findings, m.lastSuccess = scans[0], fs, scans[0].FinishedAt
			m.timedOut, m.lastError = false, ""
		}
	}
}

// runOnce scans a schedule now, within its deadline.
func (s *Server) runOnce(ctx context.Context, sc config.Schedule, spec cron.Schedule, tick time.Time) {
	start := s.Clock.Now()
	limit := Deadline(sc, spec, start)
	s.mu.Lock()
	if s.running[sc.Name] {
		s.mu.Unlock()
		return
	}
	s.running[sc.Name] = true
	m := s.metrics[sc.Name]
	m.started, m.deadline = start, start.Add(limit)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running[sc.Name] = false
		s.mu.Unlock()
	}()
	// The deadline reaches the policies (and the collectors): a run that
	// cannot finish in time is stopped, and /healthz says so.
	runCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	rec, findings, err := s.Scan(runCtx, sc)
	if err == nil {
		rec.Schedule = sc.Name
		if s.Scheduling != nil {
			_, err = s.Scheduling.RecordTick(runCtx, rec, findings, tick, s.Holder)
		} else {
			_, err = s.History.RecordScan(runCtx, rec, findings)
		}
	}
	if errors.Is(err, store.ErrTickRecorded) {
		s.skipped(ctx, sc.Name)
		return
	}
	s.mu.Lock()
	if err != nil {
		m.failures++
		m.timedOut = errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
		m.lastError = err.Error()
		if m.timedOut {
			m.lastError = fmt.Sprintf("did not finish within its deadline of %s: %v", limit, err)
		}
		s.mu.Unlock()
		s.Log.Error("scheduled scan failed", "schedule", sc.Name, "err", m.lastError)
		return
	}
	m.successes++
	m.last, m.findings, m.lastSuccess = rec, findings, s.Clock.Now()
	m.timedOut, m.lastError = false, ""
	s.mu.Unlock()
	s.Log.Info("scheduled scan recorded", "schedule", sc.Name, "scan", rec.ID, "assets", rec.Assets, "findings", rec.Findings)
	if s.Notify != nil {
		if err := s.Notify(ctx, rec, findings); err != nil {
			s.Log.Error("notify", "schedule", sc.Name, "err", err)
		}
	}
}

// Handler serves the API, the metrics, the health check and the
// dashboard, behind the guard: every page and API call needs a signed-in
// principal with the route's role, but /healthz (and /metrics when public).
func (s *Server) Handler() http.Handler {
	if s.Log == nil {
		s.Log = slog.Default()
	}
	if s.Clock == nil {
		s.Clock = RealClock
	}
	need := func(role, action string, h http.HandlerFunc) http.HandlerFunc {
		if s.Guard == nil {
			return h
		}
		return s.Guard.Require(role, action, h)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	metrics := s.metricsHandler()
	signedMetrics := need(auth.Viewer, "metrics.read", metrics.ServeHTTP)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		// public_metrics: Prometheus scrapes by pod IP without signing in;
		// asked for by name or through a proxy, /metrics needs sign-in.
		if s.Guard != nil && s.Guard.PublicMetricsRequest(r) {
			metrics.ServeHTTP(w, r)
			return
		}
		signedMetrics(w, r)
	})
	mux.HandleFunc("GET /api/scans", need(auth.Viewer, "scans.read", s.apiScans))
	mux.HandleFunc("GET /api/findings", need(auth.Viewer, "findings.read", s.apiFindings))
	mux.HandleFunc("GET /api/diff", need(auth.Viewer, "diff.read", s.apiDiff))
	mux.HandleFunc("GET /api/whoami", need(auth.Viewer, "whoami", s.apiWhoami))
	mux.HandleFunc("GET /api/audit", need(auth.Admin, "audit.read", s.apiAudit))
	mux.HandleFunc("GET /audit", need(auth.Admin, "audit.read", s.auditPage))
	mux.HandleFunc("GET /{$}", need(auth.Viewer, "dashboard.read", s.dashboard))
	if s.Runs != nil {
		mux.HandleFunc("GET /api/runbooks", need(auth.Viewer, "runbooks.read", s.apiRunbooks))
		mux.HandleFunc("GET /api/runs", need(auth.Viewer, "runs.read", s.apiRuns))
		mux.HandleFunc("POST /api/runs", need(auth.Responder, "run.start", s.apiStart))
		mux.HandleFunc("GET /api/runs/{id}", need(auth.Viewer, "runs.read", s.apiRun))
		mux.HandleFunc("GET /api/runs/{id}/journal", need(auth.Viewer, "runs.read", s.apiJournal))
		mux.HandleFunc("GET /api/runs/{id}/timeline", need(auth.Viewer, "runs.read", s.apiTimeline))
		mux.HandleFunc("POST /api/runs/{id}/resume", need(auth.Responder, "run.resume", s.apiResume))
		mux.HandleFunc("POST /api/runs/{id}/approvals", need(auth.Approver, "step.approve", s.apiDecide))
		mux.HandleFunc("POST /api/runs/{id}/unlock", need(auth.Admin, "run.unlock", s.apiUnlock))
		mux.HandleFunc("GET /runs", need(auth.Viewer, "runs.read", s.runsPage))
		mux.HandleFunc("GET /runs/new", need(auth.Responder, "run.start", s.startPage))
		mux.HandleFunc("GET /runs/{id}", need(auth.Viewer, "runs.read", s.runPage))
	}
	if s.Guard == nil {
		return mux
	}
	return s.Guard.Wrap(mux)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func httpError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// stopping is how long a run stopped at its deadline may take to return
// before /healthz calls it stuck.
const stopping = 5 * time.Second

// healthz is 200 while every schedule keeps up, and 503 with the reasons
// when one is stuck: a run still going past its deadline (something did
// not stop when told to), or a last run its deadline stopped, until a run
// succeeds again. A liveness probe restarting the server is the right
// response to the first, and makes the second visible.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Clock.Now()
	status := map[string]any{}
	var reasons []string
	names := make([]string, 0, len(s.metrics))
	for name := range s.metrics {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		m := s.metrics[name]
		state := "idle"
		st := map[string]any{"running": s.running[name], "successes": m.successes, "failures": m.failures}
		if !m.lastSuccess.IsZero() {
			st["last_success"] = m.lastSuccess.UTC().Format(time.RFC3339)
		}
		if m.lastError != "" {
			st["last_error"] = m.lastError
		}
		if s.running[name] {
			state = "running"
			st["started"] = m.started.UTC().Format(time.RFC3339)
			st["deadline"] = m.deadline.UTC().Format(time.RFC3339)
		}
		switch {
		case s.running[name] && now.After(m.deadline.Add(stopping)):
			state = "stuck"
			reasons = append(reasons, fmt.Sprintf("schedule %s: the scan started at %s is still running, %s past its deadline",
				name, m.started.UTC().Format(time.RFC3339), now.Sub(m.deadline).Round(time.Second)))
		case m.timedOut:
			state = "stuck"
			reasons = append(reasons, fmt.Sprintf("schedule %s: the last scan %s", name, m.lastError))
		}
		st["state"] = state
		status[name] = st
	}
	if len(reasons) > 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"status": "stuck", "reasons": reasons, "schedules": status})
		return
	}
	writeJSON(w, map[string]any{"status": "ok", "schedules": status})
}

func (s *Server) apiScans(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 {
		limit = 50
	}
	scans, err := s.History.Scans(r.Context(), r.URL.Query().Get("schedule"), limit)
	if err != nil {
		httpError(w, 500, err)
		return
	}
	if scans == nil {
		scans = []*store.ScanRecord{}
	}
	writeJSON(w, scans)
}

// scanParam reads a scan id parameter: absent is 0 (the latest); one that
// is not a scan id is answered 400, and one the history does not hold 404,
// rather than the latest scan or an empty list.
func (s *Server) scanParam(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, true
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		httpError(w, 400, fmt.Errorf("%s=%s is not a scan id: give a positive integer, as /api/scans lists them", name, v))
		return 0, false
	}
	if _, err := s.History.Scan(r.Context(), id); err != nil {
		var unknown *store.UnknownScanError
		if errors.As(err, &unknown) {
			httpError(w, 404, fmt.Errorf("%s=%d: %v (/api/scans lists the recorded scans)", name, id, err))
		} else {
			httpError(w, 500, err)
		}
		return 0, false
	}
	return id, true
}

func (s *Server) apiFindings(w http.ResponseWriter, r *http.Request) {
	id, ok := s.scanParam(w, r, "scan")
	if !ok {
		return
	}
	if id == 0 {
		scans, err := s.History.Scans(r.Context(), r.URL.Query().Get("schedule"), 1)
		if err != nil || len(scans) == 0 {
			httpError(w, 404, store.ErrNoScans)
			return
		}
		id = scans[0].ID
	}
	fs, err := s.History.Findings(r.Context(), id)
	if err != nil {
		httpError(w, 500, err)
		return
	}
	if fs == nil {
		fs = []store.StoredFinding{}
	}
	writeJSON(w, map[string]any{"scan": id, "findings": fs})
}

func (s *Server) apiDiff(w http.ResponseWriter, r *http.Request) {
	a, ok := s.scanParam(w, r, "a")
	if !ok {
		return
	}
	b, ok := s.scanParam(w, r, "b")
	if !ok {
		return
	}
	d, err := history.Between(r.Context(), s.History, r.URL.Query().Get("schedule"), a, b)
	if err != nil {
		httpError(w, 404, err)
		return
	}
	writeJSON(w, d)
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	p, err := history.Load(r.Context(), s.History, r.URL.Query().Get("schedule"), 30)
	if errors.Is(err, store.ErrNoScans) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>vigil</title><p>No scan recorded yet: the first scheduled scan will show here.</p>")
		return
	}
	if err != nil {
		httpError(w, 500, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	p.Nav, p.Served, p.RunbookVars, p.Paged = s.nav(r), s.Runs != nil, s.RunbookVars, true
	// ?page=N shows the Nth page of history.MaxRows finding rows.
	q := r.URL.Query()
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 1 {
		p.Offset = (n - 1) * history.MaxRows
	}
	q.Del("page")
	if len(q) > 0 {
		p.PageQuery = q.Encode() + "&"
	}
	p.HTML(w)
}
