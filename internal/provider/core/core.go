// Package core implements the core.* runbook actions: log, notify (HTTP
// webhooks, Slack-compatible), wait, assert, approval gates, the posture
// scan and chain-of-custody evidence. They touch no cloud.
package core

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
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
)

// Provider returns the core provider.
func Provider() action.Provider {
	return &action.StaticProvider{ProviderName: "core", List: []action.Action{
		&action.Func{S: action.MustSpec("core.log"), PlanFn: logPlan, ApplyFn: logApply},
		&action.Func{S: action.MustSpec("core.notify"), PlanFn: notifyPlan, ApplyFn: notifyApply},
		&action.Func{S: action.MustSpec("core.wait"), PlanFn: waitPlan, ApplyFn: waitApply},
		&action.Func{S: action.MustSpec("core.assert"), PlanFn: assertPlan, ApplyFn: assertApply},
		&action.Func{S: action.MustSpec("core.approval"), PlanFn: approvalPlan, ApplyFn: approvalApply},
		&action.Func{S: action.MustSpec("core.scan"), PlanFn: scanPlan, ApplyFn: scanApply},
		&action.Func{S: action.MustSpec("core.evidence"), PlanFn: evidencePlan, ApplyFn: evidenceApply},
	}}
}

func logPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	return &action.Change{Summary: "log: " + r.Str("message")}, nil
}

func logApply(_ context.Context, r *action.Request) (*action.Result, error) {
	if r.Env != nil && r.Env.Log != nil {
		switch r.Str("level") {
		case "warn":
			r.Env.Log.Warn(r.Str("message"), "run", r.RunID, "step", r.Step)
		case "error":
			r.Env.Log.Error(r.Str("message"), "run", r.RunID, "step", r.Step)
		default:
			r.Env.Log.Info(r.Str("message"), "run", r.RunID, "step", r.Step)
		}
	}
	return &action.Result{Summary: r.Str("message")}, nil
}

// webhookHost shows a webhook URL without its path and query: in Slack's
// and most others' webhooks the path is the secret.
func webhookHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(a URL that does not parse)"
	}
	s := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		s += "/…"
	}
	return s
}

// webhookBody is what an error shows of a webhook's answer: Slack says
// why it refused (invalid_token, no_service), but a server may echo the
// request ("Cannot POST /services/T01/B02/XXXX"), so the URL's path, its
// segments and its query are removed in every spelling, and the rest is
// one short line.
func webhookBody(body []byte, raw string) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "?")), " ")
	var secrets []string
	add := func(v string) {
		if len(v) >= 4 {
			secrets = append(secrets, v, url.PathEscape(v), url.QueryEscape(v))
		}
	}
	add(raw)
	if u, err := url.Parse(raw); err == nil {
		add(u.Path)
		add(u.EscapedPath())
		add(u.RawQuery)
		add(u.Fragment)
		for _, seg := range strings.Split(u.Path, "/") {
			add(seg)
		}
		for k, vs := range u.Query() {
			add(k + "=" + strings.Join(vs, ""))
			for _, v := range vs {
				add(v)
			}
		}
	}
	// longest first, so that a path is removed whole before its segments
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, "…")
	}
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	if s == "" {
		return "(no body)"
	}
	return s
}

func notifyPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	u, err := url.Parse(r.Str("url"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("url %s is not an http(s) URL", webhookHost(r.Str("url")))
	}
	format := r.Str("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "slack" {
		return nil, fmt.Errorf("format %q: use json or slack", format)
	}
	return &action.Change{Summary: fmt.Sprintf("POST a %s message to %s: %q", format, u.Host, r.Str("message"))}, nil
}

func notifyApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	if _, err := notifyPlan(ctx, r); err != nil {
		return nil, err
	}
	body := map[string]any{}
	if d, ok := r.Args["data"]; ok && !d.IsNull() && d.IsWhollyKnown() {
		if m, ok := action.Encode(d).(map[string]any); ok {
			body = m
		}
	}
	if r.Str("format") == "slack" {
		body["text"] = r.Str("message")
	} else {
		body["message"] = r.Str("message")
		body["run_id"] = r.RunID
		body["step"] = r.Step
		if r.Incident != "" {
			body["incident"] = r.Incident
		}
	}
	raw, _ := json.Marshal(body)
	headers := map[string]string{"Content-Type": "application/json", "User-Agent": "vigil"}
	for k, v := range r.StringMap("headers") {
		headers[k] = v
	}
	var doer action.Doer = HTTPDoer{}
	if r.Env != nil && r.Env.HTTP != nil {
		doer = r.Env.HTTP
	}
	resp, err := doer.Do(&action.HTTPRequest{Method: "POST", URL: r.Str("url"), Header: headers, Body: raw, Timeout: 30 * time.Second})
	host := webhookHost(r.Str("url"))
	if err != nil {
		// net/http's errors quote the whole URL: keep only its host.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = fmt.Errorf("%s %s: %w", ue.Op, host, ue.Err)
		}
		return nil, &action.RetryableError{Err: fmt.Errorf("notify %s: %s", host, strings.ReplaceAll(err.Error(), r.Str("url"), host))}
	}
	if resp.Status == http.StatusTooManyRequests || resp.Status >= 500 {
		return nil, &action.RetryableError{Err: fmt.Errorf("notify: %s answered %d", host, resp.Status)}
	}
	if resp.Status >= 300 {
		return nil, fmt.Errorf("notify: %s answered %d: %s", host, resp.Status, webhookBody(resp.Body, r.Str("url")))
	}
	return &action.Result{Summary: fmt.Sprintf("webhook answered %d", resp.Status),
		Outputs: map[string]cty.Value{"status": cty.NumberIntVal(int64(resp.Status))}}, nil
}

// HTTPDoer sends requests with net/http.
type HTTPDoer struct{}

// Do implements action.Doer.
func (HTTPDoer) Do(req *action.HTTPRequest) (*action.HTTPResponse, error) {
	hr, err := http.NewRequest(req.Method, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return nil, err
	}
	for k, v := range req.Header {
		hr.Header.Set(k, v)
	}
	c := &http.Client{Timeout: req.Timeout}
	resp, err := c.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return &action.HTTPResponse{Status: resp.StatusCode, Body: b}, nil
}

func waitPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	d, err := time.ParseDuration(r.Str("duration"))
	if err != nil || d < 0 {
		return nil, fmt.Errorf("duration %q is not a duration such as 30s", r.Str("duration"))
	}
	return &action.Change{Summary: "wait " + d.String()}, nil
}

func waitApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	d, err := time.ParseDuration(r.Str("duration"))
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return &action.Result{Summary: "waited " + d.String()}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func assertPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	ch := &action.Change{Summary: "check: " + r.Str("message")}
	if !r.Bool("condition", true) {
		ch.Details = []string{"the condition is false now; the run would stop here"}
	}
	return ch, nil
}

func assertApply(_ context.Context, r *action.Request) (*action.Result, error) {
	if !r.Bool("condition", false) {
		return nil, fmt.Errorf("assertion failed: %s", r.Str("message"))
	}
	return &action.Result{Summary: "holds: " + r.Str("message")}, nil
}

func approvalPlan(_ context.Context, r *action.Request) (*action.Change, error) {
	return &action.Change{Summary: "wait for an approval: " + r.Str("reason")}, nil
}

func approvalApply(_ context.Context, r *action.Request) (*action.Result, error) {
	return &action.Result{Summary: "approved"}, nil
}

func findings(ctx context.Context, r *action.Request) ([]policy.Finding, error) {
	if r.Env == nil || r.Env.Findings == nil {
		return nil, fmt.Errorf("core.scan needs an inventory: pass --inventory FILE (or --provider sim --inventory FILE)")
	}
	fs, err := r.Env.Findings(ctx)
	if err != nil {
		return nil, err
	}
	only := r.Strings("policies")
	var out []policy.Finding
	for _, f := range fs {
		if f.Waived {
			continue
		}
		if len(only) > 0 && !slices.Contains(only, f.PolicyID) {
			continue
		}
		out = append(out, f)
	}
	return out, nil
}

func scanPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	fs, err := findings(ctx, r)
	if err != nil {
		return nil, err
	}
	return &action.Change{Summary: fmt.Sprintf("scan the inventory (%d findings now)", len(fs))}, nil
}

func scanApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	fs, err := findings(ctx, r)
	if err != nil {
		return nil, err
	}
	list := make([]cty.Value, 0, len(fs))
	for _, f := range fs {
		list = append(list, cty.ObjectVal(map[string]cty.Value{
			"policy_id": cty.StringVal(f.PolicyID), "asset_id": cty.StringVal(f.AssetID), "severity": cty.StringVal(f.Severity),
			"title": cty.StringVal(f.Title), "message": cty.StringVal(f.Message), "kind": cty.StringVal(f.Kind),
			"provider": cty.StringVal(f.Provider), "scope": cty.StringVal(f.Scope), "region": cty.StringVal(f.Region),
		}))
	}
	lv := cty.ListValEmpty(action.FindingType)
	if len(list) > 0 {
		lv = cty.ListVal(list)
	}
	return &action.Result{Summary: fmt.Sprintf("%d findings", len(fs)),
		Outputs: map[string]cty.Value{"findings": lv, "count": cty.NumberIntVal(int64(len(fs)))}}, nil
}

func evidencePlan(_ context.Context, r *action.Request) (*action.Change, error) {
	var parts []string
	if n := len(r.Strings("files")); n > 0 {
		parts = append(parts, fmt.Sprintf("%d files", n))
	}
	if v, ok := r.Args["values"]; ok && !v.IsNull() {
		parts = append(parts, "values")
	}
	assets := r.Strings("assets")
	if inv := inventoryOf(r); inv != nil {
		for _, id := range assets {
			if inv.Get(id) == nil {
				return nil, &action.NotFoundError{What: "asset", ID: id}
			}
		}
	}
	if len(assets) > 0 {
		parts = append(parts, fmt.Sprintf("%d asset records", len(assets)))
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("core.evidence needs files, values or assets")
	}
	return &action.Change{Summary: "hash " + strings.Join(parts, ", ") + " into the custody record", Targets: assets}, nil
}

func evidenceApply(_ context.Context, r *action.Request) (*action.Result, error) {
	hashes := map[string]cty.Value{}
	var items []action.Evidence
	for _, f := range r.Strings("files") {
		h, err := hashFile(f)
		if err != nil {
			return nil, fmt.Errorf("hash %s: %w", f, err)
		}
		hashes[f] = cty.StringVal(h)
		items = append(items, action.Evidence{Item: "file " + f, SHA256: h, Note: r.Str("note"), Kind: action.EvidenceFile})
	}
	if v, ok := r.Args["values"]; ok && !v.IsNull() {
		h := action.HashValue(action.Encode(v))
		if r.Sensitive["values"] {
			// A bare SHA-256 of a PIN is found by hashing every PIN: keep
			// the HMAC under the run's value key, and say so in the hash.
			if r.KeyedHash == nil {
				return nil, fmt.Errorf("hash values: they hold a sensitive value and there is no value key to hash it with")
			}
			h = "hmac-sha256:" + r.KeyedHash(action.CanonicalJSON(action.Encode(v)))
		}
		hashes["values"] = cty.StringVal(h)
		items = append(items, action.Evidence{Item: "values", SHA256: h, Note: r.Str("note"), Kind: action.EvidenceValue})
	}
	assets := r.Strings("assets")
	for _, id := range assets {
		var a any
		if inv := inventoryOf(r); inv != nil {
			got := inv.Get(id)
			if got == nil {
				return nil, &action.NotFoundError{What: "asset", ID: id}
			}
			a = got
		}
		raw, _ := json.Marshal(a)
		sum := sha256.Sum256(raw)
		h := hex.EncodeToString(sum[:])
		hashes[id] = cty.StringVal(h)
		items = append(items, action.Evidence{Item: "asset " + id, SHA256: h, Note: r.Str("note"), Kind: action.EvidenceRecord, Of: []string{id}})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Item < items[j].Item })
	return &action.Result{Summary: fmt.Sprintf("%d items hashed", len(items)), Targets: assets, Evidence: items,
		Outputs: map[string]cty.Value{"hashes": mapOrEmpty(hashes)}}, nil
}

func inventoryOf(r *action.Request) *inventory.Inventory {
	if r.Env == nil || r.Env.Inventory == nil {
		return nil
	}
	return r.Env.Inventory()
}

func mapOrEmpty(m map[string]cty.Value) cty.Value {
	if len(m) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	return cty.MapVal(m)
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
