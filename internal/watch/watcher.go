package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-ir/vigil/engine/alert"
	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/event"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/engine/triage"
	"github.com/vigil-ir/vigil/internal/history"
	"github.com/vigil-ir/vigil/internal/provider/aws"
	"github.com/vigil-ir/vigil/internal/provider/gcp"
	"github.com/vigil-ir/vigil/internal/store"
)

// AWSReader reads AWS resources again (aws.Reader).
type AWSReader interface {
	Read(ctx context.Context, refs []aws.Ref) (*aws.Read, error)
}

// GCPReader reads Google Cloud assets again (gcp.Reader).
type GCPReader interface {
	Read(ctx context.Context, refs []gcp.Ref) (*gcp.Read, error)
}

// Planned is a runbook a respond rule planned for an alert.
type Planned struct {
	Rule    string `json:"rule"`
	Runbook string `json:"runbook"`
	// Plan is the saved plan; Apply the command that applies it, which
	// stops at every approval.
	Plan  string `json:"plan,omitempty"`
	Apply string `json:"apply,omitempty"`
	Error string `json:"error,omitempty"`
}

// Planner plans a runbook for an alert (vigil runbook plan ... -out PLAN).
type Planner func(ctx context.Context, rule *config.Respond, al *alert.Alert, alertFile, inventoryFile, planFile string) error

// Watcher consumes one queue.
type Watcher struct {
	Name    string
	Source  Source
	History store.History
	Log     store.WatchLog
	Engine  *policy.Engine
	Waivers *policy.Waivers
	// Config is vigil.hcl (triage reads it); ConfigPath is repeated in the
	// commands cards suggest.
	Config     *config.Config
	ConfigPath string
	// Baseline loads the last recorded inventory and says when it was
	// recorded: assets the watch read later override it.
	Baseline func(ctx context.Context) (*inventory.Inventory, time.Time, error)
	// Recorded, when set, says when the baseline was last recorded without
	// loading it (the newest file); every Reload the watcher loads the
	// baseline again when it is newer than the one it has, so a scheduled
	// `vigil inventory collect` keeps the context fresh.
	Recorded func() time.Time
	Reload   time.Duration
	AWS      AWSReader
	GCP      GCPReader
	Notify   []config.Notify
	Poster   history.Poster
	// Concurrency bounds the events in flight; MaxAttempts the tries of a
	// message; Settle the wait for a provider to show a change; Grace the
	// time in-flight events get on shutdown.
	Concurrency int
	MaxAttempts int
	Settle      time.Duration
	Grace       time.Duration
	// Dir keeps alert files, the inventory snapshot and plans.
	Dir       string
	Responses []*config.Respond
	Plan      Planner
	Runbooks  []triage.RunbookInfo
	Metrics   *Metrics
	Logger    *slog.Logger
	Now       func() time.Time

	state    *state
	baseTime time.Time
	notifier *notifier
	records  chan *recordReq
	inflight sync.Map // message id -> time published, until settled
	failed   sync.Map // message id -> failures counted in this process
	outside  sync.Map // "provider scope" of out-of-scope events already reported
	// again hands workers the messages whose wait is over; slots bounds
	// the messages waiting; stopping ends every wait (shutdown).
	again    chan *job
	slots    chan struct{}
	stopping chan struct{}
	waiting  sync.WaitGroup
}

// job is a message being worked on, with what its tries so far say.
type job struct {
	m *Message
	// again: the job came back from a wait (the queue did not deliver it
	// again).
	again bool
	// tryStart is when the current try began: the wait for a change to
	// become visible (Settle) is counted from it; wait is the next pause
	// before reading again.
	tryStart time.Time
	wait     time.Duration
	// transient counts the failures in a row that were not the
	// message's fault.
	transient int
}

