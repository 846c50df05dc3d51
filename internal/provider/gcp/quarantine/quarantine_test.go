package quarantine

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// The expected sets are worked out by hand: the sibling of each step of
// the walk from the universe down to the hole.
func TestExclude(t *testing.T) {
	for _, tc := range []struct {
		universe string
		holes    []string
		want     []string
	}{
		{"0.0.0.0/0", nil, []string{"0.0.0.0/0"}},
		{"0.0.0.0/0", []string{"0.0.0.0/0"}, nil},
		{"0.0.0.0/0", []string{"128.0.0.0/1"}, []string{"0.0.0.0/1"}},
		{"0.0.0.0/0", []string{"0.0.0.0/2"}, []string{"64.0.0.0/2", "128.0.0.0/1"}},
		// 10.99.0.0/24 is 00001010.01100011.00000000: 24 siblings.
		{"0.0.0.0/0", []string{"10.99.0.0/24"}, []string{
			"0.0.0.0/5", "8.0.0.0/7", "10.0.0.0/10", "10.64.0.0/11", "10.96.0.0/15", "10.98.0.0/16",
			"10.99.1.0/24", "10.99.2.0/23", "10.99.4.0/22", "10.99.8.0/21", "10.99.16.0/20", "10.99.32.0/19", "10.99.64.0/18", "10.99.128.0/17",
			"10.100.0.0/14", "10.104.0.0/13", "10.112.0.0/12", "10.128.0.0/9", "11.0.0.0/8", "12.0.0.0/6", "16.0.0.0/4", "32.0.0.0/3",
			"64.0.0.0/2", "128.0.0.0/1"}},
		// Two holes in one half: 192.168.1.0/24 and 192.168.2.0/24 under 192.168.0.0/22.
		{"192.168.0.0/22", []string{"192.168.1.0/24", "192.168.2.0/24"}, []string{"192.168.0.0/24", "192.168.3.0/24"}},
		{"::/0", []string{"8000::/1"}, []string{"::/1"}},
	} {
		var got []string
		for _, p := range Exclude(netip.MustParsePrefix(tc.universe), prefixes(tc.holes...)) {
			got = append(got, p.String())
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Exclude(%s, %v) (-want +got):\n%s", tc.universe, tc.holes, diff)
		}
	}
}

// Every address is either in a hole or in exactly one prefix of the
// result.
func TestExcludeCovers(t *testing.T) {
	holes := prefixes("10.99.0.0/24", "198.51.100.7/32", "10.99.0.128/25")
	got := Exclude(netip.MustParsePrefix("0.0.0.0/0"), holes)
	for _, a := range []string{"0.0.0.1", "10.98.255.255", "10.99.0.0", "10.99.0.200", "10.99.1.0", "198.51.100.6", "198.51.100.7", "198.51.100.8", "255.255.255.255"} {
		addr := netip.MustParseAddr(a)
		inHole := false
		for _, h := range holes {
			inHole = inHole || h.Contains(addr)
		}
		n := 0
		for _, p := range got {
			if p.Contains(addr) {
				n++
			}
		}
		if inHole && n != 0 || !inHole && n != 1 {
			t.Errorf("%s: in a hole %v, in %d prefixes of the result", a, inHole, n)
		}
	}
}

