# METADATA
# title: Audit logging switched off
# description: |
#   Without audit logs there is no investigation. GCP: the project (or an
#   ancestor in the inventory) does not enable Data Access audit logs
#   (ADMIN_READ, DATA_READ and DATA_WRITE for allServices). AWS: the account
#   has no multi-region CloudTrail trail that is logging.
# custom:
#   id: VGL-LOG-001
#   severity: high
#   kinds: [project, account]
#   phase: preparation
#   frameworks: ["cis-gcp-3.0:2.1", "cis-aws-3.0:3.1"]
package vigil.policies.logging.audit_logging

import data.vigil.lib
import rego.v1

required := {"ADMIN_READ", "DATA_READ", "DATA_WRITE"}

enabled := {t |
	some c in lib.audit_configs(input.asset.facets)
	c.service == "allServices"
	some t in c.log_types
}

# A project in a Terraform plan is judged on the audit configs the plan
# gives it; without any, the organization's (not in the plan) may apply.
gcp_judged if not lib.planned

gcp_judged if count(lib.audit_configs(input.asset.facets)) > 0

deny contains finding if {
	input.asset.provider == "gcp"
	input.asset.kind == "project"
	gcp_judged
	missing := required - enabled
	count(missing) > 0
	finding := {
		"msg": sprintf("project %s does not enable %s audit logs for allServices, on itself or an ancestor in the inventory", [input.asset.name, concat(", ", sort(missing))]),
		"details": {"missing": sort(missing)},
	}
}

# CIS GCP 2.1 also asks that no member be exempted from audit logging:
# an exempted member's calls leave no trace.
exempted contains sprintf("%s (%s)", [m, c.service]) if {
	some c in lib.audit_configs(input.asset.facets)
	some m in object.get(c, "exempted", [])
}

deny contains finding if {
	input.asset.provider == "gcp"
	input.asset.kind == "project"
	count(exempted) > 0
	finding := {
		"msg": sprintf("project %s exempts members from audit logging, on itself or an ancestor: %s", [input.asset.name, concat(", ", sort(exempted))]),
		"details": {"exempted": sort(exempted)},
	}
}

trails := object.get(lib.scope(input.asset.scope), "trails", [])

multi_region := [t | some t in trails; t.multi_region == true]

deny contains finding if {
	input.asset.provider == "aws"
	input.asset.kind == "account"
	not lib.planned
	count(multi_region) == 0
	finding := {
		"msg": sprintf("account %s has no multi-region CloudTrail trail (%d trails in the inventory)", [input.asset.scope, count(trails)]),
		"details": {"trails": [t.id | some t in trails]},
	}
}

deny contains finding if {
	input.asset.provider == "aws"
	input.asset.kind == "account"
	not lib.planned
	count(multi_region) > 0
	not any_logging
	finding := {
		"msg": sprintf("account %s has multi-region CloudTrail trails, but none is logging%s", [input.asset.scope, unknown_note]),
		"details": {"trails": [t.id | some t in multi_region]},
	}
}

any_logging if {
	some t in multi_region
	t.logging == true
}

# CIS AWS 3.1 also asks the multi-region trail to record management
# events, read and write: its event selectors (management_events, absent
# when the trail has none, which records them all).
all_management(t) if not t.management_events

all_management(t) if t.management_events == "All"

deny contains finding if {
	input.asset.provider == "aws"
	input.asset.kind == "account"
	not lib.planned
	any_logging
	not any_complete
	finding := {
		"msg": sprintf("account %s: no logging multi-region CloudTrail trail records all management events (read and write): %s", [input.asset.scope, concat(", ", sort([sprintf("%s records %s", [t.name, t.management_events]) | some t in multi_region; t.logging == true]))]),
		"details": {"trails": [t.id | some t in multi_region; t.logging == true]},
	}
}

any_complete if {
	some t in multi_region
	t.logging == true
	all_management(t)
}

unknown_note := " (logging status not in the inventory)" if {
	some t in multi_region
	not is_boolean(object.get(t, "logging", null))
} else := ""
