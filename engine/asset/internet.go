package asset

import (
	"net/netip"
	"slices"
	"strings"
)

// The ranges that stand for "anywhere" in firewall rules.
const (
	WorldV4 = "0.0.0.0/0"
	WorldV6 = "::/0"
)

// CoversInternet reports whether ranges, taken together, hold every IPv4
// address (v4) and every IPv6 address (v6). 0.0.0.0/0 does on its own;
// so do 0.0.0.0/1 with 128.0.0.0/1, or any set of ranges whose union
// leaves no address out. A bare address counts as a /32 or /128; a
// range that does not parse counts for nothing.
//
// It is the one test of "open to the whole internet" that the GCP and
// AWS providers and the simulated cloud use; VGL-NET-001 asks the same
// question with Rego's net.cidr_merge.
func CoversInternet(ranges []string) (v4, v6 bool) {
	var p4, p6 []netip.Prefix
	for _, r := range ranges {
		p, ok := parseRange(r)
		if !ok {
			continue
		}
		if p.Addr().Is4() {
			p4 = append(p4, p)
		} else {
			p6 = append(p6, p)
		}
	}
	return covers(p4, 32), covers(p6, 128)
}

// OpenToInternet reports whether the ranges together hold every IPv4 or
// every IPv6 address.
func OpenToInternet(ranges []string) bool {
	v4, v6 := CoversInternet(ranges)
	return v4 || v6
}

// IsWorld reports whether one range is all of IPv4 or all of IPv6, however
// written (0.0.0.0/0, ::/0, 0:0::/0).
func IsWorld(r string) bool {
	p, ok := parseRange(r)
	return ok && p.Bits() == 0
}

// parseRange reads a CIDR range or a bare address, masked; IPv4-mapped
// IPv6 addresses stay IPv6, as firewalls treat them.
func parseRange(r string) (netip.Prefix, bool) {
	r = strings.TrimSpace(r)
	if r == "" {
		return netip.Prefix{}, false
	}
	if !strings.Contains(r, "/") {
		a, err := netip.ParseAddr(r)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(r)
	if err != nil {
		return netip.Prefix{}, false
	}
	return p.Masked(), true
}

// covers reports whether the prefixes of one family leave no address out:
// in address order, each must start at or before the address after the
// end reached so far, and the last end must be the family's last address.
func covers(ps []netip.Prefix, bits int) bool {
	if len(ps) == 0 {
		return false
	}
	// The cheap, usual answers first: a /0, or nothing that starts at the
	// family's first address.
	first := false
	for _, p := range ps {
		if p.Bits() == 0 {
			return true
		}
		first = first || p.Addr().IsUnspecified()
	}
	if !first {
		return false
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	var end netip.Addr // last address covered so far
	for i, p := range ps {
		if i > 0 {
			next := end.Next()
			if !next.IsValid() { // end is the family's last address
				return true
			}
			if p.Addr().Compare(next) > 0 {
				return false // a gap
			}
		}
		if last := lastAddr(p, bits); i == 0 || last.Compare(end) > 0 {
			end = last
		}
	}
	return !end.Next().IsValid()
}

// lastAddr is the highest address of a prefix.
func lastAddr(p netip.Prefix, bits int) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < bits; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// WithoutInternet returns the ranges that stay when a rule's sources stop
// covering the internet, in their order: in each family that the ranges
// cover whole, the world ranges (0.0.0.0/0, ::/0) go; if the others still
// cover it (0.0.0.0/1 with 128.0.0.0/1), every range of that family goes,
// since none of them can be told apart as the narrow one meant. Ranges of
// a family not covered, and ranges that do not parse, stay.
func WithoutInternet(ranges []string) []string {
	v4, v6 := CoversInternet(ranges)
	drop := func(keep func(netip.Prefix) bool) {
		out := ranges[:0:0]
		for _, r := range ranges {
			if p, ok := parseRange(r); !ok || keep(p) {
				out = append(out, r)
			}
		}
		ranges = out
	}
	family := func(is4 bool) func(netip.Prefix) bool {
		return func(p netip.Prefix) bool { return p.Addr().Is4() != is4 }
	}
	for _, f := range []struct {
		covered, is4 bool
	}{{v4, true}, {v6, false}} {
		if !f.covered {
			continue
		}
		drop(func(p netip.Prefix) bool { return p.Addr().Is4() != f.is4 || p.Bits() > 0 })
		if a, b := CoversInternet(ranges); f.is4 && a || !f.is4 && b {
			drop(family(f.is4))
		}
	}
	return ranges
}
