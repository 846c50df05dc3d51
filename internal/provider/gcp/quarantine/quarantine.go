package quarantine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
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

// MaxRanges bounds the ranges of one rule. It is vigil's own bound, not
// Google's: leaving one forensics range out of 0.0.0.0/0 takes at most 32
// ranges (128 for IPv6), so a handful of forensics ranges stay far below
// it, and a rule this long is kept well under the per-rule system limits
// of VPC firewall rules (https://cloud.google.com/firewall/docs/quotas).
const MaxRanges = 256

// The broadest forensics range: a /8 of IPv4 or a /32 of IPv6. The allow
// at priority 0 beats every deny of the quarantine for these ranges, so a
// broader one lets a large share of the internet in; forensics ranges
// name the forensics workstations or their network.
const (
	MinBitsV4 = 8
	MinBitsV6 = 32
)

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
	if err := checkForensics(allow); err != nil {
		return nil, err
	}
	var v4, v6 []netip.Prefix
	for _, p := range allow {
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
			return nil, &TooManyError{Rule: r.Name, Ranges: len(r.Ranges), Forensics: strs(allow)}
		}
	}
	return out, nil
}

// TooManyError says the denies that leave the forensics ranges out would
// need more than MaxRanges ranges.
type TooManyError struct {
	Rule      string
	Ranges    int
	Forensics []string
}

func (e *TooManyError) Error() string {
	names := strings.Join(e.Forensics, ", ")
	if len(e.Forensics) > 5 {
		names = fmt.Sprintf("%s and %d more", strings.Join(e.Forensics[:5], ", "), len(e.Forensics)-5)
	}
	return fmt.Sprintf("leaving the forensics ranges %s out of the deny takes %d ranges in rule %s, more than vigil's bound of %d: name fewer, larger ranges",
		names, e.Ranges, e.Rule, MaxRanges)
}

// tooBroad says why one forensics range is refused, or "".
func tooBroad(p netip.Prefix) string {
	min := MinBitsV4
	if !p.Addr().Is4() {
		min = MinBitsV6
	}
	if p.Bits() < min {
		return fmt.Sprintf("%s is broader than a /%d: the allow at priority 0 would let that much of the internet past the deny", p, min)
	}
	return ""
}

// checkForensics refuses forensics ranges that leave no effective deny:
// one broader than a /8 (/32 for IPv6), or several that together hold
// all of IPv4 or IPv6 (0.0.0.0/1 with 128.0.0.0/1).
func checkForensics(allow []netip.Prefix) error {
	for _, p := range allow {
		if why := tooBroad(p); why != "" {
			return fmt.Errorf("forensics range %s; name the forensics workstations' ranges", why)
		}
	}
	if v4, v6 := asset.CoversInternet(strs(allow)); v4 || v6 {
		return fmt.Errorf("forensics ranges %s together cover the whole internet, which would leave the instance open to it; name the forensics workstations' ranges",
			strings.Join(strs(allow), ", "))
	}
	return nil
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

// Dropped is a range of an existing forensics rule that isolation does
// not keep, and why.
type Dropped struct{ Range, Why string }

// Forensics decides the forensics ranges of a network's allow rule: the
// ranges asked for, and those the rule already has (it is shared by the
// network's quarantined instances). The asked ranges must pass the checks
// of Rules, or it fails. The existing rule is not trusted: anyone who can
// create a firewall rule can make one of its name, so its ranges are
// kept only when they would pass too, and together with the asked ones
// still leave an effective deny within MaxRanges; the others are dropped,
// and said so, rather than refused, so that a planted rule cannot stop an
// isolation.
func Forensics(network string, asked, existing []string) ([]string, []Dropped, error) {
	want, err := Normalize(asked)
	if err != nil {
		return nil, nil, fmt.Errorf("allow_ranges: %w", err)
	}
	if err := checkForensics(want); err != nil {
		return nil, nil, fmt.Errorf("allow_ranges: %w", err)
	}
	if _, err := Rules(network, strs(want)); err != nil {
		return nil, nil, fmt.Errorf("allow_ranges: %w", err)
	}
	var dropped []Dropped
	var keep []netip.Prefix
	for _, r := range existing {
		ps, err := Normalize([]string{r})
		switch {
		case err != nil:
			dropped = append(dropped, Dropped{r, "not a CIDR range"})
		case tooBroad(ps[0]) != "":
			dropped = append(dropped, Dropped{r, tooBroad(ps[0])})
		default:
			keep = append(keep, ps[0])
		}
	}
	all := func() []string { return strs(mergeNormalized(want, keep)) }
	dropAll := func(why string) {
		for _, p := range keep {
			dropped = append(dropped, Dropped{p.String(), why})
		}
		keep = nil
	}
	if len(keep) > 0 {
		if v4, v6 := asset.CoversInternet(all()); v4 || v6 {
			dropAll("with the other forensics ranges it would cover the whole internet")
		}
	}
	if len(keep) > 0 {
		var tm *TooManyError
		if _, err := Rules(network, all()); errors.As(err, &tm) {
			dropAll(fmt.Sprintf("keeping the existing rule's ranges would take %d ranges in rule %s, more than vigil's bound of %d", tm.Ranges, tm.Rule, MaxRanges))
		} else if err != nil {
			return nil, nil, err
		}
	}
	return all(), dropped, nil
}

func mergeNormalized(a, b []netip.Prefix) []netip.Prefix {
	var ss []string
	for _, p := range append(append([]netip.Prefix(nil), a...), b...) {
		ss = append(ss, p.String())
	}
	out, _ := Normalize(ss)
	return out
}
