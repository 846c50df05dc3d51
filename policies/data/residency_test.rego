package vigil.policies.data.residency_test

import data.vigil.policies.data.residency as p
import rego.v1

cfg := {"residency": {"pii": {"label": "data-class", "regions": ["eu", "eu-*", "europe-*"]}}}

test_pii_in_us if {
	inp := {"asset": {"kind": "bucket", "name": "b", "region": "us", "labels": {"data-class": "pii"}}}
	count(p.deny) == 1 with input as inp with data.vigil.config as cfg
}

test_pii_in_europe if {
	inp := {"asset": {"kind": "instance", "name": "vm", "region": "europe-west1", "labels": {"data-class": "pii"}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}

test_pii_in_eu_multiregion if {
	inp := {"asset": {"kind": "bucket", "name": "b", "region": "eu", "labels": {"data-class": "pii"}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}

test_other_class_ignored if {
	inp := {"asset": {"kind": "bucket", "name": "b", "region": "us", "labels": {"data-class": "public"}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}

test_unlabelled_ignored if {
	inp := {"asset": {"kind": "bucket", "name": "b", "region": "us", "labels": {}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}

test_global_assets_ignored if {
	inp := {"asset": {"kind": "project", "name": "p", "region": "global", "labels": {"data-class": "pii"}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}
