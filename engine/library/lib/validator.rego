# The helpers Config Validator templates import as data.validator.gcp.lib,
# written for vigil: the same names and results as the policy-library's
# own, so its templates run unchanged. A library that ships its own
# lib/*.rego uses those instead.
package validator.gcp.lib

import rego.v1

# has_field(obj, field) is true when obj has the field, whatever its value
# (false and null included), and false when it has not.
has_field(obj, field) := true if present(obj, field)

has_field(obj, field) := false if not present(obj, field)

present(obj, field) if {
	_ = obj[field]
}

# get_default(obj, field, default_value) is obj[field] when obj has the
# field, default_value otherwise.
get_default(obj, field, default_value) := obj[field] if present(obj, field)

get_default(obj, field, default_value) := default_value if not present(obj, field)

# get_constraint_params(constraint) is the constraint's spec.parameters.
get_constraint_params(constraint) := constraint.spec.parameters

# get_constraint_info(constraint) names the constraint.
get_constraint_info(constraint) := {
	"name": constraint.metadata.name,
	"kind": constraint.kind,
}

# get_resource(inventory, asset_type, name) finds an asset in a list of them.
get_resource(inventory, asset_type, name) := resource if {
	some resource in inventory
	resource.asset_type == asset_type
	resource.name == name
}
