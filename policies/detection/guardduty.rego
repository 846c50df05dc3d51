# METADATA
# title: Threat detection switched off
# description: |
#   An AWS account that has assets but no enabled GuardDuty detector, or
#   whose detectors leave out regions that hold assets (GuardDuty is
#   regional): nobody would be told of credential abuse, crypto-mining or
#   exfiltration there.
# custom:
#   id: VGL-DET-001
#   severity: high
#   kinds: [account]
#   phase: identification
package vigil.policies.detection.guardduty

import data.vigil.lib
import rego.v1

info := lib.scope(input.asset.scope)

guardduty(d) if not d.type

guardduty(d) if d.type == "AWS::GuardDuty::Detector"

enabled := [d | some d in object.get(info, "detectors", []); guardduty(d); d.enabled == true]

deny contains finding if {
	input.asset.provider == "aws"
	not lib.planned
	input.asset.kind == "account"
	object.get(info, "assets", 0) > 0
	count(enabled) == 0
	finding := {
		"msg": sprintf("account %s has %d assets but no enabled GuardDuty detector", [input.asset.scope, info.assets]),
		"details": {"detectors": [d.id | some d in object.get(info, "detectors", []); guardduty(d)]},
	}
}

covered := {d.region | some d in enabled}

uncovered := sort([sprintf("%s (%d assets)", [r, c.assets]) |
	some r, c in object.get(info, "regions", {})
	c.assets > 0
	not r in covered
])

deny contains finding if {
	input.asset.provider == "aws"
	not lib.planned
	count(enabled) > 0
	count(uncovered) > 0
	finding := {
		"msg": sprintf("account %s has GuardDuty in %s but not in %s", [input.asset.scope, concat(", ", sort(covered)), concat(", ", uncovered)]),
		"details": {"regions_without_guardduty": uncovered},
	}
}
