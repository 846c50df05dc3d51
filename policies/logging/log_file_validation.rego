# METADATA
# title: CloudTrail log file validation off
# description: |
#   A CloudTrail trail does not write digest files: whoever gets write
#   access to the trail's bucket can change or delete log files and nobody
#   can tell. Investigations need logs they can prove are untouched.
# custom:
#   id: VGL-LOG-002
#   severity: medium
#   kinds: [trail]
#   phase: investigation
#   frameworks: ["cis-aws-3.0:3.2"]
#   evidence:
#     "*": [trail.validation]
package vigil.policies.logging.log_file_validation

import rego.v1

deny contains finding if {
	input.asset.facets.validation == false
	finding := {
		"msg": sprintf("trail %s does not validate its log files (LogFileValidationEnabled is false)", [input.asset.name]),
		"details": {},
	}
}
