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
package vigil.policies.iam.root_keys

import rego.v1

deny contains finding if {
	input.asset.provider == "aws"
	n := input.asset.facets.active_keys
	n > 0
	finding := {
		"msg": sprintf("the root user of account %s has %d access key(s); delete them and use roles", [input.asset.scope, n]),
		"details": {"root_access_keys": n},
	}
}
