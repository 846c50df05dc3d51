package aws

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
	"github.com/vigil-ir/vigil/policies"
)

// The collector reads what the policies of issue 19 need, from the wire:
// the credential report (generated, waited for), the account summary,
// roles, network ACLs, flow logs, metric filters, alarms (CBOR), EventBridge
// rules and Inspector; and the policies then find, by hand from
// awsfake.AddIssue19, the gaps the scenario has.
func TestCollectIssue19(t *testing.T) {
	f, opts := start(t)
	awsfake.AddIssue19(f)
	inv, sum := collect(t, opts)
	if len(sum.Failures) > 0 {
		t.Fatalf("failures: %v", sum.Failures)
	}
	acct := inv.Get(asset.AccountID(awsfake.ProdAccount))
	if acct == nil || acct.Facets.ActiveKeys == nil || *acct.Facets.ActiveKeys != 1 || acct.Facets.MFA == nil || !*acct.Facets.MFA {
		t.Fatalf("account facets: %+v", acct)
	}
	alice := byName(inv, asset.KindUser, "alice")
	if alice == nil || alice.Facets.Console == nil || !*alice.Facets.Console || *alice.Facets.MFA || *alice.Facets.ActiveKeys != 0 {
		t.Fatalf("alice: %+v", alice)
	}
	ci := byName(inv, asset.KindUser, "ci-deployer")
	if ci == nil || ci.Facets.ActiveKeys == nil || *ci.Facets.ActiveKeys != 2 {
		t.Fatalf("ci-deployer: %+v", ci)
	}
	for kind, want := range map[string]int{asset.KindNetworkACL: 1, asset.KindFlowLog: 1, asset.KindMetricFilter: 1, asset.KindAlarm: 1,
		asset.KindEventRule: 1, asset.KindVulnerabilityReport: 1, asset.KindRole: 1} {
		n := 0
		for _, a := range inv.Assets() {
			if a.Kind == kind {
				n++
			}
		}
		if n != want {
			t.Errorf("%s: %d assets, want %d", kind, n, want)
		}
	}
	rep := byName(inv, asset.KindVulnerabilityReport, awsfake.WebInstance)
	if rep == nil || rep.Facets.Resource != "arn:aws:ec2:eu-west-1:"+awsfake.ProdAccount+":instance/"+awsfake.WebInstance ||
		len(rep.Facets.Vulnerabilities) != 1 || !rep.Facets.Vulnerabilities[0].Fixable || rep.Facets.Vulnerabilities[0].Severity != "critical" {
		t.Fatalf("report: %+v", rep)
	}
	// Without --org-role the account's tags are not read (they come from
	// Organizations), so nothing is inherited.
	if rep.Facets.Inherited != nil {
		t.Errorf("inherited: %+v", rep.Facets.Inherited)
	}

	cfg, _, diags := config.Parse([]byte(`ir_principals = ["`+awsfake.IRRole+`"]`), "vigil.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	e, err := policy.Load(context.Background(), policy.Options{Builtins: policies.FS, Config: cfg.Data(), Now: func() time.Time { return time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := scan.Run(context.Background(), scan.Options{Sources: []inventory.Source{inv}, Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Findings.Close()
	got := map[string]bool{}
	for _, f := range res.Findings.Slice() {
		got[f.PolicyID+" "+f.AssetID[strings.LastIndexAny(f.AssetID, "/:")+1:]] = true
	}
	for _, want := range []string{
		"VGL-KEY-003 root",                    // the root key
		"VGL-KEY-004 ci-deployer",             // both keys active
		"VGL-KEY-005 alice",                   // a password, no MFA
		"VGL-NET-006 acl-0aaaaaaaaaaaa0001",   // 100 allows all from 0.0.0.0/0
		"VGL-VULN-001 " + awsfake.WebInstance, // public IP, web group opens 22 to the world, ACL allows
		"VGL-LOG-004 vpc-0aaaaaaaaaaaa0002",   // the default VPC has no flow log
	} {
		if !got[want] {
			t.Errorf("missing %s; got %v", want, got)
		}
	}
	for _, silent := range []string{
		"VGL-IAM-002 root",                  // ir-break-glass trusts the IR role
		"VGL-LOG-004 vpc-0aaaaaaaaaaaa0001", // has a flow log
		"VGL-VULN-003 root",                 // Inspector scans eu-west-1, where the instances run
	} {
		if got[silent] {
			t.Errorf("unexpected %s", silent)
		}
	}
}

// An Inspector that hands back the same page token would page for ever:
// the region's findings are a failure, named, and the rest is collected.
func TestCollectInspectorRepeatedToken(t *testing.T) {
	f, opts := start(t)
	awsfake.AddIssue19(f)
	f.With(func(f *awsfake.Fake) { f.More(awsfake.ProdAccount).FindingsToken = "same" })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var assets []*asset.Asset
	sum, err := Collect(ctx, opts, func(a *asset.Asset) error { assets = append(assets, a); return nil })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fl := range sum.Failures {
		got = append(got, fl.String())
	}
	if len(got) != 1 || !strings.Contains(got[0], `inspector2:ListFindings returned the page token "same" a second time`) {
		t.Errorf("failures %q", got)
	}
	if len(assets) == 0 {
		t.Error("nothing collected")
	}
}
