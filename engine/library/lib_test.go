package library

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
)

// The helpers behave as the policy-library's: a field set to false or
// null is there; get_default falls back only when it is not.
func TestValidatorLib(t *testing.T) {
	src, err := libFS.ReadFile("lib/validator.rego")
	if err != nil {
		t.Fatal(err)
	}
	for query, want := range map[string]any{
		`data.validator.gcp.lib.has_field({"a": false}, "a")`:                                         true,
		`data.validator.gcp.lib.has_field({"a": null}, "a")`:                                          true,
		`data.validator.gcp.lib.has_field({}, "a")`:                                                   false,
		`data.validator.gcp.lib.get_default({"a": false}, "a", true)`:                                 false,
		`data.validator.gcp.lib.get_default({}, "a", 7)`:                                              float64(7),
		`data.validator.gcp.lib.get_constraint_params({"spec": {"parameters": {"x": 1}}})`:            map[string]any{"x": float64(1)},
		`data.validator.gcp.lib.get_constraint_info({"kind": "K", "metadata": {"name": "n"}})`:        map[string]any{"kind": "K", "name": "n"},
		`data.validator.gcp.lib.get_resource([{"asset_type": "t", "name": "n", "x": 1}], "t", "n").x`: float64(1),
	} {
		rs, err := rego.New(rego.Query(query), rego.Module("validator.rego", string(src))).Eval(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		if len(rs) != 1 {
			t.Errorf("%s: undefined, want %v", query, want)
			continue
		}
		got := rs[0].Expressions[0].Value
		if n, ok := got.(interface{ Float64() (float64, error) }); ok {
			got, _ = n.Float64()
		}
		if m, ok := got.(map[string]any); ok {
			for k, v := range m {
				if n, ok := v.(interface{ Float64() (float64, error) }); ok {
					m[k], _ = n.Float64()
				}
			}
		}
		if fmtEqual(got, want) {
			continue
		}
		t.Errorf("%s = %v, want %v", query, got, want)
	}
}

func fmtEqual(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		if len(am) != len(bm) {
			return false
		}
		for k, v := range am {
			if !fmtEqual(v, bm[k]) {
				return false
			}
		}
		return true
	}
	return a == b
}