// Run consumes the queue until ctx ends, then lets in-flight events finish
// within Grace; what is left stays on the queue.
func (w *Watcher) Run(ctx context.Context) error {
	if err := w.setup(ctx); err != nil {
		return err
	}
	notifyCtx, stopNotify := context.WithCancel(context.Background())
	defer stopNotify()
	notifyDone := make(chan struct{})
	go func() { defer close(notifyDone); w.notifier.run(notifyCtx) }()
	if err := w.notifier.resume(ctx); err != nil {
		w.Logger.Error("watch: read the outbox", "watch", w.Name, "err", err)
	}

	// Events get their own context: shutdown lets them finish for Grace.
	procCtx, abandon := context.WithCancel(context.Background())
	defer abandon()
	w.records = make(chan *recordReq)
	recorderDone := make(chan struct{})
	go func() { defer close(recorderDone); w.recorder() }()
	work := make(chan *job)
	w.again = make(chan *job)
	w.stopping = make(chan struct{})
	w.slots = make(chan struct{}, waitingCap(w.Concurrency))
	var wg sync.WaitGroup
	for i := 0; i < w.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case j, ok := <-work:
					if !ok {
						return
					}
					w.handle(procCtx, j)
				case j := <-w.again:
					w.handle(procCtx, j)
				}
			}
		}()
	}
	stopLag := make(chan struct{})
	go w.watchLag(stopLag)
	go w.reloader(procCtx, stopLag)
	w.Logger.Info("watch: consuming", "watch", w.Name, "queue", w.Source.Describe(), "concurrency", w.Concurrency, "assets", w.state.inv.Len())
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	srcDone := make(chan error, 1)
	go func() {
		srcDone <- w.Source.Receive(runCtx, func(m *Message) bool {
			select {
			case work <- &job{m: m, tryStart: w.Now()}:
				return true
			case <-runCtx.Done():
				return false
			}
		})
	}()
	var srcErr error
	received := false
	select {
	case <-runCtx.Done():
	case srcErr = <-srcDone:
		received = true
		stopRun()
	}
	// Shutdown (or a source that failed): messages waiting to be tried
	// again go back to the queue now; events in flight get Grace from
	// now, however long the source takes to stop.
	deadline := time.Now().Add(w.Grace)
	close(w.stopping)
	var overdue atomic.Bool
	graceTimer := time.AfterFunc(w.Grace, func() { overdue.Store(true); abandon() })
	if !received {
		srcErr = <-srcDone
	}
	close(work)
	wg.Wait()
	w.waiting.Wait()
	graceTimer.Stop()
	if overdue.Load() {
		w.Logger.Warn("watch: grace period over; abandoned the events in flight (they stay on the queue and come back)", "watch", w.Name, "grace", w.Grace)
	}
	close(w.records)
	<-recorderDone
	close(stopLag)
	// Notifications of what was recorded get what is left of the grace;
	// the rest stays in the outbox for the next start.
	w.notifier.close()
	select {
	case <-notifyDone:
	case <-time.After(time.Until(deadline)):
		stopNotify()
		<-notifyDone
	}
	if w.notifier.flight != nil {
		w.notifier.flight.close()
	}
	if srcErr != nil {
		return srcErr
	}
	w.Logger.Info("watch: stopped", "watch", w.Name)
	return nil
}

// waitingCap bounds the messages that wait, leased, to be tried again
// (after a transient failure, or for a change to become visible): beyond
// it a worker waits for room, which stops the queue being read.
func waitingCap(concurrency int) int { return max(64, 16*concurrency) }

// MaxOutstanding is how many messages a watch of this concurrency holds
// unacknowledged at most: those being worked on and those waiting to be
// tried again (Pub/Sub's flow control counts both).
func MaxOutstanding(concurrency int) int {
	if concurrency <= 0 {
		concurrency = 8
	}
	return concurrency + waitingCap(concurrency)
}

func (w *Watcher) setup(ctx context.Context) error {
	if w.Logger == nil {
		w.Logger = slog.Default()
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.Concurrency <= 0 {
		w.Concurrency = 8
	}
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = 5
	}
	if w.Settle <= 0 {
		w.Settle = 2 * time.Minute
	}
	if w.Grace <= 0 {
		w.Grace = 30 * time.Second
	}
	if w.Poster == nil {
		w.Poster = &http.Client{Timeout: 15 * time.Second}
	}
	if w.Metrics == nil {
		return errors.New("watch: no metrics")
	}
	for _, sub := range []string{"", "alerts", "plans"} {
		if err := os.MkdirAll(filepath.Join(w.Dir, sub), 0o700); err != nil {
			return fmt.Errorf("watch: create %s: %w", w.Dir, err)
		}
	}
	base, baseTime, err := w.Baseline(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: load the inventory: %w", w.Name, err)
	}
	overlay, err := w.Log.Assets(ctx, w.Name)
	if err != nil {
		return fmt.Errorf("watch %s: read the assets it read before: %w", w.Name, err)
	}
	w.state = &state{engine: w.Engine, waivers: w.Waivers, now: w.Now}
	applied, err := w.state.load(ctx, base, baseTime, overlay)
	if err != nil {
		return err
	}
	w.baseTime = baseTime
	w.Logger.Info("watch: inventory loaded", "watch", w.Name, "assets", base.Len(), "read_since", applied)
	w.notifier = newNotifier(w)
	return nil
}

