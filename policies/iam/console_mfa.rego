# METADATA
# title: Console user without MFA
# description: |
#   An IAM user can sign in to the console with a password and has no MFA
#   device (credential report: password_enabled, mfa_active). A phished or
#   reused password is then enough.
# custom:
#   id: VGL-KEY-005
#   severity: high
#   kinds: [user]
#   phase: preparation
#   frameworks: ["cis-aws-3.0:1.10"]
#   evidence:
#     "*": [user.console]
package vigil.policies.iam.console_mfa

import rego.v1

deny contains finding if {
	input.asset.provider == "aws"
	input.asset.facets.console == true
	input.asset.facets.mfa == false
	finding := {
		"msg": sprintf("IAM user %s has a console password but no MFA device", [input.asset.name]),
		"details": {"console": true, "mfa": false},
	}
}
