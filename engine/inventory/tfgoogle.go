package inventory

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
)

// googleNetworkID makes projects/P/global/networks/N for a planned network.
func (m *tfMapper) googleNetworkID(r *tfResource, name string) string {
	if sl := str(r.after, "self_link"); sl != "" {
		return asset.NetworkID(sl)
	}
	project := firstNonEmpty(str(r.after, "project"), r.project)
	if project == "" {
		return name
	}
	return "projects/" + project + "/global/networks/" + name
}

// googleNetworkRef resolves a network argument (in a nested block when
// nested is set, as network_interface.network): a name ("default"), a
// self link, or a reference to a planned google_compute_network.
func (m *tfMapper) googleNetworkRef(r *tfResource, arg string, vals map[string]any, nested string) string {
	v := str(vals, arg)
	if v == "" {
		if ts := m.targetsOfType(r, arg, nested, "google_compute_network"); len(ts) == 1 {
			t := ts[0]
			return m.googleNetworkID(t, firstNonEmpty(str(t.after, "name"), t.name))
		}
		return ""
	}
	if strings.Contains(v, "/") {
		return asset.NetworkID(v)
	}
	project := firstNonEmpty(str(r.after, "project"), r.project)
	if project == "" {
		return v
	}
	return "projects/" + project + "/global/networks/" + v
}

// sourceSet says whether a firewall source list (source_ranges,
// source_tags, source_service_accounts) is set: known and not empty, or
// unknown and configured (a reference to something apply makes, such as a
// service account's email). known is false when its entries are not all
// known.
func (r *tfResource) sourceSet(attr string) (set, known bool) {
	unknown := isUnknown(r.unknown, attr) || anyUnknown(r.unknown, attr)
	if unknown && (r.cfg == nil || r.configured(attr)) {
		return true, false
	}
	return len(strs(r.after, attr)) > 0, true
}

func (m *tfMapper) googleFirewall(r *tfResource, a *asset.Asset) error {
	a.Kind = asset.KindFirewall
	a.Facets.Network = m.googleNetworkRef(r, "network", r.after, "")
	a.Facets.TargetTags = strs(r.after, "target_tags")
	a.Facets.TargetServiceAccounts = strs(r.after, "target_service_accounts")
	// An omitted direction is INGRESS.
	egress := strings.EqualFold(str(r.after, "direction"), "EGRESS")
	priority := 1000
	if p := intPtr(r.after, "priority"); p != nil {
		priority = *p
	}
	var sources, unknown []string
	if egress {
		sources = strs(r.after, "destination_ranges")
		if set, known := r.sourceSet("destination_ranges"); !known {
			unknown = append(unknown, "sources")
		} else if !set {
			sources = world // no destination ranges: every destination
		}
	} else {
		// Google admits traffic matching any of source ranges, tags and
		// service accounts; with none of them, from 0.0.0.0/0
		// (terraform-provider-google#6789). A list set from something
		// only apply knows is restricted to what it will hold, except the
		// ranges: those may be anything, also next to known tags.
		sources = strs(r.after, "source_ranges")
		ranges, rangesKnown := r.sourceSet("source_ranges")
		tags, _ := r.sourceSet("source_tags")
		sas, _ := r.sourceSet("source_service_accounts")
		switch {
		case !rangesKnown:
			unknown = append(unknown, "sources")
		case ranges || tags || sas:
		default:
			sources = world
		}
	}
	if sources == nil {
		sources = []string{}
	}
	disabled := r.after["disabled"] == true
	for _, kind := range []string{"allow", "deny"} {
		bs := blocks(r.after, kind)
		for i, blk := range bs {
			rule, err := GCPRule(str(blk, "protocol"), strs(blk, "ports"))
			if err != nil {
				return err
			}
			rule.Unknown = append([]string(nil), unknown...)
			st := subtree(r.unknown, kind, i)
			if isUnknown(st, "ports") || anyUnknown(st, "ports") {
				rule.Unknown = append(rule.Unknown, "ports")
			}
			if isUnknown(st, "protocol") {
				rule.Unknown = append(rule.Unknown, "protocol")
			}
			m.addGoogleRule(a, rule, kind, sources, priority, disabled, egress, r)
		}
		// allow and deny are not computed: a whole list unknown is a
		// dynamic block over something only apply knows.
		if len(bs) == 0 && isUnknown(r.unknown, kind) {
			rule := asset.Rule{Protocol: "all", Ports: []asset.PortRange{}, Unknown: append(append([]string(nil), unknown...), "ports", "protocol")}
			m.addGoogleRule(a, rule, kind, sources, priority, disabled, egress, r)
		}
	}
	return nil
}

