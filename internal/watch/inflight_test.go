package watch

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/internal/store"
)

// The log's lines, worked through by hand: a post with no answer is in
// doubt; an answer settles it (accepted or not); a retry of a declined
// post is in doubt again; done drops its event's keys; a torn last line
// counts for nothing.
func TestParseInflight(t *testing.T) {
	raw := strings.Join([]string{
		"post\tk1\tsecops\te1", "ok\tk1", // accepted, e1 not done
		"post\tk2\tsecops\te2",          // in doubt
		"post\tk3\tpager\te2", "no\tk3", // declined: not in doubt
		"post\tk4\tsecops\te3", "no\tk4", "post\tk4\tsecops\te3", // declined, posted again: in doubt
		"post\tk5\tsecops\te4", "ok\tk5", "done\te4", // settled
		"post\tk6\tsecops\te5", "done\te5", // settled (a later plan sent another key)
		"ok\tk9",           // an answer to no post known
		"post\tk7\tsecops", // torn
	}, "\n")
	acc, in := parseInflight([]byte(raw))
	if len(acc) != 1 || acc["k1"] != "e1" {
		t.Errorf("accepted %v, want k1 of e1", acc)
	}
	var keys []string
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if !slices.Equal(keys, []string{"k2", "k4"}) || in["k2"] != (inflightPost{Key: "k2", Block: "secops", Event: "e2"}) {
		t.Errorf("in doubt %v (%v), want k2 and k4", keys, in)
	}
}

// The log is emptied once an event is done past inflightCompactAt, and
// what is written after the truncation is read back.
func TestInflightCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), InFlightFile)
	l, err := openInflight(path)
	if err != nil {
		t.Fatal(err)
	}
	p := inflightPost{Key: "vigil-" + strings.Repeat("a", 32), Block: "secops", Event: "e1"}
	for l.size < inflightCompactAt {
		l.posting(p)
		l.answered(p, 200)
	}
	if err := l.done("e1"); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Size() != 0 {
		t.Fatalf("%d bytes after done past the threshold", fi.Size())
	}
	l.posting(inflightPost{Key: "k2", Block: "secops", Event: "e2"})
	l.close()
	keys, err := InDoubt(path)
	if err != nil || !slices.Equal(keys, []string{"k2"}) {
		t.Errorf("InDoubt = %v, %v; want k2", keys, err)
	}
}

// dying is a poster whose first request reaches the webhook and whose
// answer is never read: the process ended in between.
type dying struct {
	next  http.Client
	calls int
}

func (d *dying) Do(req *http.Request) (*http.Response, error) {
	d.calls++
	resp, err := d.next.Do(req)
	if d.calls > 1 || err != nil {
		return resp, err
	}
	resp.Body.Close()
	<-req.Context().Done()
	return nil, req.Context().Err()
}

// restart is a second watcher on the first one's store, directory, queue
// and webhook.
func restart(t *testing.T, r *rig, setup func(w *Watcher)) *rig {
	r2 := newRig(t, r.w.Name, r.w.Source, nil, setup)
	r2.hist, r2.log, r2.hook = r.hist, r.log, r.hook
	r2.w.History, r2.w.Log, r2.w.Notify, r2.w.Baseline, r2.w.Dir, r2.w.AWS = r.hist, r.log, r.w.Notify, r.w.Baseline, r.w.Dir, r.w.AWS
	return r2
}

// A post the webhook received, whose answer vigil never read, is in
// doubt: the restart says it redelivers 1 in-doubt notification and sends
// it again with the same Idempotency-Key, and nothing else.
func TestSQSInDoubtPostRedeliveredAfterRestart(t *testing.T) {
	f, inv, reader := awsWorld(t)
	src, client, queue, _ := sqsQueues(t, time.Second)
	r := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = reader; w.Grace = time.Second; w.Poster = &dying{} })
	openSSH(f)
	r.start(t)
	send(t, client, queue, sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json"))
	waitFor(t, "the post", 20*time.Second, func() bool { return len(r.hook.posts()) == 1 })
	r.stop(t)
	keys, err := InDoubt(filepath.Join(r.w.Dir, InFlightFile))
	if err != nil || len(keys) != 1 {
		t.Fatalf("in doubt after the stop: %v, %v", keys, err)
	}
	if pend, _ := r.log.Pending(context.Background(), "aws"); len(pend) != 1 {
		t.Fatalf("outbox: %d events, want the one", len(pend))
	}
	r2 := restart(t, r, nil)
	r2.start(t)
	waitFor(t, "the redelivery", 20*time.Second, func() bool { return len(r.hook.posts()) == 2 })
	waitFor(t, "the outbox to empty", 10*time.Second, func() bool { p, _ := r.log.Pending(context.Background(), "aws"); return len(p) == 0 })
	r.hook.mu.Lock()
	got := slices.Clone(r.hook.keys)
	r.hook.mu.Unlock()
	if len(got) != 2 || got[0] != keys[0] || got[1] != keys[0] {
		t.Errorf("keys posted %q, want %s twice", got, keys[0])
	}
	if !strings.Contains(r2.logBuf.String(), "redelivering 1 in-doubt notifications") || !strings.Contains(r2.logBuf.String(), keys[0]) {
		t.Errorf("no redelivery line naming the key:\n%s", r2.logBuf.String())
	}
	if n := r2.count(r2.w.Metrics.Redelivered); n != 1 {
		t.Errorf("%v redeliveries counted, want 1", n)
	}
	if keys, _ := InDoubt(filepath.Join(r.w.Dir, InFlightFile)); len(keys) != 0 {
		t.Errorf("still in doubt: %v", keys)
	}
}

// A post the webhook accepted, whose mark the store never recorded, is
// marked by the restart and not sent again: the in-flight log read its
// 2xx.
func TestSQSAcceptedBeforeRestartIsNotResent(t *testing.T) {
	f, inv, reader := awsWorld(t)
	src, client, queue, _ := sqsQueues(t, time.Second)
	lm := &lostMark{}
	lm.fail.Store(1 << 20)
	r := newRig(t, "aws", src, inv, func(w *Watcher) { w.AWS = reader; w.Grace = time.Second; lm.WatchLog = w.Log; w.Log = lm })
	openSSH(f)
	r.start(t)
	send(t, client, queue, sample(t, "engine", "event", "testdata", "aws", "authorize-security-group-ingress.json"))
	waitFor(t, "the post", 20*time.Second, func() bool { return len(r.hook.posts()) == 1 })
	r.stop(t)
	r.log = lm.WatchLog
	if pend, _ := r.log.Pending(context.Background(), "aws"); len(pend) != 1 {
		t.Fatalf("outbox: %d events, want the one whose mark failed", len(pend))
	}
	r2 := restart(t, r, nil)
	r2.start(t)
	waitFor(t, "the outbox to empty", 10*time.Second, func() bool { p, _ := r.log.Pending(context.Background(), "aws"); return len(p) == 0 })
	time.Sleep(300 * time.Millisecond)
	if n := len(r.hook.posts()); n != 1 {
		t.Errorf("%d posts, want the one", n)
	}
	if !strings.Contains(r2.logBuf.String(), "1 notifications the webhooks accepted before the restart are marked sent") {
		t.Errorf("no line about the accepted post:\n%s", r2.logBuf.String())
	}
	sent, _ := r.hist.Notified(context.Background(), "secops")
	if !slices.ContainsFunc(sent, func(id store.FindingID) bool { return id.PolicyID == "VGL-NET-001" && id.AssetID == internalSG }) {
		t.Errorf("marks %v, want VGL-NET-001 on the group", sent)
	}
}
