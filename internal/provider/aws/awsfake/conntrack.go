package awsfake

import (
	"net/netip"
	"slices"
	"strings"
)

// Security group connection tracking, as the EC2 User Guide describes it
// (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/security-group-connection-tracking.html),
// and no more than it says:
//
//   - Security groups are stateful: a tracked flow is allowed in both
//     directions, and "when you change a security group rule, its tracked
//     connections are not immediately interrupted": they go on until they
//     time out. A tracked flow stays tracked: the page does not say that
//     rules which would leave a new flow untracked make a tracked one
//     untracked.
//   - "If a security group rule permits TCP or UDP flows for all traffic
//     (0.0.0.0/0 or ::/0) and there is a corresponding rule in the other
//     direction that permits all response traffic (0.0.0.0/0 or ::/0) for
//     all ports (0-65535), then that flow of traffic is not tracked", and
//     "an untracked flow of traffic is immediately interrupted if the rule
//     that enables the flow is removed or modified". ICMP is always
//     tracked.
//   - "Connections made through the following are automatically tracked,
//     even if the security group configuration does not require
//     tracking": Gateway Load Balancers, Global Accelerator accelerators,
//     NAT gateways, Network Firewall firewall endpoints, Network Load
//     Balancers, transit gateway attachments (Flow.Via).
//   - Network ACLs are stateless: "adding a network ACL that blocks
//     traffic in either direction breaks existing connections". The VPC
//     User Guide: "We evaluate the network ACL rules when traffic enters
//     and leaves the subnet, not as it is routed within a subnet"
//     (https://docs.aws.amazon.com/vpc/latest/userguide/nacl-basics.html):
//     a flow with a peer inside the same subnet is not touched.

// Paths whose connections are automatically tracked.
var autoTracked = []string{"gateway-load-balancer", "global-accelerator", "nat-gateway", "network-firewall", "network-load-balancer", "transit-gateway"}

// Connect opens a flow on a network interface of the region and returns
// it, tracked unless the interface's groups make it untracked.
func (f *Fake) Connect(reg *Region, fl Flow) *Flow {
	if fl.Via != "" && !slices.Contains(autoTracked, fl.Via) {
		panic("awsfake: a flow via " + fl.Via + ": want one of " + strings.Join(autoTracked, ", ") + " or none")
	}
	fl.ID, fl.Open = f.id("flow"), true
	fl.Tracked = fl.Via != "" || !untracked(reg, f.eniGroups(reg, fl.ENI), &fl)
	reg.Flows = append(reg.Flows, &fl)
	return &fl
}

// Flow returns a flow by id.
func (reg *Region) Flow(id string) *Flow {
	for _, fl := range reg.Flows {
		if fl.ID == id {
			return fl
		}
	}
	return nil
}

func (f *Fake) eniGroups(reg *Region, eni string) []*SecurityGroup {
	e := f.findENI(reg, eni)
	if e == nil {
		return nil
	}
	var out []*SecurityGroup
	for _, g := range e.Groups {
		if sg := reg.SecurityGroups[g]; sg != nil {
			out = append(out, sg)
		}
	}
	return out
}

// subnetOf returns the subnet of a network interface (its instance's).
func subnetOf(reg *Region, eni string) string {
	for _, in := range reg.Instances {
		for _, e := range in.ENIs {
			if e.ID == eni {
				return in.SubnetID
			}
		}
	}
	return ""
}

// aclOf returns the network ACL associated with a subnet.
func aclOf(reg *Region, subnet string) *NetworkACL {
	for _, acl := range reg.NetworkACLs {
		for _, s := range acl.Associations {
			if s == subnet {
				return acl
			}
		}
	}
	return nil
}

// retrackGroup re-evaluates the flows of every interface in a group.
func (f *Fake) retrackGroup(reg *Region, gid string) {
	for _, in := range reg.Instances {
		for _, e := range in.ENIs {
			if slices.Contains(e.Groups, gid) {
				f.retrack(reg, e.ID)
			}
		}
	}
}

