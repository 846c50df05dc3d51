package aws

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
	"github.com/vigil-ir/vigil/internal/provider/aws/isolation"
)

// flows opens, on web-1 (subnet 10.0.1.0/24), the connections of a
// compromised instance:
//   - c2: web-1 to 203.0.113.50:443, an attacker's command channel. The
//     web group allows all egress, but only 22 and 443 in: the response
//     direction does not allow every port, so the flow is tracked.
//   - ssh: 10.0.9.9 into the second interface on 22, through the internal
//     group (10/8 only): tracked.
//   - https: a client at 198.51.100.4 on 443: world-open in, all out:
//     untracked.
//   - ping: ICMP from 10.0.9.9: ICMP is always tracked.
//   - lateral: 10.0.1.50, in web-1's own subnet, on 22: tracked.
//   - nlb: a client at 198.51.100.8 on 443 through a Network Load
//     Balancer: the groups would leave it untracked, but connections
//     through a load balancer are always tracked.
func flows(t *testing.T, f *awsfake.Fake) map[string]string {
	ids := map[string]string{}
	f.With(func(f *awsfake.Fake) {
		reg := f.Get(awsfake.ProdAccount).Region("eu-west-1")
		for name, fl := range map[string]awsfake.Flow{
			"c2":      {ENI: "eni-0aaaaaaaaaaaa0001", Protocol: "tcp", Peer: "203.0.113.50", Port: 443},
			"ssh":     {ENI: "eni-0aaaaaaaaaaaa0002", Protocol: "tcp", Peer: "10.0.9.9", Port: 22, Inbound: true},
			"https":   {ENI: "eni-0aaaaaaaaaaaa0001", Protocol: "tcp", Peer: "198.51.100.4", Port: 443, Inbound: true},
			"ping":    {ENI: "eni-0aaaaaaaaaaaa0002", Protocol: "icmp", Peer: "10.0.9.9", Inbound: true},
			"lateral": {ENI: "eni-0aaaaaaaaaaaa0002", Protocol: "tcp", Peer: "10.0.1.50", Port: 22, Inbound: true},
			"nlb":     {ENI: "eni-0aaaaaaaaaaaa0001", Protocol: "tcp", Peer: "198.51.100.8", Port: 443, Inbound: true, Via: "network-load-balancer"},
		} {
			ids[name] = f.Connect(reg, fl).ID
		}
	})
	return ids
}

func open(t *testing.T, f *awsfake.Fake, ids map[string]string) map[string]bool {
	out := map[string]bool{}
	f.With(func(f *awsfake.Fake) {
		reg := f.Get(awsfake.ProdAccount).Region("eu-west-1")
		for name, id := range ids {
			out[name] = reg.Flow(id).Open
		}
	})
	return out
}

