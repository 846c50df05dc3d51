package vigil.policies.network.os_login_test

import data.vigil.policies.network.os_login as p
import rego.v1

test_project_without_os_login if {
	count(p.deny) == 1 with input as {"asset": {"kind": "project_metadata", "scope": "p", "facets": {"metadata": {"ssh-keys": "(set)"}}}}
}

test_project_with_os_login if {
	count(p.deny) == 0 with input as {"asset": {"kind": "project_metadata", "scope": "p", "facets": {"metadata": {"enable-oslogin": "TRUE"}}}}
}

test_instance_override_off if {
	count(p.deny) == 1 with input as {"asset": {"provider": "gcp", "kind": "instance", "name": "vm", "facets": {"metadata": {"enable-oslogin": "false"}}}}
}

test_instance_without_own_setting if {
	count(p.deny) == 0 with input as {"asset": {"provider": "gcp", "kind": "instance", "name": "vm", "facets": {}}}
}
