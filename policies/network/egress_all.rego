# METADATA
# title: Egress to anywhere from a network holding classified data
# description: |
#   A GCP network that holds a data class lets every instance on it send
#   anything to the whole IPv4 internet: nothing stands between the data
#   and an exfiltration channel. The network holds a class when its
#   project, folder or organization carries one (its inherited chain, the
#   residency classes of vigil.hcl) or an instance on it carries one on its
#   own labels (data.vigil.inventory.egress, which also covers a service
#   project's instance on a shared VPC). Its egress is judged as VPC rules
#   are evaluated: the rules that apply to every instance, lowest priority
#   number first, a deny winning a tie; the implied allow-all egress rule
#   (priority 65535), which every VPC has and no inventory lists, counts.
#   An allow-all for target tags or service accounts counts too: it lets
#   every instance carrying one of them out (anyone who may set an
#   instance's tags or service account can put an instance under it), as
#   a rule with no target does for all. Only a deny of every protocol and
#   port to 0.0.0.0/0 (or rules adding up to it) at a priority as good as
#   the allow-all stops it: one with no target stops any allow; one for
#   tags or service accounts stops a targeted allow whose every target
#   tag, or every target service account, it also targets (a deny for a
#   tag does not cover an instance chosen by service account, nor the
#   reverse, nor the instances an untargeted allow reaches). Hierarchical
#   firewall policies are not counted: vigil does not collect them. A
#   network in a Terraform plan is not judged: its rules live elsewhere.
# custom:
#   id: VGL-NET-008
#   severity: medium
#   kinds: [network]
#   phase: containment
package vigil.policies.network.egress_all

import data.vigil.lib
import rego.v1

# The classes of vigil.hcl, by label and lower-case name: a label value
# no residency block names (data-class=public) is no class to protect.
known := {[r.label, lower(c)] | some c, r in data.vigil.config.residency}

net := object.get(object.get(data.vigil.inventory, "egress", {}), input.asset.facets.network, {})

classes contains sprintf("%s=%s on %s", [k, v, n.node]) if {
	some n in object.get(input.asset.facets, "inherited", [])
	some [k, _] in known
	v := object.get(object.get(n, "labels", {}), k, "")
	[k, lower(v)] in known
}

classes contains sprintf("%s=%s on instance %s", [h.label, h.value, h.instance]) if {
	some h in object.get(net, "holders", [])
	[h.label, lower(h.value)] in known
}

# Every VPC's implied egress rule: allow everything to everywhere, last.
implied := {"firewall": "the implied allow-egress rule", "priority": 65535, "action": "allow", "sources": ["0.0.0.0/0"], "protocol": "all", "ports": []}

world_all(r) if {
	lib.all_ports(r)
	lib.internet(r.sources, "ipv4")
}

allows := array.concat([r | some r in object.get(net, "rules", []); r.action == "allow"; world_all(r)], [implied])

tags(r) := object.get(r, "target_tags", [])

sas(r) := object.get(r, "target_service_accounts", [])

untargeted(r) if count(tags(r)) + count(sas(r)) == 0

deny_alls(prio) := [d |
	some d in object.get(net, "rules", [])
	d.action == "deny"
	world_all(d)
	d.priority <= prio
]

# A deny-all with no target, as good as the allow, closes any allow.
denied(a) if {
	some d in deny_alls(a.priority)
	untargeted(d)
}

# A targeted allow is closed when each of its targets is a target of a
# deny-all as good as it (GCP: a rule has target tags or target service
# accounts, never both).
denied(a) if {
	count(tags(a)) > 0
	every t in tags(a) {
		some d in deny_alls(a.priority)
		t in tags(d)
	}
}

denied(a) if {
	count(sas(a)) > 0
	every s in sas(a) {
		some d in deny_alls(a.priority)
		s in sas(d)
	}
}

reach(a) := "" if untargeted(a)

reach(a) := sprintf(", instances tagged %s", [concat(" or ", tags(a))]) if count(tags(a)) > 0

reach(a) := sprintf(", instances running as %s", [concat(" or ", sas(a))]) if {
	count(tags(a)) == 0
	count(sas(a)) > 0
}

# open are the allow-all rules no deny-all overrides; who they let out.
who := "every instance" if {
	some a in allows
	untargeted(a)
	not denied(a)
} else := "the instances they target"

open contains sprintf("%s (priority %d%s)", [a.firewall, a.priority, reach(a)]) if {
	some a in allows
	not denied(a)
}

deny contains finding if {
	input.asset.provider == "gcp"
	not lib.planned
	count(classes) > 0
	count(open) > 0
	finding := {
		"msg": sprintf("network %s holds classified data (%s) and lets %s send anything to 0.0.0.0/0: %s; no deny-all egress rule overrides it", [input.asset.name, concat(", ", sort(classes)), who, concat(", ", sort(open))]),
		"details": {"classes": sort(classes), "allowed_by": sort(open)},
	}
}
