package triage

import (
	"context"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/alert"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
)

func options(t *testing.T) *Options {
	t.Helper()
	inv, err := inventory.Load(context.Background(), "../../examples/inventory")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, diags := config.Load("../../examples/vigil.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	findings := []policy.Finding{
		{PolicyID: "VGL-NET-004", AssetID: "arn:aws:ec2:eu-west-1:111111111111:instance/i-0a1b2c3d4e5f60001", Severity: "medium"},
		{PolicyID: "VGL-NET-001", AssetID: "arn:aws:ec2:eu-west-1:111111111111:security-group/sg-0b2b2b2b2b2b2b2b2", Severity: "high"},
		{PolicyID: "VGL-NET-001", AssetID: "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-debug", Severity: "high"},
		{PolicyID: "VGL-NET-003", AssetID: "arn:aws:ec2:us-east-1:222222222222:vpc/vpc-0e9d8c7b6a5f4e3d2", Severity: "low"},
		{PolicyID: "VGL-NET-001", AssetID: "arn:aws:ec2:eu-west-1:111111111111:security-group/sg-0c3c3c3c3c3c3c3c3", Severity: "high", Waived: true},
	}
	return &Options{Inventory: inv, Config: cfg, Findings: findings, InventoryArgs: []string{"examples/inventory"}, ConfigArg: "examples/vigil.hcl",
		Runbooks: []RunbookInfo{
			{Name: "compromised-ec2", Tags: []string{"aws", "ec2"}, Variables: []string{"instance", "incident", "stop"}, Required: []string{"instance", "incident"}, FromAlert: true},
			{Name: "compromised-vm-gcp", Tags: []string{"gcp"}, Variables: []string{"instance", "incident"}, Required: []string{"instance", "incident"}, FromAlert: true},
			{Name: "open-firewall-remediation", Tags: []string{"aws", "gcp", "network"}, Variables: []string{"mode"}},
		}}
}

type want struct {
	known bool
	value string
	// details that must appear (substrings)
	details []string
}

func check(t *testing.T, c *Card, wants map[string]want) {
	t.Helper()
	for q, w := range wants {
		a := c.Question(q)
		if a == nil {
			t.Errorf("%s: no answer", q)
			continue
		}
		if a.Known != w.known || a.Value != w.value {
			t.Errorf("%s = %q (known %v), want %q (known %v)\n%v", q, a.Value, a.Known, w.value, w.known, a.Details)
		}
		all := strings.Join(a.Details, "\n")
		for _, d := range w.details {
			if !strings.Contains(all, d) {
				t.Errorf("%s details lack %q:\n%s", q, d, all)
			}
		}
	}
}

// A GuardDuty finding against the AWS web-1: every question is answered
// from the example inventory.
func TestGuardDutyCard(t *testing.T) {
	o := options(t)
	as, err := alert.Load("../../examples/alerts/guardduty-getfindings.json")
	if err != nil {
		t.Fatal(err)
	}
	o.AlertFile = "examples/alerts/guardduty-getfindings.json"
	cards := ForAlert(o, as[0])
	if len(cards) != 1 || !cards[0].Found {
		t.Fatalf("cards %+v", cards)
	}
	c := cards[0]
	check(t, c, map[string]want{
		QOwner:       {true, "web-team", []string{"label owner on the asset"}},
		QPurpose:     {true, "shop-api", []string{"label app"}},
		QEnvironment: {true, "prod", []string{"env=prod on the asset"}},
		// the third: the IR team's break-glass role, assumable from 999999999999
		QReachProjects: {true, "yes (3)", []string{
			"role ir-break-glass of account 111111111111 can be assumed from account 999999999999",
			"vpc-0abc1234def567890 peers with vpc-0e9d8c7b6a5f4e3d2 in account 222222222222 (prod-to-dev)",
			"role partner-reports-reader of account 111111111111 can be assumed from account 444455556666"}},
		QReachCorporate: {true, "yes", []string{"transit gateway tgw-0f9e8d7c6b5a43210, which has VPN connection corp-dc1"}},
		QData:           {true, "pii", []string{"label data-class on the asset"}},
		QLocation:       {true, "eu-west-1", []string{"zone eu-west-1a", "residency: allowed"}},
	})
	var fs []string
	for _, f := range c.Findings {
		fs = append(fs, f.PolicyID+" "+f.On)
	}
	if strings.Join(fs, ",") != "VGL-NET-004 asset,VGL-NET-001 firewall" {
		t.Errorf("findings %v (the waived one must not show)", fs)
	}
	if len(c.Runbooks) != 1 || c.Runbooks[0].Rehearse != "vigil runbook plan compromised-ec2 --from-alert examples/alerts/guardduty-getfindings.json --provider sim -i examples/inventory -c examples/vigil.hcl" {
		t.Errorf("runbooks %+v", c.Runbooks)
	}
}

