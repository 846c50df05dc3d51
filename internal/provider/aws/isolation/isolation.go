package isolation

import (
	"fmt"
	"slices"
	"strings"
)

// Tags on an isolated instance.
const (
	// PreviousGroupsTag records each network interface's groups before
	// isolation: "eni-1=sg-a+sg-b;eni-2=sg-c".
	PreviousGroupsTag = "vigil:previous-groups"
	// QuarantineTag holds the run that isolated the instance.
	QuarantineTag = "vigil:quarantine"
	// PreviousACLsTag records, with the nacl way, each subnet's network
	// ACL before isolation: "subnet-1=acl-a;subnet-2=acl-b".
	PreviousACLsTag = "vigil:previous-acls"
)

// GroupName is the VPC's isolation group: no rules in, none out.
func GroupName(vpc string) string { return "vigil-isolation-" + vpc }

// UntrackGroupName is the group the untrack way swaps interfaces through:
// all traffic in and out from 0.0.0.0/0 and ::/0. It exists only while an
// isolation runs.
func UntrackGroupName(vpc string) string { return "vigil-untrack-" + vpc }

// ACLName is the VPC's isolation network ACL (no entries: denies all).
func ACLName(vpc string) string { return "vigil-isolation-" + vpc }

// Ways to end the connections security groups keep tracking.
const (
	NACL    = "nacl"
	Untrack = "untrack"
	None    = "none"
)

// Ways lists them, the default first. The network ACL is the default
// because it is the way the EC2 documentation gives: "to ensure that
// traffic is immediately interrupted ... you can use a network ACL for
// your subnet", and a network ACL that blocks traffic "breaks existing
// connections". The untrack way rests on the page's rule that flows a
// group allows from and to anywhere are not tracked; the page does not
// say that this stops the tracking of a connection already tracked.
var Ways = []string{NACL, Untrack, None}

// The AWS documentation the ways follow.
const (
	TrackingDoc  = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/security-group-connection-tracking.html"
	NACLDoc      = "https://docs.aws.amazon.com/vpc/latest/userguide/vpc-network-acls.html"
	NACLBasicDoc = "https://docs.aws.amazon.com/vpc/latest/userguide/nacl-basics.html"
)

// Way reads the end_tracked_connections argument ("" is the default).
func Way(arg string) (string, error) {
	if arg == "" {
		return Ways[0], nil
	}
	if !slices.Contains(Ways, arg) {
		return "", fmt.Errorf("end_tracked_connections %q: use %s", arg, strings.Join(Ways, ", "))
	}
	return arg, nil
}

// AutoTracked is what the tracking page lists as "automatically tracked,
// even if the security group configuration does not require tracking".
const AutoTracked = "Gateway Load Balancers, Global Accelerator accelerators, NAT gateways, Network Firewall endpoints, Network Load Balancers and transit gateway attachments"

// Risk says what a way does and risks, for the plan.
func Risk(way, vpc string, subnets []string, neighbours []string) string {
	switch way {
	case Untrack:
		return fmt.Sprintf("end tracked connections the untrack way: each interface goes first to %s, which allows all traffic in and out from 0.0.0.0/0 and ::/0, "+
			"then to the isolation group; the EC2 page says flows such rules allow are not tracked and that an untracked flow ends when its rule goes, "+
			"but not that a connection already tracked stops being tracked, so this may leave tracked connections open until they time out (%s), "+
			"and connections through %s are always tracked; risk: while an interface is in the open group everything is allowed in and out, "+
			"and if vigil stops between the two swaps (a crash, a lost answer) it stays there until the step is resumed: vigil moves it to the "+
			"isolation group at once after an error, and on resume Recover does so before anything else; end_tracked_connections = \"nacl\" is the documented way",
			UntrackGroupName(vpc), TrackingDoc, AutoTracked)
	case NACL:
		n := "no other instance is in them now"
		if len(neighbours) > 0 {
			n = fmt.Sprintf("%d other instances are in them now (%s)", len(neighbours), strings.Join(neighbours, ", "))
		}
		return fmt.Sprintf("end tracked connections the nacl way (the default): subnets %s get network ACL %s, which denies everything and, being stateless, "+
			"breaks established connections that cross the subnets' edge, tracked ones included (%s); risk: every other instance in those subnets "+
			"loses its network too, until release (%s); network ACLs are not evaluated for traffic within a subnet (%s), so a tracked connection with a peer in the same subnet "+
			"goes on until it times out (the isolation group lets no new one in)", strings.Join(subnets, ", "), ACLName(vpc), TrackingDoc, n, NACLBasicDoc)
	}
	return fmt.Sprintf("tracked connections are left alone: changing security groups does not interrupt them, and an attacker's established session goes on until it times out (%s)", TrackingDoc)
}

// EncodeGroups writes the previous groups of each interface for the tag.
func EncodeGroups(groups map[string][]string) string {
	return encode(groups, "+")
}

// DecodeGroups reads PreviousGroupsTag.
func DecodeGroups(s string) map[string][]string {
	out := map[string][]string{}
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		if ok && v != "" {
			out[k] = strings.Split(v, "+")
		}
	}
	return out
}

// EncodeACLs writes the previous network ACL of each subnet for the tag.
func EncodeACLs(acls map[string]string) string {
	m := map[string][]string{}
	for k, v := range acls {
		m[k] = []string{v}
	}
	return encode(m, "+")
}

// DecodeACLs reads PreviousACLsTag.
func DecodeACLs(s string) map[string]string {
	out := map[string]string{}
	for k, v := range DecodeGroups(s) {
		out[k] = v[0]
	}
	return out
}

func encode(m map[string][]string, sep string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+strings.Join(m[k], sep))
	}
	return strings.Join(parts, ";")
}