// retrackSubnet re-evaluates the flows of every interface in a subnet.
func (f *Fake) retrackSubnet(reg *Region, subnet string) {
	for _, in := range reg.Instances {
		if in.SubnetID != subnet {
			continue
		}
		for _, e := range in.ENIs {
			f.retrack(reg, e.ID)
		}
	}
}

// retrack re-evaluates the open flows of a network interface after its
// groups, their rules or its subnet's network ACL changed: a deny-all
// network ACL breaks those that cross the subnet's edge; an untracked flow
// the rules no longer allow is interrupted; a tracked one goes on.
func (f *Fake) retrack(reg *Region, eni string) {
	groups := f.eniGroups(reg, eni)
	subnet := subnetOf(reg, eni)
	acl := aclOf(reg, subnet)
	for _, fl := range reg.Flows {
		if fl.ENI != eni || !fl.Open {
			continue
		}
		if acl != nil && !acl.AllowAll && !inSubnet(reg, subnet, fl.Peer) {
			fl.Open, fl.EndedBy = false, "network ACL "+acl.ID
			continue
		}
		if fl.Tracked {
			continue
		}
		if !permits(groups, !fl.Inbound, fl, false) || !permits(groups, fl.Inbound, fl, true) {
			fl.Open, fl.EndedBy = false, "security group (untracked flow)"
		}
	}
}

// inSubnet reports whether an address is in the subnet's range.
func inSubnet(reg *Region, subnet, addr string) bool {
	sn := reg.Subnets[subnet]
	if sn == nil {
		return false
	}
	p, err1 := netip.ParsePrefix(sn.CIDR)
	a, err2 := netip.ParseAddr(addr)
	return err1 == nil && err2 == nil && p.Contains(a)
}

func family(peer string) string {
	if a, err := netip.ParseAddr(peer); err == nil && a.Is6() {
		return "::/0"
	}
	return "0.0.0.0/0"
}

func protocolMatches(p Perm, proto string) bool {
	return p.Protocol == "-1" || p.Protocol == proto || p.Protocol == map[string]string{"tcp": "6", "udp": "17", "icmp": "1"}[proto]
}

func allPorts(p Perm) bool { return p.Protocol == "-1" || p.From <= 0 && p.To >= 65535 }

// untracked reports whether the groups make a flow untracked.
func untracked(reg *Region, groups []*SecurityGroup, fl *Flow) bool {
	if fl.Protocol != "tcp" && fl.Protocol != "udp" {
		return false
	}
	world := family(fl.Peer)
	first, other := false, false
	for _, g := range groups {
		initiating, response := g.Egress, g.Ingress
		if fl.Inbound {
			initiating, response = g.Ingress, g.Egress
		}
		for _, p := range initiating {
			if slices.Contains(append(p.CIDRs, p.IPv6...), world) && protocolMatches(p, fl.Protocol) && (allPorts(p) || p.From <= fl.Port && fl.Port <= p.To) {
				first = true
			}
		}
		for _, p := range response {
			if slices.Contains(append(p.CIDRs, p.IPv6...), world) && protocolMatches(p, fl.Protocol) && allPorts(p) {
				other = true
			}
		}
	}
	return first && other
}

// permits reports whether the groups' rules in one direction let the
// flow's packets through (ingress for packets from the peer). The
// response direction needs every port: the peer's port is ephemeral.
func permits(groups []*SecurityGroup, egress bool, fl *Flow, response bool) bool {
	peer, err := netip.ParseAddr(fl.Peer)
	if err != nil {
		return false
	}
	for _, g := range groups {
		rules := g.Ingress
		if egress {
			rules = g.Egress
		}
		for _, p := range rules {
			if !protocolMatches(p, fl.Protocol) {
				continue
			}
			if response && !allPorts(p) || !response && !allPorts(p) && !(p.From <= fl.Port && fl.Port <= p.To) {
				continue
			}
			for _, c := range append(p.CIDRs, p.IPv6...) {
				if pr, err := netip.ParsePrefix(c); err == nil && pr.Contains(peer) {
					return true
				}
			}
		}
	}
	return false
}
