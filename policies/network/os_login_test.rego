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

# A plan's metadata item sets one key: another key says nothing of OS
# Login; an enable-oslogin item set to FALSE turns it off.
item(k, v) := {"asset": {"kind": "project_metadata", "type": "google_compute_project_metadata_item", "scope": "p", "facets": {"metadata": {k: v}}}}

test_item_of_another_key if count(p.deny) == 0 with input as item("block-project-ssh-keys", "TRUE")

test_item_oslogin_false if count(p.deny) == 1 with input as item("enable-oslogin", "FALSE")

test_item_oslogin_true if count(p.deny) == 0 with input as item("enable-oslogin", "TRUE")
