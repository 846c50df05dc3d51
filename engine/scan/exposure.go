package scan

import (
	"encoding/json"
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
// A world rule is an enabled ingress rule whose sources, together, hold the
// whole IPv4 or IPv6 internet (asset.CoversInternet: 0.0.0.0/0, or the two
// /1 halves), allow or deny, with its sources, protocol, ports, priority
// and GCP targets. A subnet lists every ingress entry of its network ACL:
// the first match decides, per address family; denies that, together,
// hold the whole internet close the allows after them (lib.acl_open). Policies test families with
// data.vigil.lib.internet.
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

func worldOpen(r asset.Rule) bool { return asset.OpenToInternet(r.Sources) }

func ruleData(r asset.Rule) map[string]any {
	ports := make([]any, len(r.Ports))
	for i, p := range r.Ports {
		ports[i] = map[string]any{"from": p.From, "to": p.To}
	}
	return map[string]any{"protocol": strings.Clone(r.Protocol), "ports": ports, "action": strings.Clone(r.Action), "priority": r.Priority, "sources": strs(r.Sources)}
}

func (e *exposure) observe(a *asset.Asset) {
	f := &a.Facets
	switch a.Kind {
	case asset.KindInstance:
		if len(f.PublicIPs) == 0 || f.Status == "terminated" || f.Status == "stopped" {
			return
		}
		entry := map[string]any{
			"name": strings.Clone(a.Name), "public_ips": strs(f.PublicIPs), "networks": strs(f.Networks),
			"network_tags": strs(f.NetworkTags), "service_accounts": strs(f.ServiceAccounts),
			"security_groups": strs(f.SecurityGroups), "subnets": strs(f.Subnets),
		}
		e.instances[strings.Clone(a.ID)] = entry
		if alias := gcpInstanceIDName(a); alias != "" {
			e.instances[alias] = entry
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
			for _, sn := range f.Subnets {
				e.subnets[strings.Clone(sn)] = append(e.subnets[sn], ruleData(r))
			}
		}
	}
}

// gcpInstanceIDName is the name of a GCP VM with its numeric instance id in
// place of its name: an OS Config vulnerability report of a real export
// may name its VM either way (projects/P/locations/Z/instances/{instance
// id or name}/vulnerabilityReport), and the loader keeps what it names.
// Only instances with a public IP come here, so decoding their id is cheap.
func gcpInstanceIDName(a *asset.Asset) string {
	i := strings.LastIndex(a.ID, "/instances/")
	if a.Provider != asset.GCP || i < 0 || len(a.Data) == 0 {
		return ""
	}
	var r struct {
		Resource struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		} `json:"resource"`
	}
	if json.Unmarshal(a.Data, &r) != nil || r.Resource.Data.ID == "" || strings.Trim(r.Resource.Data.ID, "0123456789") != "" {
		return ""
	}
	return a.ID[:i] + "/instances/" + r.Resource.Data.ID
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
