package watch

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the watcher's Prometheus metrics, labelled by watch.
type Metrics struct {
	Received     *prometheus.CounterVec
	Processed    *prometheus.CounterVec
	Failed       *prometheus.CounterVec
	DeadLettered *prometheus.CounterVec
	InFlight     *prometheus.GaugeVec
	Lag          *prometheus.GaugeVec
	Backlog      *prometheus.GaugeVec
	Latency      *prometheus.HistogramVec
	Notified     *prometheus.CounterVec
	Redelivered  *prometheus.CounterVec
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_watch_events_received_total",
			Help: "Queue messages received, redeliveries included."}, []string{"watch"}),
		Processed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_watch_events_processed_total",
			Help: "Events handled and acknowledged, by outcome: config (an event scan recorded), alert (triage cards recorded), ignored (nothing to do), duplicate (recorded before), out_of_scope (from an account or project the watch is not configured to read: dropped, not retried)."},
			[]string{"watch", "outcome"}),
		Failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_watch_events_failed_total",
			Help: "Attempts that failed, by stage: parse, read, record, settle (the provider did not show the change in time)."}, []string{"watch", "stage"}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_watch_events_dead_lettered_total",
			Help: "Poison messages moved to the dead-letter queue (to=\"queue\") or reported and dropped (to=\"log\")."}, []string{"watch", "to"}),
		InFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_watch_events_in_flight",
			Help: "Events being processed now (at most the watch's concurrency)."}, []string{"watch"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_watch_lag_seconds",
			Help: "How long the oldest event in flight has waited since it was published (0 when none is): how far the watcher lags behind the queue."}, []string{"watch"}),
		Backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_watch_backlog_messages",
			Help: "Messages waiting in the queue, as the queue reports it (SQS ApproximateNumberOfMessages)."}, []string{"watch"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_watch_event_latency_seconds",
			Help:    "End-to-end latency from the message's publication to: its result recorded (stage=\"recorded\"), its notifications accepted by the webhooks (stage=\"notified\").",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"watch", "stage"}),
		Notified: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_watch_notifications_total",
			Help: "Webhook deliveries of findings and triage cards, by result."}, []string{"watch", "result"}),
		Redelivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_watch_notifications_redelivered_total",
			Help: "Posts sent again because they were in doubt: sent before, with no answer read (the process ended, or the request failed). They carry the Idempotency-Key of the first."}, []string{"watch"}),
	}
	reg.MustRegister(m.Received, m.Processed, m.Failed, m.DeadLettered, m.InFlight, m.Lag, m.Backlog, m.Latency, m.Notified, m.Redelivered)
	return m
}
