package gcp

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	logging "google.golang.org/api/logging/v2"
	"google.golang.org/api/option"

	"github.com/vigil-ir/vigil/engine/action"
)

// gcp.logging.list_entries reads Cloud Audit Logs with Cloud Logging's
// entries.list: the admin activity and data access logs of the resource's
// project, for entries whose resource name is the resource or whose
// principal is the alert's, over a window around the detection. One
// filter does both (Logging filters take OR), and the entries are paged
// through oldest first.

var defaultAuditLogs = []string{"cloudaudit.googleapis.com/activity", "cloudaudit.googleapis.com/data_access"}

// logQuery is what one list_entries step asks Cloud Logging.
type logQuery struct {
	project, filter string
	start, end      time.Time
	resource        string // the audit logs' resourceName (projects/P/zones/Z/instances/N)
	principal       string // an email
}

// principalEmail reads the principal: an email, serviceAccount:EMAIL or
// user:EMAIL, or a service account key's name or asset id (its account).
func principalEmail(p string) string {
	p = strings.TrimPrefix(p, "//iam.googleapis.com/")
	if _, rest, ok := strings.Cut(p, "/serviceAccounts/"); ok {
		email, _, _ := strings.Cut(rest, "/")
		return email
	}
	if _, email, ok := strings.Cut(p, ":"); ok && strings.Contains(email, "@") {
		return email
	}
	return p
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func buildLogQuery(r *action.Request) (*logQuery, error) {
	_, start, end, err := r.ActivityWindow()
	if err != nil {
		return nil, err
	}
	q := &logQuery{start: start, end: end, project: r.Str("project")}
	if res := r.Str("resource"); res != "" {
		p := linkPath(res)
		for _, pre := range []string{"//compute.googleapis.com/", "//storage.googleapis.com/", "//iam.googleapis.com/"} {
			p = strings.TrimPrefix(p, pre)
		}
		q.resource = p
		if q.project == "" {
			if rest, ok := strings.CutPrefix(p, "projects/"); ok {
				q.project, _, _ = strings.Cut(rest, "/")
			}
		}
	}
	if p := r.Str("principal"); p != "" {
		q.principal = principalEmail(p)
		if q.project == "" {
			if rest, ok := strings.CutPrefix(strings.TrimPrefix(p, "//iam.googleapis.com/"), "projects/"); ok {
				q.project, _, _ = strings.Cut(rest, "/")
			}
		}
	}
	if q.resource == "" && q.principal == "" {
		return nil, fmt.Errorf("gcp.logging.list_entries needs a resource or a principal to look for")
	}
	if q.project == "" {
		return nil, fmt.Errorf("gcp.logging.list_entries: name the project whose logs to read (project), or give a resource in one")
	}
	logs := r.Strings("logs")
	if len(logs) == 0 {
		logs = defaultAuditLogs
	}
	var names, who []string
	for _, l := range logs {
		// A log name's id is URL-encoded in logName ("cloudaudit.googleapis.com%2Factivity").
		names = append(names, "logName="+quote("projects/"+q.project+"/logs/"+strings.ReplaceAll(l, "/", "%2F")))
	}
	if q.resource != "" {
		// The instance's own entries (=) and those of its sub-resources
		// (":" is "has", a substring match: anchored on "N/", so that
		// web-10 and web-1-canary are not web-1's).
		who = append(who, "protoPayload.resourceName="+quote(q.resource), "protoPayload.resourceName:"+quote(q.resource+"/"))
	}
	if q.principal != "" {
		who = append(who, "protoPayload.authenticationInfo.principalEmail="+quote(q.principal))
	}
	q.filter = fmt.Sprintf("timestamp>=%s AND timestamp<=%s AND (%s) AND (%s)", quote(start.Format(time.RFC3339)), quote(end.Format(time.RFC3339)),
		strings.Join(names, " OR "), strings.Join(who, " OR "))
	return q, nil
}

func (s *session) logging(ctx context.Context) (*logging.Service, error) {
	base := strings.TrimSuffix(s.opts.Endpoint, "/")
	auth, err := s.auth(ctx, strings.HasPrefix(base, "http://"))
	if err != nil {
		return nil, err
	}
	if base != "" {
		auth = append(auth, option.WithEndpoint(base+"/"))
	}
	svc, err := logging.NewService(ctx, auth...)
	if err != nil {
		return nil, fmt.Errorf("gcp: Cloud Logging client: %w", err)
	}
	return svc, nil
}

func (p *Provider) logPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	q, err := buildLogQuery(r)
	if err != nil {
		return nil, err
	}
	return &action.Change{Summary: fmt.Sprintf("read the audit logs of project %s from %s to %s", q.project, q.start.Format(time.RFC3339), q.end.Format(time.RFC3339)),
		Details: []string{"filter: " + q.filter}}, nil
}

