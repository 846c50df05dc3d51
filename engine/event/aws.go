package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// bridgeEvent is the EventBridge envelope.
type bridgeEvent struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Detail     json.RawMessage `json:"detail"`
}

// trailRecord is the part of a CloudTrail record that says what changed.
type trailRecord struct {
	EventID            string `json:"eventID"`
	EventName          string `json:"eventName"`
	EventSource        string `json:"eventSource"`
	EventTime          string `json:"eventTime"`
	AWSRegion          string `json:"awsRegion"`
	RecipientAccountID string `json:"recipientAccountId"`
	ErrorCode          string `json:"errorCode"`
	ErrorMessage       string `json:"errorMessage"`
	UserIdentity       struct {
		Type      string `json:"type"`
		ARN       string `json:"arn"`
		AccountID string `json:"accountId"`
		UserName  string `json:"userName"`
	} `json:"userIdentity"`
	RequestParameters json.RawMessage `json:"requestParameters"`
	ResponseElements  json.RawMessage `json:"responseElements"`
}

// CloudTrail event names vigil acts on, by event source. The EventBridge
// rule in examples/watch/aws must match exactly these (a test checks).
// Besides the calls that open things, the calls that close or remove them
// (RevokeSecurityGroupIngress, DeleteSecurityGroup, PutPublicAccessBlock,
// DeleteBucketPolicy, StartLogging, ...): the event scan then sees the asset
// fixed or gone and forgets that its findings were announced, so that the
// exposure reopened later is announced again.
var CloudTrailEvents = map[string][]string{
	"ec2.amazonaws.com": {"AuthorizeSecurityGroupIngress", "ModifySecurityGroupRules", "CreateSecurityGroup", "RunInstances", "CreateVpc",
		"RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "DeleteSecurityGroup", "TerminateInstances", "DeleteVpc"},
	"s3.amazonaws.com":         {"PutBucketPolicy", "PutBucketAcl", "DeletePublicAccessBlock", "PutPublicAccessBlock", "DeleteBucketPolicy", "DeleteBucket"},
	"cloudtrail.amazonaws.com": {"StopLogging", "DeleteTrail", "UpdateTrail", "StartLogging", "CreateTrail"},
	"guardduty.amazonaws.com":  {"DeleteDetector", "UpdateDetector", "CreateDetector"},
	"iam.amazonaws.com":        {"CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"},
}

// AlertDetailTypes are the EventBridge detail types of the alerts vigil
// reads, by source.
var AlertDetailTypes = map[string]string{
	"aws.guardduty":   "GuardDuty Finding",
	"aws.securityhub": "Security Hub Findings - Imported",
}

// CloudTrailDetailType is the detail type of CloudTrail management events.
const CloudTrailDetailType = "AWS API Call via CloudTrail"

func eventBridge(body []byte) (*Event, error) {
	var be bridgeEvent
	if err := json.Unmarshal(body, &be); err != nil {
		return nil, malformed("EventBridge event: %v", err)
	}
	if be.ID == "" {
		return nil, malformed("EventBridge event without an id")
	}
	ev := &Event{ID: "aws:eventbridge:" + be.ID, Provider: "aws", Scope: be.Account, Region: be.Region, Time: parseTime(be.Time)}
	switch {
	case be.DetailType == CloudTrailDetailType:
		return cloudTrail(ev, be)
	case be.Source == "aws.guardduty":
		ev.Source = "guardduty"
		if be.DetailType != AlertDetailTypes[be.Source] {
			return nil, ignored("GuardDuty detail type %q", be.DetailType)
		}
		return alerts(ev, body)
	case be.Source == "aws.securityhub":
		ev.Source = "securityhub"
		if be.DetailType != AlertDetailTypes[be.Source] {
			return nil, ignored("Security Hub detail type %q", be.DetailType)
		}
		return alerts(ev, body)
	}
	return nil, ignored("EventBridge event %q from %s", be.DetailType, be.Source)
}

func cloudTrail(ev *Event, be bridgeEvent) (*Event, error) {
	var r trailRecord
	if len(be.Detail) == 0 || json.Unmarshal(be.Detail, &r) != nil {
		return nil, malformed("CloudTrail event without a detail record")
	}
	if r.EventName == "" || r.EventSource == "" {
		return nil, malformed("CloudTrail record without eventName or eventSource")
	}
	ev.Kind, ev.Source, ev.Name, ev.Actor = KindConfig, "cloudtrail", r.EventName, r.UserIdentity.ARN
	if r.EventID != "" {
		// The same record can reach a queue by more than one rule or bus;
		// its CloudTrail id is the same every time.
		ev.ID = "aws:cloudtrail:" + r.EventID
	}
	if t := parseTime(r.EventTime); !t.IsZero() {
		ev.Time = t
	}
	if r.AWSRegion != "" {
		ev.Region = r.AWSRegion
	}
	if a := firstOf(r.RecipientAccountID, r.UserIdentity.AccountID); a != "" && ev.Scope == "" {
		ev.Scope = a
	}
	if !slices.Contains(CloudTrailEvents[r.EventSource], r.EventName) {
		return nil, ignored("%s %s is not a call vigil watches", r.EventSource, r.EventName)
	}
	if r.ErrorCode != "" {
		return nil, ignored("%s failed (%s): nothing changed", r.EventName, r.ErrorCode)
	}
	changes, err := trailChanges(ev, &r)
	if errors.Is(err, ErrIgnored) {
		return nil, err
	}
	if err != nil {
		return nil, malformed("%s: %v", r.EventName, err)
	}
	ev.Changes = changes
	return ev, nil
}

// params is a loosely typed view of requestParameters / responseElements.
type params map[string]any

func (p params) str(path ...string) string {
	var cur any = map[string]any(p)
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[k]
	}
	s, _ := cur.(string)
	return s
}

