package action

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func TestRegistryEnforcesTheCatalog(t *testing.T) {
	good := &Func{S: MustSpec("core.log")}
	reg := NewRegistry()
	if err := reg.Register(&StaticProvider{ProviderName: "p", List: []Action{good}}); err != nil {
		t.Fatal(err)
	}
	bad := *Catalog["gcp.compute.stop_instance"]
	bad.Effect = Read // a provider may not weaken the effect class
	err := NewRegistry().Register(&StaticProvider{ProviderName: "rogue", List: []Action{&Func{S: &bad}}})
	if err == nil || !strings.Contains(err.Error(), "differs from the catalog") {
		t.Errorf("want a contract error, got %v", err)
	}
	if _, p, ok := reg.Lookup("core.log"); !ok || p != "p" {
		t.Errorf("lookup: %v %v", p, ok)
	}
}

func TestSuggest(t *testing.T) {
	reg := NewRegistry()
	got := reg.Suggest("gcp.compute.isolate_instnce")
	if len(got) == 0 || got[0] != "gcp.compute.isolate_instance" {
		t.Errorf("suggestions: %v", got)
	}
	if got := reg.Suggest("aws.isolate_instance"); len(got) == 0 {
		t.Errorf("same last word: %v", got)
	}
}

func TestEncode(t *testing.T) {
	v := cty.ObjectVal(map[string]cty.Value{
		"known":   cty.StringVal("a"),
		"unknown": cty.UnknownVal(cty.String),
		"secret":  cty.StringVal("s").Mark(SensitiveMark),
		"n":       cty.NumberIntVal(3),
		"list":    cty.ListVal([]cty.Value{cty.True}),
		"null":    cty.NullVal(cty.String),
	})
	got := string(CanonicalJSON(Encode(v)))
	want := `{"known":"a","list":[true],"n":3,"null":null,"secret":"(sensitive)","unknown":"(known after apply)"}`
	if got != want {
		t.Errorf("Encode = %s, want %s", got, want)
	}
	if HashValue(map[string]any{"a": 1, "b": 2}) != HashValue(map[string]any{"b": 2, "a": 1}) {
		t.Error("hashes must not depend on key order")
	}
}

func TestEverySpecIsComplete(t *testing.T) {
	for name, s := range Catalog {
		if s.Name != name || s.Description == "" || s.Effect == "" {
			t.Errorf("%s: incomplete spec", name)
		}
		for a, arg := range s.Args {
			if arg.Description == "" || arg.Type == cty.NilType {
				t.Errorf("%s.%s: undocumented argument", name, a)
			}
		}
	}
}
