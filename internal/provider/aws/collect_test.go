package aws

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
)

// start serves a fresh scenario and points the SDK at it.
func start(t *testing.T) (*awsfake.Fake, Options) {
	t.Helper()
	f := awsfake.Scenario()
	srv := f.Start()
	t.Cleanup(srv.Close)
	for _, kv := range awsfake.Env(srv.URL) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return f, Options{Region: "eu-west-1", MaxBackoff: 5 * time.Millisecond, PollInterval: time.Millisecond, RateLimit: 1000}
}

func collect(t *testing.T, opts Options) (*inventory.Inventory, *Summary) {
	t.Helper()
	inv, sum, err := CollectInventory(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return inv, sum
}

func byName(inv *inventory.Inventory, kind, name string) *asset.Asset {
	for _, a := range inv.Assets() {
		if a.Kind == kind && a.Name == name {
			return a
		}
	}
	return nil
}

func TestCollectScenario(t *testing.T) {
	_, opts := start(t)
	inv, sum := collect(t, opts)
	if len(sum.Failures) > 0 {
		t.Fatalf("failures: %v", sum.Failures)
	}
	if strings.Join(sum.Accounts, ",") != awsfake.ProdAccount || strings.Join(sum.Regions, ",") != "eu-west-1,us-east-1" {
		t.Errorf("accounts %v regions %v", sum.Accounts, sum.Regions)
	}
	counts := map[string]int{}
	for _, a := range inv.Assets() {
		counts[a.Kind]++
		if a.Provider != asset.AWS || a.Scope != awsfake.ProdAccount || a.ID == "" {
			t.Errorf("asset %+v", a)
		}
	}
	want := map[string]int{"account": 1, "network": 3, "subnet": 1, "firewall": 3, "instance": 2, "disk": 3, "detector": 3, // GuardDuty, and Inspector's status in each region
		"trail": 1, "user": 1, "access_key": 2, "bucket": 2}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%d %s assets, want %d (all: %v)", counts[k], k, n, counts)
		}
	}
	web := inv.Get("arn:aws:ec2:eu-west-1:111111111111:instance/" + awsfake.WebInstance)
	if web == nil {
		t.Fatal("web-1 missing")
	}
	f := web.Facets
	if web.Name != "web-1" || web.Labels["owner"] != "payments" || strings.Join(f.PublicIPs, ",") != "52.18.44.101" ||
		strings.Join(f.Disks, ",") != "vol-0aaaaaaaaaaaa0001,vol-0aaaaaaaaaaaa0002" || f.Status != "running" || web.Region != "eu-west-1" ||
		strings.Join(f.SecurityGroups, ",") != awsfake.WebGroup+","+awsfake.DBGroup+","+awsfake.InternalGroup {
		t.Errorf("web-1: %+v labels %v", f, web.Labels)
	}
	sg := byName(inv, "firewall", "web")
	if sg == nil || len(sg.Facets.Ingress) != 2 || strings.Join(sg.Facets.Ingress[0].Sources, ",") != "0.0.0.0/0,10.0.0.0/8" ||
		sg.Facets.Ingress[0].Ports[0] != (asset.PortRange{From: 22, To: 22}) {
		t.Errorf("web group: %+v", sg)
	}
	if db := byName(inv, "firewall", "db"); db == nil || strings.Join(db.Facets.Ingress[0].Sources, ",") != "::/0" || len(db.Facets.Ingress[1].SourceGroups) != 1 {
		t.Errorf("db group: %+v", db)
	}
	def := inv.Get("arn:aws:ec2:eu-west-1:111111111111:vpc/vpc-0aaaaaaaaaaaa0002")
	if def == nil || def.Facets.Default == nil || !*def.Facets.Default {
		t.Errorf("default VPC: %+v", def)
	}
	if b := inv.Get("arn:aws:s3:::acme-prod-reports"); b == nil || b.Facets.Public == nil || !*b.Facets.Public || b.Region != "eu-west-1" {
		t.Errorf("public bucket: %+v", b)
	}
	if b := inv.Get("arn:aws:s3:::acme-trail-logs"); b == nil || b.Facets.Public == nil || *b.Facets.Public || b.Facets.PublicAccessBlock == nil {
		t.Errorf("private bucket: %+v", b)
	}
	tr := byName(inv, "trail", "org-trail")
	if tr == nil || tr.Facets.MultiRegion == nil || !*tr.Facets.MultiRegion || tr.Facets.Logging == nil || !*tr.Facets.Logging || tr.Region != "us-east-1" {
		t.Errorf("trail: %+v", tr)
	}
	key := byName(inv, "access_key", awsfake.LeakedKey)
	if key == nil || key.ID != "arn:aws:iam::111111111111:user/ci-deployer/accesskey/"+awsfake.LeakedKey || key.Facets.User != "ci-deployer" ||
		key.Facets.Enabled == nil || !*key.Facets.Enabled || key.Facets.LastUsed == "" {
		t.Errorf("key: %+v", key)
	}
	if d := byName(inv, "detector", "4ec1b2c3d4e5f6a7b8c9d0e1f2a3b4c5"); d == nil || d.Facets.Enabled == nil || !*d.Facets.Enabled {
		t.Errorf("detector: %+v", d)
	}
}