// What each way ends, as the EC2 and VPC documentation describe it and the
// fake models it: changing security groups ends only untracked flows; the
// nacl way (the default) ends every connection that crosses the subnet's
// edge, tracked or not, the neighbours' too, and not one inside the
// subnet; the untrack way is not shown by the documentation to end a
// tracked connection, and the fake does not pretend it does.
func TestIsolationEndsTrackedConnections(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		way  string
		open map[string]bool
	}{
		{"none", map[string]bool{"c2": true, "ssh": true, "https": false, "ping": true, "lateral": true, "nlb": true}},
		{"", map[string]bool{"c2": false, "ssh": false, "https": false, "ping": false, "lateral": true, "nlb": false, "neighbour": false}}, // nacl, the default
		{"nacl", map[string]bool{"c2": false, "ssh": false, "https": false, "ping": false, "lateral": true, "nlb": false, "neighbour": false}},
		{"untrack", map[string]bool{"c2": true, "ssh": true, "https": false, "ping": true, "lateral": true, "nlb": true}},
	} {
		t.Run("way="+tc.way, func(t *testing.T) {
			f, opts := start(t)
			ids := flows(t, f)
			for name, o := range open(t, f, ids) {
				if !o {
					t.Fatalf("before: %s closed", name)
				}
			}
			way, _ := isolation.Way(tc.way)
			if way == isolation.NACL {
				f.With(func(f *awsfake.Fake) {
					reg := f.Get(awsfake.ProdAccount).Region("eu-west-1")
					reg.Instances["i-0aaaaaaaaaaaa0009"] = &awsfake.Instance{ID: "i-0aaaaaaaaaaaa0009", AZ: "eu-west-1a", VpcID: "vpc-0aaaaaaaaaaaa0001",
						SubnetID: awsfake.ProdSubnet, State: "running", ENIs: []*awsfake.ENI{{ID: "eni-0aaaaaaaaaaaa0009", Groups: []string{awsfake.InternalGroup}}},
						Tags: map[string]string{"Name": "cache-1"}}
					ids["neighbour"] = f.Connect(reg, awsfake.Flow{ENI: "eni-0aaaaaaaaaaaa0009", Protocol: "tcp", Peer: "10.0.2.20", Port: 6379, Inbound: true}).ID
				})
			}
			p := New(opts)
			args := map[string]cty.Value{"instance": cty.StringVal(webARN)}
			if tc.way != "" {
				args["end_tracked_connections"] = cty.StringVal(tc.way)
			}
			r := req(args)
			ch, err := act(t, p, "aws.ec2.isolate_instance").Plan(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			detail := strings.Join(ch.Details, "\n")
			if !strings.Contains(detail, isolation.Risk(way, "vpc-0aaaaaaaaaaaa0001", []string{awsfake.ProdSubnet}, map[bool][]string{true: {"cache-1"}, false: nil}[way == "nacl"])) {
				t.Errorf("the plan shows the way and its risk:\n%s", detail)
			}
			if !strings.Contains(detail, isolation.TrackingDoc) {
				t.Errorf("the plan cites the AWS documentation:\n%s", detail)
			}
			if _, err := act(t, p, "aws.ec2.isolate_instance").Apply(ctx, r); err != nil {
				t.Fatal(err)
			}
			for name, want := range tc.open {
				if got := open(t, f, ids)[name]; got != want {
					t.Errorf("%s: open %v, want %v", name, got, want)
				}
			}
			f.With(func(f *awsfake.Fake) {
				reg := f.Get(awsfake.ProdAccount).Region("eu-west-1")
				for _, g := range reg.SecurityGroups {
					if strings.HasPrefix(g.Name, "vigil-untrack-") {
						t.Errorf("the all-open group %s outlived the isolation", g.ID)
					}
				}
			})
			if res, took, err := act(t, p, "aws.ec2.isolate_instance").(*action.Func).Recover(ctx, r); err != nil || !took || res.Outputs["isolation_group"].AsString() == "" {
				t.Errorf("recover after apply: %v %v %v", res, took, err)
			}
			if _, err := act(t, p, "aws.ec2.release_instance").Apply(ctx, r); err != nil {
				t.Fatal(err)
			}
			f.With(func(f *awsfake.Fake) {
				reg := f.Get(awsfake.ProdAccount).Region("eu-west-1")
				if acl := reg.NetworkACLs[awsfake.ProdACL]; len(acl.Associations) != 1 {
					t.Errorf("release restores the subnet's network ACL: %v", acl.Associations)
				}
				if _, ok := reg.Instances[awsfake.WebInstance].Tags[isolation.PreviousACLsTag]; ok {
					t.Error("the ACL record outlived the release")
				}
			})
		})
	}
}

// groupsOf returns each interface of web-1 with the names of its groups.
func groupsOf(f *awsfake.Fake) map[string][]string {
	out := map[string][]string{}
	f.With(func(f *awsfake.Fake) {
		reg := f.Get(awsfake.ProdAccount).Region("eu-west-1")
		for _, e := range reg.Instances[awsfake.WebInstance].ENIs {
			for _, g := range e.Groups {
				out[e.ID] = append(out[e.ID], reg.SecurityGroups[g].Name)
			}
		}
	})
	return out
}

// The untrack way interrupted between its two swaps must not leave an
// interface in the group that allows everything: a lost answer to the
// first swap (the swap was made) makes vigil move the interface to the
// isolation group before it reports the outcome unknown. (It used to stay
// in vigil-untrack-..., open to 0.0.0.0/0 and ::/0, until someone resumed.)
func TestUntrackInterruptedLeavesNothingOpen(t *testing.T) {
	ctx := context.Background()
	f, opts := start(t)
	a := act(t, New(opts), "aws.ec2.isolate_instance").(*action.Func)
	r := req(map[string]cty.Value{"instance": cty.StringVal(webARN), "end_tracked_connections": cty.StringVal("untrack")})
	f.Inject(awsfake.Fault{Service: "ec2", Operation: "ModifyNetworkInterfaceAttribute", Kind: "reset", After: true, Times: 1})
	_, err := a.Apply(ctx, r)
	if !action.IsOutcomeUnknown(err) || !strings.Contains(err.Error(), "it is in isolation group") {
		t.Fatalf("err = %v", err)
	}
	for eni, gs := range groupsOf(f) {
		for _, g := range gs {
			if strings.HasPrefix(g, "vigil-untrack-") {
				t.Errorf("%s left in the all-open group: %v", eni, gs)
			}
		}
	}
	if g := groupsOf(f)["eni-0aaaaaaaaaaaa0001"]; len(g) != 1 || g[0] != isolation.GroupName("vpc-0aaaaaaaaaaaa0001") {
		t.Errorf("eni-1 groups %v", g)
	}
	// Resume: Recover, then Apply again, finish the isolation.
	if _, took, err := a.Recover(ctx, r); err != nil || took {
		t.Errorf("recover: %v %v", took, err)
	}
	if _, err := a.Apply(ctx, r); err != nil {
		t.Fatal(err)
	}
	for eni, gs := range groupsOf(f) {
		if len(gs) != 1 || gs[0] != isolation.GroupName("vpc-0aaaaaaaaaaaa0001") {
			t.Errorf("%s: %v", eni, gs)
		}
	}
}

