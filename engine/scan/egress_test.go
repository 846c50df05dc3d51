package scan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-ir/vigil/engine/asset"
)

// The egress entry of a network: its enabled rules with their targets
// (a disabled one and a planned one are left out) in priority order, and the classes its instances carry on their own
// labels, one instance named per class (the first by name).
func TestEgressIndex(t *testing.T) {
	const n = "projects/p/global/networks/vpc"
	fw := func(name string, prio int, action string, enabled bool, tags []string) *asset.Asset {
		return &asset.Asset{Provider: asset.GCP, Kind: asset.KindFirewall, Name: name, Scope: "p", Facets: asset.Facets{
			Network: n, TargetTags: tags,
			Egress: []asset.Rule{{Sources: []string{"0.0.0.0/0"}, Protocol: "all", Action: action, Enabled: enabled, Priority: prio}},
		}}
	}
	vm := func(name string, labels map[string]string) *asset.Asset {
		return &asset.Asset{Provider: asset.GCP, Kind: asset.KindInstance, Name: name, Scope: "p", Labels: labels, Facets: asset.Facets{Networks: []string{n}}}
	}
	planned := fw("planned", 10, "allow", true, nil)
	planned.Change = &asset.Change{Action: "create"}
	x := NewIndex()
	x.SetClassLabels([]string{"data-class"})
	for _, a := range []*asset.Asset{
		fw("deny-late", 2000, "deny", true, nil), fw("allow", 1000, "allow", true, nil),
		fw("tagged", 100, "deny", true, []string{"db"}), fw("off", 50, "deny", false, nil), planned,
		vm("db-2", map[string]string{"data-class": "pii"}), vm("db-1", map[string]string{"data-class": "pii"}),
		vm("web", map[string]string{"team": "web"}),
	} {
		x.Observe(a)
	}
	got := x.Data()["egress"].(map[string]any)[n].(map[string]any)
	var names []string
	for _, r := range got["rules"].([]any) {
		names = append(names, r.(map[string]any)["firewall"].(string))
	}
	if diff := cmp.Diff([]string{"tagged", "allow", "deny-late"}, names); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	rules := got["rules"].([]any)
	if diff := cmp.Diff([]any{"db"}, rules[0].(map[string]any)["target_tags"]); diff != "" {
		t.Errorf("tagged rule's targets (-want +got):\n%s", diff)
	}
	if tt := rules[1].(map[string]any)["target_tags"].([]any); len(tt) != 0 {
		t.Errorf("untargeted rule's targets: %v", tt)
	}
	want := []any{map[string]any{"label": "data-class", "value": "pii", "instance": "db-1"}}
	if diff := cmp.Diff(want, got["holders"]); diff != "" {
		t.Errorf("holders (-want +got):\n%s", diff)
	}
}
