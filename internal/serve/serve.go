// Package serve runs scheduled posture scans: each schedule of vigil.hcl on
// its cron expression, one run at a time, recorded in the history, with an
// HTTP API, Prometheus metrics, a health check and the dashboard.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/robfig/cron/v3"

	"github.com/vigil-ir/vigil/engine/config"
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
	Scan      ScanFunc
	// Notify tells webhooks about new findings after each scan (rec is
	// the recorded scan: its Schedule names the schedule).
	Notify func(ctx context.Context, rec *store.ScanRecord, findings []store.StoredFinding) error
	Clock  Clock
	Log    *slog.Logger
	// Grace is how long shutdown waits for running scans before
	// abandoning them (their records are written whole or not at all).
	Grace time.Duration

	mu      sync.Mutex
	metrics map[string]*scheduleMetrics
	running map[string]bool
}

type scheduleMetrics struct {
	successes, failures int
	last                *store.ScanRecord
	findings            []store.StoredFinding
	lastSuccess         time.Time

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
				s.runOnce(scanCtx, sc, spec)
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

// runOnce scans a schedule now, within its deadline.
func (s *Server) runOnce(ctx context.Context, sc config.Schedule, spec cron.Schedule) {
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
		_, err = s.History.RecordScan(runCtx, rec, findings)
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

// Handler serves the API, the metrics, the health check and the dashboard.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /metrics", s.metricsHandler)
	mux.HandleFunc("GET /api/scans", s.apiScans)
	mux.HandleFunc("GET /api/findings", s.apiFindings)
	mux.HandleFunc("GET /api/diff", s.apiDiff)
	mux.HandleFunc("GET /{$}", s.dashboard)
	return mux
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

func (s *Server) apiFindings(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.URL.Query().Get("scan"), 10, 64)
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
	a, _ := strconv.ParseInt(r.URL.Query().Get("a"), 10, 64)
	b, _ := strconv.ParseInt(r.URL.Query().Get("b"), 10, 64)
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
	p.HTML(w)
}

func label(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// metricsHandler writes the Prometheus text exposition format.
func (s *Server) metricsHandler(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	names := make([]string, 0, len(s.metrics))
	for n := range s.metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	head := func(name, typ, help string) { fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ) }
	head("vigil_findings", "gauge", "Open findings of the schedule's latest scan, by severity, policy and scope.")
	for _, n := range names {
		type key struct{ sev, pol, scope string }
		counts := map[key]int{}
		for _, f := range s.metrics[n].findings {
			if !f.Waived {
				counts[key{f.Severity, f.PolicyID, f.Scope}]++
			}
		}
		keys := make([]key, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			fmt.Fprintf(&b, "vigil_findings{schedule=\"%s\",severity=\"%s\",policy=\"%s\",scope=\"%s\"} %d\n", label(n), label(k.sev), label(k.pol), label(k.scope), counts[k])
		}
	}
	head("vigil_scans_total", "counter", "Scheduled scans run since the server started, by result.")
	for _, n := range names {
		m := s.metrics[n]
		fmt.Fprintf(&b, "vigil_scans_total{schedule=\"%s\",result=\"success\"} %d\n", label(n), m.successes)
		fmt.Fprintf(&b, "vigil_scans_total{schedule=\"%s\",result=\"failure\"} %d\n", label(n), m.failures)
	}
	head("vigil_scan_duration_seconds", "gauge", "How long the schedule's latest scan took.")
	for _, n := range names {
		if m := s.metrics[n]; m.last != nil {
			fmt.Fprintf(&b, "vigil_scan_duration_seconds{schedule=\"%s\"} %g\n", label(n), m.last.Duration().Seconds())
		}
	}
	head("vigil_scan_assets", "gauge", "Assets read by the schedule's latest scan.")
	for _, n := range names {
		if m := s.metrics[n]; m.last != nil {
			fmt.Fprintf(&b, "vigil_scan_assets{schedule=\"%s\"} %d\n", label(n), m.last.Assets)
		}
	}
	head("vigil_scan_last_success_timestamp_seconds", "gauge", "When the schedule's latest successful scan finished (Unix time).")
	for _, n := range names {
		if m := s.metrics[n]; !m.lastSuccess.IsZero() {
			fmt.Fprintf(&b, "vigil_scan_last_success_timestamp_seconds{schedule=\"%s\"} %d\n", label(n), m.lastSuccess.Unix())
		}
	}
	w.Write([]byte(b.String()))
}
