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
			TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + IRRole + `"},"Action":"sts:AssumeRole"}]}`,
			Attached:    []string{"arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::" + ProdAccount + ":policy/ir-containment"}}
		// It reads everything, and may snapshot and isolate (the default
		// version v2 of ir-containment; v1 only described) and write to
		// the evidence bucket (inline).
		m.Policies["arn:aws:iam::aws:policy/ReadOnlyAccess"] = &ManagedPolicy{Name: "ReadOnlyAccess", DefaultVersion: "v118",
			Versions: map[string]string{"v118": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*","s3:Get*","s3:List*","iam:Get*","iam:List*"],"Resource":"*"}]}`}}
		m.Policies["arn:aws:iam::"+ProdAccount+":policy/ir-containment"] = &ManagedPolicy{Name: "ir-containment", DefaultVersion: "v2", Versions: map[string]string{
			"v1": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`,
			"v2": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:CreateSnapshot","ec2:ModifyInstanceAttribute","ec2:CreateTags"],"Resource":"*"}]}`}}
		prod.RolePolicies["ir-break-glass"] = map[string]string{
			"evidence-bucket": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::acme-evidence/*"}]}`}
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
