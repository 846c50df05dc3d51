package sim

import (
	"encoding/json"
	"sort"

	"github.com/vigil-ir/vigil/engine/asset"
)

// awsConfig opens the configuration of an AWS asset's Config item, as the
// collector wrote it.
func awsConfig(a *asset.Asset) map[string]any {
	var ci struct {
		Configuration map[string]any `json:"configuration"`
	}
	_ = json.Unmarshal(a.Data, &ci)
	return ci.Configuration
}

// interfaceGroups are an instance's network interfaces with their
// groups, from its configuration; an instance without one (made by the
// simulated cloud, or a thin inventory) is one interface named after it.
func interfaceGroups(in *asset.Asset) (enis []string, groups map[string][]string) {
	groups = map[string][]string{}
	for _, ni := range objs(awsConfig(in)["networkInterfaces"]) {
		id := str(ni, "networkInterfaceId")
		if id == "" {
			continue
		}
		enis = append(enis, id)
		for _, g := range objs(ni["groups"]) {
			groups[id] = append(groups[id], str(g, "groupId"))
		}
	}
	if len(enis) == 0 {
		id := "eni-of-" + in.Name
		enis, groups[id] = []string{id}, append([]string(nil), in.Facets.SecurityGroups...)
	}
	sort.Strings(enis)
	return enis, groups
}

// awsTags are the tags of what a step makes, as the real provider writes
// them: AWS tags keep their case.
func awsTags(run, step, incident string, extra ...map[string]string) map[string]string {
	t := map[string]string{"vigil-run": run, "vigil-step": step}
	if incident != "" {
		t["incident"] = incident
	}
	for _, m := range extra {
		for k, v := range m {
			t[k] = v
		}
	}
	return t
}
