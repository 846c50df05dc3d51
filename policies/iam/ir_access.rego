# METADATA
# title: IR team lacks access
# description: |
#   None of ir_principals (vigil.hcl) has an IAM binding that can act on
#   the GCP project or an ancestor in the inventory: during an incident the
#   responders would have to ask for access first. Read-only roles
#   (roles/viewer, roles/browser, roles/iam.securityReviewer, *viewer,
#   *reader) do not count: responders must stop, snapshot and isolate, not
#   only look. Silent when ir_principals is not set.
# custom:
#   id: VGL-IAM-001
#   severity: medium
#   kinds: [project]
#   phase: preparation
package vigil.policies.iam.ir_access

import data.vigil.lib
import rego.v1

principals := data.vigil.config.ir_principals

# Read-only roles give no emergency access: responders must act (stop,
# snapshot, isolate), not only look. The triage card reads roles alike.
read_only(role) if role in {"roles/viewer", "roles/browser", "roles/iam.securityReviewer"}

read_only(role) if regex.match(`(?i)(viewer|reader|browser)$`, role)

acting contains m if {
	some b in lib.bindings(input.asset.facets)
	not read_only(b.role)
	some m in b.members
	m in principals
}

deny contains finding if {
	input.asset.provider == "gcp"
	not lib.planned
	count(principals) > 0
	count(acting) == 0
	finding := {
		"msg": sprintf("none of %s has a role that can act (not read-only) on project %s or its ancestors", [concat(", ", principals), input.asset.name]),
		"details": {"ir_principals": principals},
	}
}
