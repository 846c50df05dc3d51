package vigil.policies.detection.scc_test

import data.vigil.policies.detection.scc as p
import rego.v1

proj := {"asset": {"provider": "gcp", "kind": "project", "name": "p", "scope": "p", "facets": {}}}

test_scc_off if {
	inv := {"scopes": {"p": {"assets": 4, "services": {"compute.googleapis.com": true}}}, "nodes": {}}
	count(p.deny) == 1 with input as proj with data.vigil.inventory as inv
}

test_scc_on if {
	inv := {"scopes": {"p": {"assets": 4, "services": {"securitycenter.googleapis.com": true}}}, "nodes": {}}
	count(p.deny) == 0 with input as proj with data.vigil.inventory as inv
}

test_unknown_services_silent if {
	count(p.deny) == 0 with input as proj with data.vigil.inventory as {"scopes": {"p": {"assets": 4}}, "nodes": {}}
}
