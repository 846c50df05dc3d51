# METADATA
# title: Network ACL admits admin ports from the internet
# description: |
#   An AWS network ACL's first matching inbound entry for an admin port
#   (admin_ports in vigil.hcl) from 0.0.0.0/0 or ::/0 allows it. Network
#   ACLs are evaluated in rule-number order and the first match decides; a
#   lower-numbered deny protects the port.
# custom:
#   id: VGL-NET-006
#   severity: high
#   kinds: [network_acl]
#   phase: preparation
#   frameworks: ["cis-aws-3.0:5.1"]
package vigil.policies.network.nacl_admin_ports

import data.vigil.lib
import rego.v1

# first(port, src) is the first entry (rule-number order, as the loader
# keeps them) that matches traffic from src to port.
decides(port, src) := [e |
	some e in input.asset.facets.ingress
	src in e.sources
	lib.covers_port(e, port)
][0]

open contains sprintf("%d from %s (rule %d)", [port, src, e.priority]) if {
	some port in data.vigil.config.admin_ports
	some src in lib.world_cidrs
	e := decides(port, src)
	e.action == "allow"
}

deny contains finding if {
	count(open) > 0
	finding := {
		"msg": sprintf("network ACL %s allows admin ports from the internet: %s", [input.asset.name, concat(", ", sort(open))]),
		"details": {"open": sort(open), "subnets": object.get(input.asset.facets, "subnets", [])},
	}
}