// Throttling is retried by the SDK's adaptive retryer; the collection
// completes without failures.
func TestCollectThrottled(t *testing.T) {
	f, opts := start(t)
	f.Inject(awsfake.Fault{Service: "ec2", Operation: "DescribeInstances", Kind: "throttle", Times: 3})
	f.Inject(awsfake.Fault{Service: "iam", Operation: "ListAccessKeys", Kind: "throttle", Times: 2})
	f.Inject(awsfake.Fault{Service: "s3", Operation: "GetBucketAcl", Kind: "throttle", Times: 1})
	f.Inject(awsfake.Fault{Service: "cloudtrail", Operation: "DescribeTrails", Kind: "throttle", Times: 1})
	f.Inject(awsfake.Fault{Service: "guardduty", Operation: "ListDetectors", Kind: "throttle", Times: 1})
	inv, sum := collect(t, opts)
	if len(sum.Failures) > 0 {
		t.Fatalf("throttling should be retried: %v", sum.Failures)
	}
	if byName(inv, "instance", "web-1") == nil || byName(inv, "access_key", awsfake.LeakedKey) == nil || byName(inv, "trail", "org-trail") == nil {
		t.Error("assets missing after retries")
	}
	throttled := 0
	for _, c := range f.Calls() {
		if c.Fault == "throttle" {
			throttled++
		}
	}
	if throttled != 8 {
		t.Errorf("%d throttled responses, want 8", throttled)
	}
}

// A denied service in one region is reported, naming the permission; the
// rest is collected.
func TestCollectPartialFailure(t *testing.T) {
	f, opts := start(t)
	f.Inject(awsfake.Fault{Service: "guardduty", Operation: "ListDetectors", Kind: "denied", Times: -1})
	f.Inject(awsfake.Fault{Service: "s3", Operation: "ListBuckets", Kind: "denied", Times: -1})
	inv, sum := collect(t, opts)
	var msgs []string
	for _, fl := range sum.Failures {
		msgs = append(msgs, fl.String())
		var pe *PermissionError
		if !errors.As(fl.Err, &pe) {
			t.Errorf("failure %s is not a permission error", fl)
		}
	}
	all := strings.Join(msgs, "\n")
	if len(sum.Failures) != 3 || !strings.Contains(all, "guardduty:ListDetectors") || !strings.Contains(all, "s3:ListAllMyBuckets") ||
		!strings.Contains(all, "111111111111/eu-west-1") {
		t.Errorf("failures:\n%s", all)
	}
	if byName(inv, "instance", "web-1") == nil || byName(inv, "bucket", "acme-prod-reports") != nil {
		t.Error("the rest should be collected, and only the rest")
	}
}

// --org-role walks every account of the organization.
func TestCollectOrganization(t *testing.T) {
	f, opts := start(t)
	f.Organization(awsfake.ProdAccount, "OrganizationAccountAccessRole", awsfake.SecurityAccount)
	opts.OrgRole = "OrganizationAccountAccessRole"
	opts.Regions = []string{"eu-west-1"}
	inv, sum := collect(t, opts)
	if strings.Join(sum.Accounts, ",") != awsfake.ProdAccount+","+awsfake.SecurityAccount || len(sum.Failures) > 0 {
		t.Fatalf("accounts %v failures %v", sum.Accounts, sum.Failures)
	}
	if byName(inv, "account", "acme-security") == nil {
		t.Errorf("no account asset for the security account")
	}
	if prod := byName(inv, "account", "acme-prod"); prod == nil || prod.Labels["owner"] != "platform-team" || prod.Labels["purpose"] != "web shop" {
		t.Errorf("the account's Organizations tags should be its labels: %+v", prod)
	}
	assumed := 0
	for _, c := range f.Calls() {
		if c.Operation == "AssumeRole" {
			assumed++
		}
		if c.Service == "ec2" && c.Region != "eu-west-1" {
			t.Errorf("collected region %s: --regions says eu-west-1 only", c.Region)
		}
	}
	if assumed != 1 {
		t.Errorf("%d AssumeRole calls, want one: the security account (the root account is the credentials' own)", assumed)
	}
}

