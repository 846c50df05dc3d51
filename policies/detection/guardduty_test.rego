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

test_region_without_detector if {
	inv := {"scopes": {"111": {"assets": 5, "detectors": [{"id": "d", "region": "eu-west-1", "enabled": true, "type": "AWS::GuardDuty::Detector"}], "regions": {"eu-west-1": {"assets": 3, "instances": 1}, "us-east-1": {"assets": 2, "instances": 0}}}}, "nodes": {}}
	res := p.deny with input as account with data.vigil.inventory as inv
	count(res) == 1
	some f in res
	f.details.regions_without_guardduty == ["us-east-1 (2 assets)"]
}

test_every_region_covered if {
	inv := {"scopes": {"111": {"assets": 3, "detectors": [{"id": "d", "region": "eu-west-1", "enabled": true}], "regions": {"eu-west-1": {"assets": 3, "instances": 1}}}}, "nodes": {}}
	count(p.deny) == 0 with input as account with data.vigil.inventory as inv
}

test_security_hub_is_not_guardduty if {
	inv := {"scopes": {"111": {"assets": 3, "detectors": [{"id": "h", "region": "eu-west-1", "enabled": true, "type": "AWS::SecurityHub::Hub"}]}}, "nodes": {}}
	count(p.deny) == 1 with input as account with data.vigil.inventory as inv
}