func (p *Provider) logApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	q, err := buildLogQuery(r)
	if err != nil {
		return nil, err
	}
	svc, err := p.s.logging(ctx)
	if err != nil {
		return nil, err
	}
	maxEntries := 1000
	if v, ok := r.Args["max_entries"]; ok && !v.IsNull() {
		f, _ := v.AsBigFloat().Int64()
		if f <= 0 {
			return nil, fmt.Errorf("max_entries must be at least 1")
		}
		maxEntries = int(f)
	}
	req := &logging.ListLogEntriesRequest{ResourceNames: []string{"projects/" + q.project}, Filter: q.filter, OrderBy: "timestamp asc",
		PageSize: int64(min(maxEntries, 1000))}
	var raw []json.RawMessage
	var events []cty.Value
	var notes []string
	for {
		var out *logging.ListLogEntriesResponse
		err := p.s.do(ctx, func() error {
			var err error
			out, err = svc.Entries.List(req).Context(ctx).Do()
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("list log entries of project %s: %w", q.project, explain(err, "logging.logEntries.list"))
		}
		for _, e := range out.Entries {
			b, err := json.Marshal(e)
			if err != nil {
				return nil, fmt.Errorf("encode log entry %s: %w", e.InsertId, err)
			}
			raw = append(raw, b)
			events = append(events, auditEvent(e))
		}
		r.Say("%d audit log entries so far", len(raw))
		if out.NextPageToken == "" {
			break
		}
		if len(raw) >= maxEntries {
			notes = append(notes, fmt.Sprintf("stopped at %d entries (max_entries): there are more", len(raw)))
			break
		}
		req.PageToken = out.NextPageToken
	}
	notes = append(notes, "data access logs hold only what the project's audit config enables (most services' are off by default); admin activity is always on")
	res := &action.Result{Summary: fmt.Sprintf("%d audit log entries of project %s between %s and %s", len(raw), q.project, q.start.Format(time.RFC3339), q.end.Format(time.RFC3339))}
	res.Evidence = append(res.Evidence, action.Evidence{
		Item:   fmt.Sprintf("Cloud Logging entries.list projects/%s %s/%s", q.project, q.start.Format(time.RFC3339), q.end.Format(time.RFC3339)),
		SHA256: action.HashValue(raw), Kind: action.EvidenceLog,
		Note:   fmt.Sprintf("%d log entries (as the API returned them, in its order), filter %s", len(raw), q.filter),
		Detail: map[string]any{"entries": raw, "filter": q.filter, "project": q.project}})
	list := cty.ListValEmpty(action.ActivityEvent)
	if len(events) > 0 {
		list = cty.ListVal(events)
	}
	res.Outputs = map[string]cty.Value{"events": list, "count": cty.NumberIntVal(int64(len(events))), "notes": action.StringList(notes)}
	return res, nil
}

// auditEvent normalizes an audit log entry for the timeline.
func auditEvent(e *logging.LogEntry) cty.Value {
	var pl struct {
		ServiceName, MethodName, ResourceName string
		AuthenticationInfo                    struct{ PrincipalEmail string }
		RequestMetadata                       struct {
			CallerIP string `json:"callerIp"`
		}
		Status *struct {
			Code    int
			Message string
		}
	}
	_ = json.Unmarshal(e.ProtoPayload, &pl)
	result := "success"
	if pl.Status != nil && pl.Status.Code != 0 {
		result = strings.TrimSpace(fmt.Sprintf("error %d: %s", pl.Status.Code, pl.Status.Message))
	}
	region := ""
	if e.Resource != nil {
		region = e.Resource.Labels["zone"]
		if region == "" {
			region = e.Resource.Labels["location"]
		}
	}
	logID := e.LogName[strings.LastIndex(e.LogName, "/")+1:]
	logID = strings.ReplaceAll(logID, "%2F", "/")
	ts := e.Timestamp
	if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
		ts = t.UTC().Format(time.RFC3339)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"time": cty.StringVal(ts), "actor": cty.StringVal(pl.AuthenticationInfo.PrincipalEmail), "source_ip": cty.StringVal(pl.RequestMetadata.CallerIP),
		"service": cty.StringVal(pl.ServiceName), "call": cty.StringVal(pl.MethodName), "result": cty.StringVal(result),
		"resource": cty.StringVal(pl.ResourceName), "region": cty.StringVal(region), "id": cty.StringVal(e.InsertId),
		"log": cty.StringVal(logID),
	})
}
