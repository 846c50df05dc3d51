package gcpfake

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// firewallDefaults validates a firewall rule and fills in what the API
// documents as defaults; it returns the 400 message of a bad rule.
//
// From the Firewall resource: direction "The default is INGRESS";
// priority "The default value is 1000", between 0 and 65535; exactly one
// of allowed and denied; sourceTags only for INGRESS; an INGRESS rule
// with no source range, tag or service account applies to 0.0.0.0/0, an
// EGRESS rule with no destination range to 0.0.0.0/0.
func (f *Fake) firewallDefaults(fw Doc, project string) string {
	if !nameRe.MatchString(fw.Str("name")) {
		return fmt.Sprintf("Invalid value for field 'resource.name': '%s'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'", fw.Str("name"))
	}
	network := fw.Str("network")
	if network == "" {
		network = "projects/" + project + "/global/networks/default"
	}
	network = linkPath(network)
	if strings.HasPrefix(network, "global/") {
		network = "projects/" + project + "/" + network
	}
	if f.networks[network] == nil {
		return fmt.Sprintf("Invalid value for field 'resource.network': '%s'. The referenced network resource cannot be found.", fw.Str("network"))
	}
	fw["network"] = f.selfLink(network)
	switch fw.Str("direction") {
	case "":
		fw["direction"] = "INGRESS"
	case "INGRESS", "EGRESS":
	default:
		return fmt.Sprintf("Invalid value for field 'resource.direction': '%s'.", fw.Str("direction"))
	}
	if !fw.Has("priority") {
		fw["priority"] = json.Number("1000")
	}
	if p, ok := fw.Int("priority"); !ok || p < 0 || p > 65535 {
		return fmt.Sprintf("Invalid value for field 'resource.priority': '%v'. Must be between 0 and 65535.", fw["priority"])
	}
	allowed, denied := fw.Objs("allowed"), fw.Objs("denied")
	if (len(allowed) == 0) == (len(denied) == 0) {
		return "Invalid value for field 'resource': a firewall rule has exactly one of allowed and denied."
	}
	for _, e := range append(allowed, denied...) {
		if e.Str("IPProtocol") == "" {
			return "Invalid value for field 'resource.allowed[].IPProtocol': ''. The protocol is required."
		}
		for _, p := range e.Strs("ports") {
			if _, _, ok := portRange(p); !ok {
				return fmt.Sprintf("Invalid value for field 'resource.allowed[].ports[]': '%s'.", p)
			}
		}
	}
	for _, k := range []string{"sourceRanges", "destinationRanges"} {
		for _, r := range fw.Strs(k) {
			if _, err := prefix(r); err != nil {
				return fmt.Sprintf("Invalid value for field 'resource.%s[]': '%s'. Must be a CIDR range.", k, r)
			}
		}
	}
	if len(fw.Strs("targetTags")) > 0 && len(fw.Strs("targetServiceAccounts")) > 0 {
		return "Invalid value for field 'resource': targetTags and targetServiceAccounts cannot both be set."
	}
	if fw.Str("direction") == "EGRESS" {
		if len(fw.Strs("sourceTags")) > 0 || len(fw.Strs("sourceServiceAccounts")) > 0 {
			return "Invalid value for field 'resource.sourceTags': sourceTags cannot be set for EGRESS traffic."
		}
		if len(fw.Strs("destinationRanges")) == 0 {
			fw["destinationRanges"] = anyStrings([]string{"0.0.0.0/0"})
		}
	} else if len(fw.Strs("sourceRanges"))+len(fw.Strs("sourceTags"))+len(fw.Strs("sourceServiceAccounts")) == 0 {
		fw["sourceRanges"] = anyStrings([]string{"0.0.0.0/0"})
	}
	if !fw.Has("disabled") {
		fw["disabled"] = false
	}
	if fw.Obj("logConfig") == nil {
		fw["logConfig"] = map[string]any{"enable": false}
	}
	return ""
}

func prefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	return p.Masked(), err
}

func portRange(s string) (int, int, bool) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		hi = lo
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	return a, b, err1 == nil && err2 == nil && 0 <= a && a <= b && b <= 65535
}

// Verdict is what the firewall rules do to one flow.
type Verdict struct {
	Allowed bool
	// Rule is the rule that decided, or "implied" for the network's
	// implied rules (deny all ingress, allow all egress, priority 65535).
	Rule     string
	Priority int64
}

// Reach evaluates the VPC firewall rules of an instance's network
// interface for one flow, as the documentation orders them: of the
// enabled rules of the interface's network whose direction, targets
// (target tags or service accounts, none meaning every instance), sources
// and destinations and protocol match, the one with the lowest priority
// number applies; at equal priority a deny wins over an allow; without a
// match the implied rules apply. direction is INGRESS (peer is the
// source) or EGRESS (peer is the destination); the interface's own
// address is its internal one (networkIP).
//
// What the fake does not model: hierarchical firewall policies and
// network firewall policies (evaluated before VPC firewall rules), and
// connection state: GCP firewall rules are stateful, and Reach judges
// each flow as new.
func (f *Fake) Reach(instance string, nic int, direction, peer, protocol string, port int) Verdict {
	in := f.instances[instance]
	if in == nil {
		return Verdict{Rule: "no such instance"}
	}
	nics := in.Objs("networkInterfaces")
	if nic >= len(nics) {
		return Verdict{Rule: "no such network interface"}
	}
	return f.ReachAt(instance, nic, direction, peer, nics[nic].Str("networkIP"), protocol, port)
}

