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
#   must know it is where it should be. A node's class is its label, or
#   on GCP a Resource Manager tag bound to it (folders and organizations
#   have no labels, so a class set there is a tag); a label wins over a
#   tag of the same key.
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

# The rules below are written so that an asset without a residency label,
# most of them, fails at the first lookup: partial evaluation unrolls
# label_keys, which the settings fix, into plain label lookups.

# With one residency label (the usual case: every residency block reads
# data-class), the rules are plain lookups of that label.
single := label_keys[0] if count(label_keys) == 1

class contains {"value": v, "label": single, "from": ""} if {
	v := input.asset.labels[single]
	v != ""
}

# The nearest node is usually the project, and usually the only one.
class contains {"value": v, "label": k, "from": n.node} if {
	k := single
	not own_has(k)
	input.asset.kind in data_kinds
	n := input.asset.facets.inherited[0]
	v := n.labels[k]
	v != ""
}

class contains {"value": n.labels[k], "label": k, "from": n.node} if {
	k := single # bound outside the comprehension, so that it is folded in
	not own_has(k)
	input.asset.kind in data_kinds
	count(input.asset.facets.inherited) > 1
	not first_has(k)
	n := [x | some x in input.asset.facets.inherited; x.labels[k] != ""][0]
}

first_has(k) if input.asset.facets.inherited[0].labels[k] != ""

# own_has(k): the asset's own label k has a value. An empty value
# (data-class="", which GCP labels and AWS tags allow) is no class, and the
# asset inherits, as the triage card reads it.
own_has(k) if input.asset.labels[k] != ""

# With several residency labels, the first in name order on the nearest
# node that carries one.

# own_key is the first residency label the asset itself carries.
own_key := k if {
	count(label_keys) > 1
	some k in label_keys
	input.asset.labels[k] != ""
	not own_before(k)
}

own_before(k) if {
	some k2 in label_keys
	k2 < k
	input.asset.labels[k2] != ""
}

# node_has(n) says an inherited node carries a residency label.
node_has(n) if {
	some k in label_keys
	n.labels[k] != ""
}

# inherited_at is the nearest inherited node with a residency label.
inherited_at := i if {
	data_kinds[input.asset.kind]
	not own_key
	some i, n in input.asset.facets.inherited
	node_has(n)
	not node_before(i)
}

node_before(i) if {
	some j, n in input.asset.facets.inherited
	j < i
	node_has(n)
}

key_of(n) := k if {
	some k in label_keys
	n.labels[k] != ""
	not key_before(n, k)
}

key_before(n, k) if {
	some k2 in label_keys
	k2 < k
	n.labels[k2] != ""
}

class contains {"value": input.asset.labels[own_key], "label": own_key, "from": ""} if own_key

class contains {"value": n.labels[k], "label": k, "from": n.node} if {
	count(label_keys) > 1
	n := input.asset.facets.inherited[inherited_at]
	k := key_of(n)
}

# The rule of each class, by label and lower-case class name.
rules[[r.label, lower(c)]] := {"class": c, "regions": r.regions} if some c, r in data.vigil.config.residency

deny contains finding if {
	input.asset.region != "global"
	some cl in class # at most one: the bodies exclude each other
	rule := rules[[cl.label, lower(cl.value)]]
	c := rule.class
	not lib.glob_any(rule.regions, input.asset.region)
	finding := {
		"msg": sprintf("%s %s holds %s data (%s=%s%s) in %s; allowed: %s", [
			input.asset.kind, input.asset.name, c, cl.label, cl.value, inherited_from(cl.from),
			input.asset.region, concat(", ", rule.regions),
		]),
		"details": {"class": c, "region": input.asset.region, "allowed": rule.regions, "from": cl.from},
	}
}

inherited_from(node) := "" if node == ""

inherited_from(node) := sprintf(", inherited from %s", [node]) if node != ""
