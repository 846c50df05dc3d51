package deploycheck

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKindFile(t *testing.T) {
	for _, tc := range []struct {
		k    Kind
		want string
	}{
		{Kind{"apps", "v1", "Deployment", ""}, "deployment-apps-v1.json"},
		{Kind{"", "v1", "ServiceAccount", ""}, "serviceaccount-v1.json"},
		{Kind{"networking.k8s.io", "v1", "NetworkPolicy", ""}, "networkpolicy-networking-v1.json"},
	} {
		if got := tc.k.File(); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.k, got, tc.want)
		}
	}
}

// Generate keeps what the kinds reach, closes objects that list their
// properties (not maps, nor a property called "description"), and drops
// descriptions.
func TestGenerate(t *testing.T) {
	defs := `{"definitions": {
	  "a.Thing": {"description": "d", "type": "object", "properties": {
	    "spec": {"$ref": "#/definitions/a.Spec", "description": "d"},
	    "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
	  "a.Spec": {"type": "object", "properties": {"description": {"type": "string"}, "items": {"type": "array", "items": {"$ref": "#/definitions/a.Item"}}}},
	  "a.Item": {"type": "object", "properties": {"n": {"type": "integer"}}},
	  "a.Unused": {"type": "object"}}}`
	files, err := Generate([]byte(defs), []Kind{{"a", "v1", "Thing", "a.Thing"}})
	if err != nil {
		t.Fatal(err)
	}
	var got, kind map[string]any
	json.Unmarshal(files[DefinitionsFile], &got)
	json.Unmarshal(files["thing-a-v1.json"], &kind)
	want := map[string]any{"definitions": map[string]any{
		"a.Thing": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
			"spec":   map[string]any{"$ref": "#/definitions/a.Spec"},
			"labels": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}}},
		"a.Spec": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
			"description": map[string]any{"type": "string"},
			"items":       map[string]any{"type": "array", "items": map[string]any{"$ref": "#/definitions/a.Item"}}}},
		"a.Item": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{"n": map[string]any{"type": "integer"}}},
	}}
	if d := cmp.Diff(want, got); d != "" {
		t.Error(d)
	}
	if kind["$ref"] != "_definitions.json#/definitions/a.Thing" || len(files) != 2 {
		t.Errorf("kind file %v, files %v", kind, Names(files))
	}
	if _, err := Generate([]byte(`{"definitions": {}}`), []Kind{{"a", "v1", "Thing", "a.Thing"}}); err == nil {
		t.Error("a missing definition: no error")
	}
}
