package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/internal/history"
	"github.com/vigil-ir/vigil/internal/store"
)

// outItem is a recorded event whose notifications are owed.
type outItem struct {
	ev       *store.WatchEvent
	findings []store.StoredFinding // a configuration event's scan
	judged   []string              // and the assets it judged
	payload  *cardPayload          // an alert event's cards

	// A failed item waits for its retry behind the others, so one block
	// that fails (a dead webhook) holds up neither the other blocks nor
	// the other events.
	notBefore time.Time
	backoff   time.Duration
	// refused counts each block's permanent refusals (a 4xx) of this
	// event; at maxRefusals the block is skipped for it.
	refused map[string]int
}

// maxRefusals is how many times a block may refuse an event's post
// permanently (a 4xx other than 408, 425 and 429) before the watcher
// gives that post up, says so, and counts it in
// vigil_watch_notifications_total{result="dropped"}.
const maxRefusals = 3

// notifier is the one goroutine that talks to the webhooks: sending each
// finding once means looking up what was sent and marking it after, which
// two senders would race on. It posts each event on its own. Around every
// post it writes the in-flight log (see inflightLog): the intent before
// the request, the answer the moment it is read; then it marks in the
// store what the block accepted, in the same commit as the event's outbox
// entry. After a crash it sends again exactly the posts the log has in
// doubt (sent, no answer read), with the same Idempotency-Key, and says
// so; a post the log shows accepted is marked, not sent again.
type notifier struct {
	w *Watcher
	// sent is what each block was told, read from the history once per
	// drain of the queue and kept up to date with the notifier's own
	// marks: read per event it cost a read of every mark, which grows with
	// every finding announced. (Another writer of the same block, a
	// schedule in vigil serve, is seen at the next drain, as it was when
	// the notifier read once per batch.)
	sent   map[string][]store.FindingID
	mu     sync.Mutex
	queue  []*outItem
	closed bool
	wake   chan struct{}
	// flight is the in-flight log (nil when it could not be opened: then
	// a restart cannot tell a post in doubt from one never sent, and
	// sends both).
	flight *inflightLog
}

func newNotifier(w *Watcher) *notifier { return &notifier{w: w, wake: make(chan struct{}, 1)} }

func (n *notifier) enqueue(it *outItem) {
	n.mu.Lock()
	n.queue = append(n.queue, it)
	n.mu.Unlock()
	n.signal()
}

func (n *notifier) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// close makes run return once the queue is empty.
func (n *notifier) close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.signal()
}

// resume queues what the outbox holds from before a restart, and says
// which of its posts are in doubt.
func (n *notifier) resume(ctx context.Context) error {
	path := filepath.Join(n.w.Dir, InFlightFile)
	fl, err := openInflight(path)
	if err != nil {
		n.w.Logger.Error("watch: cannot open the in-flight log; a restart will not tell the posts in doubt from those never sent", "watch", n.w.Name, "path", path, "err", err)
	} else {
		n.flight = fl
	}
	pending, err := n.w.Log.Pending(ctx, n.w.Name)
	if err != nil {
		return err
	}
	if n.flight != nil {
		owed := map[string]bool{}
		for _, ev := range pending {
			owed[ev.ID] = true
		}
		n.flight.forget(func(ev string) bool { return !owed[ev] })
		if k := len(n.flight.accepted); k > 0 {
			n.w.Logger.Info(fmt.Sprintf("watch: %d notifications the webhooks accepted before the restart are marked sent, not sent again", k), "watch", n.w.Name)
		}
		if k := len(n.flight.inDoubt); k > 0 {
			keys := make([]string, 0, k)
			for key := range n.flight.inDoubt {
				keys = append(keys, key)
			}
			sort.Strings(keys)
			n.w.Logger.Warn(fmt.Sprintf("watch: redelivering %d in-doubt notifications: posted before the restart, no answer read before the process ended; "+
				"sent again with the same Idempotency-Key (at least once: a receiver deduplicating by the key sees each once)", k),
				"watch", n.w.Name, "keys", strings.Join(keys, ","))
		}
	}
	for _, ev := range pending {
		it := &outItem{ev: ev}
		if ev.ScanID != 0 {
			if it.findings, err = n.w.History.Findings(ctx, ev.ScanID); err != nil {
				return err
			}
			var cp configPayload
			if len(ev.Payload) > 0 {
				if err := json.Unmarshal(ev.Payload, &cp); err != nil {
					return fmt.Errorf("outbox event %s: %w", ev.ID, err)
				}
			}
			it.judged = cp.Judged
		} else if len(ev.Payload) > 0 {
			it.payload = &cardPayload{}
			if err := json.Unmarshal(ev.Payload, it.payload); err != nil {
				return fmt.Errorf("outbox event %s: %w", ev.ID, err)
			}
		}
		n.enqueue(it)
	}
	if len(pending) > 0 {
		n.w.Logger.Info("watch: notifications owed from before the restart", "watch", n.w.Name, "events", len(pending))
	}
	return nil
}

