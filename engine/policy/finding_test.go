package policy

import (
	"encoding/json"
	"testing"
)

// Which findings share an id (SARIF, ASFF, OCSF): worked out from the
// rule that the id is policy + asset + message, or policy + asset +
// details.finding_key when the policy gives one.
func TestFingerprintIdentity(t *testing.T) {
	f := func(policy, asset, msg, details string) *Finding {
		return &Finding{PolicyID: policy, AssetID: asset, Message: msg, Details: json.RawMessage(details)}
	}
	cases := []struct {
		name string
		a, b *Finding
		same bool
	}{
		{"two things one policy finds on one asset are two findings",
			f("VGL-NET-001", "sg-1", "port 22 open to 0.0.0.0/0", ""), f("VGL-NET-001", "sg-1", "port 3389 open to 0.0.0.0/0", ""), false},
		{"the same message on another asset is another finding",
			f("VGL-NET-001", "sg-1", "port 22 open", ""), f("VGL-NET-001", "sg-2", "port 22 open", ""), false},
		{"a finding_key replaces the message: a day older is the same finding",
			f("VGL-KEY-001", "AKIA1", "created 120 days ago", `{"age_days":120,"finding_key":"age"}`),
			f("VGL-KEY-001", "AKIA1", "created 121 days ago", `{"age_days":121,"finding_key":"age"}`), true},
		{"two finding_keys on one asset are two findings",
			f("VGL-VULN-003", "p", "API off", `{"finding_key":"osconfig-api"}`), f("VGL-VULN-003", "p", "API off", `{"finding_key":"osconfig-agent"}`), false},
		{"an empty finding_key is a key: one finding per asset, whatever the message",
			f("X", "a", "one", `{"finding_key":""}`), f("X", "a", "two", `{"finding_key":""}`), true},
		{"a key that is no string is no key: the message counts",
			f("X", "a", "one", `{"finding_key":7}`), f("X", "a", "two", `{"finding_key":7}`), false},
		{"a message equal to a key is not confused with it",
			f("X", "a", "age", ""), f("X", "a", "other", `{"finding_key":"age"}`), false},
	}
	for _, c := range cases {
		if got := c.a.Fingerprint() == c.b.Fingerprint(); got != c.same {
			t.Errorf("%s: same id = %v, want %v", c.name, got, c.same)
		}
		if got := c.a.FingerprintIn("p.json") == c.b.FingerprintIn("p.json"); got != c.same {
			t.Errorf("%s (in a plan): same id = %v, want %v", c.name, got, c.same)
		}
	}
}