// A crash between the two swaps (no chance to move the interface): the
// plan of the resumed step says so, and Recover moves the interface into
// the isolation group before anything else, so that it does not wait
// there for the rest of the step; Apply then finishes.
func TestRecoverClosesTheOpenGroupFirst(t *testing.T) {
	ctx := context.Background()
	f, opts := start(t)
	a := act(t, New(opts), "aws.ec2.isolate_instance").(*action.Func)
	r := req(map[string]cty.Value{"instance": cty.StringVal(webARN), "end_tracked_connections": cty.StringVal("untrack")})
	const open = "sg-0feedfeedfeed0001"
	f.With(func(f *awsfake.Fake) {
		reg := f.Get(awsfake.ProdAccount).Region("eu-west-1")
		reg.SecurityGroups[open] = &awsfake.SecurityGroup{ID: open, Name: isolation.UntrackGroupName("vpc-0aaaaaaaaaaaa0001"), VpcID: "vpc-0aaaaaaaaaaaa0001",
			Ingress: []awsfake.Perm{{Protocol: "-1", From: -1, To: -1, CIDRs: []string{"0.0.0.0/0"}, IPv6: []string{"::/0"}}},
			Egress:  []awsfake.Perm{{Protocol: "-1", From: -1, To: -1, CIDRs: []string{"0.0.0.0/0"}, IPv6: []string{"::/0"}}}}
		in := reg.Instances[awsfake.WebInstance]
		// What the first attempt recorded before it changed anything.
		in.Tags[isolation.PreviousGroupsTag] = isolation.EncodeGroups(map[string][]string{
			"eni-0aaaaaaaaaaaa0001": {awsfake.WebGroup}, "eni-0aaaaaaaaaaaa0002": {awsfake.DBGroup, awsfake.InternalGroup}})
		in.Tags[isolation.QuarantineTag] = "run-1"
		in.ENIs[0].Groups = []string{open}
	})
	ch, err := a.Plan(ctx, r)
	if err != nil || !strings.Contains(strings.Join(ch.Details, "\n"), "eni-0aaaaaaaaaaaa0001 is in the all-open group "+open+", left by an interrupted isolation") {
		t.Fatalf("plan: %v %+v", err, ch)
	}
	res, took, err := a.Recover(ctx, r)
	if err != nil || took {
		t.Fatalf("recover: %v %v %v", res, took, err)
	}
	if g := groupsOf(f)["eni-0aaaaaaaaaaaa0001"]; len(g) != 1 || g[0] != isolation.GroupName("vpc-0aaaaaaaaaaaa0001") {
		t.Errorf("after Recover eni-1 is in %v", g)
	}
	out, err := a.Apply(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if prev := out.Outputs["previous_groups"].Index(cty.StringVal("eni-0aaaaaaaaaaaa0001")); prev.LengthInt() != 1 || prev.Index(cty.NumberIntVal(0)).AsString() != awsfake.WebGroup {
		t.Errorf("previous groups %#v", out.Outputs["previous_groups"])
	}
	f.With(func(f *awsfake.Fake) {
		if f.Get(awsfake.ProdAccount).Region("eu-west-1").SecurityGroups[open] != nil {
			t.Error("the all-open group outlived the isolation")
		}
	})
}

// A role the credentials may not assume is named, with sts:AssumeRole, not
// taken for the call its credentials were for.
func TestAssumeRoleDenialNamesTheRole(t *testing.T) {
	_, opts := start(t)
	opts.EvidenceRole = "arn:aws:iam::333333333333:role/vigil-evidence" // the scenario has no such role
	_, err := act(t, New(opts), "aws.ec2.copy_snapshot").Plan(context.Background(), req(map[string]cty.Value{
		"snapshot_ids": cty.ListVal([]cty.Value{cty.StringVal("snap-0aaaaaaaaaaaa0001")})}))
	var pe *PermissionError
	if !errors.As(err, &pe) || pe.Permission != "sts:AssumeRole" || pe.Resource != opts.EvidenceRole ||
		!strings.Contains(err.Error(), "lack sts:AssumeRole on arn:aws:iam::333333333333:role/vigil-evidence") || strings.Contains(err.Error(), "lack ec2:") {
		t.Errorf("err = %v", err)
	}
}
