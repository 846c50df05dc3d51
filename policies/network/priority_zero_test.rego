package vigil.policies.network.priority_zero_test

import data.vigil.policies.network.priority_zero as p
import rego.v1

r(prio) := {"sources": ["10.0.0.0/8"], "protocol": "tcp", "ports": [{"from": 22, "to": 22}], "action": "allow", "enabled": true, "priority": prio}

fw(name, prio, tags) := {"asset": {"provider": "gcp", "kind": "firewall", "name": name, "facets": {"ingress": [r(prio)], "target_tags": tags}}}

test_priority_zero_for_all if count(p.deny) == 1 with input as fw("allow-admin", 0, [])

test_priority_zero_for_quarantine_tag if count(p.deny) == 1 with input as fw("allow-admin", 0, ["vigil-quarantine"])

test_priority_zero_other_tag if count(p.deny) == 0 with input as fw("allow-admin", 0, ["web"])

test_priority_1000 if count(p.deny) == 0 with input as fw("allow-admin", 1000, [])

test_vigil_forensics_rule if count(p.deny) == 0 with input as fw("vigil-quarantine-allow-forensics-prod-vpc", 0, ["vigil-quarantine"])