// An SCC finding against the GCP web-1: the data class comes from the
// project, reach from IAM and peering to a corporate network.
func TestSCCCard(t *testing.T) {
	o := options(t)
	as, err := alert.Load("../../examples/alerts/scc-list-findings.json")
	if err != nil {
		t.Fatal(err)
	}
	c := ForAlert(o, as[0])[0]
	check(t, c, map[string]want{
		QOwner:       {true, "web-team", []string{"platform-team (label owner on project acme-prod)", "IAM owners of acme-prod: group:platform-team@acme.example"}},
		QPurpose:     {true, "shop-frontend", []string{"customer-facing web shop (label purpose on project acme-prod)"}},
		QEnvironment: {true, "prod", nil},
		QReachProjects: {true, "yes (2)", []string{
			"etl-runner@acme-analytics.iam.gserviceaccount.com of project acme-analytics has roles/bigquery.dataViewer on project acme-prod",
			"network prod-vpc peers with projects/acme-corp-net/global/networks/corp-hub of project acme-corp-net"}},
		QReachCorporate: {true, "yes", []string{"peers with corporate network projects/acme-corp-net/global/networks/corp-hub"}},
		QData:           {true, "pii", []string{"its project's class applies"}},
		QLocation:       {true, "europe-west1", []string{"residency: allowed, pii data may be in eu, eu-*, europe-*"}},
	})
	if len(c.Runbooks) != 1 || c.Runbooks[0].Runbook != "compromised-vm-gcp" {
		t.Errorf("runbooks %+v", c.Runbooks)
	}
}

// What the inventory cannot tell is unknown, with what to collect.
func TestUnknownsSayWhatToCollect(t *testing.T) {
	o := options(t)
	c := Build(o, "arn:aws:ec2:us-east-1:222222222222:instance/i-0d1e2f3a4b5c60003") // dev-box: owner tag only
	check(t, c, map[string]want{
		QOwner:       {true, "j.doe", nil},
		QPurpose:     {false, "unknown", nil},
		QEnvironment: {true, "not prod (by name)", []string{`guessed from the name "dev-box"`}},
		QData:        {false, "unknown", nil},
	})
	for _, q := range []string{QPurpose, QData} {
		if c.Question(q).Collect == "" {
			t.Errorf("%s: unknown without saying what to collect", q)
		}
	}
	if q := c.Question(QLocation); !strings.Contains(strings.Join(q.Details, " "), "residency: unknown") {
		t.Errorf("location: %+v", q)
	}
	missing := Build(o, "arn:aws:ec2:eu-west-1:111111111111:instance/i-nope")
	if missing.Found || missing.Question(QOwner).Known || !strings.Contains(missing.Question(QOwner).Collect, "not in the inventory") {
		t.Errorf("missing asset: %+v", missing.Question(QOwner))
	}
	// Without corporate_networks, peering cannot be judged corporate.
	o.Config = config.Default()
	gcp := Build(o, "//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1")
	if q := gcp.Question(QReachCorporate); q.Known || !strings.Contains(q.Collect, "corporate_networks") {
		t.Errorf("reach corporate without corporate_networks: %+v", q)
	}
}

func TestShellJoin(t *testing.T) {
	got := shellJoin([]string{"vigil", "-var", "incident=INC 1", "x'y", "//compute.googleapis.com/a"})
	if got != `vigil -var 'incident=INC 1' 'x'\''y' //compute.googleapis.com/a` {
		t.Errorf("%s", got)
	}
}
