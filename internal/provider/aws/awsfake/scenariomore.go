package awsfake

import "time"

// IRRole is the IR team's role in the security account, which the
// production account's break-glass role trusts.
const IRRole = "arn:aws:iam::" + SecurityAccount + ":role/IR"

// AddIssue19 gives the scenario's production account what the policies of
// issue 19 read: a network ACL open to the world on the web subnet, a flow
// log on the prod VPC only, console users with and without MFA, a root
// key, a break-glass role trusting the IR team, a metric filter and alarm
// for security group changes, an EventBridge rule for IAM changes, and
// Inspector scanning eu-west-1 with a fixable critical CVE on web-1.
func AddIssue19(f *Fake) {
	f.With(func(f *Fake) {
		m := f.More(ProdAccount)
		// The prod VPC's default network ACL (scenario.go) allows all
		// traffic in and out, as AWS makes it.
		m.FlowLogs["eu-west-1"] = []*FlowLog{{ID: "fl-0aaaaaaaaaaaa0001", ResourceID: "vpc-0aaaaaaaaaaaa0001", Status: "ACTIVE"}}
		m.Credentials["<root_account>"] = Credential{MFA: true}
		m.RootKeys = 1
		prod := f.Get(ProdAccount)
		prod.Users["alice"] = &User{Name: "alice", ID: "AIDAFAKE0000000000002", Created: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
		m.Credentials["alice"] = Credential{Password: true, MFA: false}
		m.Roles["ir-break-glass"] = &Role{Name: "ir-break-glass", Created: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + IRRole + `"},"Action":"sts:AssumeRole"}]}`}
		m.MetricFilters["us-east-1"] = []*MetricFilter{{Name: "SecurityGroupChanges", LogGroup: "org-trail-logs", MetricNamespace: "CISBenchmark", MetricName: "SecurityGroupEventCount",
			Pattern: "{ ($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = AuthorizeSecurityGroupEgress) || ($.eventName = RevokeSecurityGroupIngress) || ($.eventName = RevokeSecurityGroupEgress) || ($.eventName = CreateSecurityGroup) || ($.eventName = DeleteSecurityGroup) }"}}
		m.Alarms["us-east-1"] = []*Alarm{{Name: "SecurityGroupChanges", Namespace: "CISBenchmark", MetricName: "SecurityGroupEventCount", ActionsEnabled: true,
			Actions: []string{"arn:aws:sns:us-east-1:" + ProdAccount + ":secops"}}}
		m.Rules["us-east-1"] = []*EventRule{{Name: "iam-changes", State: "ENABLED", Pattern: `{"source":["aws.iam"],"detail-type":["AWS API Call via CloudTrail"]}`,
			Targets: []string{"arn:aws:sns:us-east-1:" + ProdAccount + ":secops"}}}
		m.Inspector["eu-west-1"] = "ENABLED"
		m.Findings["eu-west-1"] = []*Finding{{Instance: WebInstance, CVE: "CVE-2024-6387", Severity: "CRITICAL", FixAvailable: "YES", Package: "openssh-server", Fixed: "9.8p1"}}
	})
}
