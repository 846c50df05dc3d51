// Package history turns scans into records, compares them (what is new,
// fixed, still open, newly waived) and tells webhooks about new findings,
// once each. The store keeps the records; this package holds the logic.
package history

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/internal/store"
)

// Record makes the stored form of a scan.
func Record(schedule string, started time.Time, sum *scan.Summary, policies []*policy.Policy, findings []policy.Finding) (*store.ScanRecord, []store.StoredFinding) {
	ids := make([]string, 0, len(policies))
	for _, p := range policies {
		ids = append(ids, p.ID)
	}
	sort.Strings(ids)
	h := sha256.Sum256([]byte(strings.Join(ids, ",")))
	rec := &store.ScanRecord{Schedule: schedule, StartedAt: started, FinishedAt: started.Add(sum.Duration), Sources: sum.Sources,
		PolicySet: fmt.Sprintf("%d policies, %s", len(ids), hex.EncodeToString(h[:6])), Assets: int(sum.Assets),
		Findings: sum.Findings - sum.Waived, Waived: sum.Waived, BySeverity: map[string]int{}}
	out := make([]store.StoredFinding, 0, len(findings))
	for _, f := range findings {
		if !f.Waived {
			rec.BySeverity[f.Severity]++
		}
		out = append(out, store.StoredFinding{PolicyID: f.PolicyID, AssetID: f.AssetID, Severity: f.Severity, Title: f.Title, Message: f.Message,
			Kind: f.Kind, Provider: f.Provider, Scope: f.Scope, Region: f.Region, Phase: f.Phase, Waived: f.Waived && !f.WaiverExpired,
			WaiverReason: f.WaiverReason, Runbook: f.Remediation})
	}
	return rec, out
}

// Diff is what changed between two scans.
type Diff struct {
	From, To *store.ScanRecord `json:"-"`
	FromID   int64             `json:"from"`
	ToID     int64             `json:"to"`
	// New are open findings of To that From did not have open.
	New []store.StoredFinding `json:"new"`
	// Resolved were open in From and are gone from To.
	Resolved []store.StoredFinding `json:"resolved"`
	// StillOpen are open in both.
	StillOpen []store.StoredFinding `json:"still_open"`
	// NewlyWaived were open in From and are waived in To.
	NewlyWaived []store.StoredFinding `json:"newly_waived"`
}

// Compare computes the diff of two scans' findings.
func Compare(from, to []store.StoredFinding) *Diff {
	prev := map[string]store.StoredFinding{}
	for _, f := range from {
		prev[f.Key()] = f
	}
	d := &Diff{New: []store.StoredFinding{}, Resolved: []store.StoredFinding{}, StillOpen: []store.StoredFinding{}, NewlyWaived: []store.StoredFinding{}}
	seen := map[string]bool{}
	for _, f := range to {
		seen[f.Key()] = true
		p, had := prev[f.Key()]
		switch {
		case f.Waived && had && !p.Waived:
			d.NewlyWaived = append(d.NewlyWaived, f)
		case f.Waived:
		case had && !p.Waived:
			d.StillOpen = append(d.StillOpen, f)
		default:
			d.New = append(d.New, f)
		}
	}
	for _, f := range from {
		if !seen[f.Key()] && !f.Waived {
			d.Resolved = append(d.Resolved, f)
		}
	}
	return d
}

// Between loads two scans from history and compares them; 0 ids mean the
// last two scans (of the schedule, when given).
func Between(ctx context.Context, h store.History, schedule string, a, b int64) (*Diff, error) {
	var from, to *store.ScanRecord
	var err error
	switch {
	case a == 0 && b == 0:
		scans, err := h.Scans(ctx, schedule, 2)
		if err != nil {
			return nil, err
		}
		if len(scans) < 2 {
			return nil, fmt.Errorf("a diff needs two scans; the history has %d: %w", len(scans), store.ErrNoScans)
		}
		to, from = scans[0], scans[1]
	case b == 0:
		if from, err = h.Scan(ctx, a); err != nil {
			return nil, err
		}
		scans, err := h.Scans(ctx, schedule, 1)
		if err != nil || len(scans) == 0 {
			return nil, store.ErrNoScans
		}
		to = scans[0]
	default:
		if from, err = h.Scan(ctx, a); err != nil {
			return nil, err
		}
		if to, err = h.Scan(ctx, b); err != nil {
			return nil, err
		}
	}
	ff, err := h.Findings(ctx, from.ID)
	if err != nil {
		return nil, err
	}
	tf, err := h.Findings(ctx, to.ID)
	if err != nil {
		return nil, err
	}
	d := Compare(ff, tf)
	d.From, d.To, d.FromID, d.ToID = from, to, from.ID, to.ID
	return d, nil
}

// Poster sends webhook requests; tests replace it.
type Poster interface {
	Do(*http.Request) (*http.Response, error)
}

// Notify sends each notify block the open findings at or above its minimum
// severity that it has not been sent before, and marks them sent only
// once the webhook accepted them: a finding is announced exactly once.
func Notify(ctx context.Context, h store.History, blocks []config.Notify, findings []store.StoredFinding, client Poster) error {
	var errs []string
	for _, nb := range blocks {
		min := nb.MinSeverity
		if min == "" {
			min = "low"
		}
		byKey := map[string]store.StoredFinding{}
		var keys []string
		for _, f := range findings {
			if f.Waived || policy.SeverityRank(f.Severity) < policy.SeverityRank(min) {
				continue
			}
			if _, dup := byKey[f.Key()]; !dup {
				byKey[f.Key()] = f
				keys = append(keys, f.Key())
			}
		}
		fresh, err := h.Unnotified(ctx, nb.Name, keys)
		if err != nil {
			return err
		}
		if len(fresh) == 0 {
			continue
		}
		var list []store.StoredFinding
		for _, k := range fresh {
			list = append(list, byKey[k])
		}
		if err := post(ctx, client, nb, list); err != nil {
			errs = append(errs, fmt.Sprintf("notify %s: %v", nb.Name, err))
			continue
		}
		if err := h.MarkNotified(ctx, nb.Name, fresh); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func post(ctx context.Context, client Poster, nb config.Notify, list []store.StoredFinding) error {
	var body any
	if nb.Format == "slack" {
		var lines []string
		for _, f := range list {
			lines = append(lines, fmt.Sprintf("• *%s* %s `%s`: %s", strings.ToUpper(f.Severity), f.PolicyID, f.AssetID, f.Message))
		}
		body = map[string]string{"text": fmt.Sprintf("vigil: %d new findings\n%s", len(list), strings.Join(lines, "\n"))}
	} else {
		body = map[string]any{"tool": "vigil", "event": "new_findings", "findings": list}
	}
	raw, _ := json.Marshal(body)
	timeout := nb.Timeout
	if timeout <= 0 {
		timeout = config.DefaultNotifyTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, nb.URL, bytes.NewReader(raw))
	if err != nil {
		return errors.New("the webhook URL is not a valid URL") // without it: it is a secret
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("post to %s: no answer within %s", RedactURL(nb.URL), timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("post to %s: %w", RedactURL(nb.URL), ue.Err)
		}
		return fmt.Errorf("post to %s: %w", RedactURL(nb.URL), err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// RedactURL shows a webhook URL without its path and query, which carry
// its key (a Slack webhook's path is the secret): for logs and errors.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "the webhook"
	}
	out := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		out += "/…"
	}
	return out
}
