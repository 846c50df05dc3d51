package quarantine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Tag is the network tag isolated instances carry; the rules target it.
const Tag = "vigil-quarantine"

// Priority of every quarantine rule. VPC firewall rules are evaluated
// lowest number first and, at equal priority, a deny wins over an allow:
// a deny at 0 beats every allow, even one an attacker or a colleague made
// at priority 0. The forensics allow cannot win a tie with the deny, so
// the denies leave its ranges out instead, and the allow at 0 is the rule
// that matches them.
const Priority = 0

// MaxRanges bounds the ranges of one rule: leaving the forensics ranges
// out of 0.0.0.0/0 takes up to 32 ranges per IPv4 range (128 per IPv6).
const MaxRanges = 256

// Rule is one VPC firewall rule of the quarantine.
type Rule struct {
	Kind        string // deny-in, deny-in-v6, deny-out, deny-out-v6, allow-forensics
	Name        string
	Network     string // projects/P/global/networks/N
	Direction   string // INGRESS or EGRESS
	Allow       bool   // allow (the forensics rule) or deny, all protocols
	Priority    int
	Ranges      []string // sourceRanges for INGRESS, destinationRanges for EGRESS
	Description string
}

// Project is the project of the rule's network (a Shared VPC's host).
func (r Rule) Project() string { return strings.Split(r.Network, "/")[1] }

var (
	v4World = netip.MustParsePrefix("0.0.0.0/0")
	v6World = netip.MustParsePrefix("::/0")
)

