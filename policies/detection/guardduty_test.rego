package vigil.policies.detection.guardduty_test

import data.vigil.policies.detection.guardduty as p
import rego.v1

account := {"asset": {"provider": "aws", "kind": "account", "scope": "111", "facets": {}}}

test_no_detector if {
	count(p.deny) == 1 with input as account with data.vigil.inventory as {"scopes": {"111": {"assets": 3, "detectors": []}}, "nodes": {}}
}

test_disabled_detector if {
	inv := {"scopes": {"111": {"assets": 3, "detectors": [{"id": "d", "enabled": false}]}}, "nodes": {}}
	count(p.deny) == 1 with input as account with data.vigil.inventory as inv
}

test_enabled_detector if {
	inv := {"scopes": {"111": {"assets": 3, "detectors": [{"id": "d", "enabled": true}]}}, "nodes": {}}
	count(p.deny) == 0 with input as account with data.vigil.inventory as inv
}

test_empty_account if {
	count(p.deny) == 0 with input as account with data.vigil.inventory as {"scopes": {"111": {"assets": 0}}, "nodes": {}}
}
