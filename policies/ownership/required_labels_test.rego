package vigil.policies.ownership.required_labels_test

import data.vigil.policies.ownership.required_labels as p
import rego.v1

cfg := {"required_labels": ["owner", "env"]}

test_missing_one if {
	inp := {"asset": {"kind": "bucket", "name": "b", "labels": {"owner": "alice"}}}
	res := p.deny with input as inp with data.vigil.config as cfg
	some f in res
	f.details.missing == ["env"]
}

test_empty_value_counts_as_missing if {
	inp := {"asset": {"kind": "instance", "name": "vm", "labels": {"owner": "", "env": "prod"}}}
	count(p.deny) == 1 with input as inp with data.vigil.config as cfg
}

test_all_present if {
	inp := {"asset": {"kind": "instance", "name": "vm", "labels": {"owner": "alice", "env": "prod"}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}

test_no_requirement if {
	inp := {"asset": {"kind": "instance", "name": "vm", "labels": {}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as {"required_labels": []}
}
