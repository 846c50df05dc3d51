package aws

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/inspector2"
	inspectortypes "github.com/aws/aws-sdk-go-v2/service/inspector2/types"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
)

// What the collector reads for the policies of issue 19: the IAM
// credential report and account summary (folded into the user and account
// items, as supplementaryConfiguration.CredentialReport and the account's
// summaryMap), roles with their trust policies, network ACLs, flow logs,
// CloudWatch Logs metric filters, CloudWatch alarms, EventBridge rules, and
// Inspector's status and findings (one item per instance).

// moreState is what one collection keeps across accounts.
type moreState struct {
	mu sync.Mutex
	// reports are the credential report rows by account and user name.
	reports map[string]map[string]map[string]string
	// tags are the accounts' tags, which their assets inherit.
	tags map[string]map[string]string
}

func (s *session) inspector2(cfg aws.Config, region string) *inspector2.Client {
	return inspector2.NewFromConfig(regional(cfg, region))
}

func (s *session) cloudwatch(cfg aws.Config, region string) *cloudwatch.Client {
	return cloudwatch.NewFromConfig(regional(cfg, region))
}

func (s *session) logs(cfg aws.Config, region string) *cloudwatchlogs.Client {
	return cloudwatchlogs.NewFromConfig(regional(cfg, region))
}

func (s *session) events(cfg aws.Config, region string) *eventbridge.Client {
	return eventbridge.NewFromConfig(regional(cfg, region))
}

// accountDetails adds the account summary and the root user's credential
// report row to the account item, and remembers the report and the tags.
func (c *collector) accountDetails(ctx context.Context, acct string, tags map[string]string, cfg aws.Config, ai *inventory.ConfigItem) {
	c.more.mu.Lock()
	if c.more.tags == nil {
		c.more.tags, c.more.reports = map[string]map[string]string{}, map[string]map[string]map[string]string{}
	}
	if len(tags) > 0 {
		c.more.tags[acct] = tags
	}
	c.more.mu.Unlock()
	client := c.s.iam(cfg)
	conf := map[string]any{}
	if out, err := client.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{}); err != nil {
		c.fail(acct, "", "iam:GetAccountSummary", err)
	} else {
		conf["summaryMap"] = out.SummaryMap
	}
	ai.Configuration, _ = json.Marshal(conf)
	rows, err := credentialReport(ctx, client, c.s.opts.PollInterval)
	if err != nil {
		c.fail(acct, "", "iam:GetCredentialReport", err)
		return
	}
	c.more.mu.Lock()
	c.more.reports[acct] = rows
	c.more.mu.Unlock()
	if root, ok := rows["<root_account>"]; ok {
		raw, _ := json.Marshal(root)
		ai.SupplementaryConfiguration = map[string]json.RawMessage{"CredentialReport": raw}
	}
}

// credentialReport generates the report and waits for it: IAM answers
// STARTED, then INPROGRESS, then COMPLETE, and GetCredentialReport fails
// with ReportInProgress meanwhile.
func credentialReport(ctx context.Context, client *iam.Client, poll time.Duration) (map[string]map[string]string, error) {
	wait := min(poll, time.Second)
	for i := 0; ; i++ {
		g, err := client.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		if err != nil {
			return nil, explain(err)
		}
		if g.State == "COMPLETE" {
			break
		}
		if i >= 30 {
			return nil, fmt.Errorf("the credential report was still %s after %d tries", g.State, i+1)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	out, err := client.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		return nil, explain(err)
	}
	return parseCredentialReport(out.Content)
}

// parseCredentialReport reads the report's CSV into rows by user.
func parseCredentialReport(content []byte) (map[string]map[string]string, error) {
	r := csv.NewReader(bytes.NewReader(content))
	recs, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read the credential report: %w", err)
	}
	rows := map[string]map[string]string{}
	if len(recs) == 0 {
		return rows, nil
	}
	head := recs[0]
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, v := range rec {
			if i < len(head) {
				row[head[i]] = v
			}
		}
		rows[row["user"]] = row
	}
	return rows, nil
}