// reloader loads the baseline again when a newer one was recorded.
func (w *Watcher) reloader(ctx context.Context, stop chan struct{}) {
	if w.Recorded == nil || w.Reload <= 0 {
		return
	}
	t := time.NewTicker(w.Reload)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if !w.Recorded().After(w.baseTime) {
			continue
		}
		base, baseTime, err := w.Baseline(ctx)
		if err == nil {
			var overlay []store.WatchAsset
			if overlay, err = w.Log.Assets(ctx, w.Name); err == nil {
				var applied int
				if applied, err = w.state.load(ctx, base, baseTime, overlay); err == nil {
					w.baseTime = baseTime
					w.Logger.Info("watch: newer inventory loaded", "watch", w.Name, "assets", base.Len(), "read_since", applied)
					continue
				}
			}
		}
		w.Logger.Error("watch: load the newer inventory; keeping the one loaded", "watch", w.Name, "err", err)
		w.baseTime = w.Recorded() // do not retry a broken file every tick
	}
}

// watchLag keeps the lag gauge: the age of the oldest event in flight.
func (w *Watcher) watchLag(stop chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			w.Metrics.Lag.WithLabelValues(w.Name).Set(0)
			return
		case <-t.C:
		}
		var oldest time.Time
		w.inflight.Range(func(_, v any) bool {
			if t := v.(time.Time); oldest.IsZero() || t.Before(oldest) {
				oldest = t
			}
			return true
		})
		lag := 0.0
		if !oldest.IsZero() {
			lag = time.Since(oldest).Seconds()
		}
		w.Metrics.Lag.WithLabelValues(w.Name).Set(lag)
	}
}

// settled is the context for queue calls that must happen even during
// shutdown (acknowledging what was recorded).
func settled() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 15*time.Second)
}

// deliveryBudget is how often the queue may deliver a message before the
// watcher gives up on it without trying: a message that makes the watcher
// crash never reaches a failure count. It is well above MaxAttempts,
// because restarts and transient failures also end in redeliveries.
func (w *Watcher) deliveryBudget() int { return max(10*w.MaxAttempts, 20) }

// backoff is the pause before try n+1 after n failures: 1 s, doubling, at
// most 5 minutes.
func backoff(n int) time.Duration {
	return min(time.Duration(1<<min(max(n-1, 0), 9))*time.Second, 5*time.Minute)
}