func (m *tfMapper) addGoogleRule(a *asset.Asset, rule asset.Rule, kind string, sources []string, priority int, disabled, egress bool, r *tfResource) {
	rule.Sources = sources
	rule.Action = kind
	rule.Enabled = !disabled
	rule.Priority = priority
	if egress {
		a.Facets.Egress = append(a.Facets.Egress, rule)
		return
	}
	rule.SourceTags = strs(r.after, "source_tags")
	rule.SourceServiceAccounts = strs(r.after, "source_service_accounts")
	a.Facets.Ingress = append(a.Facets.Ingress, rule)
}

func (m *tfMapper) googleInstance(r *tfResource, a *asset.Asset) {
	a.Kind = asset.KindInstance
	a.Facets.Status = strings.ToLower(firstNonEmpty(str(r.after, "desired_status"), "running"))
	a.Facets.Zone = str(r.after, "zone")
	for i, ni := range blocks(r.after, "network_interface") {
		nu := subtree(r.unknown, "network_interface", i)
		if n := m.googleNetworkRef(r, "network", ni, "network_interface"); n != "" {
			a.Facets.Networks = appendUnique(a.Facets.Networks, n)
		} else if isUnknown(nu, "network") {
			a.Facets.Unknown = appendUnique(a.Facets.Unknown, "networks")
		}
		if s := str(ni, "subnetwork"); s != "" {
			a.Facets.Subnets = append(a.Facets.Subnets, resourcePath(s))
		}
		// Every access_config block gives the instance an external IP,
		// ephemeral when nat_ip is not set. access_config is not computed:
		// a whole list unknown is a dynamic block over something only apply
		// knows.
		for _, ac := range blocks(ni, "access_config") {
			a.Facets.PublicIPs = append(a.Facets.PublicIPs, firstNonEmpty(str(ac, "nat_ip"), knownAfterApply))
		}
		if len(blocks(ni, "access_config")) == 0 && isUnknown(nu, "access_config") {
			a.Facets.Unknown = appendUnique(a.Facets.Unknown, "public_ips")
		}
	}
	a.Facets.NetworkTags = strs(r.after, "tags")
}

func (m *tfMapper) googleBucket(r *tfResource, a *asset.Asset) {
	a.Kind = asset.KindBucket
	b := m.newBucket(r, a)
	b.pap = str(r.after, "public_access_prevention")
}

func (m *tfMapper) googleProjectIAM(r *tfResource, a *asset.Asset) {
	a.Kind = asset.KindIAMPolicy
	a.Name = firstNonEmpty(str(r.after, "project"), r.project, r.name)
	switch r.typ {
	case "google_project_iam_audit_config":
		var types []string
		for _, c := range blocks(r.after, "audit_log_config") {
			types = append(types, str(c, "log_type"))
		}
		sort.Strings(types)
		a.Facets.AuditConfigs = []asset.AuditConfig{{Service: str(r.after, "service"), LogTypes: types}}
	case "google_project_iam_policy":
		var pol GCPIAMPolicy
		if json.Unmarshal([]byte(str(r.after, "policy_data")), &pol) == nil {
			a.Facets.Bindings, a.Facets.AuditConfigs = pol.facets()
		}
	default:
		members := strs(r.after, "members")
		if mbr := str(r.after, "member"); mbr != "" {
			members = append(members, mbr)
		}
		a.Facets.Bindings = []asset.Binding{{Role: str(r.after, "role"), Members: members}}
	}
}
