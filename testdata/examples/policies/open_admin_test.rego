package vigil.policies.acme.open_admin_test

import rego.v1

import data.vigil.policies.acme.open_admin

test_open_admin_ssh_from_anywhere if {
	count(open_admin.deny) == 1 with input as {"asset": {"name": "fw", "facets": {"ingress": [{"enabled": true, "sources": ["0.0.0.0/0"], "ports": [{"from": 22, "to": 22}]}]}}}
}

test_open_admin_internal_only if {
	count(open_admin.deny) == 0 with input as {"asset": {"name": "fw", "facets": {"ingress": [{"enabled": true, "sources": ["10.0.0.0/8"], "ports": [{"from": 22, "to": 22}]}]}}}
}