// handle processes one message and settles it: acknowledged once its
// result is recorded; kept and tried again later after a failure (a
// change not visible yet, or a transient failure, wait without counting);
// dead-lettered after MaxAttempts counted failures; released if shutdown
// abandoned it.
func (w *Watcher) handle(ctx context.Context, j *job) {
	m, mt := j.m, w.Metrics
	if !j.again {
		mt.Received.WithLabelValues(w.Name).Inc()
	}
	mt.InFlight.WithLabelValues(w.Name).Inc()
	defer mt.InFlight.WithLabelValues(w.Name).Dec()
	sent := m.Sent
	if sent.IsZero() {
		sent = w.Now()
	}
	w.inflight.LoadOrStore(m.ID, sent)
	sctx, cancel := settled()
	defer cancel()
	if !j.again && m.Attempt > w.deliveryBudget() {
		w.poison(sctx, j, m.Attempt, fmt.Errorf("the queue delivered it %d times without a result recorded (the watcher may have crashed on it)", m.Attempt))
		return
	}

	outcome, stage, err := w.process(ctx, m, sent)
	switch {
	case err == nil:
		if aerr := m.Ack(sctx); aerr != nil {
			// Recorded: a redelivery finds the event id and only acks.
			w.Logger.Warn("watch: acknowledge failed; the message will come back and be skipped", "watch", w.Name, "message", m.ID, "err", aerr)
		}
		mt.Processed.WithLabelValues(w.Name, outcome).Inc()
		if outcome == "config" || outcome == "alert" {
			mt.Latency.WithLabelValues(w.Name, "recorded").Observe(w.Now().Sub(sent).Seconds())
		}
		if _, had := w.failed.LoadAndDelete(m.ID); had || m.Attempt > 1 {
			w.Log.Forget(sctx, w.Name, m.ID)
		}
		w.inflight.Delete(m.ID)
	case ctx.Err() != nil:
		// Abandoned at the end of the grace period: back to the queue.
		m.Release(sctx)
		w.inflight.Delete(m.ID)
	case event.IsMalformed(err):
		mt.Failed.WithLabelValues(w.Name, "parse").Inc()
		w.poison(sctx, j, 1, err)
	case errors.As(err, new(*outOfScopeError)):
		// No retry reads it: only configuration would. Reported once per
		// account or project, counted every time, and acknowledged.
		var oe *outOfScopeError
		errors.As(err, &oe)
		if _, told := w.outside.LoadOrStore(oe.Provider+" "+oe.Scope, true); !told {
			w.Logger.Warn("watch: event from an account or project this watch is not configured to read; acknowledged and dropped "+
				"(said once per account or project; vigil_watch_events_processed_total{outcome=\"out_of_scope\"} counts them)",
				"watch", w.Name, "provider", oe.Provider, "scope", oe.Scope, "event", m.ID, "why", oe.Err)
		} else {
			w.Logger.Debug("watch: event from an account or project this watch does not read; dropped", "watch", w.Name, "scope", oe.Scope, "message", m.ID)
		}
		m.Ack(sctx)
		mt.Processed.WithLabelValues(w.Name, "out_of_scope").Inc()
		if _, had := w.failed.LoadAndDelete(m.ID); had || m.Attempt > 1 {
			w.Log.Forget(sctx, w.Name, m.ID)
		}
		w.inflight.Delete(m.ID)
	case isNotVisible(err) && w.Now().Add(j.nextWait()).Before(j.tryStart.Add(w.Settle)):
		// Not failed: the provider does not show the change yet. The
		// message waits, a worker does not.
		d := j.nextWait()
		j.wait = min(2*d, 15*time.Second)
		w.Logger.Debug("watch: change not visible yet; reading again", "watch", w.Name, "message", m.ID, "in", d, "err", err)
		w.later(j, d)
	case transient(err):
		mt.Failed.WithLabelValues(w.Name, stage).Inc()
		j.transient++
		d := backoff(j.transient)
		w.Logger.Warn("watch: event failed for a reason not its own (the provider or the store); it will be retried and this does not count towards max_attempts",
			"watch", w.Name, "message", m.ID, "stage", stage, "failures_in_a_row", j.transient, "retry_in", d, "err", err)
		w.later(j, d)
	default:
		mt.Failed.WithLabelValues(w.Name, stage).Inc()
		counted := 1
		if v, ok := w.failed.Load(m.ID); ok {
			counted = v.(int) + 1
		}
		w.failed.Store(m.ID, counted)
		n, ferr := w.Log.Failed(sctx, w.Name, m.ID, err.Error())
		if ferr != nil {
			w.Logger.Error("watch: count the failure", "watch", w.Name, "message", m.ID, "err", ferr)
		}
		tries := max(n, counted)
		if tries >= w.MaxAttempts {
			w.poison(sctx, j, tries, err)
			return
		}
		d := backoff(tries)
		w.Logger.Warn("watch: event failed; it will be retried", "watch", w.Name, "message", m.ID, "stage", stage, "try", tries, "of", w.MaxAttempts, "retry_in", d, "err", err)
		// The next try waits for visibility afresh.
		j.tryStart, j.wait, j.transient = w.Now().Add(d), 0, 0
		w.later(j, d)
	}
}

