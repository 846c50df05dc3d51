# METADATA
# title: Subnet without VPC flow logs
# description: |
#   A GCP subnetwork does not log flows (logConfig.enable is off). Without
#   flow logs there is no record of which addresses a VM talked to.
#   Proxy-only and Private Service Connect subnets carry no VM traffic and
#   are not judged.
# custom:
#   id: VGL-LOG-005
#   severity: medium
#   kinds: [subnet]
#   phase: investigation
#   frameworks: ["cis-gcp-3.0:3.8"]
#   evidence:
#     "*": [subnet.logging]
package vigil.policies.logging.subnet_flow_logs

import rego.v1

deny contains finding if {
	input.asset.provider == "gcp"
	input.asset.facets.logging == false
	finding := {
		"msg": sprintf("subnetwork %s (%s) has VPC flow logs off", [input.asset.name, input.asset.region]),
		"details": {},
	}
}
