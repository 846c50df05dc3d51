# METADATA
# title: Network ACL admits admin ports from the internet
# description: |
#   An AWS network ACL's first matching inbound entry for an admin port
#   (admin_ports in vigil.hcl) from 0.0.0.0/0 or ::/0 allows it. Network
#   ACLs are evaluated in rule-number order and the first match decides; a
#   lower-numbered deny protects the port only if it (with the other
#   earlier denies) covers the whole internet: a deny of one range leaves
#   the rest of the internet admitted.
# custom:
#   id: VGL-NET-006
#   severity: high
#   kinds: [network_acl]
#   phase: preparation
#   frameworks: ["cis-aws-3.0:5.1"]
#   evidence:
#     "*": [network_acl.ingress]
package vigil.policies.network.nacl_admin_ports

import data.vigil.lib
import rego.v1

# first(port, src) is the first entry (rule-number order, as the loader
# keeps them) that matches traffic from src to port.
# A port is open from the internet when, taking the entries in rule-number
# order, allow entries cover every IPv4 (or every IPv6) address: one
# 0.0.0.0/0 entry, or 0.0.0.0/1 with 128.0.0.0/1 (lib.acl_open, as the
# exposure x vulnerability policies read ACLs). A deny for ::/0 before an
# IPv4 allow does not close it.
open contains sprintf("%d from %s (rule %s)", [port, concat(", ", sort({s | some s in lib.acl_allowed(entries, port, fam)})), concat(", ", [sprintf("%d", [n]) | some n in lib.acl_rules(entries, port, fam)])]) if {
	entries := input.asset.facets.ingress
	some port in data.vigil.config.admin_ports
	some fam in ["ipv4", "ipv6"]
	lib.acl_open(entries, port, fam)
}

deny contains finding if {
	count(open) > 0
	finding := {
		"msg": sprintf("network ACL %s allows admin ports from the internet: %s", [input.asset.name, concat(", ", sort(open))]),
		"details": {"open": sort(open), "subnets": object.get(input.asset.facets, "subnets", [])},
	}
}
