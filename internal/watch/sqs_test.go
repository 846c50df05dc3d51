package watch

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/alert"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/provider/aws"
	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
	"github.com/vigil-ir/vigil/internal/store"
)

const internalSG = "arn:aws:ec2:eu-west-1:111111111111:security-group/" + awsfake.InternalGroup

// awsWorld serves the fake AWS scenario, collects it as the last recorded
// inventory and returns a reader of it.
func awsWorld(t *testing.T) (*awsfake.Fake, *inventory.Inventory, *aws.Reader) {
	t.Helper()
	f := awsfake.Scenario()
	srv := f.Start()
	t.Cleanup(srv.Close)
	for _, kv := range awsfake.Env(srv.URL) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	opts := aws.Options{Region: "eu-west-1", Regions: []string{"eu-west-1", "us-east-1"}, MaxBackoff: 5 * time.Millisecond, RateLimit: 1000, MaxAttempts: 2}
	inv, _, err := aws.CollectInventory(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	r, err := aws.NewReader(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return f, inv, r
}

// openSSH is what the AuthorizeSecurityGroupIngress event did: the
// internal group now lets the internet reach port 22.
func openSSH(f *awsfake.Fake) {
	f.With(func(f *awsfake.Fake) {
		g := f.Get(awsfake.ProdAccount).Region("eu-west-1").SecurityGroups[awsfake.InternalGroup]
		g.Ingress = append(g.Ingress, awsfake.Perm{Protocol: "tcp", From: 22, To: 22, CIDRs: []string{"0.0.0.0/0"}})
	})
}

// The first check: the event, published to the queue, produces a
// VGL-NET-001 notification on the webhook; replaying it sends nothing more.
func TestSQSConfigEventNotifiesOnce(t *testing.T) {
	f, inv, reader := awsWorld(t)
	src, client, queue, _ := sqsQueues(t, time.Second)
	r := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = reader })
	if slices.Contains(r.hook.findings(), "VGL-NET-001 "+internalSG) {
		t.Fatal("finding before the change")
	}
	openSSH(f)
	r.start(t)
	body := sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json")
	send(t, client, queue, body)
	waitFor(t, "the VGL-NET-001 notification", 20*time.Second, func() bool { return slices.Contains(r.hook.findings(), "VGL-NET-001 "+internalSG) })
	if got := r.hook.findings(); len(got) != 1 {
		t.Errorf("notified %v, want only the new finding on the changed group", got)
	}
	// The replay is recognized by its event id and only acknowledged.
	send(t, client, queue, body)
	waitFor(t, "the replay to be skipped", 20*time.Second, func() bool { return r.count(r.w.Metrics.Processed, "duplicate") == 1 })
	waitFor(t, "the queue to drain", 10*time.Second, func() bool { return depth(t, client, queue) == 0 })
	time.Sleep(300 * time.Millisecond)
	if n := len(r.hook.posts()); n != 1 {
		t.Errorf("%d webhook posts after the replay, want 1", n)
	}
	scans, _ := r.hist.Scans(context.Background(), "watch/aws", 0)
	if len(scans) != 1 || scans[0].Assets != 1 || scans[0].BySeverity["high"] != 1 || !strings.Contains(scans[0].Sources[0], "AuthorizeSecurityGroupIngress") {
		t.Fatalf("event scans: %+v", scans)
	}
	fs, _ := r.hist.Findings(context.Background(), scans[0].ID)
	if len(fs) != 1 || fs[0].PolicyID != "VGL-NET-001" || fs[0].AssetID != internalSG {
		t.Errorf("recorded findings: %+v", fs)
	}
	if r.count(r.w.Metrics.Received) != 2 || r.count(r.w.Metrics.Processed, "config") != 1 {
		t.Errorf("received %v, config %v", r.count(r.w.Metrics.Received), r.count(r.w.Metrics.Processed, "config"))
	}
}

