package policy

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestDataValueMatchesOPA(t *testing.T) {
	shared := map[string]any{"name": "vm-1", "public_ips": []any{"34.1.2.3"}, "tags": []string{"web", "web"}}
	for _, tt := range []struct {
		name string
		in   any
	}{
		{"empty", map[string]any{}},
		{"scalars", map[string]any{"s": "x", "n": int64(3), "i": 7, "f": 1.5, "t": true, "f2": false, "null": nil}},
		{"nested", map[string]any{"scopes": map[string]any{"p1": map[string]any{"assets": int64(2), "trails": []any{}}, "p2": map[string]any{"provider": "gcp"}}}},
		{"aliased", map[string]any{"instances": map[string]any{"//compute/x/1": shared, "//compute/x/vm-1": shared}}},
		{"nil map and list", map[string]any{"m": map[string]any(nil), "l": []any(nil), "s": []string(nil)}},
		{"other types", map[string]any{"ss": map[string]string{"a": "b"}, "u": uint64(9)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want, err := ast.InterfaceToValue(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := dataValue(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.Compare(want) != 0 {
				t.Errorf("dataValue = %v, want %v", got, want)
			}
		})
	}
}

func TestDataValueShares(t *testing.T) {
	shared := map[string]any{"name": "vm-1", "zone": "us-central1-a"}
	v, err := dataValue(map[string]any{"a": shared, "b": shared, "c": map[string]any{"zone": "us-central1-a"}})
	if err != nil {
		t.Fatal(err)
	}
	obj := v.(ast.Object)
	a, b := obj.Get(ast.StringTerm("a")), obj.Get(ast.StringTerm("b"))
	if a.Value.(ast.Object) == nil || !sameObject(a.Value, b.Value) {
		t.Errorf("a map under two keys was converted twice")
	}
	za := a.Value.(ast.Object).Get(ast.StringTerm("zone"))
	zc := obj.Get(ast.StringTerm("c")).Value.(ast.Object).Get(ast.StringTerm("zone"))
	if za != zc {
		t.Errorf("the string %v is two terms, want one", za)
	}
}

// sameObject says whether two object values are one value in memory.
func sameObject(x, y ast.Value) bool {
	return x.(ast.Object) == y.(ast.Object)
}
