# METADATA
# title: Audit logs not exported to a central project
# description: |
#   No enabled log sink takes the project's audit logs to another project:
#   neither an aggregated sink (includeChildren) on a folder or the
#   organization above it, nor a sink of the project itself, whose filter is
#   empty or selects every audit log: only logName:"...cloudaudit..." or
#   LOG_ID("cloudaudit...") terms joined by OR, naming the audit logs as a
#   whole or each of activity, data_access, system_event and policy. A
#   filter that negates or narrows them (NOT, -, AND, other terms) does not
#   count: vigil cannot tell it keeps every audit entry. Logs that live
#   only in the project can be deleted by whoever compromises it, and
#   expire. CIS GCP 2.2 asks something else, a sink with an empty filter
#   anywhere: a finding breaks 2.2 (details.controls) only when no enabled
#   sink of the project, or aggregated above it, has an empty filter.
# custom:
#   id: VGL-LOG-006
#   severity: medium
#   kinds: [project]
#   phase: investigation
#   frameworks: ["cis-gcp-3.0:2.2"]
#   partial:
#     "cis-gcp-3.0:2.2": audit logs exported to another project; a pass of 2.2 needs an empty-filter sink, which vigil does not assert
package vigil.policies.logging.aggregated_sink

import data.vigil.lib
import rego.v1

audit_filter(f) if trim_space(f) == ""

audit_term := `(?i)logName\s*[:=]\s*"[^"]*cloudaudit\.googleapis\.com(?:%2F|/)?([a-z_]*)"|LOG_ID\(\s*"cloudaudit\.googleapis\.com(?:%2F|/)?([a-z_]*)"\s*\)`

audit_logs := {"activity", "data_access", "system_event", "policy"}

audit_filter(f) if {
	terms := regex.find_all_string_submatch_n(audit_term, f, -1)
	count(terms) > 0
	# nothing else than the terms, OR and parentheses
	regex.replace(regex.replace(f, audit_term, ""), `(?i)\bOR\b|[\s()]`, "") == ""
	logs := {concat("", [t[1], t[2]]) | some t in terms}
	every_audit_log(logs)
}

every_audit_log(logs) if "" in logs

every_audit_log(logs) if every l in audit_logs {
	l in logs
}

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

# all_entries: CIS 2.2's sink, an enabled one with an empty filter, of the
# project or aggregated above it.
all_entries if {
	some s in object.get(lib.scope(input.asset.scope), "sinks", [])
	s.enabled
	trim_space(s.filter) == ""
}

all_entries if {
	some anc in input.asset.facets.ancestors
	not startswith(anc, "projects/")
	some s in object.get(lib.scope(anc), "sinks", [])
	s.include_children == true
	s.enabled
	trim_space(s.filter) == ""
}

controls := [] if all_entries else := ["cis-gcp-3.0:2.2"]

deny contains finding if {
	input.asset.provider == "gcp"
	not lib.planned
	not exported
	finding := {
		"msg": sprintf("project %s: no enabled sink exports all its audit logs to another project (aggregated on a folder or the organization, or its own)", [input.asset.name]),
		"details": {"controls": controls},
	}
}
