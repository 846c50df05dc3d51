# METADATA
# title: Threat detection switched off
# description: |
#   An AWS account that has assets but no enabled GuardDuty detector: nobody
#   would be told of credential abuse, crypto-mining or exfiltration.
# custom:
#   id: VGL-DET-001
#   severity: high
#   kinds: [account]
#   phase: identification
#   frameworks: ["CIS AWS 4.15"]
package vigil.policies.detection.guardduty

import data.vigil.lib
import rego.v1

info := lib.scope(input.asset.scope)

enabled := [d | some d in object.get(info, "detectors", []); d.enabled == true]

deny contains finding if {
	input.asset.provider == "aws"
	input.asset.kind == "account"
	object.get(info, "assets", 0) > 0
	count(enabled) == 0
	finding := {
		"msg": sprintf("account %s has %d assets but no enabled GuardDuty detector", [input.asset.scope, info.assets]),
		"details": {"detectors": [d.id | some d in object.get(info, "detectors", [])]},
	}
}