// Rules returns the rules that isolate instances tagged Tag in network
// (projects/P/global/networks/N): deny everything in and out at priority
// 0, except from the forensics ranges, which an allow at priority 0 lets
// in. A deny whose ranges would be empty is left out (an empty range list
// means 0.0.0.0/0 to the API), and so is the allow without ranges.
func Rules(network string, forensics []string) ([]Rule, error) {
	parts := strings.Split(network, "/")
	if len(parts) != 5 || parts[0] != "projects" || parts[2] != "global" || parts[3] != "networks" {
		return nil, fmt.Errorf("network %q: want projects/P/global/networks/N", network)
	}
	allow, err := Normalize(forensics)
	if err != nil {
		return nil, err
	}
	var v4, v6 []netip.Prefix
	for _, p := range allow {
		if p.Bits() == 0 {
			return nil, fmt.Errorf("forensics range %s would leave the instance open to the internet; name the forensics workstations' ranges", p)
		}
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	mk := func(kind, dir string, allow bool, ranges []netip.Prefix, desc string) Rule {
		return Rule{Kind: kind, Name: Name(kind, network), Network: network, Direction: dir, Allow: allow, Priority: Priority,
			Ranges: strs(ranges), Description: desc}
	}
	const why = "vigil: isolates instances tagged " + Tag + " (priority 0: a deny there beats any allow)"
	var out []Rule
	if in := Exclude(v4World, v4); len(in) > 0 {
		out = append(out, mk("deny-in", "INGRESS", false, in, why))
	}
	if in := Exclude(v6World, v6); len(in) > 0 {
		out = append(out, mk("deny-in-v6", "INGRESS", false, in, why))
	}
	out = append(out, mk("deny-out", "EGRESS", false, []netip.Prefix{v4World}, why), mk("deny-out-v6", "EGRESS", false, []netip.Prefix{v6World}, why))
	if len(allow) > 0 {
		out = append(out, mk("allow-forensics", "INGRESS", true, allow,
			"vigil: lets the forensics ranges reach instances tagged "+Tag+" (the denies leave these ranges out)"))
	}
	for _, r := range out {
		if len(r.Ranges) > MaxRanges {
			return nil, fmt.Errorf("leaving the forensics ranges %s out of the deny takes %d ranges in rule %s, more than %d: use fewer, larger ranges",
				strings.Join(forensics, ", "), len(r.Ranges), r.Name, MaxRanges)
		}
	}
	return out, nil
}

// Normalize parses CIDR ranges (or bare addresses), masks them and drops
// duplicates and ranges inside others, in address order.
func Normalize(ranges []string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, r := range ranges {
		r = strings.TrimSpace(r)
		var p netip.Prefix
		if strings.Contains(r, "/") {
			var err error
			if p, err = netip.ParsePrefix(r); err != nil {
				return nil, fmt.Errorf("range %q is not a CIDR range: %w", r, err)
			}
		} else {
			a, err := netip.ParseAddr(r)
			if err != nil {
				return nil, fmt.Errorf("range %q is not a CIDR range or an address", r)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		ps = append(ps, p.Masked())
	}
	slices.SortFunc(ps, comparePrefix)
	var out []netip.Prefix
	for _, p := range ps {
		if len(out) > 0 && covers(out[len(out)-1], p) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

func comparePrefix(a, b netip.Prefix) int {
	if a.Addr().Is4() != b.Addr().Is4() {
		if a.Addr().Is4() {
			return -1
		}
		return 1
	}
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// covers reports whether a contains all of b.
func covers(a, b netip.Prefix) bool {
	return a.Addr().Is4() == b.Addr().Is4() && a.Bits() <= b.Bits() && a.Contains(b.Addr())
}

// Exclude returns the smallest set of prefixes that covers universe
// except the holes: the sibling of every step on the way down to each
// hole. The result is in address order.
func Exclude(universe netip.Prefix, holes []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	var walk func(p netip.Prefix)
	walk = func(p netip.Prefix) {
		overlap := false
		for _, h := range holes {
			if covers(h, p) {
				return
			}
			if covers(p, h) {
				overlap = true
			}
		}
		if !overlap {
			out = append(out, p)
			return
		}
		lo, hi := halves(p)
		walk(lo)
		walk(hi)
	}
	walk(universe.Masked())
	return out
}

// halves splits a prefix into its two children.
func halves(p netip.Prefix) (netip.Prefix, netip.Prefix) {
	bits := p.Bits() + 1
	b := p.Addr().AsSlice()
	b[p.Bits()/8] |= 0x80 >> (p.Bits() % 8)
	hi, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(p.Addr(), bits), netip.PrefixFrom(hi, bits)
}

func strs(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

var unsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// Name is the rule's name: vigil-quarantine-KIND-NETWORK, or a hashed
// form when that passes the API's 63 characters.
func Name(kind, network string) string {
	parts := strings.Split(network, "/")
	net := parts[len(parts)-1]
	n := "vigil-quarantine-" + kind + "-" + net
	if len(n) <= 63 {
		return n
	}
	h := sha256.Sum256([]byte(network))
	base := strings.TrimRight(unsafe.ReplaceAllString("vigil-q-"+kind+"-"+net, "-"), "-")
	if len(base) > 52 {
		base = strings.TrimRight(base[:52], "-")
	}
	return base + "-" + hex.EncodeToString(h[:])[:10]
}

// Describe says what a rule does, for plans: "deny all in from
// everywhere but 10.99.0.0/24 (24 ranges), priority 0".
func Describe(r Rule, forensics []string) string {
	verb := "deny"
	if r.Allow {
		verb = "allow"
	}
	dir := "in from"
	if r.Direction == "EGRESS" {
		dir = "out to"
	}
	ranges := strings.Join(r.Ranges, ", ")
	if !r.Allow && r.Direction == "INGRESS" && len(forensics) > 0 && len(r.Ranges) > 1 {
		ranges = fmt.Sprintf("everywhere but %s (%d ranges)", strings.Join(forensics, ", "), len(r.Ranges))
	}
	return fmt.Sprintf("%s all %s %s, priority %d", verb, dir, ranges, r.Priority)
}

// Why is the plan's explanation of the priorities.
const Why = "priority 0 beats every allow rule, even one at 0 (a deny wins a tie); the forensics ranges are left out of the denies and allowed at 0"

// Forensics merges the forensics ranges asked for with those the
// network's allow rule already has (it is shared by the network's
// quarantined instances), normalized.
func Forensics(asked, existing []string) ([]string, error) {
	ps, err := Normalize(append(append([]string(nil), asked...), existing...))
	if err != nil {
		return nil, err
	}
	return strs(ps), nil
}
