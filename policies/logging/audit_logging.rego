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
#   frameworks: ["CIS GCP 2.1", "CIS AWS 3.1"]
package vigil.policies.logging.audit_logging

import data.vigil.lib
import rego.v1

required := {"ADMIN_READ", "DATA_READ", "DATA_WRITE"}

enabled := {t |
	some c in lib.audit_configs(input.asset.facets)
	c.service == "allServices"
	some t in c.log_types
}

deny contains finding if {
	input.asset.provider == "gcp"
	input.asset.kind == "project"
	missing := required - enabled
	count(missing) > 0
	finding := {
		"msg": sprintf("project %s does not enable %s audit logs for allServices, on itself or an ancestor in the inventory", [input.asset.name, concat(", ", sort(missing))]),
		"details": {"missing": sort(missing)},
	}
}

trails := object.get(lib.scope(input.asset.scope), "trails", [])

# A planned account (aws_organizations_account in a Terraform plan) is a
# new account: its trails (an organization trail, or its own baseline) are
# not in the plan, so there is nothing to judge yet.
planned if input.asset.change

multi_region := [t | some t in trails; t.multi_region == true]

deny contains finding if {
	input.asset.provider == "aws"
	input.asset.kind == "account"
	not planned
	count(multi_region) == 0
	finding := {
		"msg": sprintf("account %s has no multi-region CloudTrail trail (%d trails in the inventory)", [input.asset.scope, count(trails)]),
		"details": {"trails": [t.id | some t in trails]},
	}
}

deny contains finding if {
	input.asset.provider == "aws"
	input.asset.kind == "account"
	not planned
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