// decorate gives a user item its credential report row.
func (c *collector) decorate(ci *inventory.ConfigItem) {
	if ci.ResourceType != "AWS::IAM::User" {
		return
	}
	c.more.mu.Lock()
	row, ok := c.more.reports[ci.AccountID][ci.ResourceName]
	c.more.mu.Unlock()
	if !ok {
		return
	}
	raw, _ := json.Marshal(row)
	if ci.SupplementaryConfiguration == nil {
		ci.SupplementaryConfiguration = map[string]json.RawMessage{}
	}
	ci.SupplementaryConfiguration["CredentialReport"] = raw
}

// inherit gives an asset its account's tags (Facets.Inherited), as the CAI
// loader gives a GCP asset its project's labels.
func (c *collector) inherit(a *asset.Asset) {
	if a.Kind == asset.KindAccount {
		return
	}
	c.more.mu.Lock()
	tags := c.more.tags[a.Scope]
	c.more.mu.Unlock()
	if len(tags) > 0 {
		a.Facets.Inherited = []asset.Inherited{{Node: a.Scope, Labels: tags}}
	}
}

// globalMore collects IAM roles with their trust policies.
func (c *collector) globalMore(ctx context.Context, acct string, cfg aws.Config) {
	p := iam.NewListRolesPaginator(c.s.iam(cfg), &iam.ListRolesInput{})
	managed := managedDocs{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.fail(acct, "", "iam:ListRoles", err)
			}
			return
		}
		for _, r := range page.Roles {
			conf := camelJSON(r)
			if perms, err := c.rolePermissions(ctx, cfg, aws.ToString(r.RoleName), managed); err != nil {
				if ctx.Err() != nil {
					return
				}
				// The role is kept, its permissions unknown (as before
				// they were read): no rolePolicyList, no attachedManagedPolicies.
				c.fail(acct, "", err.op, err.err)
			} else {
				conf = spliceJSON(conf, perms)
			}
			c.put(&inventory.ConfigItem{ARN: aws.ToString(r.Arn), AccountID: acct, ResourceType: "AWS::IAM::Role", ResourceID: aws.ToString(r.RoleId),
				ResourceName: aws.ToString(r.RoleName), AWSRegion: "global", Configuration: conf})
		}
	}
}

// opError is a failed call and the operation that failed.
type opError struct {
	op  string
	err error
}

// managedDocs caches the default version's document of each managed policy
// (AWS's are attached to many roles) for one account's collection.
type managedDocs map[string]string

// rolePermissions reads a role's inline policies (ListRolePolicies,
// GetRolePolicy) and attached managed policies (ListAttachedRolePolicies,
// then GetPolicy and GetPolicyVersion for the default version's document),
// in AWS Config's shape: rolePolicyList [{policyName, policyDocument}] and
// attachedManagedPolicies [{policyName, policyArn}], each attached entry with
// the policyDocument AWS Config keeps on the policy's own item. Documents
// stay URL-encoded, as IAM returns them and AWS Config keeps them.
func (c *collector) rolePermissions(ctx context.Context, cfg aws.Config, role string, managed managedDocs) (map[string]any, *opError) {
	client := c.s.iam(cfg)
	inline := []map[string]string{}
	lp := iam.NewListRolePoliciesPaginator(client, &iam.ListRolePoliciesInput{RoleName: aws.String(role)})
	for lp.HasMorePages() {
		page, err := lp.NextPage(ctx)
		if err != nil {
			return nil, &opError{"iam:ListRolePolicies", err}
		}
		for _, name := range page.PolicyNames {
			out, err := client.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(name)})
			if err != nil {
				return nil, &opError{"iam:GetRolePolicy", err}
			}
			inline = append(inline, map[string]string{"policyName": name, "policyDocument": aws.ToString(out.PolicyDocument)})
		}
	}
	attached := []map[string]string{}
	ap := iam.NewListAttachedRolePoliciesPaginator(client, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	for ap.HasMorePages() {
		page, err := ap.NextPage(ctx)
		if err != nil {
			return nil, &opError{"iam:ListAttachedRolePolicies", err}
		}
		for _, p := range page.AttachedPolicies {
			arn := aws.ToString(p.PolicyArn)
			doc, ok := managed[arn]
			if !ok {
				pol, err := client.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
				if err != nil {
					return nil, &opError{"iam:GetPolicy", err}
				}
				if pol.Policy != nil && pol.Policy.DefaultVersionId != nil {
					v, err := client.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: pol.Policy.DefaultVersionId})
					if err != nil {
						return nil, &opError{"iam:GetPolicyVersion", err}
					}
					if v.PolicyVersion != nil {
						doc = aws.ToString(v.PolicyVersion.Document)
					}
				}
				managed[arn] = doc
			}
			e := map[string]string{"policyName": aws.ToString(p.PolicyName), "policyArn": arn}
			if doc != "" {
				e["policyDocument"] = doc
			}
			attached = append(attached, e)
		}
	}
	return map[string]any{"rolePolicyList": inline, "attachedManagedPolicies": attached}, nil
}

