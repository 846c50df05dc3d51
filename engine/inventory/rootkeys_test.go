package inventory

import (
	"encoding/json"
	"testing"

	"github.com/vigil-ir/vigil/engine/asset"
)

// The root user's keys (CIS AWS 1.4): the account summary counts keys
// present, active or not; the credential report's root row has them
// active or inactive (a rotation date says the key exists). aws2 of
// review 19: summary 1, report inactive: 1 key, 0 active.
func TestRootKeysFacets(t *testing.T) {
	for _, c := range []struct {
		name, summary, report string
		keys, active          int
	}{
		{"summary and inactive report key", `{"AccountAccessKeysPresent": 1}`, `{"access_key_1_active": "false", "access_key_1_last_rotated": "2020-01-01T00:00:00+00:00", "access_key_2_active": "false", "access_key_2_last_rotated": "N/A"}`, 1, 0},
		{"report only, one active", `{}`, `{"access_key_1_active": "true", "access_key_1_last_rotated": "2020-01-01T00:00:00+00:00", "access_key_2_active": "false", "access_key_2_last_rotated": "N/A"}`, 1, 1},
		{"summary only", `{"AccountAccessKeysPresent": 2}`, ``, 2, 2},
		{"none", `{"AccountAccessKeysPresent": 0}`, `{"access_key_1_active": "false", "access_key_1_last_rotated": "N/A"}`, 0, 0},
	} {
		ci := &ConfigItem{SupplementaryConfiguration: map[string]json.RawMessage{}}
		if c.report != "" {
			ci.SupplementaryConfiguration["CredentialReport"] = json.RawMessage(c.report)
		}
		var s awsAccount
		if err := json.Unmarshal([]byte(`{"summaryMap": `+c.summary+`}`), &s); err != nil {
			t.Fatal(err)
		}
		a := &asset.Asset{}
		if _, err := s.apply(a, ci, nil); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if a.Facets.Keys == nil || *a.Facets.Keys != c.keys || a.Facets.ActiveKeys == nil || *a.Facets.ActiveKeys != c.active {
			t.Errorf("%s: keys %v active %v, want %d %d", c.name, a.Facets.Keys, a.Facets.ActiveKeys, c.keys, c.active)
		}
	}
}
