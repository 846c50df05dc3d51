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

own_sink(filter, dest) := {"id": "s", "name": "s", "filter": filter, "destination": dest, "enabled": true}

other := "storage.googleapis.com/other-bucket"

in_project(sink) := {"scopes": {"acme-prod": {"sinks": [sink]}}, "nodes": {}}

# gcp2 p-c of the review: a filter that excludes the audit logs.
test_negated_audit_filter if {
	f := `NOT logName:"projects/acme-prod/logs/cloudaudit.googleapis.com%2Fdata_access" AND NOT logName:"projects/acme-prod/logs/cloudaudit.googleapis.com%2Factivity"`
	count(p.deny) == 1 with input as proj with data.vigil.inventory as in_project(own_sink(f, other))
}

# p-d: activity only leaves data_access, system_event and policy out.
test_activity_only if {
	f := `logName:"projects/acme-prod/logs/cloudaudit.googleapis.com%2Factivity"`
	res := p.deny with input as proj with data.vigil.inventory as in_project(own_sink(f, other))
	some r in res
	r.details.controls == ["cis-gcp-3.0:2.2"]
}

test_each_audit_log_named if {
	f := `logName:"projects/acme-prod/logs/cloudaudit.googleapis.com%2Factivity" OR logName:"projects/acme-prod/logs/cloudaudit.googleapis.com%2Fdata_access" OR (LOG_ID("cloudaudit.googleapis.com/system_event") OR LOG_ID("cloudaudit.googleapis.com/policy"))`
	count(p.deny) == 0 with input as proj with data.vigil.inventory as in_project(own_sink(f, other))
}

test_narrowed_audit_filter if {
	f := `logName:"projects/acme-prod/logs/cloudaudit.googleapis.com" severity>=ERROR`
	count(p.deny) == 1 with input as proj with data.vigil.inventory as in_project(own_sink(f, other))
}

# p-e: an empty filter to its own bucket. vigil's finding stands (the
# logs stay home), but it does not break CIS 2.2, which that sink meets.
test_empty_filter_at_home_meets_cis if {
	res := p.deny with input as proj with data.vigil.inventory as in_project(own_sink("", "logging.googleapis.com/projects/acme-prod/locations/global/buckets/keep"))
	some r in res
	r.details.controls == []
}
