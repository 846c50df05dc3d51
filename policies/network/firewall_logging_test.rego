package vigil.policies.network.firewall_logging_test

import data.vigil.policies.network.firewall_logging as p
import rego.v1

r(src) := {"sources": [src], "protocol": "tcp", "ports": [{"from": 443, "to": 443}], "action": "allow", "enabled": true}

fw(logging, src) := {"asset": {"provider": "gcp", "kind": "firewall", "name": "fw", "facets": {"logging": logging, "ingress": [r(src)]}}}

test_world_open_without_logging if count(p.deny) == 1 with input as fw(false, "0.0.0.0/0")

test_world_open_with_logging if count(p.deny) == 0 with input as fw(true, "0.0.0.0/0")

test_internal_without_logging if count(p.deny) == 0 with input as fw(false, "10.0.0.0/8")
