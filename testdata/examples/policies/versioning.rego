# METADATA
# title: Buckets need versioning
# custom:
#   id: ACME-001
#   severity: medium
#   kinds: [bucket]
package vigil.policies.acme.versioning

import rego.v1

deny contains {"msg": sprintf("%s has no versioning", [input.asset.name])} if {
	not input.asset.data.resource.data.versioning.enabled
}
