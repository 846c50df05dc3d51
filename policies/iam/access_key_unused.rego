# METADATA
# title: Active access key unused for max_key_idle days
# description: |
#   An active AWS access key not used for max_key_idle days or more
#   (vigil.hcl, default 45; CIS 1.12: "45 days or greater"), or never
#   used and created that long ago.
#   Nobody misses a key nobody uses; an attacker who finds it has a key
#   nobody watches.
# custom:
#   id: VGL-KEY-002
#   severity: medium
#   kinds: [access_key]
#   phase: preparation
#   remediation:
#     aws: leaked-aws-access-key
#   frameworks: ["cis-aws-3.0:1.12"]
#   evidence:
#     "*": [access_key.last_used|access_key.created_at]
#   partial:
#     "cis-aws-3.0:1.12": active access keys unused for max_key_idle days, not unused console passwords
package vigil.policies.iam.access_key_unused

import data.vigil.lib
import rego.v1

idle := data.vigil.config.max_key_idle

deny contains finding if {
	input.asset.facets.enabled == true
	last := input.asset.facets.last_used
	days := lib.days_since(last)
	days >= idle
	finding := {
		"msg": sprintf("access key %s of %s was last used %d days ago (%s); keys unused for %d days must be disabled", [
			input.asset.name, input.asset.facets.user, days, last, idle,
		]),
		"details": {"idle_days": days, "last_used": last, "max_key_idle": idle, "finding_key": "idle"},
	}
}

deny contains finding if {
	input.asset.facets.enabled == true
	not input.asset.facets.last_used
	created := input.asset.facets.created_at
	days := lib.days_since(created)
	days >= idle
	finding := {
		"msg": sprintf("access key %s of %s was never used since it was created %d days ago (%s)", [
			input.asset.name, input.asset.facets.user, days, created,
		]),
		"details": {"idle_days": days, "created_at": created, "max_key_idle": idle, "finding_key": "idle"},
	}
}
