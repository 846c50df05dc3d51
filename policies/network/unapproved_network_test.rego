package vigil.policies.network.unapproved_network_test

import data.vigil.policies.network.unapproved_network as p
import rego.v1

cfg := {"approved_networks": ["projects/acme-prod/global/networks/prod-vpc", "vpc-0abc*"]}

test_unapproved_gcp_network if {
	inp := {"asset": {"kind": "network", "name": "shadow", "facets": {"network": "projects/acme-dev/global/networks/shadow"}}}
	count(p.deny) == 1 with input as inp with data.vigil.config as cfg
}

test_approved_network_by_glob if {
	inp := {"asset": {"kind": "network", "name": "v", "facets": {"network": "vpc-0abc123"}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}

test_instance_on_unapproved_network if {
	inp := {"asset": {"kind": "instance", "name": "vm", "facets": {"networks": ["projects/acme-prod/global/networks/prod-vpc", "projects/x/global/networks/y"]}}}
	res := p.deny with input as inp with data.vigil.config as cfg
	count(res) == 1
	some f in res
	f.details.network == "projects/x/global/networks/y"
}

test_silent_without_setting if {
	inp := {"asset": {"kind": "network", "name": "shadow", "facets": {"network": "vpc-9"}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as {"approved_networks": []}
}

test_unknown_network_id if {
	inp := {"asset": {"kind": "network", "name": "main", "facets": {"unknown": ["network"]}}}
	res := p.deny with input as inp with data.vigil.config as cfg
	some f in res
	f.details.unknown == ["network"]
}

test_unknown_instance_network if {
	inp := {"asset": {"kind": "instance", "name": "web", "facets": {"unknown": ["networks"]}}}
	count(p.deny) == 1 with input as inp with data.vigil.config as cfg
}