// spliceJSON sets keys of a JSON object.
func spliceJSON(obj json.RawMessage, set map[string]any) json.RawMessage {
	var m map[string]any
	if json.Unmarshal(obj, &m) != nil || m == nil {
		m = map[string]any{}
	}
	for k, v := range set {
		m[k] = v
	}
	out, err := json.Marshal(m)
	if err != nil {
		return obj
	}
	return out
}

// regionMore collects one region's network ACLs, flow logs, alerting chain
// and Inspector results.
func (c *collector) regionMore(ctx context.Context, acct, region string, cfg aws.Config, step func(string, func() error)) {
	e := c.s.ec2(cfg, region)
	step("ec2:DescribeNetworkAcls", func() error {
		p := ec2.NewDescribeNetworkAclsPaginator(e, &ec2.DescribeNetworkAclsInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, n := range page.NetworkAcls {
				c.put(ec2Item(acct, region, "AWS::EC2::NetworkAcl", "network-acl", aws.ToString(n.NetworkAclId), n.Tags, n))
			}
		}
		return nil
	})
	step("ec2:DescribeFlowLogs", func() error {
		p := ec2.NewDescribeFlowLogsPaginator(e, &ec2.DescribeFlowLogsInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, f := range page.FlowLogs {
				c.put(ec2Item(acct, region, "AWS::EC2::FlowLog", "vpc-flow-log", aws.ToString(f.FlowLogId), f.Tags, f))
			}
		}
		return nil
	})
	step("logs:DescribeMetricFilters", func() error {
		p := cloudwatchlogs.NewDescribeMetricFiltersPaginator(c.s.logs(cfg, region), &cloudwatchlogs.DescribeMetricFiltersInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, f := range page.MetricFilters {
				id := aws.ToString(f.LogGroupName) + "/" + aws.ToString(f.FilterName)
				c.put(&inventory.ConfigItem{ARN: fmt.Sprintf("arn:aws:logs:%s:%s:metric-filter:%s:%s", region, acct, aws.ToString(f.LogGroupName), aws.ToString(f.FilterName)),
					AccountID: acct, ResourceType: "AWS::Logs::MetricFilter", ResourceID: id, ResourceName: aws.ToString(f.FilterName), AWSRegion: region, Configuration: camelJSON(f)})
			}
		}
		return nil
	})
	step("cloudwatch:DescribeAlarms", func() error {
		p := cloudwatch.NewDescribeAlarmsPaginator(c.s.cloudwatch(cfg, region), &cloudwatch.DescribeAlarmsInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, a := range page.MetricAlarms {
				c.put(&inventory.ConfigItem{ARN: aws.ToString(a.AlarmArn), AccountID: acct, ResourceType: "AWS::CloudWatch::Alarm", ResourceID: aws.ToString(a.AlarmName),
					ResourceName: aws.ToString(a.AlarmName), AWSRegion: region, Configuration: camelJSON(a)})
			}
		}
		return nil
	})
	step("events:ListRules", func() error {
		ev := c.s.events(cfg, region)
		var token *string
		for {
			out, err := ev.ListRules(ctx, &eventbridge.ListRulesInput{NextToken: token})
			if err != nil {
				return err
			}
			for _, r := range out.Rules {
				conf := map[string]any{"Name": aws.ToString(r.Name), "Arn": aws.ToString(r.Arn), "EventPattern": aws.ToString(r.EventPattern),
					"State": string(r.State), "EventBusName": aws.ToString(r.EventBusName)}
				t, err := ev.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: r.Name, EventBusName: r.EventBusName})
				if err != nil {
					return err
				}
				var targets []map[string]string
				for _, x := range t.Targets {
					targets = append(targets, map[string]string{"Id": aws.ToString(x.Id), "Arn": aws.ToString(x.Arn)})
				}
				conf["Targets"] = targets
				raw, _ := json.Marshal(conf)
				c.put(&inventory.ConfigItem{ARN: aws.ToString(r.Arn), AccountID: acct, ResourceType: "AWS::Events::Rule", ResourceID: aws.ToString(r.Name),
					ResourceName: aws.ToString(r.Name), AWSRegion: region, Configuration: raw})
			}
			if out.NextToken == nil {
				return nil
			}
			token = out.NextToken
		}
	})
	step("inspector2:BatchGetAccountStatus", func() error { return c.inspector(ctx, acct, region, cfg) })
}

