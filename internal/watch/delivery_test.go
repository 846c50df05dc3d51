package watch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/internal/provider/aws"
	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
	"github.com/vigil-ir/vigil/internal/provider/gcp"
	"github.com/vigil-ir/vigil/internal/store"
)

// withIDs gives a sample event body new event ids (a distinct event).
func withIDs(body, id string) []byte {
	return []byte(strings.Replace(strings.Replace(body, `"eventID": "`, `"eventID": "`+id, 1), `"id": "`, `"id": "`+id, 1))
}

// closeSSH undoes openSSH: port 22 is no longer open to the internet.
func closeSSH(f *awsfake.Fake) {
	f.With(func(f *awsfake.Fake) {
		g := f.Get(awsfake.ProdAccount).Region("eu-west-1").SecurityGroups[awsfake.InternalGroup]
		var keep []awsfake.Perm
		for _, p := range g.Ingress {
			if !slices.Contains(p.CIDRs, "0.0.0.0/0") || p.From != 22 {
				keep = append(keep, p)
			}
		}
		g.Ingress = keep
	})
}

// An exposure that is fixed and opened again is notified again: the event
// scan that found it fixed forgot that it was announced. While it stays
// open it is announced once.
func TestSQSReopenedFindingNotifiedAgain(t *testing.T) {
	f, inv, reader := awsWorld(t)
	src, client, queue, _ := sqsQueues(t, time.Second)
	r := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = reader })
	body := string(sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json"))
	r.start(t)
	notified := func() int {
		n := 0
		for _, f := range r.hook.findings() {
			if f == "VGL-NET-001 "+internalSG {
				n++
			}
		}
		return n
	}
	openSSH(f)
	send(t, client, queue, withIDs(body, "open-1"))
	waitFor(t, "the first notification", 60*time.Second, func() bool { return notified() == 1 })
	send(t, client, queue, withIDs(body, "still-open"))
	waitFor(t, "the second event", 20*time.Second, func() bool { return r.count(r.w.Metrics.Processed, "config") == 2 })
	closeSSH(f)
	send(t, client, queue, withIDs(body, "closed"))
	waitFor(t, "the fix", 20*time.Second, func() bool { return r.count(r.w.Metrics.Processed, "config") == 3 })
	time.Sleep(300 * time.Millisecond)
	if n := notified(); n != 1 {
		t.Fatalf("%d notifications before the exposure came back, want 1", n)
	}
	openSSH(f)
	send(t, client, queue, withIDs(body, "open-2"))
	waitFor(t, "the reopened exposure's notification", 20*time.Second, func() bool { return notified() == 2 })
}

// The usual fix is not another Authorize but a Revoke: vigil watches it,
// the event scan finds the group fixed and forgets the announcement, and
// the exposure reopened later is announced again.
func TestSQSReopenedAfterRevokeNotifiedAgain(t *testing.T) {
	f, inv, reader := awsWorld(t)
	src, client, queue, _ := sqsQueues(t, time.Second)
	r := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = reader })
	body := string(sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json"))
	revoke := sample(t, "engine", "event", "testdata", "aws", "revoke-security-group-ingress.json")
	r.start(t)
	notified := func() int {
		n := 0
		for _, f := range r.hook.findings() {
			if f == "VGL-NET-001 "+internalSG {
				n++
			}
		}
		return n
	}
	openSSH(f)
	send(t, client, queue, withIDs(body, "open-1"))
	waitFor(t, "the first notification", 60*time.Second, func() bool { return notified() == 1 })
	closeSSH(f)
	send(t, client, queue, revoke)
	waitFor(t, "the revoke handled", 30*time.Second, func() bool {
		return r.count(r.w.Metrics.Processed, "config")+r.count(r.w.Metrics.Processed, "ignored") == 2
	})
	if n := r.count(r.w.Metrics.Processed, "ignored"); n != 0 {
		t.Errorf("%v events ignored, want 0 (the revoke is watched)", n)
	}
	openSSH(f)
	send(t, client, queue, withIDs(body, "open-2"))
	waitFor(t, "the reopened exposure's notification", 30*time.Second, func() bool { return notified() == 2 })
}

