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

// flows opens, on web-1, the connections of a compromised instance:
//   - c2: web-1 to 203.0.113.50:443, an attacker's command channel. The
//     web group allows all egress, but only 22 and 443 in: the response
//     direction does not allow every port, so the flow is tracked.
//   - ssh: 10.0.9.9 into the second interface on 22, through the internal
//     group (10/8 only): tracked.
//   - https: a client at 198.51.100.4 on 443: world-open in, all out:
//     untracked.
//   - ping: ICMP from 10.0.9.9: ICMP is always tracked.
func flows(t *testing.T, f *awsfake.Fake) map[string]string {
	ids := map[string]string{}
	f.With(func(f *awsfake.Fake) {
		reg := f.Get(awsfake.ProdAccount).Region("eu-west-1")
		for name, fl := range map[string]awsfake.Flow{
			"c2":    {ENI: "eni-0aaaaaaaaaaaa0001", Protocol: "tcp", Peer: "203.0.113.50", Port: 443},
			"ssh":   {ENI: "eni-0aaaaaaaaaaaa0002", Protocol: "tcp", Peer: "10.0.9.9", Port: 22, Inbound: true},
			"https": {ENI: "eni-0aaaaaaaaaaaa0001", Protocol: "tcp", Peer: "198.51.100.4", Port: 443, Inbound: true},
			"ping":  {ENI: "eni-0aaaaaaaaaaaa0002", Protocol: "icmp", Peer: "10.0.9.9", Inbound: true},
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

// Changing security groups does not end tracked connections; the untrack
// way does, for TCP and UDP, and leaves nothing world-open behind; the
// nacl way ends every connection of the subnet, the neighbours' too.
func TestIsolationEndsTrackedConnections(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		way  string
		open map[string]bool
	}{
		{"none", map[string]bool{"c2": true, "ssh": true, "https": false, "ping": true}},
		{"", map[string]bool{"c2": false, "ssh": false, "https": false, "ping": true}}, // untrack, the default
		{"nacl", map[string]bool{"c2": false, "ssh": false, "https": false, "ping": false, "neighbour": false}},
	} {
		t.Run("way="+tc.way, func(t *testing.T) {
			f, opts := start(t)
			ids := flows(t, f)
			if got := open(t, f, ids); !got["c2"] || !got["ssh"] || !got["https"] || !got["ping"] {
				t.Fatalf("before: %v", got)
			}
			if tc.way == "nacl" {
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
			way := map[string]string{"": isolation.Untrack}[tc.way]
			if way == "" {
				way = tc.way
			}
			detail := strings.Join(ch.Details, "\n")
			if !strings.Contains(detail, isolation.Risk(way, "vpc-0aaaaaaaaaaaa0001", []string{awsfake.ProdSubnet}, map[bool][]string{true: {"cache-1"}, false: nil}[way == "nacl"])) {
				t.Errorf("the plan shows the way and its risk:\n%s", detail)
			}
			if !strings.Contains(detail, "https://docs.aws.amazon.com/") {
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
