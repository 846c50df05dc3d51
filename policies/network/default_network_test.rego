package vigil.policies.network.default_network_test

import data.vigil.policies.network.default_network as p
import rego.v1

test_default_network if {
	inp := {"asset": {"kind": "network", "name": "default", "scope": "p1", "facets": {"default": true, "network": "projects/p1/global/networks/default"}}}
	count(p.deny) == 1 with input as inp
	some f in p.deny with input as inp
	f.msg == "default is the default network of p1"
}

# A planned default VPC has no account until apply: no dangling "of".
test_default_network_without_scope if {
	inp := {"asset": {"kind": "network", "name": "default", "facets": {"default": true}}}
	some f in p.deny with input as inp
	f.msg == "default is the default network"
	some g in p.deny with input as {"asset": {"kind": "network", "name": "default", "scope": "", "facets": {"default": true}}}
	g.msg == "default is the default network"
}

test_custom_network if {
	inp := {"asset": {"kind": "network", "name": "prod", "scope": "p1", "facets": {"default": false}}}
	count(p.deny) == 0 with input as inp
}
