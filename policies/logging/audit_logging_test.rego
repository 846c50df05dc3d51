package vigil.policies.logging.audit_logging_test

import data.vigil.policies.logging.audit_logging as p
import rego.v1

all_types := [{"service": "allServices", "log_types": ["ADMIN_READ", "DATA_READ", "DATA_WRITE"]}]

project(facets) := {"asset": {"provider": "gcp", "kind": "project", "name": "p", "scope": "p", "facets": facets}}

test_project_with_full_audit_logs if {
	inp := project({"ancestors": ["projects/1"], "audit_configs": all_types})
	count(p.deny) == 0 with input as inp with data.vigil.inventory as {"scopes": {}, "nodes": {}}
}

test_project_without_audit_logs if {
	res := p.deny with input as project({"ancestors": ["projects/1"]}) with data.vigil.inventory as {"scopes": {}, "nodes": {}}
	some f in res
	f.details.missing == ["ADMIN_READ", "DATA_READ", "DATA_WRITE"]
}

test_inherited_from_organization if {
	inv := {"scopes": {}, "nodes": {"organizations/9": {"audit_configs": all_types}}}
	count(p.deny) == 0 with input as project({"ancestors": ["projects/1", "organizations/9"]}) with data.vigil.inventory as inv
}

test_union_of_levels if {
	inv := {"scopes": {}, "nodes": {"folders/2": {"audit_configs": [{"service": "allServices", "log_types": ["DATA_READ", "DATA_WRITE"]}]}}}
	inp := project({"ancestors": ["projects/1", "folders/2"], "audit_configs": [{"service": "allServices", "log_types": ["ADMIN_READ"]}]})
	count(p.deny) == 0 with input as inp with data.vigil.inventory as inv
}

test_other_service_does_not_count if {
	inp := project({"ancestors": ["projects/1"], "audit_configs": [{"service": "storage.googleapis.com", "log_types": ["ADMIN_READ", "DATA_READ", "DATA_WRITE"]}]})
	count(p.deny) == 1 with input as inp with data.vigil.inventory as {"scopes": {}, "nodes": {}}
}

account := {"asset": {"provider": "aws", "kind": "account", "scope": "111", "facets": {}}}

test_account_without_trail if {
	count(p.deny) == 1 with input as account with data.vigil.inventory as {"scopes": {"111": {"trails": []}}, "nodes": {}}
}

test_planned_account_is_not_judged_for_trails if {
	planned := {"asset": {"provider": "aws", "kind": "account", "scope": "", "name": "acme-dev", "facets": {}, "change": {"action": "create"}}}
	count(p.deny) == 0 with input as planned with data.vigil.inventory as {"scopes": {}, "nodes": {}}
}

test_account_with_logging_multi_region_trail if {
	inv := {"scopes": {"111": {"trails": [{"id": "t", "multi_region": true, "logging": true}]}}, "nodes": {}}
	count(p.deny) == 0 with input as account with data.vigil.inventory as inv
}

test_account_with_single_region_trail_only if {
	inv := {"scopes": {"111": {"trails": [{"id": "t", "multi_region": false, "logging": true}]}}, "nodes": {}}
	count(p.deny) == 1 with input as account with data.vigil.inventory as inv
}

test_account_with_stopped_trail if {
	inv := {"scopes": {"111": {"trails": [{"id": "t", "multi_region": true, "logging": false}]}}, "nodes": {}}
	res := p.deny with input as account with data.vigil.inventory as inv
	count(res) == 1
	some f in res
	contains(f.msg, "none is logging")
}

# A project a Terraform plan creates is judged only on the audit configs
# the plan gives it: without any, the organization's may apply.
test_planned_project_without_audit_configs_is_not_judged if {
	count(p.deny) == 0 with input as {"asset": {"provider": "gcp", "kind": "project", "name": "new-proj", "facets": {}, "change": {"actions": ["create"]}}} with data.vigil.inventory as {"scopes": {}, "nodes": {}}
}

test_planned_project_with_partial_audit_configs_is_judged if {
	count(p.deny) == 1 with input as {"asset": {"provider": "gcp", "kind": "project", "name": "new-proj", "change": {"actions": ["create"]}, "facets": {"audit_configs": [{"service": "allServices", "log_types": ["ADMIN_READ"]}]}}} with data.vigil.inventory as {"scopes": {}, "nodes": {}}
}

# CIS GCP 2.1 fails exemptions: all three log types on allServices, but
# one member exempted from DATA_READ on the organization.
test_exempted_member if {
	full := {"service": "allServices", "log_types": ["ADMIN_READ", "DATA_READ", "DATA_WRITE"]}
	org := {"service": "allServices", "log_types": ["DATA_READ"], "exempted": ["user:bob@example.com"]}
	inp := {"asset": {"provider": "gcp", "kind": "project", "name": "p", "facets": {"ancestors": ["projects/1", "organizations/9"], "audit_configs": [full]}}}
	res := p.deny with input as inp with data.vigil.inventory as {"scopes": {}, "nodes": {"organizations/9": {"audit_configs": [org]}}}
	count(res) == 1
	some f in res
	f.details.exempted == ["user:bob@example.com (allServices)"]
}

acct := {"asset": {"provider": "aws", "kind": "account", "scope": "666", "facets": {}}}

trail(events) := object.union({"id": "t", "name": "t", "multi_region": true, "logging": true}, events)

# aws4 of the review: the only multi-region trail logs, but its selectors
# record read-only data events and no management events: CIS 3.1 fails.
test_trail_without_management_events if {
	res := p.deny with input as acct with data.vigil.inventory as {"scopes": {"666": {"trails": [trail({"management_events": "none"})]}}, "nodes": {}}
	count(res) == 1
	some f in res
	contains(f.msg, "t records none")
}

test_trail_read_only_management if {
	count(p.deny) == 1 with input as acct with data.vigil.inventory as {"scopes": {"666": {"trails": [trail({"management_events": "ReadOnly"})]}}, "nodes": {}}
}

test_trail_all_management if {
	count(p.deny) == 0 with input as acct with data.vigil.inventory as {"scopes": {"666": {"trails": [trail({"management_events": "All"})]}}, "nodes": {}}
}

# No selectors known: a trail records all management events by default.
test_trail_selectors_unknown if {
	count(p.deny) == 0 with input as acct with data.vigil.inventory as {"scopes": {"666": {"trails": [trail({})]}}, "nodes": {}}
}