// nextWait is the pause before the next read of a change not visible yet:
// 250 ms, doubling, at most 15 s.
func (j *job) nextWait() time.Duration {
	if j.wait == 0 {
		return 250 * time.Millisecond
	}
	return j.wait
}

// later keeps a message, leased, and hands it to a worker again after d.
// While it waits it holds no worker; on shutdown it goes back to the queue
// at once. When too many wait, the caller waits for room (and so the queue
// is not read meanwhile).
func (w *Watcher) later(j *job, d time.Duration) {
	release := func() {
		ctx, cancel := settled()
		defer cancel()
		j.m.Release(ctx)
		w.inflight.Delete(j.m.ID)
	}
	select {
	case <-w.stopping:
		release()
		return
	default:
	}
	select {
	case w.slots <- struct{}{}:
	case <-w.stopping:
		release()
		return
	}
	j.again = true
	w.waiting.Add(1)
	go func() {
		defer w.waiting.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-w.stopping:
			<-w.slots
			release()
			return
		}
		<-w.slots // room for another before this one needs a worker
		select {
		case w.again <- j:
		case <-w.stopping:
			release()
		}
	}()
}

// poison dead-letters a message that cannot be processed, or reports and
// drops it when there is no dead-letter queue. A dead letter that could
// not be sent leaves the message with the watcher, to try again later.
func (w *Watcher) poison(ctx context.Context, j *job, tries int, cause error) {
	m := j.m
	body := string(m.Body)
	if len(body) > 300 {
		body = body[:300] + "..."
	}
	reason := fmt.Sprintf("vigil watch %s gave up after %d tries: %v", w.Name, tries, cause)
	if m.HasDeadLetter() {
		if err := m.DeadLetter(ctx, reason); err != nil {
			w.Logger.Error("watch: dead-letter failed; the message stays and is tried again later", "watch", w.Name, "message", m.ID, "err", err)
			w.later(j, time.Minute)
			return
		}
		w.Logger.Error("watch: poison message moved to the dead-letter queue", "watch", w.Name, "message", m.ID, "tries", tries, "err", cause, "body", body)
		w.Metrics.DeadLettered.WithLabelValues(w.Name, "queue").Inc()
	} else {
		w.Logger.Error("watch: poison message dropped (no dead-letter queue configured)", "watch", w.Name, "message", m.ID, "tries", tries, "err", cause, "body", body)
		w.Metrics.DeadLettered.WithLabelValues(w.Name, "log").Inc()
	}
	if err := m.Ack(ctx); err != nil {
		// Its tries are kept (here and in the store): when the queue
		// gives it back, it is given up at once, not tried anew.
		w.Logger.Error("watch: could not delete the poison message; when it comes back it is given up again without more tries", "watch", w.Name, "message", m.ID, "err", err)
		w.inflight.Delete(m.ID)
		return
	}
	w.Log.Forget(ctx, w.Name, m.ID)
	w.failed.Delete(m.ID)
	w.inflight.Delete(m.ID)
}

