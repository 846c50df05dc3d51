# METADATA
# title: Service account with Owner or Editor
# description: |
#   A service account holds roles/owner or roles/editor on the project or an
#   ancestor in the inventory. Whoever runs as it, or holds one of its keys,
#   can change anything in the project. Google's service agents
#   (NUMBER@cloudservices.gserviceaccount.com, service-NUMBER@...) are not
#   counted: Google manages them.
# custom:
#   id: VGL-IAM-003
#   severity: high
#   kinds: [project]
#   phase: preparation
#   frameworks: ["cis-gcp-3.0:1.5"]
package vigil.policies.iam.sa_admin

import data.vigil.lib
import rego.v1

admin_roles := {"roles/owner", "roles/editor"}

service_agent(email) if endswith(email, "@cloudservices.gserviceaccount.com")

service_agent(email) if startswith(email, "service-")

grants contains sprintf("%s has %s", [m, b.role]) if {
	some b in lib.bindings(input.asset.facets)
	b.role in admin_roles
	some m in b.members
	startswith(m, "serviceAccount:")
	not service_agent(substring(m, 15, -1))
}

deny contains finding if {
	input.asset.provider == "gcp"
	count(grants) > 0
	finding := {
		"msg": sprintf("project %s: %s", [input.asset.name, concat("; ", sort(grants))]),
		"details": {"grants": sort(grants)},
	}
}