func (n *notifier) run(ctx context.Context) {
	for {
		now := time.Now()
		n.mu.Lock()
		var it *outItem
		at := -1
		var next time.Time // the earliest retry, when nothing is due
		for i, q := range n.queue {
			if !q.notBefore.After(now) {
				it, at = q, i
				break
			}
			if next.IsZero() || q.notBefore.Before(next) {
				next = q.notBefore
			}
		}
		empty := len(n.queue) == 0
		closed := n.closed
		n.mu.Unlock()
		if it == nil {
			if empty {
				n.sent = nil // read afresh when events come again
				if closed {
					return
				}
			}
			var retry <-chan time.Time
			var t *time.Timer
			if !next.IsZero() {
				t = time.NewTimer(next.Sub(now))
				retry = t.C
			}
			select {
			case <-n.wake:
			case <-retry:
			case <-ctx.Done():
			}
			if t != nil {
				t.Stop()
			}
			if ctx.Err() != nil {
				return
			}
			continue
		}
		err := n.send(ctx, it)
		n.mu.Lock()
		n.queue = slices.Delete(n.queue, at, at+1)
		if err != nil {
			// behind the others, until its time comes
			it.backoff = min(max(2*it.backoff, time.Second), time.Minute)
			it.notBefore = time.Now().Add(it.backoff)
			n.queue = append(n.queue, it)
		}
		n.mu.Unlock()
		if err != nil {
			n.sent = nil // a mark may have failed: read what the store says
			n.w.Logger.Error("watch: notify failed; will retry", "watch", n.w.Name, "event", it.ev.ID, "in", it.backoff, "err", err)
		}
	}
}

// postFailed notes a block's failed post of an event and returns the
// error to retry it for, or nil when the post is given up: the block
// refused it permanently maxRefusals times.
func (n *notifier) postFailed(it *outItem, block string, err error) error {
	n.w.Metrics.Notified.WithLabelValues(n.w.Name, "error").Inc()
	err = fmt.Errorf("notify %s: %w", block, err)
	var se *history.StatusError
	if !errors.As(err, &se) || !se.Permanent() {
		return err
	}
	if it.refused == nil {
		it.refused = map[string]int{}
	}
	it.refused[block]++
	if it.refused[block] < maxRefusals {
		return err
	}
	n.w.Metrics.Notified.WithLabelValues(n.w.Name, "dropped").Inc()
	n.w.Logger.Error("watch: notification given up: the webhook refused it every time (fix the notify block's URL or token)", "watch", n.w.Name, "notify", block, "event", it.ev.ID, "tries", it.refused[block], "err", err)
	return nil
}

// idempotencyKey names one post: the block, the event that owes it and
// the keys of the findings (or the card) it carries. A post sent again
// after a crash is planned from the same marks, so it has the same key; a
// finding fixed and later found again is a new event, so a new key.
func idempotencyKey(block, eventID string, keys []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s", block, eventID)
	for _, k := range keys {
		fmt.Fprintf(h, "\x00%s", k)
	}
	return "vigil-" + hex.EncodeToString(h.Sum(nil))[:32]
}