// lostMark is a watch log whose first fail calls of MarkDelivered fail:
// the webhook accepted the post, and the store did not record it.
type lostMark struct {
	store.WatchLog
	fail atomic.Int32
}

func (l *lostMark) MarkDelivered(ctx context.Context, watch, eventID, notifier string, sent, replaced []store.FindingID, last bool) error {
	if l.fail.Add(-1) >= 0 {
		return errors.New("the store went away")
	}
	return l.WatchLog.MarkDelivered(ctx, watch, eventID, notifier, sent, replaced, last)
}

// A post accepted whose mark failed is not sent again: the in-flight log
// read its 2xx, so the retry only marks it. The post carries a vigil-
// Idempotency-Key; another event's post of the same finding has another.
func TestSQSLostMarkIsNotResent(t *testing.T) {
	f, inv, reader := awsWorld(t)
	src, client, queue, _ := sqsQueues(t, time.Second)
	lm := &lostMark{}
	lm.fail.Store(1)
	r := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = reader; lm.WatchLog = w.Log; w.Log = lm })
	openSSH(f)
	r.start(t)
	send(t, client, queue, sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json"))
	waitFor(t, "the post", 20*time.Second, func() bool { return len(r.hook.posts()) == 1 })
	// The notifier retries after 1 s (its first backoff).
	waitFor(t, "the outbox to empty", 10*time.Second, func() bool {
		pend, _ := r.log.Pending(context.Background(), "aws")
		return len(pend) == 0
	})
	time.Sleep(1500 * time.Millisecond) // a second post would come within the next backoff
	r.hook.mu.Lock()
	keys := slices.Clone(r.hook.keys)
	r.hook.mu.Unlock()
	if len(keys) != 1 || !strings.HasPrefix(keys[0], "vigil-") {
		t.Fatalf("Idempotency-Keys %q, want one vigil- key", keys)
	}
	if lm.fail.Load() >= 0 {
		t.Fatal("the mark never failed")
	}
	if n := r.count(r.w.Metrics.Redelivered); n != 0 {
		t.Errorf("%v redeliveries", n)
	}
	if k := idempotencyKey("secops", "other-event", []string{"VGL-NET-001|" + internalSG}); k == keys[0] {
		t.Error("another event's post has the same key")
	}
}

// A restart remembers the assets read since the inventory was recorded: a
// second, unrelated event on the same group notifies nothing again, and a
// restart sends what the outbox still owed.
func TestSQSRestartKeepsStateAndOutbox(t *testing.T) {
	f, inv, reader := awsWorld(t)
	src, client, queue, _ := sqsQueues(t, time.Second)
	// The webhook is down: the notification stays owed (shutdown gives up
	// on it after the grace period).
	r := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = reader; w.Grace = time.Second })
	r.hook.status = 503
	openSSH(f)
	r.start(t)
	send(t, client, queue, sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json"))
	waitFor(t, "the event to be recorded", 20*time.Second, func() bool { return r.count(r.w.Metrics.Processed, "config") == 1 })
	r.stop(t)
	if pend, _ := r.log.Pending(context.Background(), "aws"); len(pend) != 1 {
		t.Fatalf("outbox after the failed webhook: %d", len(pend))
	}
	r.hook.status = 200
	r2 := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = reader })
	r2.hist, r2.log, r2.hook = r.hist, r.log, r.hook
	r2.w.History, r2.w.Log, r2.w.Notify, r2.w.Baseline = r.hist, r.log, r.w.Notify, r.w.Baseline
	r2.start(t)
	waitFor(t, "the owed notification", 20*time.Second, func() bool { return slices.Contains(r.hook.findings(), "VGL-NET-001 "+internalSG) })
	open := false
	for _, rule := range r2.w.state.inv.Get(internalSG).Facets.Ingress {
		open = open || slices.Contains(rule.Sources, "0.0.0.0/0")
	}
	if !open {
		t.Error("the restarted watcher lost the group it had read")
	}
}

