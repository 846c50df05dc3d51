package gcp

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
	"github.com/vigil-ir/vigil/internal/provider/gcp/quarantine"
)

// The rules an attacker (the scenario's VM runs with the cloud-platform
// scope) or a stale colleague could have planted under the quarantine's
// names, and the probes that show whether web-1 is cut off.

func isolateArgs(ranges ...string) map[string]cty.Value {
	vs := []cty.Value{}
	for _, r := range ranges {
		vs = append(vs, cty.StringVal(r))
	}
	list := cty.ListValEmpty(cty.String)
	if len(vs) > 0 {
		list = cty.ListVal(vs)
	}
	return map[string]cty.Value{"instance": cty.StringVal(gcpfake.Web1), "allow_ranges": list}
}

func reachOf(f *gcpfake.Fake, nic int, dir, peer string, port int) gcpfake.Verdict {
	var v gcpfake.Verdict
	f.With(func(f *gcpfake.Fake) { v = f.Reach(gcpfake.Web1, nic, dir, peer, "tcp", port) })
	return v
}

// isolated applies isolate_instance and checks that web-1 is cut off from
// the internet and its networks, in and out, on both interfaces, and that
// only the forensics range 10.99.0.0/24 gets in. It returns the plan.
func isolated(t *testing.T, f *gcpfake.Fake, p *Provider, args map[string]cty.Value) *action.Change {
	t.Helper()
	ctx := context.Background()
	ch, err := act(t, p, "gcp.compute.isolate_instance").Plan(ctx, req(args))
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if _, err := act(t, p, "gcp.compute.isolate_instance").Apply(ctx, req(args)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	for _, tc := range []struct {
		nic       int
		dir, peer string
		port      int
		allowed   bool
	}{
		{0, "INGRESS", "198.51.100.23", 22, false},
		{0, "INGRESS", "8.8.8.8", 443, false},
		{0, "INGRESS", "200.1.1.1", 22, false}, // in 128.0.0.0/1
		{0, "INGRESS", "35.191.3.4", 8080, false},
		{1, "INGRESS", "10.30.7.7", 22, false},
		{0, "EGRESS", "198.51.100.1", 443, false},
		{1, "EGRESS", "10.30.0.1", 53, false},
		{0, "INGRESS", "10.99.0.5", 22, true},
		{1, "INGRESS", "10.99.0.200", 5432, true},
	} {
		if v := reachOf(f, tc.nic, tc.dir, tc.peer, tc.port); v.Allowed != tc.allowed {
			t.Errorf("nic%d %s %s:%d: %+v, want allowed=%v\nplan:\n%s", tc.nic, tc.dir, tc.peer, tc.port, v, tc.allowed, strings.Join(ch.Details, "\n"))
		}
	}
	// Isolated once, isolated: the next plan has nothing to do.
	if again, err := act(t, p, "gcp.compute.isolate_instance").Plan(ctx, req(args)); err != nil || !again.NoOp {
		t.Errorf("plan after isolation: %v %+v", err, again)
	}
	return ch
}

const (
	prodFW  = "projects/acme-prod/global/firewalls/"
	prodNet = "https://www.googleapis.com/compute/v1/" + gcpfake.ProdVPC
)

// A rule already named like the network's forensics allow, with ranges
// that together are all of IPv4, at priority 0: its ranges used to be
// merged into the forensics ranges, the deny of prod-vpc was left out of
// the plan as empty, and web-1 stayed open to the internet.
func TestIsolateDistrustsAPlantedForensicsRule(t *testing.T) {
	f, opts := start(t)
	f.With(func(f *gcpfake.Fake) {
		f.PutFirewall(prodFW+"vigil-quarantine-allow-forensics-prod-vpc", gcpfake.Doc{"network": prodNet, "direction": "INGRESS", "priority": 0,
			"sourceRanges": []any{"0.0.0.0/1", "128.0.0.0/1", "10.98.0.7/32"}, "allowed": []any{map[string]any{"IPProtocol": "all"}},
			"targetTags": []any{QuarantineTag}, "disabled": false})
	})
	ch := isolated(t, f, New(opts), isolateArgs("10.99.0.0/24"))
	details := strings.Join(ch.Details, "\n")
	for _, want := range []string{
		"create firewall vigil-quarantine-deny-in-prod-vpc",
		"drop forensics range 0.0.0.0/1 of the existing rule vigil-quarantine-allow-forensics-prod-vpc: 0.0.0.0/1 is broader than a /8",
		"drop forensics range 128.0.0.0/1",
	} {
		if !strings.Contains(details, want) {
			t.Errorf("plan lacks %q:\n%s", want, details)
		}
	}
	f.With(func(f *gcpfake.Fake) {
		// A narrow range the rule had stays: it may be another quarantined
		// instance's forensics workstation, and the plan showed it.
		if got := strings.Join(f.Firewall(prodFW+"vigil-quarantine-allow-forensics-prod-vpc").Strs("sourceRanges"), ","); got != "10.98.0.7/32,10.99.0.0/24" {
			t.Errorf("forensics ranges %s", got)
		}
	})
}

// A rule with the deny's name on another network, identical otherwise:
// names are unique per project, not per network, and it used to be taken
// as up to date, so prod-vpc got no deny at all.
func TestIsolateReplacesADenyOnAnotherNetwork(t *testing.T) {
	f, opts := start(t)
	var ranges []any
	for _, p := range quarantine.Exclude(netip.MustParsePrefix("0.0.0.0/0"), []netip.Prefix{netip.MustParsePrefix("10.99.0.0/24")}) {
		ranges = append(ranges, p.String())
	}
	scratch := "projects/acme-prod/global/networks/scratch"
	f.With(func(f *gcpfake.Fake) {
		f.AddNetwork(scratch, false)
		f.PutFirewall(prodFW+"vigil-quarantine-deny-in-prod-vpc", gcpfake.Doc{"network": scratch, "direction": "INGRESS", "priority": 0,
			"sourceRanges": ranges, "denied": []any{map[string]any{"IPProtocol": "all"}}, "targetTags": []any{QuarantineTag}, "disabled": false})
	})
	ch := isolated(t, f, New(opts), isolateArgs("10.99.0.0/24"))
	if d := strings.Join(ch.Details, "\n"); !strings.Contains(d, "replace firewall vigil-quarantine-deny-in-prod-vpc, which is not the quarantine's (it is on network "+scratch+", not "+gcpfake.ProdVPC+")") {
		t.Errorf("plan:\n%s", d)
	}
	f.With(func(f *gcpfake.Fake) {
		if n := f.Firewall(prodFW + "vigil-quarantine-deny-in-prod-vpc").Str("network"); n != prodNet {
			t.Errorf("deny-in is on %s", n)
		}
	})
}

// Rules of the quarantine's names on the right network that match less
// than they seem: a deny narrowed by destination ranges (ingress) or
// source ranges (egress) to addresses web-1 does not have, an allow
// widened by source tags, a deny that is an allow, one in the wrong
// direction and one disabled. Each is patched or replaced until the
// isolation holds.
func TestIsolateFixesRulesThatMatchLessThanTheyShow(t *testing.T) {
	f, opts := start(t)
	rules, err := quarantine.Rules(gcpfake.ProdVPC, []string{"10.99.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	f.With(func(f *gcpfake.Fake) {
		for _, ru := range rules {
			d := gcpfake.Doc{"network": prodNet, "direction": ru.Direction, "priority": 0, "targetTags": []any{QuarantineTag}, "disabled": false}
			field := "sourceRanges"
			if ru.Direction == "EGRESS" {
				field = "destinationRanges"
			}
			d[field] = anyList(ru.Ranges)
			if ru.Allow {
				d["allowed"] = []any{map[string]any{"IPProtocol": "all"}}
			} else {
				d["denied"] = []any{map[string]any{"IPProtocol": "all"}}
			}
			switch ru.Kind {
			case "deny-in":
				d["destinationRanges"] = []any{"192.0.2.1/32"} // matches no address of web-1
			case "deny-out":
				d["sourceRanges"] = []any{"192.0.2.1/32"}
			case "allow-forensics":
				d["sourceTags"] = []any{"http-server"}
			case "deny-in-v6":
				delete(d, "denied")
				d["allowed"] = []any{map[string]any{"IPProtocol": "all"}}
			case "deny-out-v6":
				d["direction"], d["sourceRanges"] = "INGRESS", []any{"::/0"}
				delete(d, "destinationRanges")
			}
			f.PutFirewall(prodFW+ru.Name, d)
		}
		f.Firewall(prodFW + "vigil-quarantine-deny-out-prod-vpc")["disabled"] = true
	})
	// Before: the planted rules let the internet in.
	if v := reachOf(f, 0, "INGRESS", "198.51.100.23", 22); !v.Allowed {
		t.Fatalf("before: %+v", v)
	}
	ch := isolated(t, f, New(opts), isolateArgs("10.99.0.0/24"))
	details := strings.Join(ch.Details, "\n")
	for _, want := range []string{
		"update firewall vigil-quarantine-deny-in-prod-vpc: destination ranges 192.0.2.1/32 -> any",
		"update firewall vigil-quarantine-deny-out-prod-vpc: source ranges 192.0.2.1/32 -> any, disabled -> enabled",
		"update firewall vigil-quarantine-allow-forensics-prod-vpc: source tags and service accounts -> none",
		"replace firewall vigil-quarantine-deny-in-v6-prod-vpc, which is not the quarantine's (it is an allow rule)",
		"replace firewall vigil-quarantine-deny-out-v6-prod-vpc, which is not the quarantine's (it is an INGRESS rule, not EGRESS)",
	} {
		if !strings.Contains(details, want) {
			t.Errorf("plan lacks %q:\n%s", want, details)
		}
	}
	f.With(func(f *gcpfake.Fake) {
		if fw := f.Firewall(prodFW + "vigil-quarantine-allow-forensics-prod-vpc"); fw.Has("sourceTags") {
			t.Errorf("the forensics allow keeps its source tags: %v", fw)
		}
		if fw := f.Firewall(prodFW + "vigil-quarantine-deny-in-prod-vpc"); fw.Has("destinationRanges") {
			t.Errorf("deny-in keeps destination ranges: %v", fw)
		}
	})
}

// Forensics ranges that together are the whole of IPv4 leave no deny:
// refused at plan time, and nothing is sent.
func TestIsolateRefusesForensicsRangesThatCoverTheInternet(t *testing.T) {
	for _, ranges := range [][]string{{"0.0.0.0/1", "128.0.0.0/1"}, {"0.0.0.0/0"}, {"10.0.0.0/7"}, {"::/1", "8000::/1"}} {
		f, opts := start(t)
		_, err := act(t, New(opts), "gcp.compute.isolate_instance").Plan(context.Background(), req(isolateArgs(ranges...)))
		if err == nil || !strings.Contains(err.Error(), "allow_ranges: forensics range") {
			t.Errorf("%v: plan err = %v", ranges, err)
		}
		_, err = act(t, New(opts), "gcp.compute.isolate_instance").Apply(context.Background(), req(isolateArgs(ranges...)))
		if err == nil {
			t.Errorf("%v: applied", ranges)
		}
		if m := f.Mutations(); len(m) != 0 {
			t.Errorf("%v: mutations %v", ranges, m)
		}
	}
}

// An existing forensics rule so long that keeping it would pass vigil's
// bound no longer stops every isolation in the network: its ranges are
// dropped, and the plan says why.
func TestIsolateDropsAnExistingForensicsRuleTooLongToKeep(t *testing.T) {
	f, opts := start(t)
	var long []any
	for i := 0; i < 300; i++ {
		long = append(long, fmt.Sprintf("%d.%d.0.1/32", 1+i%200, i/200))
	}
	f.With(func(f *gcpfake.Fake) {
		f.PutFirewall(prodFW+"vigil-quarantine-allow-forensics-prod-vpc", gcpfake.Doc{"network": prodNet, "direction": "INGRESS", "priority": 0,
			"sourceRanges": long, "allowed": []any{map[string]any{"IPProtocol": "all"}}, "targetTags": []any{QuarantineTag}, "disabled": false})
	})
	ch := isolated(t, f, New(opts), isolateArgs("10.99.0.0/24"))
	if d := strings.Join(ch.Details, "\n"); !strings.Contains(d, "drop forensics range 1.0.0.1/32 of the existing rule vigil-quarantine-allow-forensics-prod-vpc: keeping the existing rule's ranges would take") ||
		!strings.Contains(d, "more than vigil's bound of 256") {
		t.Errorf("plan:\n%s", d)
	}
}

// An external IPv6 address (an ipv6AccessConfig, DIRECT_IPV6) is external
// access too: isolation removes it with the IPv4 one, and records it.
func TestIsolateRemovesExternalIPv6(t *testing.T) {
	f, opts := start(t)
	f.With(func(f *gcpfake.Fake) {
		nic0 := f.Instance(gcpfake.Web1).Objs("networkInterfaces")[0]
		nic0["stackType"] = "IPV4_IPV6"
		nic0["ipv6AccessConfigs"] = []any{map[string]any{"kind": "compute#accessConfig", "name": "External IPv6", "type": "DIRECT_IPV6",
			"externalIpv6": "2600:1900:4010:5a1::", "externalIpv6PrefixLength": 96}}
	})
	p := New(opts)
	ch, err := act(t, p, "gcp.compute.isolate_instance").Plan(context.Background(), req(isolateArgs()))
	if err != nil || !strings.Contains(strings.Join(ch.Details, "\n"), "remove external access nic0/External IPv6 (2600:1900:4010:5a1::)") {
		t.Fatalf("plan: %v\n%s", err, strings.Join(ch.Details, "\n"))
	}
	res, err := act(t, p, "gcp.compute.isolate_instance").Apply(context.Background(), req(isolateArgs()))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Outputs["removed_access_configs"]; got.LengthInt() != 2 {
		t.Errorf("removed %#v", got)
	}
	f.With(func(f *gcpfake.Fake) {
		nic0 := f.Instance(gcpfake.Web1).Objs("networkInterfaces")[0]
		if len(nic0.Objs("ipv6AccessConfigs"))+len(nic0.Objs("accessConfigs")) != 0 {
			t.Errorf("external access left: %v", nic0)
		}
	})
	if ch, err := act(t, p, "gcp.compute.isolate_instance").Plan(context.Background(), req(isolateArgs())); err != nil || !ch.NoOp {
		t.Errorf("plan after: %v %+v", err, ch)
	}
}

// An operation that ends with an error fails the step: the change did
// not happen. (With the operation's error ignored, the step succeeded and
// the instance was still running.)
func TestOperationErrorsFailTheStep(t *testing.T) {
	f, opts := start(t)
	p := New(opts)
	f.Inject(gcpfake.Fault{API: "compute", Operation: "instances.suspend", Kind: "operation", Times: 1})
	_, err := act(t, p, "gcp.compute.suspend_instance").Apply(context.Background(), req(map[string]cty.Value{"instance": cty.StringVal(web1)}))
	if err == nil || !strings.Contains(err.Error(), "operation failed") || action.IsOutcomeUnknown(err) {
		t.Errorf("suspend: err = %v", err)
	}
	f.With(func(f *gcpfake.Fake) {
		if st := f.Instance(gcpfake.Web1).Str("status"); st != "RUNNING" {
			t.Errorf("status %s", st)
		}
	})
	f.Inject(gcpfake.Fault{API: "compute", Operation: "firewalls.insert", Kind: "operation", Times: 1})
	if _, err := act(t, p, "gcp.compute.isolate_instance").Apply(context.Background(), req(isolateArgs())); err == nil || !strings.Contains(err.Error(), "create firewall") {
		t.Errorf("isolate: err = %v", err)
	}
	// The next attempt finds the rule missing and makes it.
	isolated(t, f, p, isolateArgs("10.99.0.0/24"))
}

// STOPPING and SUSPENDING are an operation still running: Recover does not
// call the step done, and Apply waits for the status rather than calling
// it done or starting another operation.
func TestTransitionalStatusIsNotDone(t *testing.T) {
	f, opts := start(t)
	opts.MaxAttempts = 1
	p := New(opts)
	r := req(map[string]cty.Value{"instance": cty.StringVal(web1)})
	// The suspend is accepted, its answer lost: the instance is SUSPENDING.
	f.Inject(gcpfake.Fault{API: "compute", Operation: "instances.suspend", Kind: "unavailable", After: true, Times: 1})
	if _, err := act(t, p, "gcp.compute.suspend_instance").Apply(context.Background(), r); !action.IsOutcomeUnknown(err) {
		t.Fatalf("err = %v", err)
	}
	f.With(func(f *gcpfake.Fake) {
		if st := f.Instance(gcpfake.Web1).Str("status"); st != "SUSPENDING" {
			t.Fatalf("status %s", st)
		}
	})
	if _, took, err := act(t, p, "gcp.compute.suspend_instance").Recover(context.Background(), r); err != nil || took {
		t.Errorf("Recover while SUSPENDING: took effect %v, %v", took, err)
	}
	ch, err := act(t, p, "gcp.compute.suspend_instance").Plan(context.Background(), r)
	if err != nil || ch.NoOp || !strings.Contains(ch.Summary, "wait until web-1, now suspending, is suspended") {
		t.Errorf("plan: %v %+v", err, ch)
	}
	// The operation finishes while Apply waits.
	go func() {
		time.Sleep(30 * time.Millisecond)
		f.With(func(f *gcpfake.Fake) { f.Settle() })
	}()
	suspends := 0
	res, err := act(t, p, "gcp.compute.suspend_instance").Apply(context.Background(), r)
	if err != nil || res.Outputs["status"].AsString() != "suspended" {
		t.Fatalf("apply: %v %v", res, err)
	}
	for _, c := range f.Calls() {
		if c.Operation == "instances.suspend" {
			suspends++
		}
	}
	if suspends != 1 {
		t.Errorf("%d suspend calls: the wait started another", suspends)
	}
	if _, took, err := act(t, p, "gcp.compute.suspend_instance").Recover(context.Background(), r); err != nil || !took {
		t.Errorf("Recover when SUSPENDED: %v %v", took, err)
	}
}

// A recovered instance on a custom-mode network needs a subnetwork: the
// network's one subnetwork in the zone's region is used, several are
// refused with their names, and a subnetwork given is sent.
func TestCreateInstanceSubnetwork(t *testing.T) {
	f, opts := start(t)
	p := New(opts)
	ctx := context.Background()
	snap, err := act(t, p, "gcp.compute.snapshot_instance_disks").Apply(ctx, req(map[string]cty.Value{"instance": cty.StringVal(web1),
		"destination_project": cty.StringVal(gcpfake.SecurityProject)}))
	if err != nil {
		t.Fatal(err)
	}
	id := snap.Outputs["snapshots"].Index(cty.NumberIntVal(0)).GetAttr("id")
	args := func(name string, extra map[string]cty.Value) *action.Request {
		a := map[string]cty.Value{"snapshot": id, "name": cty.StringVal(name), "zone": cty.StringVal(gcpfake.Zone)}
		for k, v := range extra {
			a[k] = v
		}
		return req(a)
	}
	create := act(t, p, "gcp.compute.create_instance_from_snapshot")
	ch, err := create.Plan(ctx, args("clean-1", map[string]cty.Value{"network": cty.StringVal(gcpfake.ForensicsVPC)}))
	if err != nil || !strings.Contains(ch.Summary, "on subnetwork projects/acme-sec-forensics/regions/europe-west1/subnetworks/forensics-ew1") {
		t.Fatalf("plan: %v %+v", err, ch)
	}
	if _, err := create.Apply(ctx, args("clean-1", map[string]cty.Value{"network": cty.StringVal(gcpfake.ForensicsVPC)})); err != nil {
		t.Fatal(err)
	}
	f.With(func(f *gcpfake.Fake) {
		ni := f.Instance("projects/acme-sec-forensics/zones/europe-west1-b/instances/clean-1").Objs("networkInterfaces")[0]
		if !strings.HasSuffix(ni.Str("subnetwork"), "/subnetworks/forensics-ew1") || !strings.HasSuffix(ni.Str("network"), "/networks/forensics-vpc") {
			t.Errorf("interface %v", ni)
		}
		f.AddSubnetwork("projects/acme-sec-forensics/regions/europe-west1/subnetworks/forensics-ew1-b", gcpfake.ForensicsVPC, "10.98.0.0/24")
		f.AddNetwork("projects/acme-sec-forensics/global/networks/empty", false)
	})
	if _, err := create.Plan(ctx, args("clean-2", map[string]cty.Value{"network": cty.StringVal(gcpfake.ForensicsVPC)})); err == nil ||
		!strings.Contains(err.Error(), "with 2 subnetworks in europe-west1") || !strings.Contains(err.Error(), "forensics-ew1-b") {
		t.Errorf("two subnetworks: %v", err)
	}
	if _, err := create.Plan(ctx, args("clean-2", map[string]cty.Value{"network": cty.StringVal("projects/acme-sec-forensics/global/networks/empty")})); err == nil ||
		!strings.Contains(err.Error(), "has no subnetwork in europe-west1") {
		t.Errorf("no subnetwork: %v", err)
	}
	sub := cty.StringVal("projects/acme-sec-forensics/regions/europe-west1/subnetworks/forensics-ew1-b")
	if _, err := create.Apply(ctx, args("clean-2", map[string]cty.Value{"network": cty.StringVal(gcpfake.ForensicsVPC), "subnetwork": sub})); err != nil {
		t.Fatal(err)
	}
	if _, err := create.Plan(ctx, args("clean-3", map[string]cty.Value{"subnetwork": cty.StringVal("projects/p/regions/us-east1/subnetworks/s")})); err == nil ||
		!strings.Contains(err.Error(), "is in region us-east1, not europe-west1") {
		t.Errorf("other region: %v", err)
	}
}

// A reference with an empty project, zone or name is refused with the
// form it should have, before anything is asked of the API.
func TestParseRefusesEmptySegments(t *testing.T) {
	f, opts := start(t)
	for _, bad := range []string{"projects//zones//instances/", "projects/acme-prod/zones//instances/web-1", "//compute.googleapis.com/projects//zones/z/instances/x"} {
		_, err := act(t, New(opts), "gcp.compute.stop_instance").Plan(context.Background(), req(map[string]cty.Value{"instance": cty.StringVal(bad)}))
		if err == nil || !strings.Contains(err.Error(), "want its asset id, self link or projects/P/zones/Z/instances/NAME") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// A rule open to the internet through two halves is restricted like one
// open through 0.0.0.0/0; halves given as the new sources are refused.
func TestRestrictSeesHalvesAsTheInternet(t *testing.T) {
	f, opts := start(t)
	f.With(func(f *gcpfake.Fake) {
		f.Firewall(gcpfake.OpenSSH)["sourceRanges"] = []any{"0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8"}
	})
	p := New(opts)
	r := req(map[string]cty.Value{"firewall": cty.StringVal(gcpfake.OpenSSH), "source_ranges": cty.ListVal([]cty.Value{cty.StringVal("35.235.240.0/20")})})
	ch, err := act(t, p, "gcp.compute.restrict_firewall").Plan(context.Background(), r)
	if err != nil || ch.NoOp || !strings.Contains(ch.Summary, "sources 0.0.0.0/1, 128.0.0.0/1, 10.0.0.0/8 -> 35.235.240.0/20") {
		t.Fatalf("plan: %v %+v", err, ch)
	}
	if _, err := act(t, p, "gcp.compute.restrict_firewall").Apply(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if v := reachOf(f, 0, "INGRESS", "198.51.100.23", 22); v.Allowed {
		t.Errorf("still open: %+v", v)
	}
	halves := req(map[string]cty.Value{"firewall": cty.StringVal(gcpfake.OpenHTTPS), "source_ranges": cty.ListVal([]cty.Value{cty.StringVal("0.0.0.0/1"), cty.StringVal("128.0.0.0/1")})})
	if _, err := act(t, p, "gcp.compute.restrict_firewall").Plan(context.Background(), halves); err == nil || !strings.Contains(err.Error(), "together cover the whole internet") {
		t.Errorf("halves as sources: %v", err)
	}
}

func anyList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
