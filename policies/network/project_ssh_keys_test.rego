package vigil.policies.network.project_ssh_keys_test

import data.vigil.policies.network.project_ssh_keys as p
import rego.v1

vm(facets) := {"asset": {"provider": "gcp", "kind": "instance", "name": "vm", "facets": facets}}

test_not_blocked if count(p.deny) == 1 with input as vm({"metadata": {"ssh-keys": "(set)"}})

test_no_metadata_at_all if count(p.deny) == 1 with input as vm({})

test_blocked if count(p.deny) == 0 with input as vm({"metadata": {"block-project-ssh-keys": "TRUE"}})

# OS Login is no substitute (CIS GCP 4.3, Prowler): the examples' four VMs
# with OS Login and no block-project-ssh-keys all fail.
test_os_login_on_instance_still_fires if count(p.deny) == 1 with input as vm({"metadata": {"enable-oslogin": "true"}})

test_os_login_from_project_still_fires if {
	count(p.deny) == 1 with input as vm({"inherited": [{"node": "projects/1", "metadata": {"enable-oslogin": "TRUE"}}]})
}

test_blocked_false if count(p.deny) == 1 with input as vm({"metadata": {"block-project-ssh-keys": "FALSE"}})

# GKE node VMs are exempt, by label or by name.
test_gke_node_by_label if {
	count(p.deny) == 0 with input as {"asset": {"provider": "gcp", "kind": "instance", "name": "pool-vm", "labels": {"goog-gke-node": ""}, "facets": {}}}
}

test_gke_node_by_name if {
	count(p.deny) == 0 with input as {"asset": {"provider": "gcp", "kind": "instance", "name": "gke-prod-default-pool-1a2b", "facets": {}}}
}
