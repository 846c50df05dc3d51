package library

import "testing"

// Config Validator's matching, case by case: "*" is one segment, "**"
// any number of them, a descendant pattern does not match the node itself.
func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		name  string
		match map[string]any
		path  string
		want  bool
	}{
		{"no match matches anything", nil, "organizations/1/folders/2", true},
		{"org exactly", map[string]any{"ancestries": []any{"organizations/1"}}, "organizations/1", true},
		{"descendants only", map[string]any{"ancestries": []any{"organizations/1/**"}}, "organizations/1", false},
		{"not a close id", map[string]any{"ancestries": []any{"organizations/1/*"}}, "organizations/11", false},
		{"under org", map[string]any{"ancestries": []any{"organizations/1/**"}}, "organizations/1/folders/2/projects/3", true},
		{"folder descendant", map[string]any{"ancestries": []any{"**/folders/2/**"}}, "organizations/1/folders/2/projects/3", true},
		{"folder itself is not its descendant", map[string]any{"ancestries": []any{"**/folders/2/**"}}, "organizations/1/folders/2", false},
		{"other folder", map[string]any{"ancestries": []any{"**/folders/2/**"}}, "organizations/1/folders/22/projects/2", false},
		{"project by id", map[string]any{"ancestries": []any{"**/projects/web-prod"}}, "organizations/1/projects/web-prod", true},
		{"any project", map[string]any{"ancestries": []any{"**/projects/*"}}, "organizations/1/folders/2/projects/3", true},
		{"excluded", map[string]any{"excludedAncestries": []any{"**/projects/3"}}, "organizations/1/projects/3", false},
		{"excluded by wildcard org", map[string]any{"excludedAncestries": []any{"organizations/*/projects/3"}}, "organizations/1/projects/3", false},
		{"legacy names", map[string]any{"target": []any{"organizations/1/**"}, "exclude": []any{"**/projects/3"}}, "organizations/1/projects/4", true},
		{"unknown organization, any org", map[string]any{"ancestries": []any{"organizations/**"}}, AncestryPath([]string{"projects/p"}), true},
		{"unknown organization, a named org", map[string]any{"ancestries": []any{"organizations/1/**"}}, AncestryPath([]string{"projects/p"}), false},
	} {
		m, err := parseMatch(tt.match)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := m.Matches(tt.path); got != tt.want {
			t.Errorf("%s: Matches(%q) = %v, want %v", tt.name, tt.path, got, tt.want)
		}
	}
}

// A pattern may name a project by its id where the path has its number.
func TestMatchProjectIDOrNumber(t *testing.T) {
	m, err := parseMatch(map[string]any{"excludedAncestries": []any{"**/projects/sandbox-*"}})
	if err != nil {
		t.Fatal(err)
	}
	path := "organizations/1/folders/2/projects/877"
	alt := WithProjectID(path, "sandbox-7731")
	if alt != "organizations/1/folders/2/projects/sandbox-7731" {
		t.Fatalf("WithProjectID = %q", alt)
	}
	if m.Matches(path, alt) {
		t.Error("the project excluded by id is still in scope")
	}
	if !m.Matches(path, WithProjectID(path, "prod-1")) {
		t.Error("another project is out of scope")
	}
	if WithProjectID("organizations/1", "p") != "" || WithProjectID(path, "877") != "" {
		t.Error("WithProjectID should change only a project number")
	}
}

func TestMatchErrors(t *testing.T) {
	for _, m := range []map[string]any{
		{"ancestries": []any{"flubber/*"}},
		{"ancestries": []any{"folders/1/organizations/*"}},
		{"ancestries": []any{"projects/1/folders/2"}},
		{"excludedAncestries": []any{"foosball/*"}},
		{"ancestries": "organizations/*"},
		{"ancestries": []any{1}},
		{"ancestries": []any{"organizations/1"}, "target": []any{"organizations/1"}},
		{"excludedAncestries": []any{"organizations/1"}, "exclude": []any{"organizations/1"}},
	} {
		if _, err := parseMatch(m); err == nil {
			t.Errorf("parseMatch(%v) accepted", m)
		}
	}
}

func TestAncestryPath(t *testing.T) {
	for _, tt := range []struct {
		ancestors []string
		want      string
	}{
		{[]string{"projects/3", "folders/2", "organizations/1"}, "organizations/1/folders/2/projects/3"},
		{[]string{"organizations/1"}, "organizations/1"},
		{[]string{"projects/3"}, "organizations/unknown/projects/3"},
		{nil, "organizations/unknown"},
	} {
		if got := AncestryPath(tt.ancestors); got != tt.want {
			t.Errorf("AncestryPath(%v) = %q, want %q", tt.ancestors, got, tt.want)
		}
	}
}
