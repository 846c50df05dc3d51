# METADATA
# title: Infrastructure outside the approved networks
# description: |
#   A network that is not in approved_networks (vigil.hcl), and every
#   instance with an interface on one. Shadow networks escape the monitoring,
#   flow logs and firewall baselines responders rely on. Silent when
#   approved_networks is not set.
# custom:
#   id: VGL-NET-002
#   severity: medium
#   kinds: [network, instance]
#   phase: preparation
#   remediation: shadow-project-triage
package vigil.policies.network.unapproved_network

import data.vigil.lib
import rego.v1

approved := data.vigil.config.approved_networks

deny contains finding if {
	count(approved) > 0
	input.asset.kind == "network"
	net := input.asset.facets.network
	not lib.glob_any(approved, net)
	finding := {
		"msg": sprintf("network %s is not in approved_networks", [net]),
		"details": {"network": net},
	}
}

deny contains finding if {
	count(approved) > 0
	input.asset.kind == "instance"
	some net in input.asset.facets.networks
	not lib.glob_any(approved, net)
	finding := {
		"msg": sprintf("instance %s has an interface on network %s, which is not in approved_networks", [input.asset.name, net]),
		"details": {"network": net},
	}
}

# A network or instance planned by Terraform whose network id exists only
# after apply cannot be matched against approved_networks: say so.
deny contains finding if {
	count(approved) > 0
	input.asset.kind == "network"
	lib.unknown(input.asset.facets, "network")
	not input.asset.facets.network
	finding := {
		"msg": sprintf("network %s gets its id only at apply, so it cannot be checked against approved_networks", [input.asset.name]),
		"details": {"unknown": ["network"]},
	}
}

deny contains finding if {
	count(approved) > 0
	input.asset.kind == "instance"
	lib.unknown(input.asset.facets, "networks")
	count(object.get(input.asset.facets, "networks", [])) == 0
	finding := {
		"msg": sprintf("the network of instance %s is known only after apply, so it cannot be checked against approved_networks", [input.asset.name]),
		"details": {"unknown": ["networks"]},
	}
}
