# METADATA
# title: Administrative ports open to the internet
# description: |
#   An enabled allow rule admits traffic from anywhere (0.0.0.0/0 or ::/0) to
#   an administrative port (admin_ports in vigil.hcl, SSH and RDP by default)
#   or to every port. Attackers scan for these within minutes, and during an
#   incident an open door makes containment a race. HTTPS-only rules, egress,
#   deny and disabled rules do not count.
# custom:
#   id: VGL-NET-001
#   severity: high
#   kinds: [firewall]
#   phase: preparation
#   remediation: open-firewall-remediation
#   frameworks: ["CIS GCP 3.6", "CIS GCP 3.7", "CIS AWS 5.2", "CIS AWS 5.3"]
package vigil.policies.network.open_admin_ports

import data.vigil.lib
import rego.v1

admin_ports := data.vigil.config.admin_ports

reached(rule) := "all ports" if lib.all_ports(rule)

reached(rule) := concat(", ", [sprintf("%d", [p]) | some p in sort(lib.ports_reached(rule, admin_ports))]) if {
	not lib.all_ports(rule)
	count(lib.ports_reached(rule, admin_ports)) > 0
}

candidate(rule) if {
	rule.action == "allow"
	rule.enabled
}

deny contains finding if {
	some i, rule in input.asset.facets.ingress
	candidate(rule)
	lib.world_open(rule)
	ports := reached(rule)
	finding := {
		"msg": sprintf("%s allows %s from %s to %s", [
			input.asset.name, rule.protocol,
			concat(", ", [s | some s in rule.sources; s in lib.world_cidrs]), ports,
		]),
		"details": {"rule": i, "protocol": rule.protocol, "ports": ports, "sources": rule.sources},
	}
}

# A planned rule whose sources are unknown until apply may well be open to
# the world: say so rather than pass silently.
deny contains finding if {
	some i, rule in input.asset.facets.ingress
	candidate(rule)
	not lib.world_open(rule)
	lib.unknown(rule, "sources")
	ports := reached(rule)
	finding := {
		"msg": sprintf("%s allows %s to %s from sources known only after apply; they could include 0.0.0.0/0", [input.asset.name, rule.protocol, ports]),
		"details": {"rule": i, "protocol": rule.protocol, "ports": ports, "unknown": ["sources"]},
	}
}

deny contains finding if {
	some i, rule in input.asset.facets.ingress
	candidate(rule)
	lib.world_open(rule)
	not reached(rule)
	lib.unknown(rule, "ports")
	finding := {
		"msg": sprintf("%s allows %s from anywhere to ports known only after apply; they could include an admin port", [input.asset.name, rule.protocol]),
		"details": {"rule": i, "protocol": rule.protocol, "unknown": ["ports"]},
	}
}