// A GuardDuty finding becomes a triage card on the webhook with the
// suggested commands; a respond rule plans the runbook and says how to
// apply it, and nothing is applied.
func TestSQSAlertCard(t *testing.T) {
	inv, err := inventory.Load(context.Background(), "../../examples/inventory")
	if err != nil {
		t.Fatal(err)
	}
	src, client, queue, _ := sqsQueues(t, time.Second)
	var planned atomic.Int32
	r := newRig(t, "aws", src, inv, func(w *Watcher) {
		w.ConfigPath = "examples/vigil.hcl"
		w.Runbooks = []triageRunbook{leakedKey}
		w.Responses = []*config.Respond{{Name: "keys", Source: "guardduty", Runbook: "leaked-aws-access-key"}}
		w.Plan = func(ctx context.Context, rule *config.Respond, al *alert.Alert, alertFile, invFile, planFile string) error {
			planned.Add(1)
			return writeFile(planFile, []byte(`{"plan":true}`))
		}
	})
	r.start(t)
	send(t, client, queue, sample(t, "examples", "alerts", "guardduty-eventbridge-access-key.json"))
	waitFor(t, "the triage card", 20*time.Second, func() bool { return len(r.hook.posts()) == 1 })
	post := r.hook.posts()[0]
	if post["event"] != "triage_card" {
		t.Fatalf("post: %v", post)
	}
	cards := post["cards"].([]any)
	card := cards[0].(map[string]any)
	if card["in_inventory"] != true || card["asset"].(map[string]any)["kind"] != "access_key" {
		t.Errorf("card: %v", card)
	}
	rbs := card["runbooks"].([]any)
	if len(rbs) == 0 || !strings.Contains(rbs[0].(map[string]any)["rehearse"].(string), "--from-alert "+post["alert_file"].(string)) {
		t.Errorf("suggestions: %v", rbs)
	}
	pl := post["planned"].([]any)[0].(map[string]any)
	if planned.Load() != 1 || !strings.HasPrefix(pl["apply"].(string), "vigil runbook apply ") {
		t.Errorf("planned: %v (%d)", pl, planned.Load())
	}
	// The replay posts no second card.
	send(t, client, queue, sample(t, "examples", "alerts", "guardduty-eventbridge-access-key.json"))
	waitFor(t, "the replay", 20*time.Second, func() bool { return r.count(r.w.Metrics.Processed, "duplicate") == 1 })
	time.Sleep(200 * time.Millisecond)
	if len(r.hook.posts()) != 1 || planned.Load() != 1 {
		t.Errorf("replay: %d posts, %d plans", len(r.hook.posts()), planned.Load())
	}
}

// A notify block with min_severity = "critical" hears nothing of a medium
// GuardDuty finding; one without hears of it once.
func TestSQSCardHonoursMinSeverity(t *testing.T) {
	inv, err := inventory.Load(context.Background(), "../../examples/inventory")
	if err != nil {
		t.Fatal(err)
	}
	src, client, queue, _ := sqsQueues(t, time.Second)
	critical := newHook(t)
	r := newRig(t, "aws", src, inv, func(w *Watcher) {
		w.Notify = append(w.Notify, config.Notify{Name: "pager", URL: critical.srv.URL, Format: "json", MinSeverity: "critical"})
	})
	r.start(t)
	send(t, client, queue, sample(t, "examples", "alerts", "guardduty-eventbridge-access-key.json"))
	waitFor(t, "the card", 20*time.Second, func() bool { return len(r.hook.posts()) == 1 })
	waitFor(t, "the outbox to empty", 10*time.Second, func() bool { p, _ := r.log.Pending(context.Background(), "aws"); return len(p) == 0 })
	if sev := r.hook.posts()[0]["alerts"].([]any)[0].(map[string]any)["severity"]; sev != "medium" {
		t.Fatalf("the sample is %v, not medium", sev)
	}
	if n := len(critical.posts()); n != 0 {
		t.Errorf("the critical-only block got %d cards", n)
	}
}