// ReachAt is Reach with the interface's own address given: its internal
// IPv4 or IPv6 address, or an external one the peer sends to.
func (f *Fake) ReachAt(instance string, nic int, direction, peer, local, protocol string, port int) Verdict {
	in := f.instances[instance]
	if in == nil {
		return Verdict{Rule: "no such instance"}
	}
	nics := in.Objs("networkInterfaces")
	if nic >= len(nics) {
		return Verdict{Rule: "no such network interface"}
	}
	network := linkPath(nics[nic].Str("network"))
	ip, err := netip.ParseAddr(peer)
	if err != nil {
		return Verdict{Rule: "bad peer address"}
	}
	self, _ := netip.ParseAddr(local)
	tags := in.Obj("tags").Strs("items")
	sas := serviceAccounts(in)
	best := Verdict{Allowed: direction == "EGRESS", Rule: "implied", Priority: 65535}
	found := false
	for _, k := range slices.Sorted(maps.Keys(f.firewalls)) {
		fw := f.firewalls[k]
		if fw.Bool("disabled") || linkPath(fw.Str("network")) != network || fw.Str("direction") != direction {
			continue
		}
		tt, ts := fw.Strs("targetTags"), fw.Strs("targetServiceAccounts")
		if len(tt) > 0 && !overlap(tt, tags) || len(ts) > 0 && !overlap(ts, sas) {
			continue
		}
		// The source and destination of the flow: for ingress the peer
		// sends to the interface, for egress the interface to the peer.
		src, dst := ip, self
		if direction == "EGRESS" {
			src, dst = self, ip
		}
		if direction == "INGRESS" {
			// sourceRanges, sourceTags and sourceServiceAccounts: "the rule
			// applies to traffic that has a source IP address within
			// sourceRanges OR a source IP from a resource with a matching
			// tag".
			fromRange := contains(fw.Strs("sourceRanges"), src)
			fromTag := f.fromInstance(network, src, fw.Strs("sourceTags"), fw.Strs("sourceServiceAccounts"))
			if !fromRange && !fromTag {
				continue
			}
			if d := fw.Strs("destinationRanges"); len(d) > 0 && !contains(d, dst) {
				continue
			}
		} else {
			if !contains(fw.Strs("destinationRanges"), dst) {
				continue
			}
			if sr := fw.Strs("sourceRanges"); len(sr) > 0 && !contains(sr, src) {
				continue
			}
		}
		allow := true
		entries := fw.Objs("allowed")
		if len(entries) == 0 {
			allow, entries = false, fw.Objs("denied")
		}
		if !matchesProtocol(entries, protocol, port) {
			continue
		}
		prio, _ := fw.Int("priority")
		switch {
		case !found || prio < best.Priority:
			best, found = Verdict{Allowed: allow, Rule: fw.Str("name"), Priority: prio}, true
		case prio == best.Priority && !allow && best.Allowed:
			best = Verdict{Allowed: false, Rule: fw.Str("name"), Priority: prio}
		}
	}
	return best
}

func serviceAccounts(in Doc) []string {
	var out []string
	for _, sa := range in.Objs("serviceAccounts") {
		out = append(out, sa.Str("email"))
	}
	return out
}

// fromInstance reports whether addr is the primary interface of an
// instance of the network with one of the tags or service accounts: what
// sourceTags and sourceServiceAccounts match ("source IPs that match the
// primary network interfaces of VM instances that have the tag and are in
// the same VPC network").
func (f *Fake) fromInstance(network string, addr netip.Addr, tags, sas []string) bool {
	if len(tags)+len(sas) == 0 {
		return false
	}
	for _, in := range f.instances {
		nics := in.Objs("networkInterfaces")
		if len(nics) == 0 || linkPath(nics[0].Str("network")) != network || nics[0].Str("networkIP") != addr.String() {
			continue
		}
		if overlap(tags, in.Obj("tags").Strs("items")) || overlap(sas, serviceAccounts(in)) {
			return true
		}
	}
	return false
}

func overlap(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func contains(ranges []string, ip netip.Addr) bool {
	for _, r := range ranges {
		if p, err := prefix(r); err == nil && p.Contains(ip) {
			return true
		}
	}
	return false
}

func matchesProtocol(entries []Doc, protocol string, port int) bool {
	for _, e := range entries {
		p := strings.ToLower(e.Str("IPProtocol"))
		if p != "all" && p != protocol {
			continue
		}
		ports := e.Strs("ports")
		if len(ports) == 0 {
			return true
		}
		for _, pr := range ports {
			if lo, hi, ok := portRange(pr); ok && lo <= port && port <= hi {
				return true
			}
		}
	}
	return false
}

// fingerprint is the opaque hash the API hands out with tags and
// metadata; an update must quote the current one.
func fingerprint(v any) string {
	raw, _ := json.Marshal(v)
	if string(raw) == "null" {
		raw = []byte("[]")
	}
	var h uint64 = 1469598103934665603
	for _, b := range raw {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return fmt.Sprintf("%016x", h)
}
