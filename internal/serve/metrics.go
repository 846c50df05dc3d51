package serve

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"net/http"
)

var (
	descFindings = prometheus.NewDesc("vigil_findings", "Open findings of the schedule's latest scan, by severity, policy and scope; a series that had findings stays, at 0, once they are resolved.",
		[]string{"schedule", "severity", "policy", "scope"}, nil)
	descOpen = prometheus.NewDesc("vigil_findings_open", "Open findings of the schedule's latest scan by severity (every severity, 0 included).",
		[]string{"schedule", "severity"}, nil)
	descScans = prometheus.NewDesc("vigil_scans_total", "Scheduled scans this replica ran since it started, by result (skipped: another replica recorded the tick).",
		[]string{"schedule", "result"}, nil)
	descDuration = prometheus.NewDesc("vigil_scan_duration_seconds", "How long the schedule's latest scan took.", []string{"schedule"}, nil)
	descAssets   = prometheus.NewDesc("vigil_scan_assets", "Assets read by the schedule's latest scan.", []string{"schedule"}, nil)
	descSuccess  = prometheus.NewDesc("vigil_scan_last_success_timestamp_seconds", "When the schedule's latest successful scan finished (Unix time).", []string{"schedule"}, nil)
	descRunning  = prometheus.NewDesc("vigil_schedule_running", "1 while this replica scans the schedule.", []string{"schedule"}, nil)
	descStuck    = prometheus.NewDesc("vigil_schedule_stuck", "1 while /healthz reports the schedule stuck (past its deadline).", []string{"schedule"}, nil)
)

var severities = []string{"critical", "high", "medium", "low", "info"}

type findingKey struct{ severity, policy, scope string }

// Describe implements prometheus.Collector.
func (s *Server) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFindings, descOpen, descScans, descDuration, descAssets, descSuccess, descRunning, descStuck} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the schedules' state, with
// every finding series ever exported kept (at 0 once resolved), so that
// alerts on a series see it go to 0 rather than vanish.
func (s *Server) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.metrics))
	for n := range s.metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	now := s.Clock.Now()
	for _, n := range names {
		m := s.metrics[n]
		counts := map[findingKey]int{}
		open := map[string]int{}
		for _, f := range m.findings {
			if !f.Waived {
				counts[findingKey{f.Severity, f.PolicyID, f.Scope}]++
				open[f.Severity]++
			}
		}
		if m.seen == nil {
			m.seen = map[findingKey]bool{}
		}
		for k := range counts {
			m.seen[k] = true
		}
		for k := range m.seen {
			ch <- prometheus.MustNewConstMetric(descFindings, prometheus.GaugeValue, float64(counts[k]), n, k.severity, k.policy, k.scope)
		}
		for _, sev := range severities {
			ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(open[sev]), n, sev)
		}
		ch <- prometheus.MustNewConstMetric(descScans, prometheus.CounterValue, float64(m.successes), n, "success")
		ch <- prometheus.MustNewConstMetric(descScans, prometheus.CounterValue, float64(m.failures), n, "failure")
		ch <- prometheus.MustNewConstMetric(descScans, prometheus.CounterValue, float64(m.skipped), n, "skipped")
		running, stuck := 0.0, 0.0
		if s.running[n] {
			running = 1
		}
		if (s.running[n] && now.After(m.deadline.Add(stopping))) || m.timedOut {
			stuck = 1
		}
		ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, running, n)
		ch <- prometheus.MustNewConstMetric(descStuck, prometheus.GaugeValue, stuck, n)
		if m.last != nil {
			ch <- prometheus.MustNewConstMetric(descDuration, prometheus.GaugeValue, m.last.Duration().Seconds(), n)
			ch <- prometheus.MustNewConstMetric(descAssets, prometheus.GaugeValue, float64(m.last.Assets), n)
		}
		if !m.lastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(descSuccess, prometheus.GaugeValue, float64(m.lastSuccess.Unix()), n)
		}
	}
}

// registry holds the server's metrics with the process, Go runtime and
// build-info collectors.
func (s *Server) registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(s, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector(), collectors.NewBuildInfoCollector())
	return reg
}

func (s *Server) metricsHandler() http.Handler {
	g := prometheus.Gatherers{s.registry()}
	g = append(g, s.Gatherers...)
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
