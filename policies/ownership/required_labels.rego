# METADATA
# title: Asset without an owner
# description: |
#   An instance or bucket lacks one of the labels (tags) vigil.hcl requires
#   (required_labels, typically "owner"). During an incident, finding who
#   owns a compromised asset can take hours; the label answers at once.
# custom:
#   id: VGL-OWN-001
#   severity: low
#   kinds: [instance, bucket]
#   phase: preparation
package vigil.policies.ownership.required_labels

import data.vigil.lib
import rego.v1

deny contains finding if {
	labels := input.asset.labels
	# most assets have their labels: look for one missing before listing them
	some required in data.vigil.config.required_labels
	lib.label_missing(labels, required)
	missing := [l | some l in data.vigil.config.required_labels; lib.label_missing(labels, l)]
	count(missing) > 0
	finding := {
		"msg": sprintf("%s %s has no %s label", [input.asset.kind, input.asset.name, concat(", ", missing)]),
		"details": {"missing": missing},
	}
}
