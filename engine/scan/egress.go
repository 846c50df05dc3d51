package scan

import (
	"sort"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
)

// egress is what VGL-NET-008 judges a GCP network by, under
// data.vigil.inventory.egress, one entry per network:
//
//	{"projects/P/global/networks/N": {
//	   "rules":   [egress rule, ...],        // enabled, with their targets
//	   "holders": [{"label", "value", "instance"}, ...]}}
//
// rules are the network's enabled egress rules, allow or deny, with their
// destinations as sources and their target_tags and
// target_service_accounts (both empty: the rule applies to every
// instance), as GCP applies them: a rule for tags or service accounts
// opens or closes egress for the instances carrying them. holders are the data classes instances on
// the network carry on their own labels (one instance named per class),
// read from the residency labels of the settings: the project's class is
// on the network's own inherited chain, but an instance labelled pii in
// an unlabelled project (or a service project's instance on a shared VPC)
// puts its data on the network too. Both grow with the rules and the
// classes, not with the instances.
type egress struct {
	labels  []string
	rules   map[string][]map[string]any
	holders map[string]map[[2]string]string // network -> (label, value) -> instance
}

func newEgress() egress {
	return egress{rules: map[string][]map[string]any{}, holders: map[string]map[[2]string]string{}}
}

func (e *egress) observe(a *asset.Asset) {
	if a.Provider != asset.GCP {
		return
	}
	f := &a.Facets
	switch a.Kind {
	case asset.KindFirewall:
		if a.Change != nil {
			return // a plan holds only some of the network's rules
		}
		for _, r := range f.Egress {
			if !r.Enabled {
				continue
			}
			d := ruleData(r)
			d["firewall"] = strings.Clone(a.Name)
			d["target_tags"], d["target_service_accounts"] = strs(f.TargetTags), strs(f.TargetServiceAccounts)
			e.rules[strings.Clone(f.Network)] = append(e.rules[f.Network], d)
		}
	case asset.KindInstance:
		if f.Status == "terminated" {
			return
		}
		for _, l := range e.labels {
			v := a.Labels[l]
			if v == "" {
				continue
			}
			for _, n := range f.Networks {
				h := e.holders[n]
				if h == nil {
					h = map[[2]string]string{}
					e.holders[strings.Clone(n)] = h
				}
				k := [2]string{l, v}
				if old, ok := h[k]; !ok || a.Name < old {
					h[[2]string{strings.Clone(l), strings.Clone(v)}] = strings.Clone(a.Name)
				}
			}
		}
	}
}

func (e *egress) data() map[string]any {
	out := map[string]any{}
	entry := func(n string) map[string]any {
		m, _ := out[n].(map[string]any)
		if m == nil {
			m = map[string]any{"rules": []any{}, "holders": []any{}}
			out[n] = m
		}
		return m
	}
	for n, rules := range e.rules {
		sort.SliceStable(rules, func(i, j int) bool { return rules[i]["priority"].(int) < rules[j]["priority"].(int) })
		items := make([]any, len(rules))
		for i, r := range rules {
			items[i] = r
		}
		entry(n)["rules"] = items
	}
	for n, h := range e.holders {
		keys := make([][2]string, 0, len(h))
		for k := range h {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i][0] != keys[j][0] {
				return keys[i][0] < keys[j][0]
			}
			return keys[i][1] < keys[j][1]
		})
		items := make([]any, len(keys))
		for i, k := range keys {
			items[i] = map[string]any{"label": k[0], "value": k[1], "instance": h[k]}
		}
		entry(n)["holders"] = items
	}
	return out
}