// items returns the "items" list of an EC2 set at path.
func (p params) items(path ...string) []params {
	var cur any = map[string]any(p)
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	m, _ := cur.(map[string]any)
	list, _ := m["items"].([]any)
	var out []params
	for _, it := range list {
		if x, ok := it.(map[string]any); ok {
			out = append(out, x)
		}
	}
	return out
}

func decodeParams(raw json.RawMessage) params {
	var p map[string]any
	if len(raw) > 0 && json.Unmarshal(raw, &p) == nil && p != nil {
		return p
	}
	return params{}
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// trailChanges says which assets a CloudTrail record changed, from the
// request parameters and response elements the API reference documents.
func trailChanges(ev *Event, r *trailRecord) ([]Change, error) {
	req, resp := decodeParams(r.RequestParameters), decodeParams(r.ResponseElements)
	acct, region := ev.Scope, ev.Region
	ec2 := func(typ, kind, id string) Change {
		return Change{Provider: "aws", Type: typ, ID: fmt.Sprintf("arn:aws:ec2:%s:%s:%s/%s", region, acct, kind, id), Name: id, Scope: acct, Region: region}
	}
	var out []Change
	switch r.EventName {
	case "AuthorizeSecurityGroupIngress":
		id := req.str("groupId")
		if id == "" {
			for _, rule := range resp.items("securityGroupRuleSet") {
				id = firstOf(id, rule.str("groupId"))
			}
		}
		if id == "" {
			// The EC2-Classic and default-VPC form names the group only by
			// name; the response's rule set carries its id.
			return nil, fmt.Errorf("no groupId in requestParameters or responseElements.securityGroupRuleSet")
		}
		out = append(out, ec2("AWS::EC2::SecurityGroup", "security-group", id))
	case "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "DeleteSecurityGroup":
		id := req.str("groupId")
		if id == "" {
			// Neither response names the group; the default-VPC form names
			// it only by name, which is not its asset id. Closing a rule
			// exposes nothing: say so rather than dead-letter the event.
			return nil, notRead("%s names group %q by name only: vigil re-reads groups by id, so the group is judged again at the next scan",
				r.EventName, req.str("groupName"))
		}
		c := ec2("AWS::EC2::SecurityGroup", "security-group", id)
		c.Deleted = r.EventName == "DeleteSecurityGroup"
		out = append(out, c)
	case "TerminateInstances":
		for _, in := range resp.items("instancesSet") {
			if id := in.str("instanceId"); id != "" {
				c := ec2("AWS::EC2::Instance", "instance", id)
				c.Deleted = true
				out = append(out, c)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no responseElements.instancesSet.items[].instanceId")
		}
	case "DeleteVpc":
		id := req.str("vpcId")
		if id == "" {
			return nil, fmt.Errorf("no vpcId in requestParameters")
		}
		c := ec2("AWS::EC2::VPC", "vpc", id)
		c.Deleted = true
		out = append(out, c)
	case "ModifySecurityGroupRules":
		id := firstOf(req.str("ModifySecurityGroupRulesRequest", "GroupId"), req.str("groupId"))
		if id == "" {
			return nil, fmt.Errorf("no ModifySecurityGroupRulesRequest.GroupId in requestParameters")
		}
		out = append(out, ec2("AWS::EC2::SecurityGroup", "security-group", id))
	case "CreateSecurityGroup":
		id := resp.str("groupId")
		if id == "" {
			return nil, fmt.Errorf("no groupId in responseElements")
		}
		c := ec2("AWS::EC2::SecurityGroup", "security-group", id)
		c.Created = true
		out = append(out, c)
	case "RunInstances":
		for _, in := range resp.items("instancesSet") {
			if id := in.str("instanceId"); id != "" {
				c := ec2("AWS::EC2::Instance", "instance", id)
				c.Created = true
				out = append(out, c)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no responseElements.instancesSet.items[].instanceId")
		}
	case "CreateVpc":
		id := resp.str("vpc", "vpcId")
		if id == "" {
			return nil, fmt.Errorf("no responseElements.vpc.vpcId")
		}
		c := ec2("AWS::EC2::VPC", "vpc", id)
		c.Created = true
		out = append(out, c)
	case "PutBucketPolicy", "PutBucketAcl", "DeletePublicAccessBlock", "PutPublicAccessBlock", "DeleteBucketPolicy", "DeleteBucket":
		b := req.str("bucketName")
		if b == "" {
			if r.EventName == "PutPublicAccessBlock" {
				return nil, notRead("PutPublicAccessBlock on account %s (S3 Control) names no bucket: vigil re-reads buckets, not the account's block", acct)
			}
			if r.EventName == "DeletePublicAccessBlock" {
				// The account-level block (S3 Control) names an account,
				// not a bucket: every bucket of the account is exposed.
				return nil, notRead("DeletePublicAccessBlock on account %s (S3 Control) names no bucket: vigil re-reads buckets, not the account's block, "+
					"so this is not judged until the next scan of an inventory that records the block (an AWS Config snapshot)", acct)
			}
			return nil, fmt.Errorf("no bucketName in requestParameters")
		}
		out = append(out, Change{Provider: "aws", Type: "AWS::S3::Bucket", ID: "arn:aws:s3:::" + b, Name: b, Scope: acct, Region: region,
			Deleted: r.EventName == "DeleteBucket"})
	case "StopLogging", "DeleteTrail", "UpdateTrail", "StartLogging", "CreateTrail":
		name := firstOf(req.str("name"), req.str("trailName"))
		if name == "" {
			return nil, fmt.Errorf("no name in requestParameters")
		}
		id, short := name, name
		if strings.HasPrefix(name, "arn:") {
			short = lastSegment(name)
		} else {
			id = fmt.Sprintf("arn:aws:cloudtrail:%s:%s:trail/%s", region, acct, name)
		}
		out = append(out, Change{Provider: "aws", Type: "AWS::CloudTrail::Trail", ID: id, Name: short, Scope: acct, Region: region,
			Deleted: r.EventName == "DeleteTrail", Created: r.EventName == "CreateTrail", Dependents: true})
	case "DeleteDetector", "UpdateDetector", "CreateDetector":
		id := firstOf(req.str("detectorId"), resp.str("detectorId"))
		if id == "" {
			return nil, fmt.Errorf("no detectorId in requestParameters")
		}
		out = append(out, Change{Provider: "aws", Type: "AWS::GuardDuty::Detector", ID: fmt.Sprintf("arn:aws:guardduty:%s:%s:detector/%s", region, acct, id),
			Name: id, Scope: acct, Region: region, Deleted: r.EventName == "DeleteDetector", Created: r.EventName == "CreateDetector", Dependents: true})
	case "CreateAccessKey":
		key, user := resp.str("accessKey", "accessKeyId"), firstOf(resp.str("accessKey", "userName"), req.str("userName"))
		if key == "" || user == "" {
			return nil, fmt.Errorf("no responseElements.accessKey.accessKeyId and userName")
		}
		out = append(out, Change{Provider: "aws", Type: "AWS::IAM::AccessKey", ID: fmt.Sprintf("arn:aws:iam::%s:user/%s/accesskey/%s", acct, user, key),
			Name: key, User: user, Scope: acct, Region: "global", Created: true})
	case "UpdateAccessKey", "DeleteAccessKey":
		// Without userName the caller acted on its own key: the user is
		// the caller's.
		key, user := req.str("accessKeyId"), req.str("userName")
		if user == "" && r.UserIdentity.Type == "IAMUser" {
			user = r.UserIdentity.UserName
		}
		if key == "" || user == "" {
			return nil, fmt.Errorf("no requestParameters.accessKeyId and userName")
		}
		out = append(out, Change{Provider: "aws", Type: "AWS::IAM::AccessKey", ID: fmt.Sprintf("arn:aws:iam::%s:user/%s/accesskey/%s", acct, user, key),
			Name: key, User: user, Scope: acct, Region: "global", Deleted: r.EventName == "DeleteAccessKey"})
	}
	return out, nil
}
