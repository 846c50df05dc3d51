package vigil.policies.ownership.scope_labels_test

import data.vigil.policies.ownership.scope_labels as p
import rego.v1

cfg := {"scope_labels": ["owner", "purpose"]}

test_project_without_purpose if {
	inp := {"asset": {"kind": "project", "name": "acme-sandbox", "labels": {"owner": "j.doe"}, "facets": {}}}
	res := p.deny with input as inp with data.vigil.config as cfg
	some f in res
	f.details.missing == ["purpose"]
}

test_account_without_tags if {
	inp := {"asset": {"kind": "account", "name": "111111111111", "labels": {}, "facets": {}}}
	res := p.deny with input as inp with data.vigil.config as cfg
	some f in res
	f.details.missing == ["owner", "purpose"]
}

test_labelled if {
	inp := {"asset": {"kind": "project", "name": "acme-prod", "labels": {"owner": "platform", "purpose": "shop"}, "facets": {}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}

test_synthesized_account_is_not_judged if {
	inp := {"asset": {"kind": "account", "name": "222222222222", "labels": {}, "facets": {"synthesized": true}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}
