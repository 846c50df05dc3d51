package scan

import (
	"testing"
	"time"
)

// Security Hub, OCSF consumers and code scanning key a finding by its
// Fingerprint, so two findings of one scan must never share one: a policy
// that finds several things wrong with one asset says which with
// details.finding_key. Every fixture scan of the library checks it (a new
// policy that forgets the key fails here), and the ids must not move when
// only the time does (messages carry ages: VGL-KEY-001 "N days old").
func TestFindingIdentityIsUniqueAndStable(t *testing.T) {
	for _, c := range []struct{ config, inventory string }{
		{"testdata/posture/vigil.hcl", "testdata/posture"},
		{"examples/vigil.hcl", "examples/inventory"},
	} {
		scanAt := func(now time.Time) map[string]string {
			res, _ := scanFixture(t, c.config, c.inventory, now)
			defer res.Findings.Close()
			ids := map[string]string{} // fingerprint -> message
			for f := range res.Findings.All() {
				fp := f.Fingerprint()
				if prev, ok := ids[fp]; ok {
					t.Errorf("%s: %s on %s has the id of another finding of the same scan (%q and %q): give the policy's findings a details.finding_key",
						c.inventory, f.PolicyID, f.AssetID, prev, f.Message)
				}
				ids[fp] = f.PolicyID + " " + f.AssetID + ": " + f.Message
			}
			return ids
		}
		day := scanAt(postureClock)
		next := scanAt(postureClock.Add(24 * time.Hour))
		if len(day) == 0 {
			t.Fatalf("%s: no findings", c.inventory)
		}
		// A day later the same findings hold (nothing crosses a threshold
		// in one day in these fixtures): the same ids, although the
		// key-age messages now say one day more.
		for fp, what := range day {
			if _, ok := next[fp]; !ok {
				t.Errorf("%s: the id of %q changed a day later", c.inventory, what)
			}
		}
		if len(next) != len(day) {
			t.Errorf("%s: %d findings, %d a day later", c.inventory, len(day), len(next))
		}
	}
}
