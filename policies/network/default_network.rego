# METADATA
# title: Default network in use
# description: |
#   The provider's default network (the GCP auto-mode "default" network,
#   an AWS default VPC) comes with permissive firewall rules and a subnet in
#   every region; it is rarely designed, reviewed or monitored.
# custom:
#   id: VGL-NET-003
#   severity: low
#   kinds: [network]
#   phase: preparation
#   frameworks: ["cis-gcp-3.0:3.1"]
package vigil.policies.network.default_network

import rego.v1

# A planned aws_default_vpc has no account yet: say whose only when known.
of_scope := sprintf(" of %s", [input.asset.scope]) if {
	input.asset.scope != ""
} else := ""

deny contains finding if {
	input.asset.facets["default"] == true
	finding := {
		"msg": sprintf("%s is the default network%s", [input.asset.name, of_scope]),
		"details": {"network": object.get(input.asset.facets, "network", "")},
	}
}