// inspector reads Inspector's status in the region and, when it scans EC2,
// the active findings of instances, grouped by instance.
func (c *collector) inspector(ctx context.Context, acct, region string, cfg aws.Config) error {
	client := c.s.inspector2(cfg, region)
	st, err := client.BatchGetAccountStatus(ctx, &inspector2.BatchGetAccountStatusInput{AccountIds: []string{acct}})
	if err != nil {
		return err
	}
	ec2Status := "DISABLED"
	for _, a := range st.Accounts {
		if aws.ToString(a.AccountId) == acct && a.ResourceState != nil && a.ResourceState.Ec2 != nil {
			ec2Status = string(a.ResourceState.Ec2.Status)
		}
	}
	raw, _ := json.Marshal(map[string]string{"accountId": acct, "ec2": ec2Status})
	c.put(&inventory.ConfigItem{ARN: fmt.Sprintf("arn:aws:inspector2:%s:%s:account-status", region, acct), AccountID: acct,
		ResourceType: "AWS::Inspector2::AccountStatus", ResourceID: acct + "/" + region, ResourceName: "inspector", AWSRegion: region, Configuration: raw})
	if ec2Status != "ENABLED" {
		return nil
	}
	byInstance := map[string][]json.RawMessage{}
	var order []string
	filter := &inspectortypes.FilterCriteria{
		ResourceType:  []inspectortypes.StringFilter{{Comparison: inspectortypes.StringComparisonEquals, Value: aws.String("AWS_EC2_INSTANCE")}},
		FindingStatus: []inspectortypes.StringFilter{{Comparison: inspectortypes.StringComparisonEquals, Value: aws.String("ACTIVE")}},
		FindingType:   []inspectortypes.StringFilter{{Comparison: inspectortypes.StringComparisonEquals, Value: aws.String("PACKAGE_VULNERABILITY")}},
	}
	p := inspector2.NewListFindingsPaginator(client, &inspector2.ListFindingsInput{FilterCriteria: filter, MaxResults: aws.Int32(100)})
	tokens := map[string]bool{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		// A token given twice would page for ever (the paginator's own
		// check stops without a word): the region's findings are a
		// failure instead, named as one.
		if t := aws.ToString(page.NextToken); t != "" {
			if tokens[t] {
				return fmt.Errorf("inspector2:ListFindings returned the page token %q a second time", t)
			}
			tokens[t] = true
		}
		for _, f := range page.Findings {
			for _, r := range f.Resources {
				if r.Type != inspectortypes.ResourceTypeAwsEc2Instance {
					continue
				}
				id := aws.ToString(r.Id)
				if _, ok := byInstance[id]; !ok {
					order = append(order, id)
				}
				byInstance[id] = append(byInstance[id], camelJSON(f))
			}
		}
	}
	for _, id := range order {
		c.put(inventory.InspectorItem(acct, region, id, byInstance[id]))
	}
	return nil
}