// send tells every notify block about one event, and marks each block's
// part sent as soon as the block accepted it (the last block's mark also
// clears the event from the outbox). What a block was sent is read before
// every post, so a retry after a partial failure, or after a restart,
// sends only what is missing.
func (n *notifier) send(ctx context.Context, it *outItem) error {
	w := n.w
	ev := it.ev
	if len(w.Notify) == 0 {
		return w.Log.MarkSent(ctx, w.Name, []string{ev.ID})
	}
	policies := history.PolicyIDs(w.Engine.Policies())
	// Each block is tried whatever the others do: one that fails is
	// retried later, for its part only (the marks say what was sent).
	var failed []error
	cleared := false
	for i, nb := range w.Notify {
		if it.refused[nb.Name] >= maxRefusals {
			continue // given up
		}
		last := i == len(w.Notify)-1 && len(failed) == 0
		sent, err := n.told(ctx, nb.Name)
		if err != nil {
			return err
		}
		var mark, forget []store.FindingID
		posted := false
		switch {
		case ev.ScanID != 0:
			scans := []history.Scan{{Findings: it.findings, Judged: it.judged, Policies: policies}}
			var list []store.StoredFinding
			list, mark, forget = history.Plan(nb, sent, scans)
			if len(list) > 0 {
				keys := make([]string, len(list))
				for j, f := range list {
					keys[j] = f.ID().String()
				}
				key := inflightPost{Key: idempotencyKey(nb.Name, ev.ID, keys), Block: nb.Name, Event: ev.ID}
				var err error
				posted, err = n.deliver(key, func(answered func(int)) error { return history.Post(ctx, w.Poster, nb, list, key.Key, answered) })
				if err != nil {
					if err := n.postFailed(it, nb.Name, err); err != nil {
						failed = append(failed, err)
					}
					continue
				}
			}
		case it.payload != nil:
			// A card is marked sent as a finding of the pseudo-policy
			// "card" on the event.
			key := store.FindingID{PolicyID: "card", AssetID: ev.ID}
			if slices.Contains(sent, key) || !it.payload.reaches(nb) {
				break
			}
			p := inflightPost{Key: idempotencyKey(nb.Name, ev.ID, []string{key.String()}), Block: nb.Name, Event: ev.ID}
			var err error
			posted, err = n.deliver(p, func(answered func(int)) error { return postCard(ctx, w.Poster, nb, it.payload, p.Key, answered) })
			if err != nil {
				if err := n.postFailed(it, nb.Name, err); err != nil {
					failed = append(failed, err)
				}
				continue
			}
			mark = []store.FindingID{key}
		}
		if len(mark) > 0 || len(forget) > 0 || last {
			// The in-flight log knows the 2xx already: a crash before
			// this commits marks it after the restart, without a resend.
			if err := w.Log.MarkDelivered(ctx, w.Name, ev.ID, nb.Name, mark, forget, last); err != nil {
				return err
			}
			n.sent[nb.Name] = applyMarks(sent, mark, forget)
			cleared = last
		}
		if posted {
			w.Metrics.Notified.WithLabelValues(w.Name, "ok").Inc()
		}
	}
	if len(failed) > 0 {
		return errors.Join(failed...)
	}
	if !cleared {
		// the last block was given up (or failed before, now skipped):
		// the event leaves the outbox all the same
		if err := w.Log.MarkDelivered(ctx, w.Name, ev.ID, w.Notify[len(w.Notify)-1].Name, nil, nil, true); err != nil {
			return err
		}
	}
	if n.flight != nil {
		if err := n.flight.done(ev.ID); err != nil {
			w.Logger.Error("watch: write the in-flight log", "watch", w.Name, "err", err)
		}
	}
	w.Metrics.Latency.WithLabelValues(w.Name, "notified").Observe(w.Now().Sub(ev.ReceivedAt).Seconds())
	return nil
}