// A body that is no event goes to the dead-letter queue at once (retrying
// cannot fix it), with a log line that says why; the queue moves on.
func TestSQSPoisonToDeadLetter(t *testing.T) {
	_, inv, reader := awsWorld(t)
	src, client, queue, dlq := sqsQueues(t, time.Second)
	r := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = reader })
	r.start(t)
	send(t, client, queue, []byte(`{"hello": "world"}`))
	waitFor(t, "the dead letter", 20*time.Second, func() bool { return depth(t, client, dlq) == 1 })
	waitFor(t, "the queue to drain", 10*time.Second, func() bool { return depth(t, client, queue) == 0 })
	waitFor(t, "the dead letter to be counted", 10*time.Second, func() bool { return r.count(r.w.Metrics.DeadLettered, "queue") == 1 })
	if r.count(r.w.Metrics.DeadLettered, "queue") != 1 || r.count(r.w.Metrics.Failed, "parse") != 1 {
		t.Errorf("metrics: dead-lettered %v, parse failures %v", r.count(r.w.Metrics.DeadLettered, "queue"), r.count(r.w.Metrics.Failed, "parse"))
	}
	if !strings.Contains(r.logBuf.String(), "poison message moved to the dead-letter queue") || !strings.Contains(r.logBuf.String(), "not an event vigil reads") {
		t.Errorf("log:\n%s", r.logBuf.String())
	}
}

// An event whose re-read keeps failing is tried MaxAttempts times, then
// dead-lettered; without a dead-letter queue it is reported and dropped.
func TestSQSRetriesThenGivesUp(t *testing.T) {
	for _, withDLQ := range []bool{true, false} {
		f, inv, reader := awsWorld(t)
		src, client, queue, dlq := sqsQueues(t, time.Second)
		if !withDLQ {
			src.DeadLetterURL = ""
		}
		r := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = reader; w.MaxAttempts = 2 })
		f.Inject(awsfake.Fault{Service: "ec2", Operation: "DescribeSecurityGroups", Kind: "denied", Times: -1})
		r.start(t)
		send(t, client, queue, sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json"))
		to := "log"
		if withDLQ {
			to = "queue"
		}
		waitFor(t, "giving up", 30*time.Second, func() bool { return r.count(r.w.Metrics.DeadLettered, to) == 1 })
		if n := r.count(r.w.Metrics.Failed, "read"); n != 2 {
			t.Errorf("dlq=%v: %v failed reads, want 2 (max_attempts)", withDLQ, n)
		}
		if withDLQ && depth(t, client, dlq) != 1 {
			t.Errorf("dead-letter queue holds %d", depth(t, client, dlq))
		}
		if !withDLQ && !strings.Contains(r.logBuf.String(), "poison message dropped (no dead-letter queue configured)") {
			t.Errorf("log:\n%s", r.logBuf.String())
		}
		if !strings.Contains(r.logBuf.String(), "ec2:DescribeSecurityGroups") {
			t.Errorf("the log does not name the missing permission:\n%s", r.logBuf.String())
		}
		r.stop(t)
	}
}

// slowReader blocks reads until released, counting how many run at once.
type slowReader struct {
	inner   AWSReader
	release chan struct{}
	now     atomic.Int32
	peak    atomic.Int32
}

