package vigil.policies.data.residency_test

import data.vigil.policies.data.residency as p
import rego.v1

cfg := {"residency": {"pii": {"label": "data-class", "regions": ["eu", "eu-*", "europe-*"]}}}

test_pii_in_us if {
	inp := {"asset": {"kind": "bucket", "name": "b", "region": "us", "labels": {"data-class": "pii"}, "facets": {}}}
	count(p.deny) == 1 with input as inp with data.vigil.config as cfg
}

test_pii_in_europe if {
	inp := {"asset": {"kind": "instance", "name": "vm", "region": "europe-west1", "labels": {"data-class": "pii"}, "facets": {}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}

test_pii_in_eu_multiregion if {
	inp := {"asset": {"kind": "bucket", "name": "b", "region": "eu", "labels": {"data-class": "pii"}, "facets": {}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}

test_other_class_ignored if {
	inp := {"asset": {"kind": "bucket", "name": "b", "region": "us", "labels": {"data-class": "public"}, "facets": {}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}

test_unlabelled_ignored if {
	inp := {"asset": {"kind": "bucket", "name": "b", "region": "us", "labels": {}, "facets": {}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}

test_global_assets_ignored if {
	inp := {"asset": {"kind": "project", "name": "p", "region": "global", "labels": {"data-class": "pii"}, "facets": {}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}

project_pii := [{"node": "projects/1", "labels": {"data-class": "pii"}}]

# The case of issue 19: a VM with no label of its own, in a project
# labelled pii, moved to us-central1.
test_vm_inherits_project_class if {
	inp := {"asset": {"kind": "instance", "name": "vm", "region": "us-central1", "labels": {}, "facets": {"inherited": project_pii}}}
	res := p.deny with input as inp with data.vigil.config as cfg
	count(res) == 1
	some f in res
	f.details.from == "projects/1"
	contains(f.msg, "inherited from projects/1")
}

test_own_label_beats_project if {
	inp := {"asset": {"kind": "instance", "name": "vm", "region": "us-central1", "labels": {"data-class": "public"}, "facets": {"inherited": project_pii}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}

test_folder_when_project_has_none if {
	chain := [{"node": "projects/1", "labels": {"env": "prod"}}, {"node": "folders/2", "labels": {"data-class": "pii"}}]
	inp := {"asset": {"kind": "disk", "name": "d", "region": "us-east1", "labels": {}, "facets": {"inherited": chain}}}
	res := p.deny with input as inp with data.vigil.config as cfg
	some f in res
	f.details.from == "folders/2"
}

test_project_before_folder if {
	chain := [{"node": "projects/1", "labels": {"data-class": "public"}}, {"node": "folders/2", "labels": {"data-class": "pii"}}]
	inp := {"asset": {"kind": "disk", "name": "d", "region": "us-east1", "labels": {}, "facets": {"inherited": chain}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}

# A subnet holds no data: the project's class does not speak for it.
test_subnet_does_not_inherit if {
	inp := {"asset": {"kind": "subnet", "name": "s", "region": "us-central1", "labels": {}, "facets": {"inherited": project_pii}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}

test_value_case_insensitive if {
	inp := {"asset": {"kind": "bucket", "name": "b", "region": "us-east-1", "labels": {"data-class": "PII"}, "facets": {}}}
	count(p.deny) == 1 with input as inp with data.vigil.config as cfg
}

two := {"residency": {"pii": {"label": "data-class", "regions": ["europe-*"]}, "secret": {"label": "sensitivity", "regions": ["europe-west3"]}}}

# With two residency labels the first in name order wins: data-class.
test_two_labels_name_order if {
	inp := {"asset": {"kind": "bucket", "name": "b", "region": "europe-west1", "labels": {"data-class": "pii", "sensitivity": "secret"}, "facets": {}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as two
}

test_two_labels_inherited if {
	chain := [{"node": "projects/1", "labels": {"sensitivity": "secret"}}]
	inp := {"asset": {"kind": "disk", "name": "d", "region": "europe-west1", "labels": {}, "facets": {"inherited": chain}}}
	res := p.deny with input as inp with data.vigil.config as two
	some f in res
	f.details.class == "secret"
}

# Review bug 3: an own label with an empty value is no class: the VM
# inherits the project's pii and, in us-central1, violates (as the triage
# card reads it).
test_empty_own_label_inherits if {
	inp := {"asset": {"kind": "instance", "name": "vm", "region": "us-central1", "labels": {"data-class": ""}, "facets": {"inherited": project_pii}}}
	res := p.deny with input as inp with data.vigil.config as cfg
	count(res) == 1
	some f in res
	f.details.from == "projects/1"
}
