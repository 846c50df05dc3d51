// Package alert reads the alerts cloud providers raise (AWS GuardDuty, AWS
// Security Hub in ASFF, Google Security Command Center) and maps each to
// the affected assets of vigil's model, a severity and a short summary, so
// triage and runbooks start from the alert a responder was handed.
package alert

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/limits"
)

// Resource is an asset an alert is about.
type Resource struct {
	// ID is the asset id in vigil's model (an ARN, a CAI name).
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Fields are the identifiers runbooks map from (from_alert):
	// instance_id, access_key_id, user, bucket, security_group, project,
	// zone, region, account.
	Fields map[string]string `json:"fields,omitempty"`
}

// Alert is one provider finding.
type Alert struct {
	Provider  string     `json:"provider"` // aws, gcp
	Source    string     `json:"source"`   // guardduty, securityhub, scc
	Format    string     `json:"format"`   // the input shape it was read from
	ID        string     `json:"id"`
	Type      string     `json:"type"`
	Title     string     `json:"title"`
	Summary   string     `json:"summary"`
	Severity  string     `json:"severity"` // critical, high, medium, low, info
	Time      string     `json:"time,omitempty"`
	Scope     string     `json:"scope,omitempty"` // account id or project id
	Region    string     `json:"region,omitempty"`
	Resources []Resource `json:"resources"`
	File      string     `json:"file,omitempty"`
}

// Incident is a short incident id derived from the alert, for runbooks'
// incident variable: source and the first characters of the finding id.
func (a *Alert) Incident() string {
	id := a.ID
	if i := strings.LastIndexAny(id, "/:"); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return strings.ToUpper(a.Source) + "-" + id
}

// ErrUnknown is returned for JSON that is no alert shape vigil knows.
var ErrUnknown = errors.New("not an alert vigil knows: expected AWS GuardDuty findings (GetFindings JSON or an EventBridge event), " +
	"AWS Security Hub findings (ASFF, or an EventBridge event), or Google Security Command Center findings (ListFindings JSON, " +
	"'gcloud scc findings list' JSON, or a Pub/Sub notification)")

// Load reads the alerts of a file.
func Load(path string) ([]*Alert, error) {
	raw, err := limits.ReadFile(path, limits.MaxJSONFile)
	if err != nil {
		return nil, err
	}
	alerts, err := Parse(raw)
	var le *limits.Error
	if errors.As(err, &le) {
		le.File = path
		return nil, le
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, a := range alerts {
		a.File = path
	}
	return alerts, nil
}

// Parse detects the shape of raw and reads its alerts.
func Parse(raw []byte) ([]*Alert, error) {
	if le := limits.JSON(raw); le != nil {
		return nil, le
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, errors.New("empty file: " + ErrUnknown.Error())
	}
	if !json.Valid(raw) {
		var v any
		err := json.Unmarshal(raw, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(raw[:se.Offset], []byte("\n"))
			return nil, fmt.Errorf("line %d: invalid JSON: %v", line, err)
		}
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	var alerts []*Alert
	var err error
	switch raw[0] {
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		for i, it := range items {
			as, err := parseObject(it)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i+1, err)
			}
			alerts = append(alerts, as...)
		}
	case '{':
		alerts, err = parseObject(raw)
	default:
		return nil, ErrUnknown
	}
	if err != nil {
		return nil, err
	}
	if len(alerts) == 0 {
		return nil, errors.New("the file holds no findings")
	}
	return alerts, nil
}

// obj is a JSON object whose keys are looked up without regard to case:
// the same finding comes PascalCase from an API and camelCase from
// EventBridge.
type obj map[string]json.RawMessage

func toObj(raw json.RawMessage) obj {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	o := obj{}
	for k, v := range m {
		o[strings.ToLower(k)] = v
	}
	return o
}

func (o obj) has(k string) bool { _, ok := o[strings.ToLower(k)]; return ok }

func (o obj) obj(k string) obj { return toObj(o[strings.ToLower(k)]) }

