package asset

import (
	"fmt"
	"testing"
)

// The expected answers are worked out by hand from the address ranges.
func TestCoversInternet(t *testing.T) {
	for _, tc := range []struct {
		ranges []string
		v4, v6 bool
	}{
		{nil, false, false},
		{[]string{"0.0.0.0/0"}, true, false},
		{[]string{"::/0"}, false, true},
		{[]string{"0.0.0.0/0", "::/0"}, true, true},
		{[]string{" 0.0.0.0/0 "}, true, false},
		{[]string{"10.0.0.0/8"}, false, false},
		// The two halves of IPv4: 0-127 and 128-255.
		{[]string{"0.0.0.0/1", "128.0.0.0/1"}, true, false},
		{[]string{"128.0.0.0/1", "0.0.0.0/1"}, true, false},
		// Unmasked ranges are masked: 1.2.3.4/1 is 0.0.0.0/1.
		{[]string{"1.2.3.4/1", "200.0.0.0/1"}, true, false},
		// Quarters, one missing (192.0.0.0/2).
		{[]string{"0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2"}, false, false},
		{[]string{"0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"}, true, false},
		// Overlapping and nested ranges: 0/1 holds 10/8.
		{[]string{"10.0.0.0/8", "0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/2"}, true, false},
		// Everything but the last address: 255.255.255.255 is left out.
		{append(excludeLast(), "0.0.0.0/1"), false, false},
		// Everything but 0.0.0.0 (the cheap test finds no range at the
		// first address).
		{[]string{"0.0.0.1/32", "0.0.0.2/31", "0.0.0.4/30", "0.0.0.8/29", "0.0.0.16/28", "0.0.0.32/27", "0.0.0.64/26", "0.0.0.128/25",
			"0.0.1.0/24", "0.0.2.0/23", "0.0.4.0/22", "0.0.8.0/21", "0.0.16.0/20", "0.0.32.0/19", "0.0.64.0/18", "0.0.128.0/17",
			"0.1.0.0/16", "0.2.0.0/15", "0.4.0.0/14", "0.8.0.0/13", "0.16.0.0/12", "0.32.0.0/11", "0.64.0.0/10", "0.128.0.0/9",
			"1.0.0.0/8", "2.0.0.0/7", "4.0.0.0/6", "8.0.0.0/5", "16.0.0.0/4", "32.0.0.0/3", "64.0.0.0/2", "128.0.0.0/1"}, false, false},
		// The same with 0.0.0.0 as a bare address: complete.
		{[]string{"0.0.0.0", "0.0.0.1/32", "0.0.0.2/31", "0.0.0.4/30", "0.0.0.8/29", "0.0.0.16/28", "0.0.0.32/27", "0.0.0.64/26", "0.0.0.128/25",
			"0.0.1.0/24", "0.0.2.0/23", "0.0.4.0/22", "0.0.8.0/21", "0.0.16.0/20", "0.0.32.0/19", "0.0.64.0/18", "0.0.128.0/17",
			"0.1.0.0/16", "0.2.0.0/15", "0.4.0.0/14", "0.8.0.0/13", "0.16.0.0/12", "0.32.0.0/11", "0.64.0.0/10", "0.128.0.0/9",
			"1.0.0.0/8", "2.0.0.0/7", "4.0.0.0/6", "8.0.0.0/5", "16.0.0.0/4", "32.0.0.0/3", "64.0.0.0/2", "128.0.0.0/1"}, true, false},
		// IPv6 halves, and a gap between them.
		{[]string{"::/1", "8000::/1"}, false, true},
		{[]string{"::/1", "c000::/2"}, false, false},
		{[]string{"0:0::/0"}, false, true},
		// An IPv4-mapped IPv6 range is IPv6, and covers only a sliver.
		{[]string{"::ffff:0.0.0.0/96"}, false, false},
		// What does not parse counts for nothing.
		{[]string{"everywhere", "0.0.0.0/33", "", "0.0.0.0/1"}, false, false},
		{[]string{"0.0.0.0/1", "128.0.0.0/1", "::/1"}, true, false},
	} {
		v4, v6 := CoversInternet(tc.ranges)
		if v4 != tc.v4 || v6 != tc.v6 {
			t.Errorf("CoversInternet(%v) = %v, %v; want %v, %v", tc.ranges, v4, v6, tc.v4, tc.v6)
		}
		if OpenToInternet(tc.ranges) != (tc.v4 || tc.v6) {
			t.Errorf("OpenToInternet(%v) = %v", tc.ranges, !(tc.v4 || tc.v6))
		}
	}
	for r, want := range map[string]bool{"0.0.0.0/0": true, "::/0": true, "0:0::/0": true, "10.0.0.0/0": true, "0.0.0.0/1": false, "x": false} {
		if IsWorld(r) != want {
			t.Errorf("IsWorld(%q) = %v", r, !want)
		}
	}
}

// excludeLast is 128.0.0.0/1 without 255.255.255.255: the sibling of
// each step down from 128.0.0.0/1 to the last address.
func excludeLast() []string {
	out := []string{}
	a := []int{128, 0, 0, 0}
	for bits := 2; bits <= 32; bits++ {
		// the lower child at this depth, under the path of ones so far
		b := append([]int(nil), a...)
		out = append(out, prefixString(b, bits))
		i := (bits - 1) / 8
		a[i] |= 0x80 >> ((bits - 1) % 8)
	}
	return out
}

func prefixString(a []int, bits int) string {
	return fmt.Sprintf("%d.%d.%d.%d/%d", a[0], a[1], a[2], a[3], bits)
}

func FuzzCoversInternet(f *testing.F) {
	f.Add("0.0.0.0/1", "128.0.0.0/1", "::/1")
	f.Add("10.0.0.0/8", "x", "8000::/1")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		v4, v6 := CoversInternet([]string{a, b, c})
		// Adding the world of a family makes it covered; order never
		// matters.
		if w4, w6 := CoversInternet([]string{c, b, a, WorldV4}); !w4 || w6 != v6 {
			t.Fatalf("with 0.0.0.0/0: %v %v (was %v %v)", w4, w6, v4, v6)
		}
	})
}

func TestWithoutInternet(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"10.0.0.0/8"}, []string{"10.0.0.0/8"}},
		{[]string{"0.0.0.0/0", "10.0.0.0/8"}, []string{"10.0.0.0/8"}},
		{[]string{"0.0.0.0/0", "10.0.0.0/8", "::/0", "2001:db8::/32"}, []string{"10.0.0.0/8", "2001:db8::/32"}},
		// The halves and a narrow range: nothing tells the narrow one
		// apart, so all of IPv4 goes; IPv6 is not covered and stays.
		{[]string{"0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8", "2001:db8::/32"}, []string{"2001:db8::/32"}},
		// 0.0.0.0/0 and the halves: without the /0 the halves still cover.
		{[]string{"0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "::/0"}, []string{}},
		{[]string{"garbage", "0.0.0.0/0"}, []string{"garbage"}},
	} {
		got := WithoutInternet(tc.in)
		if len(got) != len(tc.want) || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("WithoutInternet(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if OpenToInternet(got) {
			t.Errorf("WithoutInternet(%v) = %v is still open", tc.in, got)
		}
	}
}
