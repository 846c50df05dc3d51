package vigil.policies.network.public_ip_test

import data.vigil.policies.network.public_ip as p
import rego.v1

test_public_ip if {
	inp := {"asset": {"kind": "instance", "name": "vm", "facets": {"public_ips": ["34.1.2.3"]}}}
	count(p.deny) == 1 with input as inp
}

test_private_only if {
	inp := {"asset": {"kind": "instance", "name": "vm", "facets": {"private_ips": ["10.0.0.2"]}}}
	count(p.deny) == 0 with input as inp
}

test_unknown_public_ip if {
	inp := {"asset": {"kind": "instance", "name": "vm", "facets": {"unknown": ["public_ips"]}}}
	count(p.deny) == 1 with input as inp
}
