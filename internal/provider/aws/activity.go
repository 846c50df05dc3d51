package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/zclconf/go-cty/cty"
	"golang.org/x/time/rate"

	"github.com/vigil-ir/vigil/engine/action"
)

// aws.cloudtrail.lookup_events reads CloudTrail's event history
// (LookupEvents: the account's management events of the last 90 days, per
// region) for the resource and for the alert's principal. LookupEvents
// takes one lookup attribute a call and answers 2 requests per second per
// account and region, so each lookup is its own paged call, paced.

var accessKeyRe = regexp.MustCompile(`^(AKIA|ASIA)[A-Z0-9]{12,}$`)

type lookup struct {
	key   cttypes.LookupAttributeKey
	value string
}

// lookups are the attribute lookups the arguments ask for.
func (s *session) lookups(r *action.Request) []lookup {
	var out []lookup
	if res := r.Str("resource"); res != "" {
		out = append(out, lookup{cttypes.LookupAttributeKeyResourceName, s.locate(res).id})
	}
	if p := r.Str("principal"); p != "" {
		switch {
		case accessKeyRe.MatchString(p):
			out = append(out, lookup{cttypes.LookupAttributeKeyAccessKeyId, p})
		case strings.HasPrefix(p, "arn:"):
			out = append(out, lookup{cttypes.LookupAttributeKeyUsername, p[strings.LastIndex(p, "/")+1:]})
		default:
			out = append(out, lookup{cttypes.LookupAttributeKeyUsername, p})
		}
	}
	return out
}

// lookupRegions are the regions to read: those given, or the resource's
// and us-east-1 (where IAM, STS and console sign-in events are).
func (s *session) lookupRegions(r *action.Request) []string {
	if rs := r.Strings("regions"); len(rs) > 0 {
		return rs
	}
	var out []string
	if res := r.Str("resource"); res != "" {
		out = append(out, s.locate(res).region)
	} else {
		out = append(out, s.base.Region)
	}
	if !slices.Contains(out, "us-east-1") {
		out = append(out, "us-east-1")
	}
	return out
}

func (p *Provider) lookupPlan(ctx context.Context, r *action.Request) (*action.Change, error) {
	s, err := p.session(ctx)
	if err != nil {
		return nil, err
	}
	_, start, end, err := r.ActivityWindow()
	if err != nil {
		return nil, err
	}
	ls := s.lookups(r)
	if len(ls) == 0 {
		return nil, fmt.Errorf("aws.cloudtrail.lookup_events needs a resource or a principal to look up")
	}
	var what []string
	for _, l := range ls {
		what = append(what, string(l.key)+"="+l.value)
	}
	return &action.Change{Summary: fmt.Sprintf("read CloudTrail events of %s from %s to %s in %s", strings.Join(what, " and "),
		start.Format(time.RFC3339), end.Format(time.RFC3339), strings.Join(s.lookupRegions(r), ", "))}, nil
}

func (p *Provider) lookupApply(ctx context.Context, r *action.Request) (*action.Result, error) {
	s, err := p.session(ctx)
	if err != nil {
		return nil, err
	}
	_, start, end, err := r.ActivityWindow()
	if err != nil {
		return nil, err
	}
	ls := s.lookups(r)
	if len(ls) == 0 {
		return nil, fmt.Errorf("aws.cloudtrail.lookup_events needs a resource or a principal to look up")
	}
	account := ""
	if res := r.Str("resource"); res != "" {
		account = s.locate(res).account
	}
	cfg, err := s.config(ctx, account)
	if err != nil {
		return nil, err
	}
	if account == "" {
		account = s.account
	}
	maxEvents := numArg(r, "max_events", 1000)
	// "LookupEvents ... is limited to two requests per second, per
	// account, per Region"
	pace := rate.NewLimiter(2, 1)
	res := &action.Result{}
	var events []cty.Value
	var notes []string
	seen := map[string]bool{}
	for _, region := range s.lookupRegions(r) {
		c := s.cloudtrail(cfg, region)
		notes = append(notes, trailNotes(ctx, c, account, region)...)
		for _, l := range ls {
			var raw []string
			in := &cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: l.key, AttributeValue: aws.String(l.value)}},
				StartTime: aws.Time(start), EndTime: aws.Time(end), MaxResults: aws.Int32(50)}
			for {
				if err := pace.Wait(ctx); err != nil {
					return nil, err
				}
				out, err := c.LookupEvents(ctx, in)
				if err != nil {
					return nil, fmt.Errorf("look up CloudTrail events of %s=%s in %s: %w", l.key, l.value, region, err)
				}
				for _, e := range out.Events {
					raw = append(raw, aws.ToString(e.CloudTrailEvent))
					id := aws.ToString(e.EventId)
					if seen[id] {
						continue
					}
					seen[id] = true
					events = append(events, trailEvent(e, region))
				}
				if out.NextToken == nil || len(raw) >= maxEvents {
					break
				}
				in.NextToken = out.NextToken
			}
			if len(raw) >= maxEvents {
				notes = append(notes, fmt.Sprintf("%s %s=%s: stopped at %d events (max_events)", region, l.key, l.value, len(raw)))
			}
			res.Evidence = append(res.Evidence, action.Evidence{
				Item:   fmt.Sprintf("CloudTrail LookupEvents %s %s=%s %s/%s", region, l.key, l.value, start.Format(time.RFC3339), end.Format(time.RFC3339)),
				SHA256: action.HashValue(raw), Kind: action.EvidenceLog, Note: fmt.Sprintf("%d raw events (the CloudTrailEvent strings, in the order returned)", len(raw)),
				Detail: map[string]any{"events": raw, "region": region, "attribute": string(l.key), "value": l.value}})
		}
	}
	list := cty.ListValEmpty(action.ActivityEvent)
	if len(events) > 0 {
		list = cty.ListVal(events)
	}
	res.Summary = fmt.Sprintf("%d CloudTrail events between %s and %s", len(events), start.Format(time.RFC3339), end.Format(time.RFC3339))
	res.Outputs = map[string]cty.Value{"events": list, "count": cty.NumberIntVal(int64(len(events))), "notes": action.StringList(notes)}
	return res, nil
}

