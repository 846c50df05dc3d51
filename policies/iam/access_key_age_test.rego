package vigil.policies.iam.access_key_age_test

import data.vigil.policies.iam.access_key_age as p
import rego.v1

now := time.parse_rfc3339_ns("2026-11-27T09:00:00Z")

cfg := {"max_key_age": 90}

key(kind, created, facets) := {"asset": {"kind": kind, "name": "k", "facets": object.union({"enabled": true, "created_at": created, "user": "ci"}, facets)}}

# 2026-08-28 is 91 days before 2026-11-27.
test_aws_key_91_days if {
	res := p.deny with input as key("access_key", "2026-08-28T09:00:00Z", {}) with data.vigil.config as cfg with data.vigil.clock.now_ns as now
	count(res) == 1
	some f in res
	f.details.age_days == 91
}

test_aws_key_90_days_is_fine if {
	count(p.deny) == 0 with input as key("access_key", "2026-08-29T09:00:00Z", {}) with data.vigil.config as cfg with data.vigil.clock.now_ns as now
}

test_inactive_key_is_fine if {
	count(p.deny) == 0 with input as key("access_key", "2024-01-01T00:00:00Z", {"enabled": false}) with data.vigil.config as cfg with data.vigil.clock.now_ns as now
}

test_gcp_user_managed_key if {
	inp := key("service_account_key", "2025-01-01T00:00:00Z", {"key_type": "user_managed"})
	count(p.deny) == 1 with input as inp with data.vigil.config as cfg with data.vigil.clock.now_ns as now
}

test_gcp_system_managed_key_is_fine if {
	inp := key("service_account_key", "2025-01-01T00:00:00Z", {"key_type": "system_managed"})
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg with data.vigil.clock.now_ns as now
}

test_max_age_from_config if {
	count(p.deny) == 1 with input as key("access_key", "2026-11-01T09:00:00Z", {}) with data.vigil.config as {"max_key_age": 20} with data.vigil.clock.now_ns as now
}
