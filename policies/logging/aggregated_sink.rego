# METADATA
# title: Audit logs not exported to a central project
# description: |
#   No enabled log sink takes the project's audit logs to another project:
#   neither an aggregated sink (includeChildren) on a folder or the
#   organization above it, nor a sink of the project itself, whose filter is
#   empty or selects cloudaudit.googleapis.com. Logs that live only in the
#   project can be deleted by whoever compromises it, and expire.
# custom:
#   id: VGL-LOG-006
#   severity: medium
#   kinds: [project]
#   phase: investigation
#   frameworks: ["cis-gcp-3.0:2.2"]
package vigil.policies.logging.aggregated_sink

import data.vigil.lib
import rego.v1

audit_filter(f) if f == ""

audit_filter(f) if contains(f, "cloudaudit.googleapis.com")

# A destination in the project itself (its _Default and _Required sinks)
# is not central.
elsewhere(dest) if {
	not contains(dest, sprintf("projects/%s/", [input.asset.name]))
	not contains(dest, sprintf("projects/%s/", [input.asset.facets.project_number]))
}

central(s) if {
	s.enabled
	audit_filter(s.filter)
	elsewhere(s.destination)
}

exported if {
	some anc in input.asset.facets.ancestors
	not startswith(anc, "projects/")
	some s in object.get(lib.scope(anc), "sinks", [])
	s.include_children == true
	central(s)
}

exported if {
	some s in object.get(lib.scope(input.asset.scope), "sinks", [])
	central(s)
}

deny contains finding if {
	input.asset.provider == "gcp"
	not lib.planned
	not exported
	finding := {
		"msg": sprintf("project %s: no enabled sink exports its audit logs to another project (aggregated on a folder or the organization, or its own)", [input.asset.name]),
		"details": {},
	}
}
