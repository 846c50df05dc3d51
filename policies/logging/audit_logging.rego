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

unknown_note := " (logging status not in the inventory)" if {
	some t in multi_region
	not is_boolean(object.get(t, "logging", null))
} else := ""
