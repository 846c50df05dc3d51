package action

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"

	"github.com/zclconf/go-cty/cty"
)

// SensitiveMark is the cty mark on values derived from sensitive variables.
const SensitiveMark = "sensitive"

// How values that are not plain data appear in plans, journals and views.
const (
	UnknownText   = "(known after apply)"
	SensitiveText = "(sensitive)"
)

// Encode turns a cty value into plain JSON-able data: unknown values become
// UnknownText and values marked sensitive become SensitiveText, so that
// neither a plan nor the journal ever holds a secret in clear.
func Encode(v cty.Value) any {
	if v.HasMark(SensitiveMark) {
		return SensitiveText
	}
	v, _ = v.Unmark()
	if !v.IsKnown() {
		return UnknownText
	}
	if v.IsNull() {
		return nil
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString()
	case t == cty.Bool:
		return v.True()
	case t == cty.Number:
		bf := v.AsBigFloat()
		if bf.IsInt() {
			if i, acc := bf.Int64(); acc == big.Exact {
				return i
			}
		}
		f, _ := bf.Float64()
		return f
	case t.IsListType() || t.IsSetType() || t.IsTupleType():
		out := []any{}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, Encode(e))
		}
		return out
	case t.IsMapType() || t.IsObjectType():
		out := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			out[k.AsString()] = Encode(e)
		}
		return out
	}
	return UnknownText
}

// EncodeMap encodes a map of values.
func EncodeMap(m map[string]cty.Value) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = Encode(v)
	}
	return out
}

// CanonicalJSON marshals with sorted keys (encoding/json sorts map keys).
func CanonicalJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// HashValue is the SHA-256 of a value's canonical JSON.
func HashValue(v any) string {
	h := sha256.Sum256(CanonicalJSON(v))
	return hex.EncodeToString(h[:])
}

// StringList makes the list(string) value outputs use; an empty list is
// typed, never null.
func StringList(items []string) cty.Value {
	if len(items) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(items))
	for i, s := range items {
		vals[i] = cty.StringVal(s)
	}
	return cty.ListVal(vals)
}
