package awsfake

import (
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TrailEvent is one event of an account's CloudTrail event history, as
// LookupEvents serves it: Record is the CloudTrail record (its JSON is the
// CloudTrailEvent string).
type TrailEvent struct {
	Account, Region string
	Time            time.Time
	Record          map[string]any
}

//go:embed testdata/cloudtrail-samples.json
var cloudtrailSamples []byte

// Samples returns the documented CloudTrail records of
// testdata/cloudtrail-samples.json (see testdata/SOURCES.md), fresh
// copies each call.
func Samples() []map[string]any {
	var d struct {
		Records []map[string]any `json:"records"`
	}
	if err := json.Unmarshal(cloudtrailSamples, &d); err != nil {
		panic(err)
	}
	return d.Records
}

// AddEvent adds an event to an account's event history (under With).
func (f *Fake) AddEvent(e TrailEvent) { f.events = append(f.events, e) }

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

// lookupEvents serves CloudTrail's LookupEvents: events of the caller's
// account in the request's region, newest first, filtered by one lookup
// attribute and the time range, at most MaxResults (default 50) a page.
func (f *Fake) lookupEvents(req *request, in map[string]any) {
	bad := func(typ, msg string) {
		jsonReply(req, http.StatusBadRequest, map[string]string{"__type": typ, "message": msg})
	}
	attrs, _ := in["LookupAttributes"].([]any)
	if len(attrs) > 1 {
		bad("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.")
		return
	}
	key, value := "", ""
	if len(attrs) == 1 {
		a, _ := attrs[0].(map[string]any)
		key, _ = a["AttributeKey"].(string)
		value, _ = a["AttributeValue"].(string)
		switch key {
		case "EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource", "AccessKeyId":
		default:
			bad("InvalidLookupAttributesException", "The attribute key "+key+" is not valid.")
			return
		}
	}
	epoch := func(k string) (time.Time, bool) {
		v, ok := in[k].(float64)
		if !ok {
			return time.Time{}, false
		}
		return time.Unix(0, int64(v*1e9)).UTC(), true
	}
	start, hasStart := epoch("StartTime")
	end, hasEnd := epoch("EndTime")
	if hasStart && hasEnd && start.After(end) {
		bad("InvalidTimeRangeException", "Occurs if the timestamp values are not valid. Either the start time occurs after the end time, or the time range is outside the range of possible values.")
		return
	}
	max := 50
	if v, ok := in["MaxResults"].(float64); ok {
		if v < 1 || v > 50 {
			bad("InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
			return
		}
		max = int(v)
	}
	var hits []TrailEvent
	for _, e := range f.events {
		if e.Account != req.acctID || e.Region != req.region || (hasStart && e.Time.Before(start)) || (hasEnd && e.Time.After(end)) {
			continue
		}
		if key != "" && !eventHas(e, key, value) {
			continue
		}
		hits = append(hits, e)
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].Time.After(hits[j].Time) })
	from := 0
	if tok, _ := in["NextToken"].(string); tok != "" {
		raw, err := base64.StdEncoding.DecodeString(tok)
		n, err2 := strconv.Atoi(string(raw))
		if err != nil || err2 != nil || n < 0 || n > len(hits) {
			bad("InvalidNextTokenException", "Invalid token.")
			return
		}
		from = n
	}
	to := min(len(hits), from+max)
	out := []map[string]any{}
	for _, e := range hits[from:to] {
		out = append(out, wireEvent(e))
	}
	resp := map[string]any{"Events": out}
	if to < len(hits) {
		resp["NextToken"] = base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(to)))
	}
	jsonReply(req, 200, resp)
}

func resourcesOf(e TrailEvent) []map[string]any {
	var out []map[string]any
	if id := str(e.Record, "requestParameters", "instanceId"); id != "" {
		out = append(out, map[string]any{"ResourceType": "AWS::EC2::Instance", "ResourceName": id})
	}
	if rp, ok := e.Record["requestParameters"].(map[string]any); ok {
		if set, ok := rp["instancesSet"].(map[string]any); ok {
			items, _ := set["items"].([]any)
			for _, it := range items {
				if m, ok := it.(map[string]any); ok {
					out = append(out, map[string]any{"ResourceType": "AWS::EC2::Instance", "ResourceName": m["instanceId"]})
				}
			}
		}
	}
	return out
}

func username(e TrailEvent) string {
	if u := str(e.Record, "userIdentity", "userName"); u != "" {
		return u
	}
	if arn := str(e.Record, "userIdentity", "arn"); arn != "" {
		return arn[strings.LastIndex(arn, "/")+1:]
	}
	return ""
}

func eventHas(e TrailEvent, key, value string) bool {
	switch key {
	case "EventId":
		return str(e.Record, "eventID") == value
	case "EventName":
		return str(e.Record, "eventName") == value
	case "EventSource":
		return str(e.Record, "eventSource") == value
	case "AccessKeyId":
		return str(e.Record, "userIdentity", "accessKeyId") == value
	case "Username":
		return username(e) == value
	case "ReadOnly":
		ro, _ := e.Record["readOnly"].(bool)
		return fmt.Sprint(ro) == value
	case "ResourceName", "ResourceType":
		for _, r := range resourcesOf(e) {
			if r[key] == value {
				return true
			}
		}
	}
	return false
}

// wireEvent is an event as LookupEvents answers it (EventTime in epoch
// seconds, the record as the CloudTrailEvent string).
func wireEvent(e TrailEvent) map[string]any {
	raw, _ := json.Marshal(e.Record)
	w := map[string]any{"EventId": str(e.Record, "eventID"), "EventName": str(e.Record, "eventName"), "EventSource": str(e.Record, "eventSource"),
		"EventTime": float64(e.Time.Unix()), "Username": username(e), "CloudTrailEvent": string(raw), "ReadOnly": "false"}
	if k := str(e.Record, "userIdentity", "accessKeyId"); k != "" {
		w["AccessKeyId"] = k
	}
	if rs := resourcesOf(e); rs != nil {
		w["Resources"] = rs
	}
	return w
}

// getEventSelectors answers GetEventSelectors (CloudTrail API reference):
// TrailName is the trail's name or ARN; the answer has TrailARN and either
// EventSelectors or AdvancedEventSelectors. A trail nobody gave selectors
// has the one CreateTrail sets: ReadWriteType All, management events
// included, no data resources.
func (f *Fake) getEventSelectors(req *request, in map[string]any) {
	name, _ := in["TrailName"].(string)
	for rn, r := range req.account.Regions {
		for _, t := range r.Trails {
			arn := trailARN(rn, req.acctID, t.Name)
			if name != t.Name && name != arn {
				continue
			}
			out := map[string]any{"TrailARN": arn}
			switch {
			case t.Advanced != nil:
				out["AdvancedEventSelectors"] = t.Advanced
			case t.Selectors != nil:
				out["EventSelectors"] = t.Selectors
			default:
				out["EventSelectors"] = []map[string]any{{"ReadWriteType": "All", "IncludeManagementEvents": true,
					"DataResources": []any{}, "ExcludeManagementEventSources": []any{}}}
			}
			jsonReply(req, 200, out)
			return
		}
	}
	jsonReply(req, http.StatusBadRequest, map[string]string{"__type": "TrailNotFoundException", "message": "Unknown trail: " + name + " for the user: " + req.acctID})
}
