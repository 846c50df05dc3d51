package vigil.policies.logging.aggregated_sink_test

import data.vigil.policies.logging.aggregated_sink as p
import rego.v1

proj := {"asset": {"provider": "gcp", "kind": "project", "name": "acme-prod", "scope": "acme-prod", "facets": {"project_number": "402", "ancestors": ["projects/402", "folders/5", "organizations/9"]}}}

org_sink(filter, children) := {"id": "s", "name": "audit-to-sec", "filter": filter, "destination": "logging.googleapis.com/projects/acme-sec/locations/global/buckets/audit", "enabled": true, "include_children": children}

test_no_sink if count(p.deny) == 1 with input as proj with data.vigil.inventory as {"scopes": {}, "nodes": {}}

test_org_aggregated_sink if {
	inv := {"scopes": {"organizations/9": {"sinks": [org_sink("logName:\"cloudaudit.googleapis.com\"", true)]}}, "nodes": {}}
	count(p.deny) == 0 with input as proj with data.vigil.inventory as inv
}

test_org_sink_without_children if {
	inv := {"scopes": {"organizations/9": {"sinks": [org_sink("", false)]}}, "nodes": {}}
	count(p.deny) == 1 with input as proj with data.vigil.inventory as inv
}

test_sink_of_other_logs if {
	inv := {"scopes": {"folders/5": {"sinks": [org_sink("resource.type=\"gce_instance\"", true)]}}, "nodes": {}}
	count(p.deny) == 1 with input as proj with data.vigil.inventory as inv
}

test_default_sink_stays_home if {
	own := {"id": "d", "name": "_Default", "filter": "", "destination": "logging.googleapis.com/projects/acme-prod/locations/global/buckets/_Default", "enabled": true}
	count(p.deny) == 1 with input as proj with data.vigil.inventory as {"scopes": {"acme-prod": {"sinks": [own]}}, "nodes": {}}
}
