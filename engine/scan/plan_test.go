package scan

import (
	"context"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// The built-in policies judge the fixture plans' firewalls and security
// groups by the provider semantics vigil implements. Each expectation is
// worked out from the plan, with the reasoning where it departs from the
// upstream tool that published the fixture.
func TestFixturePlansNET001(t *testing.T) {
	tests := []struct {
		plan []string
		want []string
	}{
		{
			// regula: invalid_sg_1 (22) and invalid_sg_2 (20-25) from
			// 0.0.0.0/0; valid_sg_1 is 443, valid_sg_2 is 22 from 10.10.0.0/16.
			[]string{"fugue__regula", "pkg", "loader", "test_inputs", "data", "tfplan.0.15.json"},
			[]string{"aws_security_group.invalid_sg_1", "aws_security_group.invalid_sg_2"},
		},
		{
			// regula's rule denies any 0.0.0.0/0 ingress but exactly 80/443;
			// VGL-NET-001 is about admin ports: only 0-65535 reaches 22/3389
			// (442-444 and 79-81 do not).
			[]string{"fugue__regula", "rego", "tests", "rules", "tf", "aws", "security_group", "inputs", "ingress_anywhere_infra.json"},
			[]string{"aws_security_group.invalid_allow_all"},
		},
		{
			// invalid-rule-1 (22) and invalid-rule-2 (20-24) from 0.0.0.0/0.
			// regula's test passes valid-rule-2 (tcp 22, no source_ranges), but
			// with no ranges, tags or service accounts Google applies it to
			// 0.0.0.0/0 (terraform-provider-google#6789): vigil flags it.
			[]string{"fugue__regula", "rego", "tests", "rules", "tf", "google", "compute", "inputs", "firewall_no_ingress_22_infra.json"},
			[]string{"google_compute_firewall.invalid-rule-1", "google_compute_firewall.invalid-rule-2", "google_compute_firewall.valid-rule-2"},
		},
		{
			// terraform-compliance checks tcp/80; admin ports are not reached
			// (another_failure's whole ingress is unknown, but a standalone
			// rule makes its rules, and that rule is tcp/80).
			[]string{"terraform-compliance__cli", "tests", "functional", "test_multiple_failures", "plan.out.json"},
			nil,
		},
		{
			// The upstream expectation names module.mysg.aws_security_group.alb:
			// the standalone rule elb-ingress-ssh (22 from 0.0.0.0/0) attaches
			// to it through the module output; vigil reports the rule itself
			// and names the group in the message.
			[]string{"terraform-compliance__cli", "tests", "functional", "test_issue-190", "plan.out.json"},
			[]string{"aws_security_group_rule.elb-ingress-ssh"},
		},
		{
			// Upstream reports only example_rule_22 (its policy looks at
			// aws_security_group_rule with to_port 22). By port coverage:
			// example_rule 0-65535, example_rule_22 0-22, example_rule_3389
			// 0-3389; the groups' inverted ranges 443->22 and 443->3389 are
			// judged as the spans 22-443 and 443-3389; example_group is 443.
			[]string{"terraform-compliance__cli", "tests", "functional", "test_issue_400", "plan.out.json"},
			[]string{"aws_security_group.example_group_22", "aws_security_group.example_group_3389", "aws_security_group_rule.example_rule", "aws_security_group_rule.example_rule_22", "aws_security_group_rule.example_rule_3389"},
		},
		{
			// terraform-validator: a disabled rule with source service accounts
			// only, and two deny rules.
			[]string{"GoogleCloudPlatform__terraform-validator", "testdata", "templates", "full_compute_firewall.tfplan.json"},
			nil,
		},
	}
	e := engine(t, "")
	for _, tt := range tests {
		name := tt.plan[len(tt.plan)-2] + "/" + tt.plan[len(tt.plan)-1]
		fs, err := inventory.Open(testutil.Fixture(t, tt.plan...))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), Options{Sources: []inventory.Source{fs}, Engine: e})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for _, f := range res.Findings.Slice() {
			if f.PolicyID == "VGL-NET-001" {
				got = append(got, f.AssetID)
				if f.Change != "create" || f.File == "" || f.Line == 0 {
					t.Errorf("%s: finding lacks the planned action or its line: %+v", name, f)
				}
			}
		}
		sort.Strings(got)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: VGL-NET-001 (-want +got):\n%s", name, diff)
		}
		// A plan is a change set: no project or account is made up for it.
		for _, f := range res.Findings.Slice() {
			if f.PolicyID == "VGL-LOG-001" || f.PolicyID == "VGL-DET-001" || f.PolicyID == "VGL-IAM-001" {
				t.Errorf("%s: account-level finding on a plan: %+v", name, f)
			}
		}
	}
}

// A planned rule whose CIDRs are known only after apply is reported, not
// passed.
func TestUnknownCIDRsAreReported(t *testing.T) {
	fs, err := inventory.Open(filepath.Join(testutil.Root(t), "examples", "terraform", "plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Options{Sources: []inventory.Source{fs}, Engine: engine(t, "")})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, f := range res.Findings.Slice() {
		if f.PolicyID == "VGL-NET-001" {
			found[f.AssetID] = f.Message
		}
	}
	for id, msg := range map[string]string{
		"aws_security_group.vpn":                  "vpn-peers: ingress rule 0 may allow the internet to reach an admin port; its sources known only after apply",
		"google_compute_firewall.office_ssh":      "allow-ssh-from-office: ingress rule 0 may allow the internet to reach an admin port; its sources known only after apply",
		"google_compute_firewall.iap_ssh":         "allow-iap-ssh allows tcp from 0.0.0.0/0 to 22",
		"aws_security_group.bastion":              "bastion allows tcp from 0.0.0.0/0 to 22",
		"aws_vpc_security_group_ingress_rule.rdp": "rdp (rule of aws_security_group.bastion) allows tcp from ::/0 to 3389",
	} {
		if found[id] != msg {
			t.Errorf("%s: got %q, want %q", id, found[id], msg)
		}
	}
	if len(found) != 5 {
		t.Errorf("NET-001 findings: %v (the health-check rule is port 80 from Google ranges; the lb groups allow 443)", found)
	}
	// 23 creates, the bucket policy, public access block and IAM member
	// among them (judged with their buckets); the Elastic IPs and the
	// Google address are mapped as addresses.
	s := res.Summary
	if s.Changes["create"] != 23 || len(s.Changes) != 1 || s.Deleted != 1 || len(s.Unmapped) != 0 {
		t.Errorf("plan summary: changes %v deleted %d unmapped %v", s.Changes, s.Deleted, s.Unmapped)
	}
}
