# METADATA
# title: Data outside its allowed regions
# description: |
#   An asset labelled with a data class (residency blocks in vigil.hcl) sits
#   in a region the class does not allow. Breach-notification and transfer
#   rules depend on where data lives; responders must know it is where it
#   should be.
# custom:
#   id: VGL-DATA-001
#   severity: high
#   kinds: ["*"]
#   phase: preparation
package vigil.policies.data.residency

import data.vigil.lib
import rego.v1

# Projects, folders, firewalls and other location-less assets ("global")
# hold no data of their own.
deny contains finding if {
	input.asset.region != "global"
	some class, rule in data.vigil.config.residency
	labels := input.asset.labels
	labels[rule.label] == class
	not lib.glob_any(rule.regions, input.asset.region)
	finding := {
		"msg": sprintf("%s %s holds %s data (%s=%s) in %s; allowed: %s", [
			input.asset.kind, input.asset.name, class, rule.label, class,
			input.asset.region, concat(", ", rule.regions),
		]),
		"details": {"class": class, "region": input.asset.region, "allowed": rule.regions},
	}
}
