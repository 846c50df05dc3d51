# METADATA
# title: Project or account without owner and purpose
# description: |
#   A GCP project or an AWS account lacks one of the labels (tags) vigil.hcl
#   asks of every scope (scope_labels, by default owner and purpose). When an
#   alert fires there, responders first need whom to call and what the
#   project is for; 'vigil inventory owners' lists them all.
# custom:
#   id: VGL-OWN-002
#   severity: low
#   kinds: [project, account]
#   phase: preparation
package vigil.policies.ownership.scope_labels

import data.vigil.lib
import rego.v1

deny contains finding if {
	# An account vigil added because assets named it was not collected:
	# its tags are unknown, not missing.
	not input.asset.facets.synthesized
	labels := input.asset.labels # always present, {} when there are none
	missing := [l | some l in data.vigil.config.scope_labels; lib.label_missing(labels, l)]
	count(missing) > 0
	finding := {
		"msg": sprintf("%s %s has no %s label", [input.asset.kind, input.asset.name, concat(", ", missing)]),
		"details": {"missing": missing},
	}
}
