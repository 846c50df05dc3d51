package vigil.policies.iam.sa_admin_test

import data.vigil.policies.iam.sa_admin as p
import rego.v1

inv := {"scopes": {}, "nodes": {}}

project(bindings) := {"asset": {"provider": "gcp", "kind": "project", "name": "p", "facets": {"ancestors": ["projects/1"], "bindings": bindings}}}

test_default_compute_sa_editor if {
	inp := project([{"role": "roles/editor", "members": ["serviceAccount:1-compute@developer.gserviceaccount.com"]}])
	count(p.deny) == 1 with input as inp with data.vigil.inventory as inv
}

test_service_agent_is_not_counted if {
	inp := project([{"role": "roles/editor", "members": ["serviceAccount:1@cloudservices.gserviceaccount.com"]}])
	count(p.deny) == 0 with input as inp with data.vigil.inventory as inv
}

test_owner_on_folder if {
	i := {"scopes": {}, "nodes": {"folders/2": {"bindings": [{"role": "roles/owner", "members": ["serviceAccount:ci@p.iam.gserviceaccount.com"]}]}}}
	inp := {"asset": {"provider": "gcp", "kind": "project", "name": "p", "facets": {"ancestors": ["projects/1", "folders/2"]}}}
	count(p.deny) == 1 with input as inp with data.vigil.inventory as i
}

test_user_owner_is_fine if {
	inp := project([{"role": "roles/owner", "members": ["user:alice@example.com"]}])
	count(p.deny) == 0 with input as inp with data.vigil.inventory as inv
}

# The review's service-deployer@p-a: a user-created account whose name
# starts with "service-" is no service agent.
test_user_account_named_service if {
	inp := project([{"role": "roles/owner", "members": ["serviceAccount:service-deployer@p-a.iam.gserviceaccount.com"]}])
	res := p.deny with input as inp with data.vigil.inventory as inv
	some f in res
	f.details.grants == ["serviceAccount:service-deployer@p-a.iam.gserviceaccount.com has roles/owner"]
}

test_service_agents_are_not_counted if {
	inp := project([{"role": "roles/editor", "members": [
		"serviceAccount:service-1234@gcp-sa-artifactregistry.iam.gserviceaccount.com",
		"serviceAccount:service-1234@compute-system.iam.gserviceaccount.com",
		"serviceAccount:service-1234@container-engine-robot.iam.gserviceaccount.com",
	]}])
	count(p.deny) == 0 with input as inp with data.vigil.inventory as inv
}

# CIS 1.5 counts administrator roles; a viewer role is fine.
test_admin_roles if {
	inp := project([
		{"role": "roles/iam.securityAdmin", "members": ["serviceAccount:ci@p.iam.gserviceaccount.com"]},
		{"role": "roles/storage.objectAdmin", "members": ["serviceAccount:ci@p.iam.gserviceaccount.com"]},
		{"role": "roles/viewer", "members": ["serviceAccount:ci@p.iam.gserviceaccount.com"]},
	])
	res := p.deny with input as inp with data.vigil.inventory as inv
	some f in res
	f.details.grants == [
		"serviceAccount:ci@p.iam.gserviceaccount.com has roles/iam.securityAdmin",
		"serviceAccount:ci@p.iam.gserviceaccount.com has roles/storage.objectAdmin",
	]
}