func TestRules(t *testing.T) {
	rules, err := Rules("projects/acme-prod/global/networks/prod-vpc", []string{"10.99.0.7", "10.99.0.0/24", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	byKind := map[string]Rule{}
	for _, r := range rules {
		names = append(names, r.Name)
		byKind[r.Kind] = r
		if r.Priority != 0 || r.Project() != "acme-prod" {
			t.Errorf("%s: priority %d project %s", r.Name, r.Priority, r.Project())
		}
	}
	want := []string{"vigil-quarantine-deny-in-prod-vpc", "vigil-quarantine-deny-in-v6-prod-vpc", "vigil-quarantine-deny-out-prod-vpc",
		"vigil-quarantine-deny-out-v6-prod-vpc", "vigil-quarantine-allow-forensics-prod-vpc"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if got := byKind["allow-forensics"].Ranges; !cmp.Equal(got, []string{"10.99.0.0/24", "2001:db8::/32"}) || !byKind["allow-forensics"].Allow {
		t.Errorf("allow: %v", byKind["allow-forensics"])
	}
	if n := len(byKind["deny-in"].Ranges); n != 24 {
		t.Errorf("deny-in has %d ranges, want 24", n)
	}
	if n := len(byKind["deny-in-v6"].Ranges); n != 32 {
		t.Errorf("deny-in-v6 has %d ranges, want 32", n)
	}
	if got := byKind["deny-out"].Ranges; !cmp.Equal(got, []string{"0.0.0.0/0"}) || byKind["deny-out"].Direction != "EGRESS" {
		t.Errorf("deny-out: %+v", byKind["deny-out"])
	}
	// Without forensics ranges: four denies of the whole address space.
	plain, _ := Rules("projects/acme-prod/global/networks/prod-vpc", nil)
	if len(plain) != 4 || plain[0].Ranges[0] != "0.0.0.0/0" || plain[1].Ranges[0] != "::/0" {
		t.Errorf("plain: %+v", plain)
	}
	for _, bad := range [][]string{{"0.0.0.0/0"}, {"not-a-range"}, {"0.0.0.0/1", "128.0.0.0/1"}, {"64.0.0.0/2"}, {"2001::/16"}, {"::/1", "8000::/1"}} {
		if _, err := Rules("projects/p/global/networks/n", bad); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
	if _, err := Rules("prod-vpc", nil); err == nil {
		t.Error("a bare network name: want an error")
	}
	long := "projects/p/global/networks/" + strings.Repeat("n", 60)
	if n := Name("allow-forensics", long); len(n) > 63 || !strings.HasPrefix(n, "vigil-q-allow-forensics-") {
		t.Errorf("long name %q", n)
	}
}

// The existing forensics rule is not trusted: its ranges stay only when
// they would be accepted if asked for, and with the asked ones still
// leave a deny; the others are dropped and said so.
func TestForensics(t *testing.T) {
	const net = "projects/acme-prod/global/networks/prod-vpc"
	for _, tc := range []struct {
		name            string
		asked, existing []string
		want            []string
		dropped         []string // Range: first words of Why
		err             string
	}{
		{name: "shared with an earlier isolation", asked: []string{"10.99.0.0/24"}, existing: []string{"10.98.0.7/32"},
			want: []string{"10.98.0.7/32", "10.99.0.0/24"}},
		{name: "planted halves", asked: []string{"10.99.0.0/24"}, existing: []string{"0.0.0.0/1", "128.0.0.0/1"},
			want: []string{"10.99.0.0/24"}, dropped: []string{"0.0.0.0/1: 0.0.0.0/1 is broader than a /8", "128.0.0.0/1: 128.0.0.0/1 is broader than a /8"}},
		{name: "planted world", existing: []string{"0.0.0.0/0", "::/0", "garbage"},
			want: nil, dropped: []string{"0.0.0.0/0: 0.0.0.0/0 is broader", "::/0: ::/0 is broader than a /32", "garbage: not a CIDR range"}},
		// 256 /8s are each narrow enough, and together all of IPv4.
		{name: "many narrow ranges that cover everything", asked: []string{"10.99.0.0/24"}, existing: slash8s(),
			want: []string{"10.99.0.0/24"}, dropped: []string{"0.0.0.0/8: with the other forensics ranges it would cover the whole internet"}},
		// 300 addresses spread out: their denies would pass the bound.
		{name: "an existing rule too long to keep", asked: []string{"10.99.0.0/24"}, existing: spread(300),
			want: []string{"10.99.0.0/24"}, dropped: []string{"1.0.0.1/32: keeping the existing rule's ranges would take"}},
		{name: "asked halves are refused", asked: []string{"0.0.0.0/1", "128.0.0.0/1"}, err: "allow_ranges: forensics range 0.0.0.0/1 is broader than a /8"},
		{name: "asked /8s that cover everything are refused", asked: slash8s(), err: "together cover the whole internet"},
		{name: "too many asked ranges", asked: spread(300), err: "allow_ranges: leaving the forensics ranges"},
		{name: "bad asked range", asked: []string{"10.99.0.0/33"}, err: `allow_ranges: range "10.99.0.0/33" is not a CIDR range`},
	} {
		got, dropped, err := Forensics(net, tc.asked, tc.existing)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !cmp.Equal(got, tc.want, cmpopts.EquateEmpty()) {
			t.Errorf("%s: ranges %v, want %v", tc.name, got, tc.want)
		}
		for _, d := range tc.dropped {
			r, why, _ := strings.Cut(d, ": ")
			found := false
			for _, x := range dropped {
				found = found || x.Range == r && strings.HasPrefix(x.Why, why)
			}
			if !found {
				t.Errorf("%s: %s not dropped for %q: %+v", tc.name, r, why, dropped)
			}
		}
		if len(tc.dropped) == 0 && len(dropped) > 0 {
			t.Errorf("%s: dropped %+v", tc.name, dropped)
		}
		if _, err := Rules(net, got); err != nil {
			t.Errorf("%s: the decided ranges make no rules: %v", tc.name, err)
		}
	}
}

func slash8s() []string {
	var out []string
	for i := 0; i < 256; i++ {
		out = append(out, fmt.Sprintf("%d.0.0.0/8", i))
	}
	return out
}

// spread is n addresses, one in each of n different /8s from 1.0.0.0 up:
// each takes its own 24 deny ranges.
func spread(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("%d.%d.0.1/32", 1+i%200, i/200))
	}
	return out
}

// Any ranges: rules or an error; rules always have a deny in each family
// (forensics ranges never cover the internet), and every deny leaves the
// forensics ranges out.
func FuzzRules(f *testing.F) {
	f.Add("10.99.0.0/24", "2001:db8::/32")
	f.Add("0.0.0.0/1", "::1")
	f.Add("0.0.0.0/1", "128.0.0.0/1")
	f.Add("10.0.0.0/8", "11.0.0.0/8")
	f.Fuzz(func(t *testing.T, a, b string) {
		rules, err := Rules("projects/p/global/networks/n", []string{a, b})
		if err != nil {
			return
		}
		holes, _ := Normalize([]string{a, b})
		kinds := map[string]bool{}
		for _, r := range rules {
			kinds[r.Kind] = true
		}
		if !kinds["deny-in"] || !kinds["deny-in-v6"] {
			t.Fatalf("forensics %q, %q leave no deny in a family: %v", a, b, kinds)
		}
		for _, r := range rules {
			if r.Allow || r.Direction != "INGRESS" {
				continue
			}
			for _, s := range r.Ranges {
				p := netip.MustParsePrefix(s)
				for _, h := range holes {
					if p.Overlaps(h) {
						t.Fatalf("deny range %s overlaps forensics range %s", p, h)
					}
				}
			}
		}
	})
}