func (s *slowReader) Read(ctx context.Context, refs []aws.Ref) (*aws.Read, error) {
	n := s.now.Add(1)
	defer s.now.Add(-1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	<-s.release
	return s.inner.Read(ctx, refs)
}

// At most Concurrency events are in flight; while they are, the queue is
// not read (the rest stays visible on it). SIGTERM (the context ending)
// lets the in-flight ones finish and be acknowledged; the rest stays on the
// queue for the next start.
func TestSQSBackPressureAndShutdown(t *testing.T) {
	f, inv, reader := awsWorld(t)
	src, client, queue, _ := sqsQueues(t, time.Second)
	slow := &slowReader{inner: reader, release: make(chan struct{})}
	r := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = slow; w.Concurrency = 2 })
	openSSH(f)
	body := string(sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json"))
	for i := 0; i < 30; i++ {
		// thirty distinct events (their ids differ) on the same group
		send(t, client, queue, []byte(strings.Replace(strings.Replace(body, `"eventID": "`, `"eventID": "`+string(rune('a'+i%26))+string(rune('a'+i/26)), 1), `"id": "`, `"id": "x`+string(rune('a'+i%26))+string(rune('a'+i/26)), 1)))
	}
	r.start(t)
	waitFor(t, "two events in flight", 10*time.Second, func() bool { return slow.now.Load() == 2 })
	time.Sleep(500 * time.Millisecond)
	if p := slow.peak.Load(); p != 2 {
		t.Errorf("peak %d in flight, want 2", p)
	}
	// Two in flight, up to one batch of ten waiting for a worker: the
	// rest was not even received.
	out, _ := client.GetQueueAttributes(context.Background(), queueAttrs(queue))
	if visible := atoi(out.Attributes["ApproximateNumberOfMessages"]); visible < 30-2-10 {
		t.Errorf("%d messages still visible: the queue was read past the workers", visible)
	}
	// Shutdown while two events are in flight: they finish and are acked.
	stopped := make(chan struct{})
	go func() { r.stop(t); close(stopped) }()
	time.Sleep(200 * time.Millisecond)
	close(slow.release)
	<-stopped
	if n := r.count(r.w.Metrics.Processed, "config"); n != 2 {
		t.Errorf("%v events finished on shutdown, want the 2 in flight", n)
	}
	waitFor(t, "the released messages to be visible again", 10*time.Second, func() bool {
		out, _ := client.GetQueueAttributes(context.Background(), queueAttrs(queue))
		return atoi(out.Attributes["ApproximateNumberOfMessages"]) == 28
	})
	// The next start processes the remaining 28: none lost.
	r2 := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = reader })
	r2.w.History, r2.w.Log, r2.hist, r2.log, r2.w.Baseline = r.hist, r.log, r.hist, r.log, r.w.Baseline
	r2.start(t)
	waitFor(t, "the rest", 30*time.Second, func() bool { return r2.count(r2.w.Metrics.Processed, "config") == 28 })
	if scans, _ := r.hist.Scans(context.Background(), "watch/aws", 0); len(scans) != 30 {
		t.Errorf("%d event scans, want 30", len(scans))
	}
}

// Full batches of large messages are read whole: none waits for its
// visibility timeout (30 s here) to come back.
func TestSQSLargeBatches(t *testing.T) {
	_, inv, reader := awsWorld(t)
	src, client, queue, _ := sqsQueues(t, time.Second)
	r := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = reader; w.Concurrency = 16 })
	body := string(sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json"))
	// CloudTrail records carry large request parameters (a user agent, a
	// policy document): pad each body to about 4 KiB (a full batch stays under 64 KiB).
	body = strings.Replace(body, `"userAgent": "`, `"userAgent": "`+strings.Repeat("x", 3000), 1)
	for i := 0; i < 40; i++ {
		id := string(rune('a'+i%26)) + string(rune('a'+i/26))
		send(t, client, queue, []byte(strings.Replace(strings.Replace(body, `"eventID": "`, `"eventID": "`+id, 1), `"id": "`, `"id": "`+id, 1)))
	}
	r.start(t)
	waitFor(t, "all 40 events", 10*time.Second, func() bool { return r.count(r.w.Metrics.Processed, "config") == 40 })
}

