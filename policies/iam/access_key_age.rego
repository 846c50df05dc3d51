# METADATA
# title: Access key older than max_key_age
# description: |
#   An active AWS access key, or a user-managed GCP service account key,
#   created more than max_key_age days ago (vigil.hcl, default 90). Keys
#   leak into repositories, laptops and CI logs; the older a key, the more
#   places it has been copied to, and the longer a leaked copy works.
# custom:
#   id: VGL-KEY-001
#   severity: medium
#   kinds: [access_key, service_account_key]
#   phase: preparation
#   remediation:
#     aws: leaked-aws-access-key
#   frameworks: ["cis-aws-3.0:1.14", "cis-gcp-3.0:1.7"]
#   evidence:
#     "cis-aws-3.0:1.14": [access_key.created_at]
#     "cis-gcp-3.0:1.7": [service_account_key.created_at]
package vigil.policies.iam.access_key_age

import data.vigil.lib
import rego.v1

max_age := data.vigil.config.max_key_age

active if input.asset.facets.enabled == true

# AWS keys are all user-made; GCP's system-managed keys rotate themselves.
user_managed if input.asset.kind == "access_key"

user_managed if input.asset.facets.key_type == "user_managed"

deny contains finding if {
	active
	user_managed
	created := input.asset.facets.created_at
	age := lib.days_since(created)
	age > max_age
	finding := {
		"msg": sprintf("%s %s%s was created %d days ago (%s); keys must be rotated within %d days", [
			kind_name, input.asset.name, owner, age, created, max_age,
		]),
		"details": {"age_days": age, "created_at": created, "max_key_age": max_age, "finding_key": "age"},
	}
}

kind_name := "access key" if input.asset.kind == "access_key"

kind_name := "service account key" if input.asset.kind == "service_account_key"

owner := sprintf(" of %s", [input.asset.facets.user]) if input.asset.facets.user

owner := "" if not input.asset.facets.user
