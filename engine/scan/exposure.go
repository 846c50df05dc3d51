package scan

import (
	"sort"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
)

// exposure is what the exposure x vulnerability join reads, under
// data.vigil.inventory.exposure. It grows with the instances that have a
// public IP and the rules that admit the whole internet, not with the
// inventory:
//
//	instances: {"<asset id>": {public_ips, networks, network_tags,
//	            service_accounts, security_groups, subnets}}
//	networks:  {"projects/P/global/networks/N": [world rule, ...]}   (GCP)
//	groups:    {"sg-...": [world rule, ...]}                         (AWS)
//	subnets:   {"subnet-...": [world NACL entry, ...]}               (AWS)
//
// A world rule is an enabled ingress rule from 0.0.0.0/0 or ::/0 (allow or
// deny) with its protocol, ports, priority and GCP targets.
type exposure struct {
	instances map[string]map[string]any
	networks  map[string][]map[string]any
	groups    map[string][]map[string]any
	subnets   map[string][]map[string]any
}

func newExposure() exposure {
	return exposure{instances: map[string]map[string]any{}, networks: map[string][]map[string]any{},
		groups: map[string][]map[string]any{}, subnets: map[string][]map[string]any{}}
}

func worldOpen(r asset.Rule) bool {
	for _, s := range r.Sources {
		if s == "0.0.0.0/0" || s == "::/0" {
			return true
		}
	}
	return false
}

func ruleData(r asset.Rule) map[string]any {
	ports := make([]any, len(r.Ports))
	for i, p := range r.Ports {
		ports[i] = map[string]any{"from": p.From, "to": p.To}
	}
	return map[string]any{"protocol": strings.Clone(r.Protocol), "ports": ports, "action": strings.Clone(r.Action), "priority": r.Priority}
}

func (e *exposure) observe(a *asset.Asset) {
	f := &a.Facets
	switch a.Kind {
	case asset.KindInstance:
		if len(f.PublicIPs) == 0 || f.Status == "terminated" || f.Status == "stopped" {
			return
		}
		e.instances[strings.Clone(a.ID)] = map[string]any{
			"name": strings.Clone(a.Name), "public_ips": strs(f.PublicIPs), "networks": strs(f.Networks),
			"network_tags": strs(f.NetworkTags), "service_accounts": strs(f.ServiceAccounts),
			"security_groups": strs(f.SecurityGroups), "subnets": strs(f.Subnets),
		}
	case asset.KindFirewall:
		for _, r := range f.Ingress {
			if !r.Enabled || !worldOpen(r) {
				continue
			}
			d := ruleData(r)
			if a.Provider == asset.GCP {
				d["firewall"] = strings.Clone(a.Name)
				d["target_tags"] = strs(f.TargetTags)
				d["target_service_accounts"] = strs(f.TargetServiceAccounts)
				e.networks[strings.Clone(f.Network)] = append(e.networks[f.Network], d)
				continue
			}
			if a.Change != nil {
				continue // a planned rule of a group whose id is not known
			}
			id := resourceTail(a.ID)
			d["firewall"] = strings.Clone(a.Name)
			e.groups[id] = append(e.groups[id], d)
		}
	case asset.KindNetworkACL:
		for _, r := range f.Ingress {
			if !worldOpen(r) {
				continue
			}
			for _, sn := range f.Subnets {
				e.subnets[strings.Clone(sn)] = append(e.subnets[sn], ruleData(r))
			}
		}
	}
}

// resourceTail is the id at the end of an ARN (sg-..., i-...).
func resourceTail(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return strings.Clone(arn[i+1:])
	}
	return strings.Clone(arn)
}

func (e *exposure) data() map[string]any {
	lists := func(m map[string][]map[string]any) map[string]any {
		out := make(map[string]any, len(m))
		for k, rules := range m {
			sort.SliceStable(rules, func(i, j int) bool { return rules[i]["priority"].(int) < rules[j]["priority"].(int) })
			items := make([]any, len(rules))
			for i, r := range rules {
				items[i] = r
			}
			out[k] = items
		}
		return out
	}
	inst := make(map[string]any, len(e.instances))
	for k, v := range e.instances {
		inst[k] = v
	}
	return map[string]any{"instances": inst, "networks": lists(e.networks), "groups": lists(e.groups), "subnets": lists(e.subnets)}
}
