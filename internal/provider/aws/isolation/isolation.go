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
	Untrack = "untrack"
	NACL    = "nacl"
	None    = "none"
)

// Ways lists them, the default first.
var Ways = []string{Untrack, NACL, None}

// The AWS documentation the ways follow.
const (
	TrackingDoc = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/security-group-connection-tracking.html"
	NACLDoc     = "https://docs.aws.amazon.com/vpc/latest/userguide/vpc-network-acls.html"
)

// Way reads the end_tracked_connections argument ("" is the default).
func Way(arg string) (string, error) {
	if arg == "" {
		return Untrack, nil
	}
	if !slices.Contains(Ways, arg) {
		return "", fmt.Errorf("end_tracked_connections %q: use %s", arg, strings.Join(Ways, ", "))
	}
	return arg, nil
}

// Risk says what a way does and risks, for the plan.
func Risk(way, vpc string, subnets []string, neighbours []string) string {
	switch way {
	case Untrack:
		return fmt.Sprintf("end tracked connections the untrack way: each interface goes first to %s, which allows all traffic in and out from 0.0.0.0/0 and ::/0 "+
			"so that connection tracking lets go of its TCP and UDP flows, then to the isolation group, which ends them; "+
			"risk: for a moment everything is allowed in and out, and ICMP and other protocols stay tracked until they time out (%s)", UntrackGroupName(vpc), TrackingDoc)
	case NACL:
		n := "no other instance"
		if len(neighbours) > 0 {
			n = fmt.Sprintf("%d other instances (%s)", len(neighbours), strings.Join(neighbours, ", "))
		}
		return fmt.Sprintf("end tracked connections the nacl way: subnets %s get network ACL %s, which denies everything and, being stateless, breaks "+
			"established connections; risk: %s in those subnets lose their network too, until release (%s)", strings.Join(subnets, ", "), ACLName(vpc), n, NACLDoc)
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
