package vigil.policies.network.egress_all_test

import data.vigil.policies.network.egress_all as p
import rego.v1

cfg := {"residency": {"pii": {"label": "data-class", "regions": ["europe-*"]}}}

all_rule := {"sources": ["0.0.0.0/0"], "protocol": "all", "ports": [{"from": 0, "to": 65535}], "action": "allow", "enabled": true}

fw(rule, inherited) := {"asset": {"provider": "gcp", "kind": "firewall", "name": "egress", "labels": {}, "facets": {"egress": [rule], "inherited": inherited}}}

pii := [{"node": "projects/1", "labels": {"data-class": "pii"}}]

test_egress_all_in_pii_project if count(p.deny) == 1 with input as fw(all_rule, pii) with data.vigil.config as cfg

test_egress_all_in_unclassified_project if count(p.deny) == 0 with input as fw(all_rule, []) with data.vigil.config as cfg

test_egress_https_only if {
	rule := object.union(all_rule, {"protocol": "tcp", "ports": [{"from": 443, "to": 443}]})
	count(p.deny) == 0 with input as fw(rule, pii) with data.vigil.config as cfg
}

test_egress_deny_all if count(p.deny) == 0 with input as fw(object.union(all_rule, {"action": "deny"}), pii) with data.vigil.config as cfg
