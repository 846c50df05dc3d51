# METADATA
# title: Reachability from the internet
# description: |
#   Helpers of the exposure x vulnerability policies: which ports of an
#   instance the internet reaches, from data.vigil.inventory.exposure (the
#   instances with a public IP and the rules that admit the whole IPv4 or
#   IPv6 internet, /1 halves included). Per address family of the
#   instance's public IPs (an IPv4 rule does not reach an IPv6-only VM):
#   GCP: an allow rule of one of the instance's networks that targets it
#   (all instances, a network tag or a service account it has), not
#   overridden by a deny rule of the family at a priority as good or
#   better (a deny wins a tie). AWS: an allow rule of one of its security
#   groups, and its subnet's network ACL admits the family's internet to
#   the port, the first matching entry deciding (lib.acl_open, as
#   VGL-NET-006 reads it; a subnet whose ACL is not in the inventory is
#   taken to allow, as the default ACL does).
package vigil.vuln.reach

import data.vigil.lib
import rego.v1

exposure := object.get(data.vigil.inventory, "exposure", {})

# instance(id) is the exposure entry of an instance with a public IP.
instance(id) := exposure.instances[id]

gcp_applies(inst, r) if {
	count(r.target_tags) == 0
	count(r.target_service_accounts) == 0
}

gcp_applies(inst, r) if {
	some t in r.target_tags
	t in inst.network_tags
}

gcp_applies(inst, r) if {
	some s in r.target_service_accounts
	s in inst.service_accounts
}

gcp_rules(inst) := [r |
	some n in inst.networks
	some r in object.get(object.get(exposure, "networks", {}), n, [])
	gcp_applies(inst, r)
]

aws_rules(inst) := [r |
	some g in inst.security_groups
	some r in object.get(object.get(exposure, "groups", {}), g, [])
]

# families(inst) are the address families of the instance's public IPs.
families(inst) := {lib.family(ip) | some ip in inst.public_ips}

gcp_denied(rules, p, prio, fam) if {
	some d in rules
	d.action == "deny"
	d.priority <= prio
	lib.covers_port(d, p)
	lib.internet(d.sources, fam)
}

gcp_open(inst, p) if {
	rules := gcp_rules(inst)
	some fam in families(inst)
	some a in rules
	a.action == "allow"
	lib.covers_port(a, p)
	lib.internet(a.sources, fam)
	not gcp_denied(rules, p, a.priority, fam)
}

nacl_allows(inst, _, _) if count(inst.subnets) == 0

nacl_allows(inst, _, _) if {
	some s in inst.subnets
	not exposure.subnets[s]
}

nacl_allows(inst, p, fam) if {
	some s in inst.subnets
	lib.acl_open(exposure.subnets[s], p, fam)
}

aws_open(inst, p) if {
	some fam in families(inst)
	some r in aws_rules(inst)
	lib.covers_port(r, p)
	lib.internet(r.sources, fam)
	nacl_allows(inst, p, fam)
}

# open(inst, p): the internet reaches port p of the instance.
open(inst, p) if gcp_open(inst, p)

open(inst, p) if aws_open(inst, p)

# The ports tried when a vulnerability does not say which port its service
# listens on: the edges of every world-open range, the admin ports and the
# usual service ports.
candidates(inst) := {p |
	some r in array.concat(gcp_rules(inst), aws_rules(inst))
	r.action == "allow"
	some pr in r.ports
	some p in [pr.from, pr.to]
} | {p | some p in data.vigil.config.admin_ports} | {22, 80, 443, 3389, 8080}

open_ports(inst) := {p | some p in candidates(inst); open(inst, p)}

# reaches(inst, v): the internet reaches the vulnerable service: its port
# when the scanner knows it, else any open port.
reaches(inst, v) if {
	some p in v.ports
	open(inst, p)
}

reaches(inst, v) if {
	not v.ports
	count(open_ports(inst)) > 0
}

# serious(v): critical or high, with a fix available.
serious(v) if {
	v.severity in {"critical", "high"}
	v.fixable == true
}