// trailNotes says where better records are: an organization trail keeps
// data events and more than 90 days, in its own bucket (often in another
// account, the log archive); and when no trail logs the account at all.
func trailNotes(ctx context.Context, c *cloudtrail.Client, account, region string) []string {
	out, err := c.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
	if err != nil {
		return []string{fmt.Sprintf("%s: the trails could not be listed (%v): whether an organization trail keeps more is not known", region, explain(err))}
	}
	var notes []string
	for _, t := range out.TrailList {
		if !aws.ToBool(t.IsOrganizationTrail) {
			continue
		}
		_, _, owner, _, _ := ParseARN(aws.ToString(t.TrailARN))
		where := "in this account"
		if owner != "" && owner != account {
			where = "kept by account " + owner
		}
		notes = append(notes, fmt.Sprintf("organization trail %s (%s, bucket %s) is the better source: it keeps data events and more than LookupEvents' 90 days of management events",
			aws.ToString(t.Name), where, aws.ToString(t.S3BucketName)))
	}
	if len(out.TrailList) == 0 {
		notes = append(notes, region+": no trail delivers this account's events to a bucket; LookupEvents' 90 days of management events is all there is")
	}
	return notes
}

// trailEvent normalizes an event for the timeline from its record.
func trailEvent(e cttypes.Event, region string) cty.Value {
	var rec struct {
		UserIdentity struct {
			Type, Arn, UserName, PrincipalID string
		} `json:"userIdentity"`
		EventSource      string          `json:"eventSource"`
		EventName        string          `json:"eventName"`
		AWSRegion        string          `json:"awsRegion"`
		SourceIPAddress  string          `json:"sourceIPAddress"`
		ErrorCode        string          `json:"errorCode"`
		ErrorMessage     string          `json:"errorMessage"`
		ResponseElements json.RawMessage `json:"responseElements"`
	}
	_ = json.Unmarshal([]byte(aws.ToString(e.CloudTrailEvent)), &rec)
	actor := rec.UserIdentity.Arn
	if actor == "" {
		actor = aws.ToString(e.Username)
	}
	result := "success"
	switch {
	case rec.ErrorCode != "":
		result = strings.TrimSpace("error " + rec.ErrorCode + ": " + rec.ErrorMessage)
	case strings.Contains(string(rec.ResponseElements), `"Failure"`):
		result = "failure"
	}
	var resources []string
	for _, res := range e.Resources {
		resources = append(resources, aws.ToString(res.ResourceName))
	}
	if rec.AWSRegion != "" {
		region = rec.AWSRegion
	}
	name := strings.TrimSpace(aws.ToString(e.EventName))
	return cty.ObjectVal(map[string]cty.Value{
		"time": cty.StringVal(aws.ToTime(e.EventTime).UTC().Format(time.RFC3339)), "actor": cty.StringVal(actor), "source_ip": cty.StringVal(rec.SourceIPAddress),
		"service": cty.StringVal(aws.ToString(e.EventSource)), "call": cty.StringVal(name), "result": cty.StringVal(result),
		"resource": cty.StringVal(strings.Join(resources, ", ")), "region": cty.StringVal(region), "id": cty.StringVal(aws.ToString(e.EventId)),
		"log": cty.StringVal("CloudTrail event history"),
	})
}
