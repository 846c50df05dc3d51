package vigil.policies.iam.access_key_unused_test

import data.vigil.policies.iam.access_key_unused as p
import rego.v1

now := time.parse_rfc3339_ns("2026-11-27T09:00:00Z")

cfg := {"max_key_idle": 45}

key(facets) := {"asset": {"kind": "access_key", "name": "AKIA1", "facets": object.union({"enabled": true, "user": "ci", "created_at": "2025-01-01T00:00:00Z"}, facets)}}

# 2026-10-12 is 46 days before 2026-11-27.
test_unused_46_days if {
	res := p.deny with input as key({"last_used": "2026-10-12T09:00:00Z"}) with data.vigil.config as cfg with data.vigil.clock.now_ns as now
	some f in res
	f.details.idle_days == 46
}

# CIS 1.12: "45 days or greater". 2026-10-13 is 45 days before 2026-11-27
# (18 days left of October, 27 of November).
test_used_45_days_ago if {
	res := p.deny with input as key({"last_used": "2026-10-13T09:00:00Z"}) with data.vigil.config as cfg with data.vigil.clock.now_ns as now
	some f in res
	f.details.idle_days == 45
}

test_used_44_days_ago_is_fine if {
	count(p.deny) == 0 with input as key({"last_used": "2026-10-14T09:00:00Z"}) with data.vigil.config as cfg with data.vigil.clock.now_ns as now
}

test_never_used_old_key if {
	res := p.deny with input as key({}) with data.vigil.config as cfg with data.vigil.clock.now_ns as now
	some f in res
	contains(f.msg, "never used")
}

test_never_used_new_key_is_fine if {
	count(p.deny) == 0 with input as key({"created_at": "2026-11-20T00:00:00Z"}) with data.vigil.config as cfg with data.vigil.clock.now_ns as now
}

test_inactive_is_fine if {
	count(p.deny) == 0 with input as key({"enabled": false, "last_used": "2024-01-01T00:00:00Z"}) with data.vigil.config as cfg with data.vigil.clock.now_ns as now
}
