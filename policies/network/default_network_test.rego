package vigil.policies.network.default_network_test

import data.vigil.policies.network.default_network as p
import rego.v1

test_default_network if {
	inp := {"asset": {"kind": "network", "name": "default", "scope": "p1", "facets": {"default": true, "network": "projects/p1/global/networks/default"}}}
	count(p.deny) == 1 with input as inp
}

test_custom_network if {
	inp := {"asset": {"kind": "network", "name": "prod", "scope": "p1", "facets": {"default": false}}}
	count(p.deny) == 0 with input as inp
}
