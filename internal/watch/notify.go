package watch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
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
}

// notifier is the one goroutine that talks to the webhooks: sending each
// finding once means looking up what was sent and marking it after, which
// two senders would race on. It posts each event on its own, and marks
// what a block accepted in the same commit as the event's outbox entry,
// right after the 2xx: a crash can then resend one post at most (the one
// accepted but not yet marked), never a batch, and the resend carries the
// same Idempotency-Key.
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

// resume queues what the outbox holds from before a restart.
func (n *notifier) resume(ctx context.Context) error {
	pending, err := n.w.Log.Pending(ctx, n.w.Name)
	if err != nil {
		return err
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
	backoff := time.Second
	for {
		n.mu.Lock()
		var it *outItem
		if len(n.queue) > 0 {
			it = n.queue[0]
		}
		closed := n.closed
		n.mu.Unlock()
		if it == nil {
			n.sent = nil // read afresh when events come again
			if closed {
				return
			}
			select {
			case <-n.wake:
			case <-ctx.Done():
				return
			}
			continue
		}
		if err := n.send(ctx, it); err != nil {
			n.sent = nil // a mark may have failed: read what the store says
			n.w.Logger.Error("watch: notify failed; will retry", "watch", n.w.Name, "event", it.ev.ID, "in", backoff, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Minute)
			continue
		}
		backoff = time.Second
		n.mu.Lock()
		n.queue[0] = nil
		n.queue = n.queue[1:]
		n.mu.Unlock()
	}
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
	for i, nb := range w.Notify {
		last := i == len(w.Notify)-1
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
				if err := history.Post(ctx, w.Poster, nb, list, idempotencyKey(nb.Name, ev.ID, keys)); err != nil {
					w.Metrics.Notified.WithLabelValues(w.Name, "error").Inc()
					return fmt.Errorf("notify %s: %w", nb.Name, err)
				}
				posted = true
			}
		case it.payload != nil:
			// A card is marked sent as a finding of the pseudo-policy
			// "card" on the event.
			key := store.FindingID{PolicyID: "card", AssetID: ev.ID}
			if slices.Contains(sent, key) || !it.payload.reaches(nb) {
				break
			}
			if err := postCard(ctx, w.Poster, nb, it.payload, idempotencyKey(nb.Name, ev.ID, []string{key.String()})); err != nil {
				w.Metrics.Notified.WithLabelValues(w.Name, "error").Inc()
				return fmt.Errorf("notify %s: %w", nb.Name, err)
			}
			posted = true
			mark = []store.FindingID{key}
		}
		if len(mark) > 0 || len(forget) > 0 || last {
			// Right after the 2xx: nothing else between the post and its
			// mark, which is the whole of the window for a resend.
			if err := w.Log.MarkDelivered(ctx, w.Name, ev.ID, nb.Name, mark, forget, last); err != nil {
				return err
			}
			n.sent[nb.Name] = applyMarks(sent, mark, forget)
		}
		if posted {
			w.Metrics.Notified.WithLabelValues(w.Name, "ok").Inc()
		}
	}
	w.Metrics.Latency.WithLabelValues(w.Name, "notified").Observe(w.Now().Sub(ev.ReceivedAt).Seconds())
	return nil
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
func postCard(ctx context.Context, client history.Poster, nb config.Notify, p *cardPayload, key string) error {
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
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, nb.URL, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}
