package vigil.policies.network.project_ssh_keys_test

import data.vigil.policies.network.project_ssh_keys as p
import rego.v1

vm(facets) := {"asset": {"provider": "gcp", "kind": "instance", "name": "vm", "facets": facets}}

test_not_blocked if count(p.deny) == 1 with input as vm({"metadata": {"ssh-keys": "(set)"}})

test_no_metadata_at_all if count(p.deny) == 1 with input as vm({})

test_blocked if count(p.deny) == 0 with input as vm({"metadata": {"block-project-ssh-keys": "TRUE"}})

test_os_login_on_instance if count(p.deny) == 0 with input as vm({"metadata": {"enable-oslogin": "true"}})

test_os_login_from_project if {
	count(p.deny) == 0 with input as vm({"inherited": [{"node": "projects/1", "metadata": {"enable-oslogin": "TRUE"}}]})
}

test_instance_turns_os_login_off if {
	count(p.deny) == 1 with input as vm({"metadata": {"enable-oslogin": "FALSE"}, "inherited": [{"node": "projects/1", "metadata": {"enable-oslogin": "TRUE"}}]})
}
