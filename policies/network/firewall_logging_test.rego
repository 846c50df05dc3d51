package vigil.policies.network.firewall_logging_test

import data.vigil.policies.network.firewall_logging as p
import rego.v1

r(src) := {"sources": [src], "protocol": "tcp", "ports": [{"from": 443, "to": 443}], "action": "allow", "enabled": true}

fw(logging, src) := {"asset": {"provider": "gcp", "kind": "firewall", "name": "fw", "facets": {"logging": logging, "ingress": [r(src)]}}}

test_world_open_without_logging if count(p.deny) == 1 with input as fw(false, "0.0.0.0/0")

test_world_open_with_logging if count(p.deny) == 0 with input as fw(true, "0.0.0.0/0")

test_internal_without_logging if count(p.deny) == 0 with input as fw(false, "10.0.0.0/8")

# The /1 halves are the internet, as in VGL-NET-001.
test_halves_without_logging if {
	inp := {"asset": {"provider": "gcp", "kind": "firewall", "name": "fw", "facets": {"logging": false, "ingress": [object.union(r("0.0.0.0/1"), {"sources": ["0.0.0.0/1", "128.0.0.0/1"]})]}}}
	count(p.deny) == 1 with input as inp
}

test_ipv6_world_without_logging if count(p.deny) == 1 with input as fw(false, "::/0")
