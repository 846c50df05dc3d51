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
#   frameworks: ["cis-gcp-3.0:3.6", "cis-gcp-3.0:3.7", "cis-aws-3.0:5.2", "cis-aws-3.0:5.3"]
#   evidence:
#     "*": [firewall.ingress]
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

# open_to_world(rule): the rule's sources, taken together, hold every IPv4
# or every IPv6 address (anywhere is also 0.0.0.0/1 with 128.0.0.0/1): the
# same test as the providers' CoversInternet (engine/asset), here with
# net.cidr_merge. The exact /0 is the cheap, usual case; the merge runs
# only for rules with several sources, and (else) not for one already
# accepted.
open_to_world(rule) := true if {
	lib.world_open(rule)
} else := true if {
	count(rule.sources) > 1
	some merged in net.cidr_merge([s | some s in rule.sources; net.cidr_is_valid(s)])
	merged in lib.world_cidrs
}

# A standalone rule (aws_security_group_rule) names the group it belongs to.
where := sprintf(" (rule of %s)", [input.asset.facets.parent]) if {
	input.asset.facets.parent
	input.asset.kind == "firewall"
} else := ""

deny contains finding if {
	some i, rule in input.asset.facets.ingress
	candidate(rule)
	open_to_world(rule)
	ports := reached(rule)
	# The world ranges, or all the sources when only together they are.
	world := [s | some s in rule.sources; s in lib.world_cidrs]
	named := array.concat(world, [s | count(world) == 0; some s in rule.sources])
	finding := {
		"msg": sprintf("%s%s allows %s from %s to %s", [
			input.asset.name, where, rule.protocol,
			concat(", ", named), ports,
		]),
		"details": {"rule": i, "protocol": rule.protocol, "ports": ports, "sources": rule.sources, "controls": controls(rule)},
	}
}

# controls(rule) are the CIS controls the rule breaks, so the compliance
# view counts a finding for those only: GCP 3.6 is SSH (22), 3.7 RDP
# (3389); AWS 5.2 is the IPv4 internet and 5.3 the IPv6 one, to 22 or
# 3389. A rule reaching only another of admin_ports breaks none of them.
cis_reaches(rule, port) if lib.all_ports(rule)

cis_reaches(rule, port) if lib.covers_port(rule, port)

gcp_controls := {22: "cis-gcp-3.0:3.6", 3389: "cis-gcp-3.0:3.7"}

aws_controls := {"ipv4": "cis-aws-3.0:5.2", "ipv6": "cis-aws-3.0:5.3"}

controls(rule) := sort({c |
	some port, c in gcp_controls
	cis_reaches(rule, port)
}) if {
	input.asset.provider == "gcp"
} else := sort({c |
	some fam in lib.internet_families(rule.sources)
	c := aws_controls[fam]
	some port in [22, 3389]
	cis_reaches(rule, port)
}) if {
	input.asset.provider == "aws"
} else := []

# Terraform plans leave some values unknown until apply. A rule that may be
# open to the world and may reach an admin port must not pass silently: the
# finding says what is unknown, and --fail-on decides.

maybe_world(rule) if open_to_world(rule)

maybe_world(rule) if lib.unknown(rule, "sources")

maybe_reached(rule) if reached(rule)

maybe_reached(rule) if lib.unknown(rule, "ports")

maybe_reached(rule) if lib.unknown(rule, "protocol")

unknowns(rule) := [f | some f in ["sources", "ports", "protocol"]; lib.unknown(rule, f)]

deny contains finding if {
	some i, rule in input.asset.facets.ingress
	rule.unknown # only plans leave values unknown; without, definite() decides
	candidate(rule)
	maybe_world(rule)
	maybe_reached(rule)
	not definite(rule)
	finding := {
		"msg": sprintf("%s%s: ingress rule %d may allow the internet to reach an admin port; its %s known only after apply", [
			input.asset.name, where, i, concat(" and ", unknowns(rule)),
		]),
		"details": {"rule": i, "protocol": rule.protocol, "unknown": unknowns(rule)},
	}
}

definite(rule) if {
	open_to_world(rule)
	reached(rule)
}
