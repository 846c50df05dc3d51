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
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/compliance"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/internal/store"
)

// Record makes the stored form of a scan. The record's counts are those of
// the findings it stores, every one of them: several of one policy on one
// asset included.
func Record(schedule string, started time.Time, sum *scan.Summary, policies []*policy.Policy, findings []policy.Finding) (*store.ScanRecord, []store.StoredFinding) {
	ids := make([]string, 0, len(policies))
	for _, p := range policies {
		ids = append(ids, p.ID)
	}
	sort.Strings(ids)
	h := sha256.Sum256([]byte(strings.Join(ids, ",")))
	rec := &store.ScanRecord{Schedule: schedule, StartedAt: started, FinishedAt: started.Add(sum.Duration), Sources: sum.Sources,
		PolicySet: fmt.Sprintf("%d policies, %s", len(ids), hex.EncodeToString(h[:6])), Assets: int(sum.Assets),
		BySeverity: map[string]int{}}
	if sum.Inputs != nil {
		rec.Inputs = slices.Compact(slices.Sorted(slices.Values(sum.Inputs)))
	}
	out := make([]store.StoredFinding, 0, len(findings))
	seen := make(map[store.FindingID]bool, len(findings))
	for _, f := range findings {
		sf := store.StoredFinding{PolicyID: f.PolicyID, AssetID: f.AssetID, Severity: f.Severity, Title: f.Title, Message: f.Message,
			Kind: f.Kind, Provider: f.Provider, Scope: f.Scope, Region: f.Region, Phase: f.Phase, Waived: f.Waived && !f.WaiverExpired,
			WaiverReason: f.WaiverReason, WaiverExpired: f.WaiverExpired && !f.Waived, WaiverExpires: f.WaiverExpires, Runbook: f.Remediation}
		if cs, ok := compliance.FindingControls(&f); ok {
			sf.Controls = append([]string{}, cs...)
		}
		if f.Kind != "instance" && len(f.Details) > 0 {
			if inst, ok := f.DetailsMap()["instance"].(string); ok {
				sf.Instance = inst
			}
		}
		// A scan's findings are already unique; the same asset read
		// from two sources is one finding.
		if id := sf.ID(); seen[id] {
			continue
		} else {
			seen[id] = true
		}
		if sf.Waived {
			rec.Waived++
		} else {
			rec.Findings++
			rec.BySeverity[f.Severity]++
		}
		out = append(out, sf)
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
	// Why says why From was the scan compared with To.
	Why string `json:"why"`
}

// Comparable says whether scan b may be compared with scan a, and why:
// only scans of one schedule, one policy set and the same inputs are. An
// ad-hoc scan of a few policies (--policy) did not "resolve" what it did
// not look for, nor one of fewer files or regions what it did not read,
// and another schedule's scan reads other sources. Scans recorded before
// history kept their inputs (nil) are compared by schedule and policy
// set alone, and the reason says so.
func Comparable(a, b *store.ScanRecord) (bool, string) {
	switch {
	case a.Schedule != b.Schedule:
		return false, fmt.Sprintf("scan %d is of %s, scan %d of %s", b.ID, scheduleName(b.Schedule), a.ID, scheduleName(a.Schedule))
	case a.PolicySet != b.PolicySet:
		return false, fmt.Sprintf("scan %d ran another policy set (%s, not %s)", b.ID, b.PolicySet, a.PolicySet)
	case a.Inputs != nil && b.Inputs != nil && !slices.Equal(a.Inputs, b.Inputs):
		return false, fmt.Sprintf("scan %d read other inputs (%s, not %s)", b.ID, inputsName(b.Inputs), inputsName(a.Inputs))
	}
	inputs := "the same inputs"
	if a.Inputs == nil || b.Inputs == nil {
		inputs = "inputs not recorded"
	}
	return true, fmt.Sprintf("scan %d is the previous scan of the same schedule (%s) and policy set (%s), %s", b.ID, scheduleName(a.Schedule), a.PolicySet, inputs)
}

// inputsName shortens a scan's inputs for a reason: the first two and
// how many more.
func inputsName(in []string) string {
	switch {
	case len(in) == 0:
		return "none"
	case len(in) <= 2:
		return strings.Join(in, ", ")
	}
	return fmt.Sprintf("%s, %s and %d more", in[0], in[1], len(in)-2)
}

func scheduleName(s string) string {
	if s == "" {
		return "no schedule (ad hoc)"
	}
	return fmt.Sprintf("schedule %q", s)
}

// comparableScans are latest and the scans before it that are comparable
// with it (newest first, at most n; n <= 0: all), and how many others
// were passed over.
func comparableScans(ctx context.Context, h store.History, schedule string, n int) (out []*store.ScanRecord, skipped []*store.ScanRecord, err error) {
	// Most scans are comparable: read a few more than asked for, and the
	// whole history only when those do not give n.
	limit := 0
	if n > 0 {
		limit = 5*n + 10
	}
	all, err := h.Scans(ctx, schedule, limit)
	if err != nil || len(all) == 0 {
		return nil, nil, err
	}
	if limit > 0 && len(all) == limit {
		have := 0
		for _, s := range all {
			if ok, _ := Comparable(all[0], s); ok {
				have++
			}
		}
		if have < n {
			if all, err = h.Scans(ctx, schedule, 0); err != nil {
				return nil, nil, err
			}
		}
	}
	out = []*store.ScanRecord{all[0]}
	for _, s := range all[1:] {
		if n > 0 && len(out) >= n {
			break
		}
		if ok, _ := Comparable(all[0], s); ok {
			out = append(out, s)
		} else {
			skipped = append(skipped, s)
		}
	}
	return out, skipped, nil
}

// noComparable says the latest scan has nothing to be compared with.
func noComparable(latest *store.ScanRecord, skipped []*store.ScanRecord) error {
	var ids []string
	for i, s := range skipped {
		if i == 5 {
			ids = append(ids, "...")
			break
		}
		ids = append(ids, fmt.Sprint(s.ID))
	}
	_, why := Comparable(latest, skipped[0])
	return &fewScansError{fmt.Sprintf("a diff needs two scans of one schedule, policy set and set of inputs; scan %d (%s, %s) has no earlier one: scans %s are not comparable (%s); compare two scans anyway with 'vigil diff A B'",
		latest.ID, scheduleName(latest.Schedule), latest.PolicySet, strings.Join(ids, ", "), why)}
}

// Compare computes the diff of two scans' findings, counting each one:
// a policy that finds two things wrong with an asset has two findings.
// A finding of To is the same as one of From when policy, asset and message
// are; then the findings of one policy on one asset that are left on both
// sides are paired in message order, the same findings with messages
// that changed (a count, a list of ports).
func Compare(from, to []store.StoredFinding) *Diff {
	fromIDs := make([]store.FindingID, len(from))
	for i := range from {
		fromIDs[i] = from[i].ID()
	}
	toIDs := make([]store.FindingID, len(to))
	for i := range to {
		toIDs[i] = to[i].ID()
	}
	match := pair(fromIDs, toIDs)
	d := &Diff{New: []store.StoredFinding{}, Resolved: []store.StoredFinding{}, StillOpen: []store.StoredFinding{}, NewlyWaived: []store.StoredFinding{}}
	matched := make([]bool, len(from))
	for j, f := range to {
		i, had := match[j]
		var p store.StoredFinding
		if had {
			p, matched[i] = from[i], true
		}
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
	for i, f := range from {
		if !matched[i] && !f.Waived {
			d.Resolved = append(d.Resolved, f)
		}
	}
	return d
}

// pair matches findings of before to findings of after (by index): the
// same id first, then, among those of one policy and asset left on both
// sides, in fingerprint order. An id of "" fingerprint (one recorded by
// version 1 of the history) only pairs the second way. It returns, for each
// index of after, the index of before it is the same finding as.
func pair(before, after []store.FindingID) map[int]int {
	out := map[int]int{}
	exact := map[store.FindingID][]int{}
	for i, id := range before {
		exact[id] = append(exact[id], i)
	}
	used := make([]bool, len(before))
	var left []int // indexes of after without an exact match
	for j, id := range after {
		if is := exact[id]; len(is) > 0 && id.Fingerprint != "" {
			out[j], used[is[0]], exact[id] = is[0], true, is[1:]
			continue
		}
		left = append(left, j)
	}
	if len(left) == 0 {
		return out
	}
	bySubject := map[store.FindingID][]int{}
	for i, id := range before {
		if !used[i] {
			bySubject[id.Subject()] = append(bySubject[id.Subject()], i)
		}
	}
	for _, is := range bySubject {
		sort.Slice(is, func(a, b int) bool { return before[is[a]].Fingerprint < before[is[b]].Fingerprint })
	}
	sort.SliceStable(left, func(a, b int) bool { return after[left[a]].Fingerprint < after[left[b]].Fingerprint })
	for _, j := range left {
		s := after[j].Subject()
		if is := bySubject[s]; len(is) > 0 {
			out[j], bySubject[s] = is[0], is[1:]
		}
	}
	return out
}

// Between loads two scans from history and compares them; 0 ids mean the
// last two scans (of the schedule, when given).
func Between(ctx context.Context, h store.History, schedule string, a, b int64) (*Diff, error) {
	var from, to *store.ScanRecord
	var err error
	var why string
	switch {
	case a == 0 && b == 0:
		scans, skipped, err := comparableScans(ctx, h, schedule, 2)
		if err != nil {
			return nil, err
		}
		if len(scans) == 1 && len(skipped) > 0 {
			return nil, noComparable(scans[0], skipped)
		}
		if len(scans) < 2 {
			return nil, tooFewScans(schedule, scans)
		}
		to, from = scans[0], scans[1]
		_, why = Comparable(to, from)
		if len(skipped) > 0 {
			why += fmt.Sprintf("; %d later scans of other schedules, policy sets or inputs were passed over", len(skipped))
		}
	case b == 0:
		if from, err = h.Scan(ctx, a); err != nil {
			return nil, err
		}
		scans, err := h.Scans(ctx, schedule, 1)
		if err != nil || len(scans) == 0 {
			return nil, store.ErrNoScans
		}
		to = scans[0]
		why = chosen(from, to)
	default:
		if from, err = h.Scan(ctx, a); err != nil {
			return nil, err
		}
		if to, err = h.Scan(ctx, b); err != nil {
			return nil, err
		}
		why = chosen(from, to)
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
	d.From, d.To, d.FromID, d.ToID, d.Why = from, to, from.ID, to.ID, why
	return d, nil
}

// chosen explains a comparison of scans given by id, warning when they
// are not comparable.
func chosen(from, to *store.ScanRecord) string {
	if ok, why := Comparable(to, from); !ok {
		return fmt.Sprintf("scans %d and %d were given by id, but are not comparable: %s; what one did not look at shows as new or resolved", from.ID, to.ID, why)
	}
	return fmt.Sprintf("scans %d and %d were given by id; both are of %s and policy set %s", from.ID, to.ID, scheduleName(to.Schedule), to.PolicySet)
}

// Poster sends webhook requests; tests replace it.
type Poster interface {
	Do(*http.Request) (*http.Response, error)
}

// Scan is one scan as Notify sees it: what it found, and what it looked
// at. A finding announced before is forgotten once a scan that ran its
// policy on its asset no longer finds it open (fixed, gone, waived), so
// that it is announced again if it comes back; a finding that stays open
// is announced once.
type Scan struct {
	Findings []store.StoredFinding
	// Judged are the assets the scan judged (read, or found gone, and ran
	// its policies on) besides those it has findings on. It need only name
	// assets with announced findings (see JudgedSet).
	Judged []string
	// Policies are the ids of the policies the scan ran: an announced
	// finding of another policy is kept whatever the scan found.
	Policies []string
}

// PolicyIDs lists the ids of policies, for Scan.Policies.
func PolicyIDs(ps []*policy.Policy) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

// Notify sends each notify block the open findings at or above its minimum
// severity that it has not been sent, and marks them sent only once the
// webhook accepted them: a finding is announced once while it stays open,
// and each of several findings of one policy on one asset is. A finding
// whose message changed since it was sent (paired as Compare pairs them)
// is not announced again; its mark follows the new message. A finding a
// scan no longer finds open is forgotten (see Scan). Scans are taken in
// order, so a batch that closes and reopens a finding announces it again;
// each block gets one post for the whole batch.
func Notify(ctx context.Context, h store.History, blocks []config.Notify, scans []Scan, client Poster) error {
	var errs []string
	for _, nb := range blocks {
		sent, err := h.Notified(ctx, nb.Name)
		if err != nil {
			return err
		}
		list, mark, forget := plan(nb, sent, scans)
		if len(list) > 0 {
			if err := Post(ctx, client, nb, list, "", nil); err != nil {
				errs = append(errs, fmt.Sprintf("notify %s: %v", nb.Name, err))
				continue
			}
		}
		if len(mark) > 0 || len(forget) > 0 {
			if err := h.MarkNotified(ctx, nb.Name, mark, forget); err != nil {
				return err
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// plan works out, for one notify block, what to post and how its marks
// change: the marks of every asset a scan judged become that asset's open
// findings (of the policies the scan ran), paired with the marks they
// continue; a finding no mark continues is announced.
func plan(nb config.Notify, sent []store.FindingID, scans []Scan) (list []store.StoredFinding, mark, forget []store.FindingID) {
	return Plan(nb, sent, scans)
}

// Plan is what Notify does for one block before it posts: the findings to
// post and how the block's marks change. The watcher uses it to post
// each event on its own and mark it in the same commit as its outbox.
func Plan(nb config.Notify, sent []store.FindingID, scans []Scan) (list []store.StoredFinding, mark, forget []store.FindingID) {
	min := nb.MinSeverity
	if min == "" {
		min = "low"
	}
	marks := map[string][]store.FindingID{} // by asset
	for _, id := range sent {
		marks[id.AssetID] = append(marks[id.AssetID], id)
	}
	initial := make(map[store.FindingID]bool, len(sent))
	for _, id := range sent {
		initial[id] = true
	}
	announced := map[store.FindingID]bool{}
	for _, sc := range scans {
		ran := make(map[string]bool, len(sc.Policies))
		for _, p := range sc.Policies {
			ran[p] = true
		}
		// The open findings of each asset the scan judged.
		open := map[string][]store.StoredFinding{}
		var order []string
		see := func(asset string) {
			if _, ok := open[asset]; !ok {
				open[asset] = nil
				order = append(order, asset)
			}
		}
		for _, a := range sc.Judged {
			see(a)
		}
		seen := map[store.FindingID]bool{}
		for _, f := range sc.Findings {
			see(f.AssetID)
			ran[f.PolicyID] = true // it ran, since it found this
			if f.Waived || policy.SeverityRank(f.Severity) < policy.SeverityRank(min) || seen[f.ID()] {
				continue
			}
			seen[f.ID()] = true
			open[f.AssetID] = append(open[f.AssetID], f)
		}
		for _, asset := range order {
			fs := open[asset]
			var keep, before []store.FindingID
			for _, id := range marks[asset] {
				if ran[id.PolicyID] {
					before = append(before, id)
				} else {
					keep = append(keep, id) // a policy this scan did not run
				}
			}
			ids := make([]store.FindingID, len(fs))
			for j := range fs {
				ids[j] = fs[j].ID()
			}
			match := pair(before, ids)
			for j, f := range fs {
				if _, ok := match[j]; !ok && !announced[ids[j]] {
					announced[ids[j]] = true
					list = append(list, f)
				}
			}
			if next := append(keep, ids...); len(next) > 0 {
				marks[asset] = next
			} else {
				delete(marks, asset)
			}
		}
	}
	final := map[store.FindingID]bool{}
	for _, ids := range marks {
		for _, id := range ids {
			final[id] = true
		}
	}
	for id := range final {
		if !initial[id] {
			mark = append(mark, id)
		}
	}
	for id := range initial {
		if !final[id] {
			forget = append(forget, id)
		}
	}
	sortIDs(mark)
	sortIDs(forget)
	return list, mark, forget
}

func sortIDs(ids []store.FindingID) {
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
}

// JudgedSet collects, while a scan runs (scan.Options.Assets), which of
// the assets that notify blocks announced findings on the scan judged:
// what Scan.Judged needs. It keeps only those, so it stays small however
// large the inventory.
type JudgedSet struct {
	want map[string]bool
	mu   sync.Mutex
	seen map[string]bool
}

// NewJudgedSet reads which assets the blocks announced findings on.
func NewJudgedSet(ctx context.Context, h store.History, blocks []config.Notify) (*JudgedSet, error) {
	js := &JudgedSet{want: map[string]bool{}, seen: map[string]bool{}}
	for _, nb := range blocks {
		sent, err := h.Notified(ctx, nb.Name)
		if err != nil {
			return nil, fmt.Errorf("read what %s was told: %w", nb.Name, err)
		}
		for _, id := range sent {
			js.want[id.AssetID] = true
		}
	}
	return js, nil
}

// See records that the scan judged an asset. It may be called
// concurrently.
func (js *JudgedSet) See(a *asset.Asset) error {
	if js.want[a.ID] {
		js.mu.Lock()
		js.seen[a.ID] = true
		js.mu.Unlock()
	}
	return nil
}

// IDs are the assets seen, sorted (nil on a nil set).
func (js *JudgedSet) IDs() []string {
	if js == nil {
		return nil
	}
	js.mu.Lock()
	defer js.mu.Unlock()
	out := make([]string, 0, len(js.seen))
	for id := range js.seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Post sends findings to one notify block. A non-empty key is sent as the
// Idempotency-Key header: a post sent again after a crash (accepted, but
// not yet marked as sent) carries the same key, so a receiver can drop it.
// A non-nil answered is called with the webhook's status the moment it is
// read, before anything else (vigil watch records a 2xx there).
func Post(ctx context.Context, client Poster, nb config.Notify, list []store.StoredFinding, key string, answered func(status int)) error {
	var body any
	if nb.Format == "slack" {
		var lines []string
		for _, f := range list {
			lines = append(lines, fmt.Sprintf("• *%s* %s `%s`: %s", strings.ToUpper(f.Severity), f.PolicyID, f.AssetID, f.Message))
		}
		body = map[string]string{"text": SlackEscape(fmt.Sprintf("vigil: %d new findings\n%s", len(list), strings.Join(lines, "\n")))}
	} else {
		body = map[string]any{"tool": "vigil", "event": "new_findings", "findings": list}
	}
	return PostBody(ctx, client, nb, body, key, answered)
}

// PostBody posts body as JSON to one notify block, within its timeout,
// with key (when not empty) as the Idempotency-Key, calling answered (when
// not nil) with the status the moment it is read. Its errors never show
// the webhook URL's secret path; a status other than 2xx is a
// *StatusError.
func PostBody(ctx context.Context, client Poster, nb config.Notify, body any, key string, answered func(status int)) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
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
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := client.Do(req)
	if err == nil && answered != nil {
		answered(resp.StatusCode)
	}
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
		return &StatusError{Code: resp.StatusCode, Status: resp.Status}
	}
	return nil
}

// StatusError is a webhook's answer other than 2xx.
type StatusError struct {
	Code   int
	Status string
}

func (e *StatusError) Error() string { return "webhook answered " + e.Status }

// Permanent reports whether trying the same post again cannot help: a 4xx
// other than 408 (timeout), 425 (too early) and 429 (slow down) says the
// request itself (the URL, the token, the body) is wrong.
func (e *StatusError) Permanent() bool {
	return e.Code >= 400 && e.Code < 500 && e.Code != 408 && e.Code != 425 && e.Code != 429
}

// slackEscapes are the characters Slack's message formatting reserves
// ("Escaping text": &, < and >), as Slack wants them written. Unescaped,
// a finding's message or an alert's type could mention @channel or show a
// link whose text is not where it goes.
var slackEscapes = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// SlackEscape makes text safe to post as a Slack message's text: every
// Slack text vigil posts (new findings, triage cards) goes through it.
// vigil's own formatting (*bold*, `code`) uses none of these characters.
func SlackEscape(text string) string { return slackEscapes.Replace(text) }

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

// fewScansError says how many scans there are and what to do; it is
// store.ErrNoScans to errors.Is (the API's 404).
type fewScansError struct{ msg string }

func (e *fewScansError) Error() string        { return e.msg }
func (e *fewScansError) Is(target error) bool { return target == store.ErrNoScans }

func tooFewScans(schedule string, scans []*store.ScanRecord) error {
	of := ""
	if schedule != "" {
		of = fmt.Sprintf(" of schedule %q", schedule)
	}
	if len(scans) == 0 {
		return &fewScansError{fmt.Sprintf("a diff needs two scans%s; the history has none: record them with 'vigil scan --history'", of)}
	}
	return &fewScansError{fmt.Sprintf("a diff needs two scans%s; the history has one (scan %d, %s): record another with 'vigil scan --history'",
		of, scans[0].ID, scans[0].StartedAt.UTC().Format("2006-01-02 15:04 UTC"))}
}