// process returns the outcome (config, alert, ignored, duplicate) or the
// stage that failed.
func (w *Watcher) process(ctx context.Context, m *Message, sent time.Time) (outcome, stage string, err error) {
	defer func() {
		// A bug on one body must not take the watcher down: it counts as
		// a failed attempt and the message ends in the dead-letter queue.
		if r := recover(); r != nil {
			outcome, stage, err = "", "panic", fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	ev, err := event.Parse(m.Body)
	if errors.Is(err, event.ErrIgnored) {
		if errors.Is(err, event.ErrNotRead) {
			// A change vigil cannot judge from the event: say so.
			w.Logger.Warn("watch: change not re-read", "watch", w.Name, "message", m.ID, "why", err)
		} else {
			w.Logger.Debug("watch: event ignored", "watch", w.Name, "message", m.ID, "why", err)
		}
		return "ignored", "", nil
	}
	if err != nil {
		return "", "parse", err
	}
	done, err := w.Log.Processed(ctx, w.Name, ev.ID)
	if err != nil {
		return "", "record", err
	}
	if done {
		w.Logger.Info("watch: event recorded before; skipped", "watch", w.Name, "event", ev.ID)
		return "duplicate", "", nil
	}
	rec := &store.WatchEvent{Watch: w.Name, ID: ev.ID, Kind: ev.Kind, Name: ev.Name, ReceivedAt: sent}
	if ev.Kind == event.KindAlert {
		stage, err = w.alert(ctx, ev, rec)
	} else {
		stage, err = w.config(ctx, ev, rec)
	}
	if errors.Is(err, store.ErrEventRecorded) {
		return "duplicate", "", nil
	}
	if err != nil {
		return "", stage, err
	}
	return ev.Kind, "", nil
}

// config handles a configuration event: read the changed assets again,
// judge them with their context, record an event scan, notify.
func (w *Watcher) config(ctx context.Context, ev *event.Event, rec *store.WatchEvent) (string, error) {
	started := w.Now()
	found, gone, err := w.readOnce(ctx, ev)
	if err != nil {
		if isNotVisible(err) {
			return "settle", err
		}
		if oe := w.outOfScope(ev, err); oe != nil {
			return "scope", oe
		}
		return "read", err
	}
	var dependents []string
	for _, c := range ev.Changes {
		if c.Dependents {
			dependents = append(dependents, c.Scope)
		}
	}
	ids, err := w.state.apply(ctx, found, gone, started, dependents)
	if err != nil {
		return "evaluate", err
	}
	findings, judged, err := w.state.evaluate(ctx, ids)
	if err != nil {
		return "evaluate", err
	}
	sum := &scan.Summary{Sources: []string{"event " + ev.ID + " " + ev.Name}, Assets: int64(judged), Findings: len(findings), Duration: w.Now().Sub(started)}
	for _, f := range findings {
		if f.Waived {
			sum.Waived++
		}
	}
	scanRec, stored := history.Record("watch/"+w.Name, started, sum, w.Engine.Policies(), findings)
	var rows []store.WatchAsset
	for _, a := range found {
		raw, err := json.Marshal(a)
		if err != nil {
			return "record", err
		}
		rows = append(rows, store.WatchAsset{ID: a.ID, Asset: raw, ReadAt: started})
	}
	for _, id := range gone {
		rows = append(rows, store.WatchAsset{ID: id, ReadAt: started})
	}
	// What the event scan looked at, for the notifier: a finding announced
	// before that it no longer finds is forgotten (and announced again if
	// it comes back). Kept with the event for a restart.
	looked := &configPayload{Judged: append(ids, gone...)}
	sort.Strings(looked.Judged)
	if rec.Payload, err = json.Marshal(looked); err != nil {
		return "record", err
	}
	rec.RecordedAt = w.Now()
	if err := w.record(ctx, &store.EventResult{Event: rec, Scan: scanRec, Findings: stored, Assets: rows}); err != nil {
		return "record", err
	}
	open := 0
	for _, f := range stored {
		if !f.Waived {
			open++
		}
	}
	w.Logger.Info("watch: event scan recorded", "watch", w.Name, "event", ev.ID, "name", ev.Name, "scan", rec.ScanID,
		"assets", judged, "open_findings", open, "gone", len(gone))
	w.notifier.enqueue(&outItem{ev: rec, findings: stored, judged: looked.Judged})
	return "", nil
}

// configPayload is what a configuration event keeps for its notifications
// besides its scan's findings.
type configPayload struct {
	Judged []string `json:"judged"`
}

// outOfScopeError is an event from an account or project the watch is
// not configured to read: trying again cannot help.
type outOfScopeError struct {
	Provider, Scope string
	Err             error
}

func (e *outOfScopeError) Error() string {
	return fmt.Sprintf("%s %s is not an account or project this watch reads: %v", e.Provider, e.Scope, e.Err)
}
func (e *outOfScopeError) Unwrap() error { return e.Err }

// outOfScope says whether a failed read failed because the event is from
// outside what the watch is configured for: a provider it has no reader
// for, an AWS account its credentials are not for with no role to assume
// there, or a Google Cloud project the recorded inventory does not know
// that the credentials may not read. A project the inventory knows, denied,
// is a grant missing where vigil should read: that one is retried and
// dead-lettered like any failure, to be replayed once fixed.
func (w *Watcher) outOfScope(ev *event.Event, err error) *outOfScopeError {
	var noReader *noReaderError
	if errors.As(err, &noReader) {
		return &outOfScopeError{Provider: ev.Provider, Scope: ev.Scope, Err: err}
	}
	var ae *aws.AccountError
	if errors.As(err, &ae) {
		return &outOfScopeError{Provider: "aws", Scope: ae.Account, Err: err}
	}
	var pe *gcp.PermissionError
	if ev.Provider == "gcp" && errors.As(err, &pe) {
		for _, c := range ev.Changes {
			if strings.Contains(c.Scope, "/") || w.state.projectName(c.Scope) != "" {
				return nil // a folder, an organization, or a known project
			}
		}
		return &outOfScopeError{Provider: "gcp", Scope: ev.Scope, Err: err}
	}
	return nil
}

// noReaderError is an event of a provider the watch reads nothing of.
type noReaderError struct{ provider string }

func (e *noReaderError) Error() string {
	return fmt.Sprintf("a %s event, but this watch reads no %s account or project", e.provider, e.provider)
}

func isNotVisible(err error) bool {
	var a *aws.NotVisibleError
	var g *gcp.NotVisibleError
	return errors.As(err, &a) || errors.As(err, &g)
}

func (w *Watcher) readOnce(ctx context.Context, ev *event.Event) ([]*asset.Asset, []string, error) {
	var found []*asset.Asset
	var gone []string
	switch ev.Provider {
	case "aws":
		if w.AWS == nil {
			return nil, nil, &noReaderError{provider: "AWS"}
		}
		var refs []aws.Ref
		for _, c := range ev.Changes {
			refs = append(refs, aws.Ref{Type: c.Type, Account: c.Scope, Region: c.Region, ID: c.ID, Name: c.Name, User: c.User, MustExist: c.Created})
		}
		r, err := w.AWS.Read(ctx, refs)
		if err != nil {
			return nil, nil, err
		}
		found, gone = r.Assets, r.Gone
	case "gcp":
		if w.GCP == nil {
			return nil, nil, &noReaderError{provider: "Google Cloud"}
		}
		var refs []gcp.Ref
		for _, c := range ev.Changes {
			name, parent := c.ID, c.Scope
			if c.Type == "cloudresourcemanager.googleapis.com/Project" {
				// Audit logs name projects by id, the Cloud Asset API by
				// number: the inventory knows both; the reader finds a
				// project it does not know (a new one) under itself.
				if known := w.state.projectName(c.Name); known != "" {
					name = known
				}
			}
			if strings.HasPrefix(parent, "folders/") {
				// Cloud Asset reads under an organization or a project, not
				// a folder: the folder's organization.
				if parent = w.state.organizationOf(c.Scope); parent == "" {
					return nil, nil, fmt.Errorf("%s is in %s, whose organization the inventory does not know (Cloud Asset reads by organization or project): "+
						"collect the organization (gcp:organizations/N) into the watch's inventory", c.ID, c.Scope)
				}
			}
			refs = append(refs, gcp.Ref{Name: name, Project: parent, After: ev.Time, MustExist: c.Created})
		}
		r, err := w.GCP.Read(ctx, refs)
		if err != nil {
			return nil, nil, err
		}
		found, gone = r.Assets, r.Gone
	default:
		return nil, nil, fmt.Errorf("event from unknown provider %q", ev.Provider)
	}
	return found, gone, nil
}

// cardPayload is what an alert event tells the webhooks.
type cardPayload struct {
	EventID string         `json:"event_id"`
	Event   string         `json:"event"`
	Source  string         `json:"source"`
	Alerts  []*alert.Alert `json:"alerts"`
	Cards   []*triage.Card `json:"cards"`
	Planned []Planned      `json:"planned,omitempty"`
	// AlertFile and InventoryFile are what the suggested commands read.
	AlertFile     string `json:"alert_file"`
	InventoryFile string `json:"inventory_file"`
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileName turns an event id into a file name: its safe characters, for
// people, then a hash of the whole id, so that two ids never share a file
// (1111/2222 and 1111_2222 read alike, and so do long ids cut short). A
// shared name would have a card's suggested command apply another alert's
// plan, and ids are written by whoever may publish to the queue.
func fileName(id string) string {
	s := strings.Trim(unsafeName.ReplaceAllString(id, "_"), "_")
	if len(s) > 100 {
		s = s[len(s)-100:]
	}
	sum := sha256.Sum256([]byte(id))
	return s + "-" + hex.EncodeToString(sum[:6])
}

// alert handles an alert event: triage cards from the inventory, plans
// for matching respond rules, recorded with the event, then posted.
func (w *Watcher) alert(ctx context.Context, ev *event.Event, rec *store.WatchEvent) (string, error) {
	alertFile := filepath.Join(w.Dir, "alerts", fileName(ev.ID)+".json")
	if err := writeFile(alertFile, ev.Body); err != nil {
		return "record", err
	}
	invFile, err := w.state.snapshot(w.Dir)
	if err != nil {
		return "record", err
	}
	p := &cardPayload{EventID: ev.ID, Event: ev.Name, Source: ev.Source, Alerts: ev.Alerts, AlertFile: alertFile, InventoryFile: invFile}
	err = w.state.withInventory(func(inv *inventory.Inventory, findings []policy.Finding) error {
		opts := &triage.Options{Inventory: inv, Config: w.Config, Findings: findings, Runbooks: w.Runbooks,
			InventoryArgs: []string{invFile}, ConfigArg: w.ConfigPath, AlertFile: alertFile}
		for _, al := range ev.Alerts {
			p.Cards = append(p.Cards, triage.ForAlert(opts, al)...)
		}
		return nil
	})
	if err != nil {
		return "evaluate", err
	}
	for _, r := range w.Responses {
		for _, al := range ev.Alerts {
			if !r.Matches(al.Source, al.Type, al.Severity, policy.SeverityRank) {
				continue
			}
			pl := Planned{Rule: r.Name, Runbook: r.Runbook}
			planFile := filepath.Join(w.Dir, "plans", fileName(ev.ID)+"-"+fileName(r.Name)+".json")
			if w.Plan == nil {
				pl.Error = "no planner"
			} else if err := w.Plan(ctx, r, al, alertFile, invFile, planFile); err != nil {
				pl.Error = err.Error()
				w.Logger.Error("watch: respond rule could not plan its runbook", "watch", w.Name, "rule", r.Name, "runbook", r.Runbook, "event", ev.ID, "err", err)
			} else {
				pl.Plan, pl.Apply = planFile, "vigil runbook apply "+planFile
				w.Logger.Info("watch: runbook planned; it waits for a person to apply it", "watch", w.Name, "rule", r.Name, "runbook", r.Runbook, "plan", planFile)
			}
			p.Planned = append(p.Planned, pl)
			break // one plan per rule and event
		}
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return "record", err
	}
	rec.Payload, rec.RecordedAt = raw, w.Now()
	if err := w.record(ctx, &store.EventResult{Event: rec}); err != nil {
		return "record", err
	}
	w.Logger.Info("watch: alert recorded", "watch", w.Name, "event", ev.ID, "source", ev.Source, "type", ev.Name, "cards", len(p.Cards), "planned", len(p.Planned))
	w.notifier.enqueue(&outItem{ev: rec, payload: p})
	return "", nil
}

// writeFile writes a file whole or not at all.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// recordReq is a worker's finished event, waiting to be committed.
type recordReq struct {
	res  *store.EventResult
	done chan error
}

// record commits an event's result with whatever other workers finished
// meanwhile: one transaction, one disk sync, for all of them.
func (w *Watcher) record(ctx context.Context, res *store.EventResult) error {
	req := &recordReq{res: res, done: make(chan error, 1)}
	select {
	case w.records <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// Abandoned: the commit may still land; a redelivery finds it.
		return ctx.Err()
	}
}

// recorder is the one goroutine that writes events: it takes the first
// waiting result and every other one already waiting.
func (w *Watcher) recorder() {
	for req := range w.records {
		batch := []*recordReq{req}
	more:
		for len(batch) < 128 {
			select {
			case r, ok := <-w.records:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		results := make([]*store.EventResult, len(batch))
		for i, r := range batch {
			results[i] = r.res
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		errs := w.Log.RecordEvents(ctx, results)
		cancel()
		for i, r := range batch {
			r.done <- errs[i]
		}
	}
}
