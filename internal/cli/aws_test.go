package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// awsWorld serves the fake AWS scenario and points the SDK at it.
func awsWorld(t *testing.T) *awsfake.Fake {
	t.Helper()
	f := awsfake.Scenario()
	f.With(func(f *awsfake.Fake) { f.Get(awsfake.SecurityAccount).Roles["vigil-evidence"] = true })
	srv := f.Start()
	t.Cleanup(srv.Close)
	for _, kv := range awsfake.Env(srv.URL) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return f
}

func collectTo(t *testing.T, path string, extra ...string) *inventory.Inventory {
	t.Helper()
	code, _, errs := run(t, append([]string{"inventory", "collect", "--aws", "--regions", "eu-west-1,us-east-1", "--rate-limit", "500", "--out", path}, extra...)...)
	if code != 0 {
		t.Fatalf("collect: %d\n%s", code, errs)
	}
	inv, err := inventory.Load(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

const webARN = "arn:aws:ec2:eu-west-1:111111111111:instance/" + awsfake.WebInstance

func TestAWSCollectAndScan(t *testing.T) {
	awsWorld(t)
	code, out, errs := run(t, "scan", "--aws", "--regions", "eu-west-1,us-east-1", "--rate-limit", "500", "-c", "examples/vigil.hcl", "-f", "json", "--policy", "VGL-NET-001,VGL-DATA-002,VGL-NET-003")
	if code != ExitFindings {
		t.Fatalf("scan --aws: %d\n%s", code, errs)
	}
	if !strings.Contains(errs, "aws: collected") {
		t.Errorf("no summary on stderr: %s", errs)
	}
	var rep struct {
		Findings []struct {
			PolicyID string `json:"policy_id"`
			AssetID  string `json:"asset_id"`
		} `json:"findings"`
		Summary struct {
			Sources []string `json:"sources"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	// the source names what was read (the fake's one account, the two
	// regions asked for): history compares scans of the same only
	if want := []string{"aws accounts 111111111111 regions eu-west-1,us-east-1"}; !slices.Equal(rep.Summary.Sources, want) {
		t.Errorf("sources %q, want %q", rep.Summary.Sources, want)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.PolicyID+" "+f.AssetID[strings.LastIndex(f.AssetID, "/")+1:])
	}
	sort.Strings(got)
	want := []string{
		"VGL-DATA-002 arn:aws:s3:::acme-prod-reports",
		"VGL-NET-001 " + awsfake.WebGroup,
		"VGL-NET-001 " + awsfake.DBGroup,
		"VGL-NET-003 vpc-0aaaaaaaaaaaa0002",
		"VGL-NET-003 vpc-0bbbbbbbbbbbb0001",
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAWSCollectDenied(t *testing.T) {
	f := awsWorld(t)
	f.Inject(awsfake.Fault{Service: "ec2", Operation: "DescribeInstances", Kind: "denied", Times: -1})
	out := filepath.Join(t.TempDir(), "inv.ndjson")
	inv := collectTo(t, out)
	for _, a := range inv.Assets() {
		if a.Kind == asset.KindInstance {
			t.Errorf("instances were denied, yet %s was collected", a.ID)
		}
	}
	if inv.Len() < 10 {
		t.Errorf("the rest should still be collected: %d assets", inv.Len())
	}
	_, _, errs := run(t, "inventory", "collect", "--aws", "--regions", "eu-west-1", "-q", "--out", out)
	if !strings.Contains(errs, "ec2:DescribeInstances") || !strings.Contains(errs, "lack ec2:DescribeInstances") {
		t.Errorf("the warning should name the missing permission: %s", errs)
	}
}

func applyAWS(t *testing.T, state string, args ...string) string {
	t.Helper()
	code, out, errs := runConfirmed(t, append([]string{"runbook", "apply"}, append(args, "--state", state, "--aws-rate-limit", "500", "--aws-evidence-role", "arn:aws:iam::333333333333:role/vigil-evidence")...)...)
	if code != 0 {
		t.Fatalf("apply %v: %d\n%s\n%s", args, code, out, errs)
	}
	return out
}

// compromised-ec2 for real: snapshots, evidence copies in the security
// account, isolation on every network interface, a stopped instance; the
// same apply again changes nothing.
func TestAWSCompromisedEC2(t *testing.T) {
	f := awsWorld(t)
	dir := t.TempDir()
	before := filepath.Join(dir, "before.ndjson")
	collectTo(t, before)
	state := filepath.Join(dir, "state.db")
	args := []string{"compromised-ec2", "-i", before, "-var", "instance=" + webARN, "-var", "incident=INC-7", "--approve", "isolate"}
	out := applyAWS(t, state, args...)
	if !strings.Contains(out, "completed") {
		t.Errorf("apply output:\n%s", out)
	}
	after := collectTo(t, filepath.Join(dir, "after.ndjson"))
	web := after.Get(webARN)
	if web == nil || web.Facets.Status != "stopped" {
		t.Fatalf("web-1 after: %+v", web)
	}
	if len(web.Facets.SecurityGroups) != 1 || !strings.HasPrefix(web.Labels["vigil:previous-groups"], "eni-0aaaaaaaaaaaa0001="+awsfake.WebGroup) {
		t.Errorf("web-1 groups %v labels %v", web.Facets.SecurityGroups, web.Labels)
	}
	iso := after.Get("arn:aws:ec2:eu-west-1:111111111111:security-group/" + web.Facets.SecurityGroups[0])
	if iso == nil || iso.Name != "vigil-isolation-vpc-0aaaaaaaaaaaa0001" || len(iso.Facets.Ingress) != 0 || len(iso.Facets.Egress) != 0 {
		t.Errorf("isolation group: %+v", iso)
	}
	var snaps []*asset.Asset
	for _, a := range after.Assets() {
		if a.Kind == asset.KindSnapshot {
			snaps = append(snaps, a)
			if a.Labels["incident"] != "INC-7" || a.Labels["vigil-step"] != "snapshot" {
				t.Errorf("snapshot %s labels %v", a.ID, a.Labels)
			}
		}
	}
	if len(snaps) != 2 {
		t.Fatalf("%d snapshots in the production account, want one per volume", len(snaps))
	}
	f.With(func(f *awsfake.Fake) {
		eniGroups := map[string][]string{}
		for _, e := range f.Get(awsfake.ProdAccount).Region("eu-west-1").Instances[awsfake.WebInstance].ENIs {
			eniGroups[e.ID] = e.Groups
		}
		for eni, gs := range eniGroups {
			if len(gs) != 1 || gs[0] != web.Facets.SecurityGroups[0] {
				t.Errorf("%s still has %v", eni, gs)
			}
		}
		sec := f.Get(awsfake.SecurityAccount).Region("eu-west-1").Snapshots
		if len(sec) != 2 {
			t.Errorf("%d evidence copies in the security account, want 2", len(sec))
		}
		for _, s := range f.Get(awsfake.ProdAccount).Region("eu-west-1").Snapshots {
			if len(s.CreateVolumePermissions) != 1 || s.CreateVolumePermissions[0] != awsfake.SecurityAccount {
				t.Errorf("snapshot %s shared with %v", s.ID, s.CreateVolumePermissions)
			}
		}
		if !f.Get(awsfake.ProdAccount).Region("eu-west-1").Instances[awsfake.WebInstance].DisableAPITermination {
			t.Error("isolation should protect the instance from termination")
		}
	})
	mutations := len(f.Mutations())
	applyAWS(t, state, args...)
	if extra := f.Mutations()[mutations:]; len(extra) > 0 {
		t.Errorf("the same apply again changed things: %v", extra)
	}
}

func TestAWSLeakedKey(t *testing.T) {
	f := awsWorld(t)
	dir := t.TempDir()
	before := filepath.Join(dir, "before.ndjson")
	collectTo(t, before)
	state := filepath.Join(dir, "state.db")
	args := []string{"leaked-aws-access-key", "-i", before, "-var", "access_key_id=" + awsfake.LeakedKey, "-var", "incident=INC-8", "--approve", "deny_all"}
	out := applyAWS(t, state, args...)
	if !strings.Contains(out, awsfake.OtherKey) {
		t.Errorf("the output should list the user's other key:\n%s", out)
	}
	after := collectTo(t, filepath.Join(dir, "after.ndjson"))
	for _, a := range after.Assets() {
		if a.Kind != asset.KindAccessKey {
			continue
		}
		inactive := a.Facets.Enabled != nil && !*a.Facets.Enabled
		if (a.Name == awsfake.LeakedKey) != inactive {
			t.Errorf("key %s enabled=%v", a.Name, *a.Facets.Enabled)
		}
	}
	f.With(func(f *awsfake.Fake) {
		doc := f.Get(awsfake.ProdAccount).Users["ci-deployer"].Policies["vigil-deny-all"]
		if !strings.Contains(doc, `"Effect":"Deny","Action":"*"`) {
			t.Errorf("deny-all policy: %q", doc)
		}
	})
	mutations := len(f.Mutations())
	applyAWS(t, state, args...)
	if extra := f.Mutations()[mutations:]; len(extra) > 0 {
		t.Errorf("the same apply again changed things: %v", extra)
	}
}

// open-firewall-remediation revokes exactly the world-open admin rules
// VGL-NET-001 found, and nothing else of the same groups.
func TestAWSOpenFirewallRemediation(t *testing.T) {
	f := awsWorld(t)
	dir := t.TempDir()
	// --aws-live: findings() reads a live collection, and the final
	// core.scan collects again.
	out := applyAWS(t, filepath.Join(dir, "state.db"), "open-firewall-remediation", "--aws-live", "--aws-regions", "eu-west-1,us-east-1",
		"-c", "examples/vigil.hcl", "--auto-approve", "--approve", "revoke")
	if !strings.Contains(out, "remaining = 0") {
		t.Errorf("the final scan should find nothing left:\n%s", out)
	}
	f.With(func(f *awsfake.Fake) {
		groups := f.Get(awsfake.ProdAccount).Region("eu-west-1").SecurityGroups
		web, db, internal := groups[awsfake.WebGroup], groups[awsfake.DBGroup], groups[awsfake.InternalGroup]
		if len(web.Ingress) != 2 || strings.Join(web.Ingress[0].CIDRs, ",") != "10.0.0.0/8" || web.Ingress[1].From != 443 || web.Ingress[1].CIDRs[0] != "0.0.0.0/0" {
			t.Errorf("web: %+v (want SSH from 10/8 kept, HTTPS untouched)", web.Ingress)
		}
		if len(db.Ingress) != 1 || db.Ingress[0].From != 5432 {
			t.Errorf("db: %+v (want RDP from ::/0 gone, 5432 from web kept)", db.Ingress)
		}
		if len(internal.Ingress) != 1 {
			t.Errorf("internal changed: %+v", internal.Ingress)
		}
	})
	revokes := 0
	for _, m := range f.Mutations() {
		if m == "ec2:RevokeSecurityGroupIngress" {
			revokes++
		}
	}
	if revokes != 2 {
		t.Errorf("%d revokes, want 2: %v", revokes, f.Mutations())
	}
}

// A live collection reports its progress by regions: without a terminal a
// line at most every 10 s (the clock here moves 11 s a reading, so every
// region gets one), on a terminal a bar; -q silences both.
func TestAWSCollectProgress(t *testing.T) {
	awsWorld(t)
	t.Chdir(testutil.Root(t))
	for _, c := range []struct {
		name  string
		tty   bool
		quiet bool
		want  []string
	}{
		// two regions asked for, of the fake's one account
		{"lines", false, false, []string{"vigil: aws: 1 of 2 regions collected (50%), ", "vigil: aws: 2 of 2 regions collected (100%), "}},
		// the bar is cleared when the last region is done (the summary
		// line follows), so the last drawn is 1 of 2
		{"bar", true, false, []string{" 50% |", "(1/2, ", "regions/s)", "aws: collected "}},
		{"quiet", true, true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := &fakeTime{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
			var mu sync.Mutex
			tick := func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				clock.t = clock.t.Add(11 * time.Second)
				return clock.t
			}
			defer func(d time.Duration) { barThrottle = d }(barThrottle)
			barThrottle = 0
			var stderr bytes.Buffer
			a := &app{stdout: io.Discard, stderr: &stderr, stdin: strings.NewReader(""), env: os.Getenv,
				stderrTTY: func() bool { return c.tty }, clock: tick}
			args := []string{"inventory", "collect", "--aws", "--regions", "eu-west-1,us-east-1", "--rate-limit", "500", "-o", filepath.Join(t.TempDir(), "aws.ndjson")}
			if c.quiet {
				args = append(args, "-q")
			}
			if code := a.run(context.Background(), args); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			got := stderr.String()
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("stderr lacks %q:\n%q", w, got)
				}
			}
			if c.quiet && strings.Contains(got, "region") {
				t.Errorf("-q printed progress: %q", got)
			}
			if !c.tty && strings.Contains(got, "\r") {
				t.Errorf("a bar without a terminal: %q", got)
			}
		})
	}
}
