package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/internal/history"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/internal/testutil"
	"github.com/vigil-ir/vigil/policies"
)

// fakeClock fires timers when the test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	return ch
}

// waiting is how many timers are pending.
func (c *fakeClock) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var kept []waiter
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
	c.mu.Unlock()
}

// realScan scans the example inventories with the built-in policies.
func realScan(t *testing.T) ScanFunc {
	root := testutil.Root(t)
	cfg, _, diags := config.Load(filepath.Join(root, "examples/vigil.hcl"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	eng, err := policy.Load(context.Background(), policy.Options{Builtins: policies.FS, Config: cfg.Data()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	return func(ctx context.Context, s config.Schedule) (*store.ScanRecord, []store.StoredFinding, error) {
		mu.Lock() // one engine: its cross-asset index is per scan
		defer mu.Unlock()
		fs, err := inventory.Open(filepath.Join(root, "examples/inventory"))
		if err != nil {
			return nil, nil, err
		}
		res, err := scan.Run(ctx, scan.Options{Sources: []inventory.Source{fs}, Engine: eng})
		if err != nil {
			return nil, nil, err
		}
		defer res.Findings.Close()
		rec, out := history.Record(s.Name, time.Now(), &res.Summary, eng.Policies(), res.Findings.Slice())
		return rec, out, nil
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s\n%s", url, resp.Status, raw)
	}
	return string(raw)
}

// A schedule every minute, driven by the fake clock: each minute records a
// scan, /metrics agrees with the history, and shutdown is clean.
func TestScheduleEveryMinute(t *testing.T) {
	h, err := store.OpenHistory(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	clock := &fakeClock{now: time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)}
	notified := 0
	srv := &Server{Schedules: []config.Schedule{{Name: "every-minute", Cron: "* * * * *"}}, History: h, Scan: realScan(t), Clock: clock,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Grace: time.Second,
		Notify: func(context.Context, *store.ScanRecord, []store.StoredFinding) error { notified++; return nil }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Run(ctx) }()
	web := httptest.NewServer(srv.Handler())
	defer web.Close()
	for i := 1; i <= 3; i++ {
		waitFor(t, func() bool { return clock.waiting() == 1 })
		clock.Advance(time.Minute)
		waitFor(t, func() bool { s, _ := h.Scans(ctx, "every-minute", 0); return len(s) == i })
	}
	waitFor(t, func() bool { return clock.waiting() == 1 })
	scans, _ := h.Scans(ctx, "", 0)
	if len(scans) != 3 || notified != 3 {
		t.Fatalf("%d scans, %d notifications", len(scans), notified)
	}
	metrics := get(t, web.URL+"/metrics")
	for _, want := range []string{
		`vigil_scans_total{result="success",schedule="every-minute"} 3`,
		`vigil_scans_total{result="failure",schedule="every-minute"} 0`,
		`vigil_findings{policy="VGL-DATA-002",schedule="every-minute",scope="acme-prod",severity="critical"} 1`,
		`vigil_scan_assets{schedule="every-minute"} 99`,
		`vigil_findings_open{schedule="every-minute",severity="info"} 0`,
		"# TYPE vigil_scan_duration_seconds gauge",
		// the process, Go runtime and build-info collectors
		"process_cpu_seconds_total", "go_goroutines", "go_build_info{",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
	if v := metricValue(metrics, `vigil_scan_last_success_timestamp_seconds{schedule="every-minute"}`); v != float64(clock.Now().Unix()) {
		t.Errorf("last success %v, want %d", v, clock.Now().Unix())
	}
	// The metrics' findings add up to the latest scan's open findings.
	total := 0
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "vigil_findings{") {
			var n int
			json.Unmarshal([]byte(line[strings.LastIndex(line, " ")+1:]), &n)
			total += n
		}
	}
	if total != scans[0].Findings {
		t.Errorf("metrics count %d findings, the scan %d", total, scans[0].Findings)
	}
	var list []store.ScanRecord
	json.Unmarshal([]byte(get(t, web.URL+"/api/scans")), &list)
	if len(list) != 3 || list[0].Schedule != "every-minute" {
		t.Errorf("/api/scans: %+v", list)
	}
	if d := get(t, web.URL+"/api/diff"); !strings.Contains(d, `"new": []`) {
		t.Errorf("/api/diff of identical scans: %s", d)
	}
	if f := get(t, web.URL+"/api/findings"); !strings.Contains(f, `"scan": 3`) {
		t.Errorf("/api/findings: %.200s", f)
	}
	if page := get(t, web.URL+"/"); !strings.Contains(page, `id="trend-chart"`) || !strings.Contains(page, `data-points="3"`) {
		t.Errorf("dashboard: %.300s", page)
	}
	if hz := get(t, web.URL+"/healthz"); !strings.Contains(hz, `"successes": 3`) {
		t.Errorf("/healthz: %s", hz)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// A scan still running at shutdown finishes within the grace period and is
// recorded whole.
func TestShutdownFinishesRunningScan(t *testing.T) {
	h, err := store.OpenHistory(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	clock := &fakeClock{now: time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)}
	started, release := make(chan struct{}), make(chan struct{})
	scanFn := realScan(t)
	// A grace long enough for a scan under -race on a loaded machine: the
	// scan is released at once, so the test takes no longer for it.
	srv := &Server{Schedules: []config.Schedule{{Name: "m", Cron: "* * * * *"}}, History: h, Clock: clock, Grace: time.Minute,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Scan: func(ctx context.Context, s config.Schedule) (*store.ScanRecord, []store.StoredFinding, error) {
			close(started)
			<-release
			return scanFn(ctx, s)
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Run(ctx) }()
	waitFor(t, func() bool { return clock.waiting() == 1 })
	clock.Advance(time.Minute)
	<-started
	cancel() // SIGTERM while the scan runs
	time.Sleep(50 * time.Millisecond)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s, _ := h.Scans(context.Background(), "m", 0); len(s) != 1 {
		t.Errorf("the running scan should be recorded: %d", len(s))
	}
}

func TestBadCron(t *testing.T) {
	_, diags := Parse([]config.Schedule{{Name: "x", Cron: "every hour"}})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), `schedule "x"`) || !strings.Contains(diags.Error(), "five fields") {
		t.Errorf("diags: %v", diags)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func healthz(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// A run that cannot finish by its deadline is stopped there (the policy
// engine sees the context end) and /healthz answers 503 naming the
// schedule, until a run succeeds again.
func TestDeadlineStopsRunAndHealthzSaysStuck(t *testing.T) {
	h, err := store.OpenHistory(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	clock := &fakeClock{now: time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)}
	var mu sync.Mutex
	hang := true
	srv := &Server{Schedules: []config.Schedule{{Name: "m", Cron: "* * * * *", Timeout: 300 * time.Millisecond}}, History: h, Clock: clock,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Grace: time.Second,
		Scan: func(ctx context.Context, s config.Schedule) (*store.ScanRecord, []store.StoredFinding, error) {
			mu.Lock()
			stuck := hang
			mu.Unlock()
			if stuck {
				<-ctx.Done() // a policy that would never end, stopped by its context
				return nil, nil, fmt.Errorf("policy SLOW-001 was still running: %w", ctx.Err())
			}
			now := time.Now()
			return &store.ScanRecord{StartedAt: now, FinishedAt: now, BySeverity: map[string]int{}}, nil, nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- srv.Run(ctx) }()
	web := httptest.NewServer(srv.Handler())
	defer web.Close()

	if code, _ := healthz(t, web.URL); code != 200 {
		t.Fatalf("before any run: %d", code)
	}
	waitFor(t, func() bool { return clock.waiting() == 1 })
	clock.Advance(time.Minute)
	waitFor(t, func() bool { code, _ := healthz(t, web.URL); return code == 503 })
	_, body := healthz(t, web.URL)
	reasons, _ := body["reasons"].([]any)
	want := "schedule m: the last scan did not finish within its deadline of 300ms: policy SLOW-001 was still running: context deadline exceeded"
	if body["status"] != "stuck" || len(reasons) != 1 || reasons[0] != want {
		t.Errorf("/healthz: %v, want the reason %q", body, want)
	}
	if st := body["schedules"].(map[string]any)["m"].(map[string]any); st["state"] != "stuck" || st["failures"] != 1.0 {
		t.Errorf("schedule state: %v", st)
	}

	// the next run succeeds: healthy again
	mu.Lock()
	hang = false
	mu.Unlock()
	waitFor(t, func() bool { return clock.waiting() == 1 })
	clock.Advance(time.Minute)
	waitFor(t, func() bool { s, _ := h.Scans(ctx, "m", 0); return len(s) == 1 })
	waitFor(t, func() bool { code, _ := healthz(t, web.URL); return code == 200 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A run still going past its deadline (something that does not stop when
// told to) makes /healthz answer 503 while it runs.
func TestHealthzReportsRunPastItsDeadline(t *testing.T) {
	h, err := store.OpenHistory(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	clock := &fakeClock{now: time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)}
	started, release := make(chan struct{}), make(chan struct{})
	srv := &Server{Schedules: []config.Schedule{{Name: "m", Cron: "* * * * *", Timeout: 5 * time.Minute}}, History: h, Clock: clock,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Grace: 50 * time.Millisecond,
		Scan: func(ctx context.Context, s config.Schedule) (*store.ScanRecord, []store.StoredFinding, error) {
			close(started)
			<-release // deaf to ctx
			return nil, nil, errors.New("gave up")
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Run(ctx) }()
	web := httptest.NewServer(srv.Handler())
	defer web.Close()
	waitFor(t, func() bool { return clock.waiting() == 1 })
	clock.Advance(time.Minute) // 10:01:30: the run starts; its deadline is 10:06:30
	<-started
	if code, body := healthz(t, web.URL); code != 200 || body["schedules"].(map[string]any)["m"].(map[string]any)["state"] != "running" {
		t.Errorf("within the deadline: %d %v", code, body)
	}
	clock.Advance(6 * time.Minute) // 10:07:30
	code, body := healthz(t, web.URL)
	reasons, _ := body["reasons"].([]any)
	want := "schedule m: the scan started at 2026-11-27T10:01:30Z is still running, 1m0s past its deadline"
	// (a few seconds past it, a run is taken to be stopping)
	if code != 503 || len(reasons) != 1 || reasons[0] != want {
		t.Errorf("past the deadline: %d %v, want %q", code, body, want)
	}
	cancel()
	close(release)
	<-done
}

// metricValue reads a series' value from the text exposition format.
func metricValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// A finding series that was exported stays, at 0, once its findings are
// resolved: an alert on it sees it drop rather than vanish.
func TestMetricsDropToZero(t *testing.T) {
	s := &Server{Clock: RealClock, metrics: map[string]*scheduleMetrics{"hourly": {findings: []store.StoredFinding{
		{PolicyID: "VGL-NET-001", Severity: "high", Scope: "acme-prod"}, {PolicyID: "VGL-NET-001", Severity: "high", Scope: "acme-prod"},
		{PolicyID: "VGL-KEY-003", Severity: "critical", Scope: "111111111111", Waived: true}}}}, running: map[string]bool{}}
	web := httptest.NewServer(s.metricsHandler())
	defer web.Close()
	series := `vigil_findings{policy="VGL-NET-001",schedule="hourly",scope="acme-prod",severity="high"}`
	m := get(t, web.URL)
	if v := metricValue(m, series); v != 2 {
		t.Fatalf("before: %v\n%s", v, m)
	}
	if strings.Contains(m, "VGL-KEY-003") {
		t.Error("a waived finding is not an open one")
	}
	// client_golang's process, Go runtime and build-info collectors.
	for _, name := range []string{"process_resident_memory_bytes ", "process_start_time_seconds ", "go_goroutines ", "go_build_info{"} {
		if !strings.Contains(m, "\n"+name) {
			t.Errorf("no %s series:\n%s", strings.TrimSpace(name), m)
		}
	}
	s.mu.Lock()
	s.metrics["hourly"].findings = nil
	s.mu.Unlock()
	m = get(t, web.URL)
	if v := metricValue(m, series); v != 0 {
		t.Errorf("after the findings were resolved: %v (want the series at 0)\n%s", v, m)
	}
	if v := metricValue(m, `vigil_findings_open{schedule="hourly",severity="high"}`); v != 0 {
		t.Errorf("open high: %v", v)
	}
}

// The dashboard pages the findings by history.MaxRows rows: ?page=2 of a
// scan of 2,500 shows rows 2,001 to 2,500, links back keeping the other
// parameters, and its remediation command sets the runbook's required
// variables from the finding.
func TestDashboardPages(t *testing.T) {
	h, err := store.OpenHistory(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rec := &store.ScanRecord{Schedule: "nightly", StartedAt: time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC), PolicySet: "1 policies, 0123456789ab", BySeverity: map[string]int{}}
	rec.FinishedAt = rec.StartedAt.Add(time.Minute)
	var fs []store.StoredFinding
	for i := range 2500 {
		fs = append(fs, store.StoredFinding{PolicyID: "VGL-NET-004", Severity: "high", Kind: "instance", Provider: "aws", Runbook: "compromised-ec2",
			AssetID: fmt.Sprintf("arn:aws:ec2:eu-west-1:111111111111:instance/i-%017d", i), Message: "public"})
		rec.Findings++
		rec.BySeverity["high"]++
	}
	if _, err := h.RecordScan(context.Background(), rec, fs); err != nil {
		t.Fatal(err)
	}
	srv := &Server{History: h, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), RunbookVars: map[string][]string{"compromised-ec2": {"instance", "incident"}}}
	web := httptest.NewServer(srv.Handler())
	defer web.Close()
	page := get(t, web.URL+"/?schedule=nightly&page=2")
	for _, want := range []string{">showing 2,001–2,500 of 2,500<", `href="?schedule=nightly&amp;page=1"`, "page 2 of 2",
		"-var instance=arn:aws:ec2:eu-west-1:111111111111:instance/i-00000000000002499 -var incident=INC-20261127"} {
		if !strings.Contains(page, want) {
			t.Errorf("page 2 lacks %q", want)
		}
	}
	if n := strings.Count(page, `<tr id="f-`); n != 500 {
		t.Errorf("page 2 has %d rows, want 500", n)
	}
	if first := get(t, web.URL+"/?schedule=nightly"); !strings.Contains(first, ">showing 2,000 of 2,500<") || !strings.Contains(first, `href="?schedule=nightly&amp;page=2"`) {
		t.Errorf("page 1 lacks its count or its next link")
	}
}
