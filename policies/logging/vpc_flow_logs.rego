# METADATA
# title: VPC without flow logs
# description: |
#   An AWS VPC has no active flow log (on the VPC itself). Without flow logs
#   there is no record of which addresses an instance talked to: no scope
#   for the breach, no evidence of exfiltration.
# custom:
#   id: VGL-LOG-004
#   severity: medium
#   kinds: [network]
#   phase: investigation
#   frameworks: ["cis-aws-3.0:3.7"]
package vigil.policies.logging.vpc_flow_logs

import data.vigil.lib
import rego.v1

deny contains finding if {
	input.asset.provider == "aws"
	vpc := input.asset.facets.network
	not object.get(lib.scope(input.asset.scope), "flow_logs", {})[vpc]
	finding := {
		"msg": sprintf("VPC %s has no active flow log", [vpc]),
		"details": {"vpc": vpc},
	}
}
