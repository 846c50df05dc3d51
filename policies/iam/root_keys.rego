# METADATA
# title: Root user has access keys
# description: |
#   The AWS account's root user has an access key (the account summary's
#   AccountAccessKeysPresent, or the root row of the credential report). A
#   leaked root key is the whole account, beyond any policy or SCP.
# custom:
#   id: VGL-KEY-003
#   severity: critical
#   kinds: [account]
#   phase: preparation
#   frameworks: ["cis-aws-3.0:1.4"]
#   evidence:
#     "*": [account.keys|account.active_keys]
package vigil.policies.iam.root_keys

import rego.v1

# keys(f): how many access keys the root user has, active or not. The
# account summary's AccountAccessKeysPresent (facets.keys) counts inactive
# keys too, and CIS 1.4 audits it: an inactive key can be made active again.
keys(f) := max([object.get(f, "keys", 0), object.get(f, "active_keys", 0)])

deny contains finding if {
	input.asset.provider == "aws"
	f := input.asset.facets
	n := keys(f)
	n > 0
	active := object.get(f, "active_keys", n)
	finding := {
		"msg": sprintf("the root user of account %s has %d access key(s) (%d active); delete them and use roles", [input.asset.scope, n, active]),
		"details": {"root_access_keys": n, "active": active},
	}
}
