# METADATA
# title: User-managed key on the default compute service account
# description: |
#   A user-managed key for the Compute Engine default service account
#   (NUMBER-compute@developer.gserviceaccount.com), which has Editor on the
#   project by default: whoever holds the key file holds the project. Only
#   Google-managed keys should exist for service accounts.
# custom:
#   id: VGL-KEY-006
#   severity: high
#   kinds: [service_account_key]
#   phase: preparation
#   frameworks: ["cis-gcp-3.0:1.4"]
#   evidence:
#     "*": [service_account_key.key_type]
#   partial:
#     "cis-gcp-3.0:1.4": user-managed keys of the default compute service account only, not of every service account
package vigil.policies.iam.default_sa_keys

import rego.v1

deny contains finding if {
	input.asset.facets.key_type == "user_managed"
	sa := input.asset.facets.user
	endswith(sa, "-compute@developer.gserviceaccount.com")
	finding := {
		"msg": sprintf("service account key %s is a user-managed key of the default compute service account %s", [input.asset.name, sa]),
		"details": {"service_account": sa},
	}
}
