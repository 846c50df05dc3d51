package policy

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestDataValueMatchesOPA(t *testing.T) {
	cases := func() []struct {
		name string
		in   map[string]any
	} {
		shared := map[string]any{"name": "vm-1", "public_ips": []any{"34.1.2.3"}, "tags": []string{"web", "web"}}
		return []struct {
			name string
			in   map[string]any
		}{
			{"empty", map[string]any{}},
			{"scalars", map[string]any{"s": "x<&>\u2028", "n": int64(3), "i": 7, "f": 1.5, "t": true, "f2": false, "null": nil}},
			{"nested", map[string]any{"scopes": map[string]any{"p1": map[string]any{"assets": int64(2), "trails": []any{}}, "p2": map[string]any{"provider": "gcp"}}}},
			{"aliased", map[string]any{"instances": map[string]any{"//compute/x/1": shared, "//compute/x/vm-1": shared}}},
			{"nil map and list", map[string]any{"m": map[string]any(nil), "l": []any(nil), "s": []string(nil)}},
			{"other types", map[string]any{"ss": map[string]string{"a": "b"}, "u": uint64(9), "e": []string{}}},
		}
	}
	for _, consume := range []bool{false, true} {
		for _, tt := range cases() {
			t.Run(fmt.Sprintf("%s/consume=%v", tt.name, consume), func(t *testing.T) {
				want, err := ast.InterfaceToValue(tt.in)
				if err != nil {
					t.Fatal(err)
				}
				text, err := json.Marshal(tt.in)
				if err != nil {
					t.Fatal(err)
				}
				got, size, err := dataValue(tt.in, consume)
				if err != nil {
					t.Fatal(err)
				}
				if got.Compare(want) != 0 {
					t.Errorf("dataValue = %v, want %v", got, want)
				}
				if size != int64(len(text)) {
					t.Errorf("size = %d, json.Marshal gives %d bytes: %s", size, len(text), text)
				}
			})
		}
	}
}

// Consuming empties the document and its sections, and only those: the
// maps below them may belong to the caller's own state.
func TestDataValueConsumesTwoLevels(t *testing.T) {
	own := map[string]any{"bindings": []any{"roles/owner"}, "parent": "folders/1"}
	scope := map[string]any{"provider": "gcp", "regions": map[string]any{"us-east1": map[string]any{"assets": int64(1)}}}
	nodes := map[string]any{"projects/1": own}
	scopes := map[string]any{"p1": scope}
	doc := map[string]any{"nodes": nodes, "scopes": scopes}
	if _, _, err := dataValue(doc, true); err != nil {
		t.Fatal(err)
	}
	if len(doc) != 0 || len(nodes) != 0 || len(scopes) != 0 {
		t.Errorf("left: document %v, nodes %v, scopes %v; want all converted away", doc, nodes, scopes)
	}
	if len(own) != 2 || len(scope) != 2 {
		t.Errorf("maps below the sections were changed: %v, %v", own, scope)
	}
	kept := map[string]any{"a": map[string]any{"b": "c"}}
	if _, _, err := dataValue(kept, false); err != nil || len(kept) != 1 || len(kept["a"].(map[string]any)) != 1 {
		t.Errorf("without consume the document changed: %v, %v", kept, err)
	}
}

func TestDataValueShares(t *testing.T) {
	shared := map[string]any{"name": "vm-1", "zone": "us-central1-a"}
	v, _, err := dataValue(map[string]any{"a": shared, "b": shared, "c": map[string]any{"zone": "us-central1-a"}}, false)
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