// The request rate limit paces every request of an account: n requests at
// r per second take at least (n-burst)/r. (A lower bound only: a slow machine
// can only make it longer.)
func TestRateLimit(t *testing.T) {
	f, opts := start(t)
	opts.RateLimit = 200
	opts.Regions = []string{"eu-west-1"}
	began := time.Now()
	collect(t, opts)
	elapsed := time.Since(began)
	n := len(f.Calls())
	if min := time.Duration(float64(n-burst(opts.RateLimit)) / opts.RateLimit * float64(time.Second)); elapsed < min {
		t.Errorf("%d requests in %v: faster than %v/s allows (%v)", n, elapsed, opts.RateLimit, min)
	}
}

// --assume-role: everything runs as the role, in its account.
func TestCollectAssumeRole(t *testing.T) {
	f, opts := start(t)
	f.With(func(f *awsfake.Fake) {
		sec := f.Get(awsfake.SecurityAccount)
		sec.Roles["auditor"] = true
		sec.Region("eu-west-1").VPCs["vpc-0ccccccccccccc001"] = &awsfake.VPC{ID: "vpc-0ccccccccccccc001", CIDR: "10.9.0.0/16"}
	})
	opts.AssumeRole = "arn:aws:iam::" + awsfake.SecurityAccount + ":role/auditor"
	opts.Regions = []string{"eu-west-1"}
	inv, sum := collect(t, opts)
	if strings.Join(sum.Accounts, ",") != awsfake.SecurityAccount {
		t.Fatalf("accounts %v", sum.Accounts)
	}
	if inv.Get("arn:aws:ec2:eu-west-1:"+awsfake.SecurityAccount+":vpc/vpc-0ccccccccccccc001") == nil || byName(inv, "instance", "web-1") != nil {
		t.Error("the collection should be of the role's account only")
	}
}

// A live trail carries what the logging policies read, as an AWS Config
// export does: log file validation, the CloudWatch Logs group, and its
// event selectors from GetEventSelectors. The management events each
// selector set records are worked out from the CloudTrail documentation:
// CreateTrail's default selector records all of them; a basic WriteOnly
// selector only writes; an advanced selector of eventCategory Management
// with readOnly = false only writes; a data-event-only advanced selector
// records no management event.
func TestCollectTrailSelectors(t *testing.T) {
	for _, tc := range []struct {
		name                string
		selectors, advanced []map[string]any
		want                string
	}{
		{name: "default", want: "All"},
		{name: "write only", selectors: []map[string]any{{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": true, "DataResources": []any{}}}, want: "WriteOnly"},
		{name: "advanced write", advanced: []map[string]any{{"Name": "mgmt writes", "FieldSelectors": []any{
			map[string]any{"Field": "eventCategory", "Equals": []any{"Management"}},
			map[string]any{"Field": "readOnly", "Equals": []any{"false"}},
		}}}, want: "WriteOnly"},
		{name: "advanced data only", advanced: []map[string]any{{"Name": "s3 data", "FieldSelectors": []any{
			map[string]any{"Field": "eventCategory", "Equals": []any{"Data"}},
			map[string]any{"Field": "resources.type", "Equals": []any{"AWS::S3::Object"}},
		}}}, want: "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, opts := start(t)
			f.With(func(f *awsfake.Fake) {
				tr := f.Get(awsfake.ProdAccount).Region("us-east-1").Trails[0]
				tr.Validation, tr.LogGroupARN = true, "arn:aws:logs:us-east-1:111111111111:log-group:trail-logs:*"
				tr.Selectors, tr.Advanced = tc.selectors, tc.advanced
			})
			inv, sum := collect(t, opts)
			if len(sum.Failures) > 0 {
				t.Fatalf("failures: %v", sum.Failures)
			}
			tr := byName(inv, "trail", "org-trail")
			if tr == nil {
				t.Fatal("no trail")
			}
			if tr.Facets.ManagementEvents != tc.want || tr.Facets.Validation == nil || !*tr.Facets.Validation || tr.Facets.LogGroup != "trail-logs" {
				t.Errorf("management events %q (want %q), validation %v, log group %q", tr.Facets.ManagementEvents, tc.want, tr.Facets.Validation, tr.Facets.LogGroup)
			}
		})
	}
}
