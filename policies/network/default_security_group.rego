# METADATA
# title: Default security group with rules
# description: |
#   An AWS VPC's default security group has an inbound or outbound rule.
#   Every instance launched without a group lands in it; CIS asks that it
#   restrict all traffic, so that forgetting a group isolates instead of
#   exposing.
# custom:
#   id: VGL-NET-005
#   severity: medium
#   kinds: [firewall]
#   phase: preparation
#   frameworks: ["cis-aws-3.0:5.4"]
#   evidence:
#     "*": [firewall.name=default]
package vigil.policies.network.default_security_group

import rego.v1

deny contains finding if {
	input.asset.provider == "aws"
	input.asset.name == "default"
	n := count(object.get(input.asset.facets, "ingress", [])) + count(object.get(input.asset.facets, "egress", []))
	n > 0
	finding := {
		"msg": sprintf("the default security group of %s has %d rules; remove them all", [object.get(input.asset.facets, "network", "its VPC"), n]),
		"details": {"rules": n},
	}
}
