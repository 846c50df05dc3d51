package vigil.policies.network.default_security_group_test

import data.vigil.policies.network.default_security_group as p
import rego.v1

sg(name, facets) := {"asset": {"provider": "aws", "kind": "firewall", "name": name, "facets": facets}}

rule := {"sources": ["0.0.0.0/0"], "protocol": "all", "ports": [{"from": 0, "to": 65535}], "action": "allow", "enabled": true}

test_default_with_egress if count(p.deny) == 1 with input as sg("default", {"network": "vpc-1", "egress": [rule]})

test_default_empty if count(p.deny) == 0 with input as sg("default", {"network": "vpc-1"})

test_other_group if count(p.deny) == 0 with input as sg("web", {"ingress": [rule]})
