package restrict

import (
	"fmt"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/internal/provider/gcp/quarantine"
)

// Open reports whether a rule's source ranges let the whole internet in:
// all of IPv4 or of IPv6, in one range or together.
func Open(sources []string) bool { return asset.OpenToInternet(sources) }

// Sources is what restrict_firewall leaves: the rule's sources without
// what makes them cover the internet (asset.WithoutInternet), then the
// given ranges, each once.
func Sources(current, with []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range append(asset.WithoutInternet(current), with...) {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// Check refuses the ranges restrict_firewall is given when they would
// leave the rule open: none (an ingress rule with no source applies to
// 0.0.0.0/0), a range that is not CIDR, a world range, or ranges that
// together are the whole internet.
func Check(firewall string, with []string) error {
	if len(with) == 0 {
		return fmt.Errorf("source_ranges is empty: %s would keep no source in place of 0.0.0.0/0, and an ingress rule with no source is open to 0.0.0.0/0 again; "+
			"name the ranges that keep access (35.235.240.0/20 is Identity-Aware Proxy), or delete the rule with gcp.compute.delete_firewall", firewall)
	}
	if _, err := quarantine.Normalize(with); err != nil {
		return fmt.Errorf("source_ranges: %w", err)
	}
	for _, r := range with {
		if asset.IsWorld(r) {
			return fmt.Errorf("source_ranges names %s: that is the world-open range restrict_firewall removes", r)
		}
	}
	if asset.OpenToInternet(with) {
		return fmt.Errorf("source_ranges %s together cover the whole internet: %s would stay open to it; name the ranges that keep access",
			strings.Join(with, ", "), firewall)
	}
	return nil
}
