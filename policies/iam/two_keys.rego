# METADATA
# title: IAM user with two active access keys
# description: |
#   An IAM user has both of its access keys active. Two live keys mean one
#   was not retired at rotation, and a revocation during an incident may
#   miss the copy the attacker holds.
# custom:
#   id: VGL-KEY-004
#   severity: medium
#   kinds: [user]
#   phase: preparation
#   frameworks: ["cis-aws-3.0:1.13"]
#   evidence:
#     "*": [user.active_keys]
package vigil.policies.iam.two_keys

import rego.v1

deny contains finding if {
	input.asset.provider == "aws"
	n := input.asset.facets.active_keys
	n > 1
	finding := {
		"msg": sprintf("IAM user %s has %d active access keys; keep one", [input.asset.name, n]),
		"details": {"active_keys": n},
	}
}