// An event from an account the watch is not configured to read (not the
// credentials', and no role to assume there) is reported once, counted,
// acknowledged and dropped: not retried, not dead-lettered.
func TestSQSOtherAccountReportedOnceAndDropped(t *testing.T) {
	_, inv, reader := awsWorld(t)
	src, client, queue, dlq := sqsQueues(t, time.Second)
	r := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = reader })
	r.start(t)
	body := strings.ReplaceAll(string(sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json")), "111111111111", "222222222222")
	send(t, client, queue, withIDs(body, "other-1"))
	send(t, client, queue, withIDs(body, "other-2"))
	waitFor(t, "both dropped", 30*time.Second, func() bool { return r.count(r.w.Metrics.Processed, "out_of_scope") == 2 })
	waitFor(t, "the queue to drain", 10*time.Second, func() bool { return depth(t, client, queue) == 0 })
	if n := depth(t, client, dlq); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
	if n := r.count(r.w.Metrics.Failed, "read") + r.count(r.w.Metrics.Failed, "scope"); n != 0 {
		t.Errorf("%v failures counted, want none (nothing was retried)", n)
	}
	if n := strings.Count(r.logBuf.String(), "not configured to read"); n != 1 {
		t.Errorf("the account reported %d times, want once:\n%s", n, r.logBuf.String())
	}
	if !strings.Contains(r.logBuf.String(), "scope=222222222222") {
		t.Errorf("the report does not name the account:\n%s", r.logBuf.String())
	}
}

// A notify block that refuses every post (a dead webhook URL: 404) holds
// up neither the other blocks nor the events after it: the working block
// is told of each at once, the dead one's post is given up after
// maxRefusals tries, said in the log and counted as dropped, and the
// event leaves the outbox.
func TestSQSDeadNotifyBlockHoldsUpNothing(t *testing.T) {
	f, inv, reader := awsWorld(t)
	src, client, queue, _ := sqsQueues(t, time.Second)
	var deadPosts atomic.Int32
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deadPosts.Add(1)
		w.WriteHeader(http.StatusNotFound)
	}))
	defer dead.Close()
	r := newRig(t, "aws", src, inv, func(w *Watcher) {
		w.AWS = reader
		w.Notify = append([]config.Notify{{Name: "dead", URL: dead.URL + "/hooks/secret-path", Format: "json"}}, w.Notify...)
	})
	openSSH(f)
	r.start(t)
	send(t, client, queue, sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json"))
	waitFor(t, "the working block's post", 20*time.Second, func() bool { return slices.Contains(r.hook.findings(), "VGL-NET-001 "+internalSG) })
	// a second event, after the first: not held behind the dead block
	send(t, client, queue, sample(t, "engine", "event", "testdata", "aws", "revoke-security-group-ingress.json"))
	waitFor(t, "the second event to be recorded", 20*time.Second, func() bool { return r.count(r.w.Metrics.Processed, "config") == 2 })
	waitFor(t, "the dead block's post to be given up", 20*time.Second, func() bool { return r.count(r.w.Metrics.Notified, "dropped") >= 1 })
	waitFor(t, "the outbox to empty", 20*time.Second, func() bool {
		pend, _ := r.log.Pending(context.Background(), "aws")
		return len(pend) == 0
	})
	if n := deadPosts.Load(); n < maxRefusals {
		t.Errorf("the dead block was tried %d times, want at least %d", n, maxRefusals)
	}
	logs := r.logBuf.String()
	if !strings.Contains(logs, "notification given up") || !strings.Contains(logs, "notify=dead") {
		t.Errorf("the log does not say which post was given up:\n%s", logs)
	}
	if strings.Contains(logs, "secret-path") {
		t.Errorf("the log shows the webhook's secret path:\n%s", logs)
	}
	// the first event's post reached the working block once
	n := 0
	for _, f := range r.hook.findings() {
		if f == "VGL-NET-001 "+internalSG {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the working block was told %d times of VGL-NET-001 on %s, want once", n, internalSG)
	}
}