// A security group deleted is read as gone: its findings are no longer
// recorded as announced.
func TestSQSDeletedGroupForgetsAnnouncement(t *testing.T) {
	f, inv, reader := awsWorld(t)
	src, client, queue, _ := sqsQueues(t, time.Second)
	r := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = reader })
	body := sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json")
	del := sample(t, "engine", "event", "testdata", "aws", "delete-security-group.json")
	r.start(t)
	announced := func() bool {
		sent, err := r.hist.Notified(context.Background(), r.w.Notify[0].Name)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(sent, func(id store.FindingID) bool { return id.PolicyID == "VGL-NET-001" && id.AssetID == internalSG })
	}
	openSSH(f)
	send(t, client, queue, body)
	waitFor(t, "the notification", 60*time.Second, func() bool { return slices.Contains(r.hook.findings(), "VGL-NET-001 "+internalSG) })
	waitFor(t, "the announcement recorded", 10*time.Second, announced)
	f.With(func(f *awsfake.Fake) {
		delete(f.Get(awsfake.ProdAccount).Region("eu-west-1").SecurityGroups, awsfake.InternalGroup)
	})
	send(t, client, queue, del)
	waitFor(t, "the delete's event scan", 30*time.Second, func() bool { return r.count(r.w.Metrics.Processed, "config") == 2 })
	waitFor(t, "the announcement forgotten", 10*time.Second, func() bool { return !announced() })
}

// countingSource numbers each delivery of a message as SQS's
// ApproximateReceiveCount does (goaws always says 1).
type countingSource struct {
	Source
	mu sync.Mutex
	n  map[string]int
}

func (c *countingSource) Receive(ctx context.Context, deliver func(*Message) bool) error {
	return c.Source.Receive(ctx, func(m *Message) bool {
		c.mu.Lock()
		c.n[m.ID]++
		m.Attempt = c.n[m.ID]
		c.mu.Unlock()
		return deliver(m)
	})
}

func (c *countingSource) deliveries() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for _, n := range c.n {
		out = append(out, n)
	}
	return out
}

