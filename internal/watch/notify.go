package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
// two senders would race on. It takes whatever is queued in one go, so a
// burst of events becomes a few webhook calls.
type notifier struct {
	w      *Watcher
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
		batch := n.queue
		if len(batch) > 500 {
			batch = batch[:500]
		}
		closed := n.closed
		n.mu.Unlock()
		if len(batch) == 0 {
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
		if err := n.send(ctx, batch); err != nil {
			n.w.Logger.Error("watch: notify failed; will retry", "watch", n.w.Name, "events", len(batch), "in", backoff, "err", err)
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
		n.queue = n.queue[len(batch):]
		n.mu.Unlock()
	}
}

// send tells every notify block about the batch, then marks it sent. A
// block that had a finding or card already is not told again, so a retry
// after a partial failure sends only what is missing.
func (n *notifier) send(ctx context.Context, batch []*outItem) error {
	w := n.w
	// The event scans in the order they were recorded: one that fixed a
	// finding and a later one that brought it back announce it again.
	var scans []history.Scan
	var cards []*outItem
	policies := history.PolicyIDs(w.Engine.Policies())
	for _, it := range batch {
		if it.ev.ScanID != 0 {
			scans = append(scans, history.Scan{Findings: it.findings, Judged: it.judged, Policies: policies})
		}
		if it.payload != nil {
			cards = append(cards, it)
		}
	}
	if len(w.Notify) > 0 && len(scans) > 0 {
		if err := history.Notify(ctx, w.History, w.Notify, scans, w.Poster); err != nil {
			w.Metrics.Notified.WithLabelValues(w.Name, "error").Inc()
			return err
		}
	}
	if len(cards) > 0 {
		for _, nb := range w.Notify {
			// A card is marked sent as a finding of the pseudo-policy
			// "card" on the event.
			sent, err := w.History.Notified(ctx, nb.Name)
			if err != nil {
				return err
			}
			done := map[store.FindingID]bool{}
			for _, id := range sent {
				done[id] = true
			}
			for _, it := range cards {
				key := store.FindingID{PolicyID: "card", AssetID: it.ev.ID}
				if done[key] || !it.payload.reaches(nb) {
					continue
				}
				if err := postCard(ctx, w.Poster, nb, it.payload); err != nil {
					w.Metrics.Notified.WithLabelValues(w.Name, "error").Inc()
					return fmt.Errorf("notify %s: %w", nb.Name, err)
				}
				if err := w.History.MarkNotified(ctx, nb.Name, []store.FindingID{key}, nil); err != nil {
					return err
				}
			}
		}
	}
	ids := make([]string, len(batch))
	now := w.Now()
	for i, it := range batch {
		ids[i] = it.ev.ID
		w.Metrics.Latency.WithLabelValues(w.Name, "notified").Observe(now.Sub(it.ev.ReceivedAt).Seconds())
	}
	if len(w.Notify) > 0 {
		w.Metrics.Notified.WithLabelValues(w.Name, "ok").Add(float64(len(batch)))
	}
	return w.Log.MarkSent(ctx, w.Name, ids)
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
func postCard(ctx context.Context, client history.Poster, nb config.Notify, p *cardPayload) error {
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
