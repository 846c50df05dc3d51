# METADATA
# title: IR team lacks access
# description: |
#   None of ir_principals (vigil.hcl) has an IAM binding on the GCP project
#   or an ancestor in the inventory: during an incident the responders would
#   have to ask for access first. Silent when ir_principals is not set.
# custom:
#   id: VGL-IAM-001
#   severity: medium
#   kinds: [project]
#   phase: preparation
package vigil.policies.iam.ir_access

import data.vigil.lib
import rego.v1

principals := data.vigil.config.ir_principals

deny contains finding if {
	input.asset.provider == "gcp"
	not lib.planned
	count(principals) > 0
	members := lib.members(input.asset.facets)
	count([p | some p in principals; p in members]) == 0
	finding := {
		"msg": sprintf("none of %s has a role on project %s or its ancestors", [concat(", ", principals), input.asset.name]),
		"details": {"ir_principals": principals},
	}
}
