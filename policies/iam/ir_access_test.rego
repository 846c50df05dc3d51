package vigil.policies.iam.ir_access_test

import data.vigil.policies.iam.ir_access as p
import rego.v1

cfg := {"ir_principals": ["group:ir@example.com"]}

project(facets) := {"asset": {"provider": "gcp", "kind": "project", "name": "p", "facets": facets}}

test_no_binding if {
	inp := project({"ancestors": ["projects/1"], "bindings": [{"role": "roles/owner", "members": ["user:a@example.com"]}]})
	count(p.deny) == 1 with input as inp with data.vigil.config as cfg with data.vigil.inventory as {"scopes": {}, "nodes": {}}
}

test_binding_on_project if {
	inp := project({"ancestors": ["projects/1"], "bindings": [{"role": "roles/compute.instanceAdmin.v1", "members": ["group:ir@example.com"]}]})
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg with data.vigil.inventory as {"scopes": {}, "nodes": {}}
}

# Review 19: roles/viewer is no emergency access, nor is a reviewer role.
test_viewer_is_not_access if {
	inp := project({"ancestors": ["projects/1"], "bindings": [{"role": "roles/viewer", "members": ["group:ir@example.com"]}]})
	count(p.deny) == 1 with input as inp with data.vigil.config as cfg with data.vigil.inventory as {"scopes": {}, "nodes": {}}
}

test_reviewer_on_folder_is_not_access if {
	inv := {"scopes": {}, "nodes": {"folders/2": {"bindings": [{"role": "roles/iam.securityReviewer", "members": ["group:ir@example.com"]}]}}}
	inp := project({"ancestors": ["projects/1", "folders/2"]})
	count(p.deny) == 1 with input as inp with data.vigil.config as cfg with data.vigil.inventory as inv
}

test_acting_role_on_folder if {
	inv := {"scopes": {}, "nodes": {"folders/2": {"bindings": [{"role": "roles/iam.securityReviewer", "members": ["group:ir@example.com"]}, {"role": "roles/storage.objectAdmin", "members": ["group:ir@example.com"]}]}}}
	inp := project({"ancestors": ["projects/1", "folders/2"]})
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg with data.vigil.inventory as inv
}

test_silent_without_setting if {
	inp := project({"ancestors": ["projects/1"]})
	count(p.deny) == 0 with input as inp with data.vigil.config as {"ir_principals": []} with data.vigil.inventory as {"scopes": {}, "nodes": {}}
}