// Throttling is not the event's fault: the re-read is tried again, with
// backoff, however low max_attempts is, and the message is neither dropped
// nor delivered again meanwhile (the watcher keeps it).
func TestSQSThrottledReadIsRetried(t *testing.T) {
	f, inv, reader := awsWorld(t)
	src, client, queue, _ := sqsQueues(t, time.Second)
	src.DeadLetterURL = ""
	counting := &countingSource{Source: src, n: map[string]int{}}
	r := newRig(t, "aws", counting, inv, func(w *Watcher) { w.AWS = reader; w.MaxAttempts = 1 })
	// Two reads' worth (the reader's client tries twice): two failed tries.
	f.Inject(awsfake.Fault{Service: "ec2", Operation: "DescribeSecurityGroups", Kind: "throttle", Times: 4})
	openSSH(f)
	r.start(t)
	send(t, client, queue, sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json"))
	waitFor(t, "the notification", 60*time.Second, func() bool { return slices.Contains(r.hook.findings(), "VGL-NET-001 "+internalSG) })
	if n := r.count(r.w.Metrics.DeadLettered, "log"); n != 0 {
		t.Errorf("dropped %v times", n)
	}
	if n := r.count(r.w.Metrics.Failed, "read"); n != 2 {
		t.Errorf("%v failed reads, want 2", n)
	}
	if got := counting.deliveries(); !slices.Equal(got, []int{1}) {
		t.Errorf("deliveries %v, want one: retries are the watcher's", got)
	}
	if !strings.Contains(r.logBuf.String(), "does not count towards max_attempts") || !strings.Contains(r.logBuf.String(), "RequestLimitExceeded") {
		t.Errorf("log:\n%s", r.logBuf.String())
	}
	waitFor(t, "the queue to drain", 10*time.Second, func() bool { return depth(t, client, queue) == 0 })
}

// A store that another writer holds locked is not the event's fault
// either: the event waits for it, is not counted against max_attempts, and
// is deleted only once its result is recorded.
func TestSQSLockedStoreIsRetried(t *testing.T) {
	f, inv, reader := awsWorld(t)
	src, client, queue, _ := sqsQueues(t, time.Second)
	src.DeadLetterURL = ""
	counting := &countingSource{Source: src, n: map[string]int{}}
	r := newRig(t, "aws", counting, inv, func(w *Watcher) { w.AWS = reader; w.MaxAttempts = 1 })
	openSSH(f)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(filepath.Dir(r.w.Dir), "state.db")+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin() // BEGIN IMMEDIATE: the write lock, until rolled back
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO watch_failures (watch, message_id, failures, reason, updated_at) VALUES ('x', 'x', 0, 'lock', 'now')`); err != nil {
		t.Fatal(err)
	}
	r.start(t)
	send(t, client, queue, sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json"))
	// The store's busy timeout is 10 s: the first try fails after it.
	waitFor(t, "a failed try", 40*time.Second, func() bool { return r.count(r.w.Metrics.Failed, "record") >= 1 })
	if n := r.count(r.w.Metrics.DeadLettered, "log"); n != 0 || depth(t, client, queue) == 0 {
		t.Fatalf("dropped %v times; queue depth %d, want the message kept", n, depth(t, client, queue))
	}
	tx.Rollback()
	waitFor(t, "the event recorded and notified", 30*time.Second, func() bool { return slices.Contains(r.hook.findings(), "VGL-NET-001 "+internalSG) })
	waitFor(t, "the queue to drain", 10*time.Second, func() bool { return depth(t, client, queue) == 0 })
	if got := counting.deliveries(); !slices.Equal(got, []int{1}) {
		t.Errorf("deliveries %v, want one", got)
	}
	if !strings.Contains(r.logBuf.String(), "SQLITE_BUSY") {
		t.Errorf("log:\n%s", r.logBuf.String())
	}
}

// A message the queue delivered far more often than max_attempts allows,
// without a result recorded, is given up on without trying it: it may be
// what makes the watcher crash (no failure of it is ever counted).
func TestDeliveryBudget(t *testing.T) {
	_, inv, reader := awsWorld(t)
	src, client, queue, dlq := sqsQueues(t, time.Second)
	counting := &countingSource{Source: src, n: map[string]int{}}
	r := newRig(t, "aws", &budgetSource{countingSource: counting, from: 31}, inv, func(w *Watcher) { w.AWS = reader; w.MaxAttempts = 3 })
	r.start(t)
	send(t, client, queue, sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json"))
	waitFor(t, "the dead letter", 60*time.Second, func() bool { return depth(t, client, dlq) == 1 })
	if r.count(r.w.Metrics.Processed, "config") != 0 || !strings.Contains(r.logBuf.String(), "delivered it 31 times without a result") {
		t.Errorf("processed %v; log:\n%s", r.count(r.w.Metrics.Processed, "config"), r.logBuf.String())
	}
	waitFor(t, "the queue to drain", 10*time.Second, func() bool { return depth(t, client, queue) == 0 })
}

// budgetSource says every message was delivered `from` times already.
type budgetSource struct {
	*countingSource
	from int
}

func (b *budgetSource) Receive(ctx context.Context, deliver func(*Message) bool) error {
	return b.countingSource.Receive(ctx, func(m *Message) bool { m.Attempt += b.from - 1; return deliver(m) })
}

// neverVisible is a provider that never shows the change.
type neverVisible struct{}

func (neverVisible) Read(ctx context.Context, refs []gcp.Ref) (*gcp.Read, error) {
	return &gcp.Read{}, &gcp.NotVisibleError{Names: []string{refs[0].Name}}
}

// blockingGCP reads until its context ends: an event in flight forever.
type blockingGCP struct{ started chan struct{} }

func (b *blockingGCP) Read(ctx context.Context, refs []gcp.Ref) (*gcp.Read, error) {
	select {
	case b.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// SIGTERM on a Pub/Sub watch: a message waiting for its change to become
// visible goes back at once, without waiting out the grace period; one in
// flight gets --grace, then is abandoned (it stays on the subscription).
// Neither waits for the settle window (60 s). The bounds leave a few
// seconds for a loaded machine; before the fix neither stopped within 30 s.
func TestPubSubShutdownHonoursGrace(t *testing.T) {
	for _, tc := range []struct {
		name        string
		reader      func() GCPReader
		ready       func(r *rig, g GCPReader) bool
		grace       time.Duration
		least, most time.Duration
	}{
		{"waiting to be visible", func() GCPReader { return neverVisible{} },
			func(r *rig, _ GCPReader) bool {
				return strings.Contains(r.logBuf.String(), "not visible yet; reading again")
			}, 20 * time.Second, 0, 5 * time.Second},
		{"in flight", func() GCPReader { return &blockingGCP{started: make(chan struct{}, 1)} },
			func(r *rig, g GCPReader) bool { return len(g.(*blockingGCP).started) == 1 }, 2 * time.Second, 2 * time.Second, 7 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, inv, _ := gcpWorld(t)
			src, _, pub, _ := pubsubWorld(t)
			g := tc.reader()
			r := newRig(t, "gcp", src, inv, func(w *Watcher) { w.GCP = g; w.Settle = 60 * time.Second; w.Grace = tc.grace })
			r.start(t)
			publish(t, pub, sample(t, "engine", "event", "testdata", "gcp", "compute-firewalls-insert.json"))
			waitFor(t, "the event", 60*time.Second, func() bool { return tc.ready(r, g) })
			start := time.Now()
			r.cancel()
			r.cancel = nil
			select {
			case err := <-r.done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the watcher did not stop within 30 s")
			}
			took := time.Since(start)
			t.Logf("stopped %s after SIGTERM", took.Round(100*time.Millisecond))
			if took < tc.least || took > tc.most {
				t.Errorf("stopped %s after SIGTERM, want %s to %s (grace %s)", took.Round(100*time.Millisecond), tc.least, tc.most, tc.grace)
			}
		})
	}
}

// A change that never becomes visible (a forged CreateSecurityGroup of a
// group that does not exist) makes its message wait, not a worker: with
// every worker's worth of such events queued first, a real event is
// notified within a second or two.
func TestSettleWaitHoldsNoWorker(t *testing.T) {
	f, inv, reader := awsWorld(t)
	src, client, queue, _ := sqsQueues(t, time.Second)
	r := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = reader; w.Concurrency = 2; w.Settle = 30 * time.Second })
	forged := string(sample(t, "engine", "event", "testdata", "aws", "create-security-group.json"))
	for i := 0; i < 4; i++ {
		send(t, client, queue, withIDs(strings.ReplaceAll(forged, "sg-0aaaaaaaaaaaa0009", fmt.Sprintf("sg-0bogus%09d", i)), fmt.Sprintf("forged-%d", i)))
	}
	openSSH(f)
	r.start(t)
	waitFor(t, "the forged events to wait", 60*time.Second, func() bool {
		return strings.Count(r.logBuf.String(), "not visible yet; reading again") >= 4
	})
	start := time.Now()
	send(t, client, queue, sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json"))
	waitFor(t, "the real notification", 60*time.Second, func() bool { return slices.Contains(r.hook.findings(), "VGL-NET-001 "+internalSG) })
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the real event was notified %s after it was sent, behind events that wait", took.Round(100*time.Millisecond))
	}
	if n := r.count(r.w.Metrics.DeadLettered, "queue") + r.count(r.w.Metrics.Failed, "settle"); n != 0 {
		t.Errorf("the waiting events failed or were dead-lettered within their settle window: %v", n)
	}
}

// Backoff doubles from 1 s to 5 minutes, and is never cut short.
func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second,
		9: 256 * time.Second, 10: 5 * time.Minute, 100: 5 * time.Minute} {
		if got := backoff(n); got != want {
			t.Errorf("backoff(%d) = %s, want %s", n, got, want)
		}
	}
}

// Which failures are not the message's fault.
func TestTransient(t *testing.T) {
	throttle := &smithy.OperationError{ServiceID: "EC2", OperationName: "DescribeSecurityGroups",
		Err: &smithy.GenericAPIError{Code: "RequestLimitExceeded", Message: "Request limit exceeded."}}
	denied := &aws.PermissionError{Permission: "ec2:DescribeSecurityGroups", Err: errors.New("UnauthorizedOperation")}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"AWS throttling", fmt.Errorf("aws: read: %w", errors.Join(fmt.Errorf("sg: %w", throttle))), true},
		{"a permission", fmt.Errorf("aws: read: %w", errors.Join(denied)), false},
		{"throttled and denied", fmt.Errorf("aws: read: %w", errors.Join(throttle, denied)), false},
		{"throttled twice", errors.Join(throttle, throttle), true},
		{"Cloud Asset quota", fmt.Errorf("gcp: read: %w", status.Error(codes.ResourceExhausted, "quota")), true},
		{"Cloud Asset unavailable", status.Error(codes.Unavailable, "unavailable"), true},
		{"Cloud Asset denied", status.Error(codes.PermissionDenied, "denied"), false},
		{"REST 503", &googleapi.Error{Code: 503}, true},
		{"REST 404", &googleapi.Error{Code: 404}, false},
		{"a deadline", fmt.Errorf("record: %w", context.DeadlineExceeded), true},
		{"not visible", &aws.NotVisibleError{IDs: []string{"sg-1"}}, false},
		{"a bug", errors.New("vigil does not read X resources one by one"), false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("%s: transient(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// RevokeSecurityGroupEgress, through goaws: the group is read again and
// judged, and the watcher's inventory holds its egress as the re-read
// found it (the rule revoked is gone), so the next events' context is
// the cloud's.
func TestSQSRevokeEgressReadsTheGroup(t *testing.T) {
	f, inv, reader := awsWorld(t)
	// The recorded inventory saw the group send anywhere.
	before := inv.Get(internalSG)
	before.Facets.Egress = append(before.Facets.Egress, asset.Rule{Sources: []string{"0.0.0.0/0"}, Protocol: "all", Action: "allow"})
	inv.Put(before)
	src, client, queue, _ := sqsQueues(t, time.Second)
	r := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = reader })
	r.start(t)
	// The rule is revoked in the cloud, then the event arrives.
	f.With(func(f *awsfake.Fake) {
		f.Get(awsfake.ProdAccount).Region("eu-west-1").SecurityGroups[awsfake.InternalGroup].Egress = nil
	})
	send(t, client, queue, sample(t, "engine", "event", "testdata", "aws", "revoke-security-group-egress.json"))
	waitFor(t, "the revoke handled", 30*time.Second, func() bool {
		return r.count(r.w.Metrics.Processed, "config")+r.count(r.w.Metrics.Processed, "ignored") == 1
	})
	if n := r.count(r.w.Metrics.Processed, "config"); n != 1 {
		t.Fatalf("%v config events, want 1 (RevokeSecurityGroupEgress is watched)", n)
	}
	scans, _ := r.hist.Scans(context.Background(), "watch/aws", 0)
	if len(scans) != 1 || scans[0].Assets != 1 || !strings.Contains(scans[0].Sources[0], "RevokeSecurityGroupEgress") {
		t.Fatalf("event scans: %+v", scans)
	}
	r.w.state.mu.RLock()
	g := r.w.state.inv.Get(internalSG)
	r.w.state.mu.RUnlock()
	if g == nil {
		t.Fatal("the group left the inventory")
	}
	for _, rule := range g.Facets.Egress {
		if slices.Contains(rule.Sources, "0.0.0.0/0") {
			t.Errorf("egress after the revoke still reaches the internet: %+v", g.Facets.Egress)
		}
	}
}
