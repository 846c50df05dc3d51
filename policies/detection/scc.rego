# METADATA
# title: Security Command Center API off
# description: |
#   A GCP project with assets whose enabled services (serviceusage, in the
#   inventory) do not include securitycenter.googleapis.com: the provider's
#   own findings, the early warning responders rely on, are not delivered
#   there. Silent when the inventory lists no services for the project.
# custom:
#   id: VGL-DET-002
#   severity: medium
#   kinds: [project]
#   phase: identification
package vigil.policies.detection.scc

import data.vigil.lib
import rego.v1

info := lib.scope(input.asset.scope)

enabled(services) if services["securitycenter.googleapis.com"] == true

deny contains finding if {
	input.asset.provider == "gcp"
	not lib.planned
	services := object.get(info, "services", null)
	is_object(services)
	object.get(info, "assets", 0) > 0
	not enabled(services)
	finding := {
		"msg": sprintf("project %s does not enable securitycenter.googleapis.com (%d services enabled)", [input.asset.name, count([s | some s, on in services; on])]),
		"details": {},
	}
}
