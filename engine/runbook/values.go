package runbook

import (
	"encoding/json"

	"github.com/vigil-ir/vigil/engine/action"
)

// Re-exported for the engine's callers.
const (
	UnknownText   = action.UnknownText
	SensitiveText = action.SensitiveText
)

// Encode, EncodeMap and HashValue are action's (plans and journals hold
// encoded values).
var (
	Encode    = action.Encode
	EncodeMap = action.EncodeMap
	HashValue = action.HashValue
)

func canonicalJSON(v any) []byte { return action.CanonicalJSON(v) }

// consistent reports whether an apply-time value agrees with the plan-time
// one: every part known at plan time must be the same now.
func consistent(planned, now any) bool {
	switch p := planned.(type) {
	case string:
		if p == UnknownText {
			return true
		}
		n, ok := now.(string)
		return ok && n == p
	case []any:
		n, ok := now.([]any)
		if !ok || len(n) != len(p) {
			return false
		}
		for i := range p {
			if !consistent(p[i], n[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		n, ok := now.(map[string]any)
		if !ok || len(n) != len(p) {
			return false
		}
		for k := range p {
			if !consistent(p[k], n[k]) {
				return false
			}
		}
		return true
	case float64, int64, int, json.Number:
		return toFloat(planned) == toFloat(now)
	}
	return string(canonicalJSON(planned)) == string(canonicalJSON(now))
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	case int:
		return float64(x)
	case json.Number:
		f, _ := x.Float64()
		return f
	}
	return -1
}
