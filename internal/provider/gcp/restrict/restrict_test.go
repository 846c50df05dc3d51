package restrict

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSourcesAndCheck(t *testing.T) {
	for _, tc := range []struct {
		current, with, want []string
		open                bool
	}{
		{[]string{"0.0.0.0/0", "10.0.0.0/8"}, []string{"35.235.240.0/20"}, []string{"10.0.0.0/8", "35.235.240.0/20"}, true},
		{[]string{"0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8"}, []string{"35.235.240.0/20"}, []string{"35.235.240.0/20"}, true},
		{[]string{"::/0", "10.0.0.0/8"}, []string{"10.0.0.0/8"}, []string{"10.0.0.0/8"}, true},
		{[]string{"10.0.0.0/8"}, []string{"35.235.240.0/20"}, []string{"10.0.0.0/8", "35.235.240.0/20"}, false},
	} {
		if got := Sources(tc.current, tc.with); !cmp.Equal(got, tc.want) {
			t.Errorf("Sources(%v, %v) = %v, want %v", tc.current, tc.with, got, tc.want)
		}
		if Open(tc.current) != tc.open {
			t.Errorf("Open(%v) = %v", tc.current, !tc.open)
		}
	}
	for _, tc := range []struct {
		with []string
		err  string
	}{
		{nil, "source_ranges is empty"},
		{[]string{"0.0.0.0/0"}, "names 0.0.0.0/0"},
		{[]string{"0.0.0.0/1", "128.0.0.0/1"}, "together cover the whole internet"},
		{[]string{"::/1", "8000::/1"}, "together cover the whole internet"},
		{[]string{"10.0.0.0/33"}, "not a CIDR range"},
	} {
		if err := Check("allow-ssh", tc.with); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Check(%v) = %v, want %q", tc.with, err, tc.err)
		}
	}
	if err := Check("allow-ssh", []string{"0.0.0.0/1"}); err != nil {
		t.Errorf("half the internet is a (poor) restriction, not the whole: %v", err)
	}
}
