package watch

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/internal/store"
	vtest "github.com/vigil-ir/vigil/internal/testutil"
	"github.com/vigil-ir/vigil/policies"
)

// hook is a webhook that keeps what it was sent.
type hook struct {
	mu     sync.Mutex
	bodies []map[string]any
	keys   []string // the Idempotency-Key of each post kept
	srv    *httptest.Server
	status int
}

func newHook(t *testing.T) *hook {
	h := &hook{status: 200}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var v map[string]any
		json.Unmarshal(raw, &v)
		h.mu.Lock()
		st := h.status
		if st < 300 {
			h.bodies = append(h.bodies, v)
			h.keys = append(h.keys, r.Header.Get("Idempotency-Key"))
		}
		h.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) posts() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.bodies...)
}

// findings lists "POLICY ASSET" of every finding posted.
func (h *hook) findings() []string {
	var out []string
	for _, b := range h.posts() {
		list, _ := b["findings"].([]any)
		for _, f := range list {
			m := f.(map[string]any)
			out = append(out, m["policy_id"].(string)+" "+m["asset_id"].(string))
		}
	}
	return out
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rig is a watcher with its history, webhook and metrics.
type rig struct {
	w      *Watcher
	hist   store.History
	log    store.WatchLog
	hook   *hook
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	logBuf *vtest.LockedBuffer
}

func engine(t *testing.T) *policy.Engine {
	t.Helper()
	eng, err := policy.Load(context.Background(), policy.Options{Builtins: policies.FS, Config: config.Default().Data()})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// newRig makes a watcher over src whose baseline is inv.
func newRig(t *testing.T, name string, src Source, inv *inventory.Inventory, setup func(w *Watcher)) *rig {
	t.Helper()
	dir := t.TempDir()
	h, err := store.OpenHistory(context.Background(), filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	wl, err := store.WatchLogOf(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{hist: h, log: wl, hook: newHook(t), reg: prometheus.NewRegistry(), logBuf: &vtest.LockedBuffer{}}
	baseTime := time.Now()
	r.w = &Watcher{Name: name, Source: src, History: h, Log: wl, Engine: engine(t), Config: config.Default(),
		Baseline:    func(context.Context) (*inventory.Inventory, time.Time, error) { return inv.Clone(), baseTime, nil },
		Notify:      []config.Notify{{Name: "secops", URL: r.hook.srv.URL, Format: "json"}},
		Concurrency: 4, MaxAttempts: 3, Settle: 5 * time.Second, Grace: 10 * time.Second, Dir: filepath.Join(dir, "watch"),
		Metrics: NewMetrics(r.reg), Logger: slog.New(slog.NewTextHandler(r.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if setup != nil {
		setup(r.w)
	}
	return r
}

func (r *rig) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.w.Run(ctx) }()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("watcher log:\n%s", r.logBuf.String())
		}
	})
}

func (r *rig) stop(t *testing.T) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("Run did not return within 30s of shutdown")
	}
}

func (r *rig) count(vec *prometheus.CounterVec, labels ...string) float64 {
	m := &dto.Metric{}
	vec.WithLabelValues(append([]string{r.w.Name}, labels...)...).Write(m)
	return m.GetCounter().GetValue()
}

// sqsQueues starts goaws and makes a queue and its dead-letter queue.
func sqsQueues(t *testing.T, wait time.Duration) (*SQS, *sqs.Client, string, string) {
	t.Helper()
	endpoint := vtest.Goaws(t)
	ctx := context.Background()
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		// goaws takes any credentials; the SDK wants some.
		for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "AKIDVIGILTEST", "AWS_SECRET_ACCESS_KEY": "x", "AWS_EC2_METADATA_DISABLED": "true",
			"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_PROFILE": ""} {
			t.Setenv(k, v)
		}
	}
	cfg := &config.SQS{QueueURL: "http://placeholder", Region: "eu-west-1", Endpoint: endpoint, Protocol: "query",
		WaitTime: wait, VisibilityTimeout: 30 * time.Second}
	src, err := NewSQS(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	q, err := src.Client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("vigil-events")})
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := src.Client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("vigil-events-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	src.QueueURL, src.DeadLetterURL = aws.ToString(q.QueueUrl), aws.ToString(dlq.QueueUrl)
	return src, src.Client, src.QueueURL, src.DeadLetterURL
}

func send(t *testing.T, c *sqs.Client, queue string, body []byte) {
	t.Helper()
	if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(string(body))}); err != nil {
		t.Fatal(err)
	}
}

// depth is the number of messages on a queue, visible or in flight.
func depth(t *testing.T, c *sqs.Client, queue string) int {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queue), AttributeNames: []sqstypes.QueueAttributeName{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"} {
		var v int
		json.Unmarshal([]byte(out.Attributes[k]), &v)
		n += v
	}
	return n
}

func sample(t *testing.T, elem ...string) []byte {
	t.Helper()
	raw, err := os.ReadFile(vtest.Path(t, elem...))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
