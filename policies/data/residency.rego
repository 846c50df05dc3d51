# METADATA
# title: Data outside its allowed regions
# description: |
#   An asset holds a data class (residency blocks in vigil.hcl) in a region
#   the class does not allow. The class is read as the triage card reads it:
#   the asset's own residency label, else its project's or account's, else
#   the folders' and the organization's above it, nearest first (a
#   project's class speaks for the data stores in it: instances, disks,
#   snapshots, images, buckets, databases, datasets, clusters). Breach
#   notification and transfer rules depend on where data lives; responders
#   must know it is where it should be.
# custom:
#   id: VGL-DATA-001
#   severity: high
#   kinds: ["*"]
#   phase: preparation
package vigil.policies.data.residency

import data.vigil.lib
import rego.v1

data_kinds := {"instance", "disk", "snapshot", "image", "bucket", "database", "dataset", "cluster"}

# The residency labels, in name order (config.ClassOf tries them so).
label_keys := sort({r.label | some r in data.vigil.config.residency})

# Where the asset's class may come from, nearest first: itself, then what
# its project or account and the nodes above say (data kinds only).
chain := [{"node": "", "labels": input.asset.labels}] if not data_kinds[input.asset.kind]

chain := array.concat([{"node": "", "labels": input.asset.labels}], object.get(input.asset.facets, "inherited", [])) if data_kinds[input.asset.kind]

declared := [{"value": v, "label": k, "from": n.node} |
	some n in chain
	some k in label_keys
	v := object.get(object.get(n, "labels", {}), k, "")
	v != ""
]

deny contains finding if {
	input.asset.region != "global"
	count(label_keys) > 0
	cl := declared[0]
	some class, rule in data.vigil.config.residency
	rule.label == cl.label
	lower(class) == lower(cl.value)
	not lib.glob_any(rule.regions, input.asset.region)
	finding := {
		"msg": sprintf("%s %s holds %s data (%s=%s%s) in %s; allowed: %s", [
			input.asset.kind, input.asset.name, class, cl.label, cl.value, inherited_from(cl.from),
			input.asset.region, concat(", ", rule.regions),
		]),
		"details": {"class": class, "region": input.asset.region, "allowed": rule.regions, "from": cl.from},
	}
}

inherited_from(node) := "" if node == ""

inherited_from(node) := sprintf(", inherited from %s", [node]) if node != ""