func (o obj) str(k string) string {
	raw, ok := o[strings.ToLower(k)]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func (o obj) num(k string) (float64, bool) {
	var f float64
	err := json.Unmarshal(o[strings.ToLower(k)], &f)
	return f, err == nil
}

func (o obj) list(k string) []obj {
	var items []json.RawMessage
	json.Unmarshal(o[strings.ToLower(k)], &items)
	out := make([]obj, 0, len(items))
	for _, it := range items {
		if x := toObj(it); x != nil {
			out = append(out, x)
		}
	}
	return out
}

func parseObject(raw json.RawMessage) ([]*Alert, error) {
	o := toObj(raw)
	if o == nil {
		return nil, ErrUnknown
	}
	switch {
	case o.str("source") == "aws.guardduty" && o.has("detail"):
		a, err := guardDuty(o.obj("detail"), "eventbridge")
		return one(a, err)
	case o.str("source") == "aws.securityhub" && o.has("detail"):
		return asffList(o.obj("detail").list("findings"), "eventbridge")
	case o.has("findings") && len(o.list("findings")) > 0 && o.list("findings")[0].has("schemaversion") && o.list("findings")[0].has("productarn"):
		return asffList(o.list("findings"), "asff")
	case o.has("findings"):
		var out []*Alert
		for i, f := range o.list("findings") {
			a, err := guardDuty(f, "getfindings")
			if err != nil {
				return nil, fmt.Errorf("finding %d: %w", i+1, err)
			}
			out = append(out, a)
		}
		return out, nil
	case o.has("schemaversion") && o.has("productarn"):
		return asffList([]obj{o}, "asff")
	case o.has("service") && o.has("resource") && o.has("accountid"):
		a, err := guardDuty(o, "finding")
		return one(a, err)
	case o.has("listfindingsresults"):
		var out []*Alert
		for i, r := range o.list("listFindingsResults") {
			a, err := scc(r.obj("finding"), r.obj("resource"), "listfindings")
			if err != nil {
				return nil, fmt.Errorf("result %d: %w", i+1, err)
			}
			out = append(out, a)
		}
		return out, nil
	case o.has("finding") && (o.has("notificationconfigname") || o.has("resource")):
		a, err := scc(o.obj("finding"), o.obj("resource"), "notification")
		return one(a, err)
	case o.has("message") && o.obj("message").has("data"):
		// A Pub/Sub push envelope: the notification is base64 in data.
		data, err := base64.StdEncoding.DecodeString(o.obj("message").str("data"))
		if err != nil {
			return nil, fmt.Errorf("Pub/Sub message data is not base64: %w", err)
		}
		return Parse(data)
	}
	return nil, ErrUnknown
}

func one(a *Alert, err error) ([]*Alert, error) {
	if err != nil {
		return nil, err
	}
	return []*Alert{a}, nil
}

func label(s string) string {
	switch strings.ToUpper(s) {
	case "CRITICAL":
		return "critical"
	case "HIGH":
		return "high"
	case "MEDIUM":
		return "medium"
	case "LOW":
		return "low"
	}
	return "info"
}

// Value is the alert as runbooks' from_alert expressions see it: alert.id,
// alert.severity, alert.resource.instance_id (the first resource), and
// alert.resources for all of them.
func (a *Alert) Value() cty.Value {
	res := make([]cty.Value, 0, len(a.Resources))
	for _, r := range a.Resources {
		attrs := map[string]cty.Value{"id": cty.StringVal(r.ID), "kind": cty.StringVal(r.Kind), "name": cty.StringVal(r.Name)}
		keys := make([]string, 0, len(r.Fields))
		for k := range r.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, taken := attrs[k]; !taken {
				attrs[k] = cty.StringVal(r.Fields[k])
			}
		}
		res = append(res, cty.ObjectVal(attrs))
	}
	first := cty.EmptyObjectVal
	if len(res) > 0 {
		first = res[0]
	}
	return cty.ObjectVal(map[string]cty.Value{
		"provider": cty.StringVal(a.Provider), "source": cty.StringVal(a.Source), "id": cty.StringVal(a.ID),
		"type": cty.StringVal(a.Type), "title": cty.StringVal(a.Title), "summary": cty.StringVal(a.Summary),
		"severity": cty.StringVal(a.Severity), "time": cty.StringVal(a.Time), "scope": cty.StringVal(a.Scope),
		"region": cty.StringVal(a.Region), "incident": cty.StringVal(a.Incident()),
		"resource": first, "resources": cty.TupleVal(res),
	})
}