// deliver makes one post, unless the in-flight log shows the webhook
// accepted it already (a mark that did not land): then it reports false
// and the caller marks it. The intent is written before the request and
// the answer the moment it is read; a post the log had in doubt is
// counted and logged as a redelivery.
func (n *notifier) deliver(p inflightPost, post func(answered func(status int)) error) (posted bool, err error) {
	w, fl := n.w, n.flight
	if fl == nil {
		return true, post(nil)
	}
	if _, ok := fl.accepted[p.Key]; ok {
		w.Logger.Info("watch: notification accepted before (the in-flight log says so); marked sent, not sent again", "watch", w.Name, "notify", p.Block, "event", p.Event, "key", p.Key)
		return false, nil
	}
	_, again := fl.inDoubt[p.Key]
	if err := fl.posting(p); err != nil {
		w.Logger.Error("watch: write the in-flight log; posting all the same", "watch", w.Name, "err", err)
	}
	if again {
		w.Metrics.Redelivered.WithLabelValues(w.Name).Inc()
		w.Logger.Info("watch: redelivering an in-doubt notification with its Idempotency-Key", "watch", w.Name, "notify", p.Block, "event", p.Event, "key", p.Key)
	}
	err = post(func(status int) {
		if err := fl.answered(p, status); err != nil {
			w.Logger.Error("watch: write the in-flight log", "watch", w.Name, "err", err)
		}
	})
	return true, err
}

// told is what a block was told (see sent).
func (n *notifier) told(ctx context.Context, block string) ([]store.FindingID, error) {
	if n.sent == nil {
		n.sent = map[string][]store.FindingID{}
	}
	if ids, ok := n.sent[block]; ok {
		return ids, nil
	}
	ids, err := n.w.History.Notified(ctx, block)
	if err != nil {
		return nil, err
	}
	n.sent[block] = ids
	return ids, nil
}

// applyMarks is sent after MarkNotified(mark, forget).
func applyMarks(sent, mark, forget []store.FindingID) []store.FindingID {
	gone := make(map[store.FindingID]bool, len(forget))
	for _, id := range forget {
		gone[id] = true
	}
	out := make([]store.FindingID, 0, len(sent)+len(mark))
	have := make(map[store.FindingID]bool, len(sent)+len(mark))
	for _, id := range append(slices.Clip(sent), mark...) {
		if !gone[id] && !have[id] {
			have[id] = true
			out = append(out, id)
		}
	}
	return out
}

// reaches reports whether a notify block hears of the card: its most
// severe alert is at or above the block's min_severity. An alert of no
// known severity reaches every block (it is not known to be minor).
func (p *cardPayload) reaches(nb config.Notify) bool {
	if nb.MinSeverity == "" || len(p.Alerts) == 0 {
		return true
	}
	top := -1
	for _, al := range p.Alerts {
		r := policy.SeverityRank(strings.ToLower(al.Severity))
		if r < 0 {
			return true
		}
		top = max(top, r)
	}
	return top >= policy.SeverityRank(nb.MinSeverity)
}

// postCard posts an alert's triage cards: JSON, or a Slack-compatible
// message whose text is the cards in markdown.
func postCard(ctx context.Context, client history.Poster, nb config.Notify, p *cardPayload, key string, answered func(status int)) error {
	var body any
	if nb.Format == "slack" {
		var b strings.Builder
		for i, al := range p.Alerts {
			if i == 0 {
				fmt.Fprintf(&b, "vigil: *%s* %s alert %s\n", strings.ToUpper(al.Severity), al.Source, al.Type)
			}
		}
		for _, c := range p.Cards {
			b.WriteString(c.Text(true))
		}
		for _, pl := range p.Planned {
			if pl.Error != "" {
				fmt.Fprintf(&b, "\nrespond %s could not plan %s: %s\n", pl.Rule, pl.Runbook, pl.Error)
			} else {
				fmt.Fprintf(&b, "\nrespond %s planned %s; nothing runs until someone applies it:\n```\n%s\n```\n", pl.Rule, pl.Runbook, pl.Apply)
			}
		}
		body = map[string]string{"text": history.SlackEscape(b.String())}
	} else {
		body = map[string]any{"tool": "vigil", "event": "triage_card", "event_id": p.EventID, "alerts": p.Alerts, "cards": p.Cards,
			"planned": p.Planned, "alert_file": p.AlertFile, "inventory_file": p.InventoryFile}
	}
	return history.PostBody(ctx, client, nb, body, key, answered)
}
