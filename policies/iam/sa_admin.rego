# METADATA
# title: Service account with admin privileges
# description: |
#   A service account holds roles/owner, roles/editor or an administrator
#   role (a role whose name has "admin", such as roles/iam.securityAdmin:
#   CIS GCP 1.5 and Prowler count them alike) on the project or an ancestor
#   in the inventory. Whoever runs as it, or holds one of its keys, can
#   change anything the role covers. Google's service agents are not
#   counted, Google manages them: NUMBER@cloudservices.gserviceaccount.com
#   and service-NUMBER@ a Google service's domain (gcp-sa-SERVICE, or a
#   legacy one such as compute-system); an account a user created
#   (NAME@PROJECT.iam.gserviceaccount.com) counts whatever its name.
# custom:
#   id: VGL-IAM-003
#   severity: high
#   kinds: [project]
#   phase: preparation
#   frameworks: ["cis-gcp-3.0:1.5"]
#   evidence:
#     "*": [project.bindings]
package vigil.policies.iam.sa_admin

import data.vigil.lib
import rego.v1

admin(role) if role in {"roles/owner", "roles/editor"}

admin(role) if contains(lower(role), "admin")

# Service agents' domains other than gcp-sa-*: the legacy ones Google
# documents in "Service agents".
legacy_agent_domains := {
	"compute-system.iam.gserviceaccount.com",
	"container-engine-robot.iam.gserviceaccount.com",
	"containerregistry.iam.gserviceaccount.com",
	"dataflow-service-producer-prod.iam.gserviceaccount.com",
	"serverless-robot-prod.iam.gserviceaccount.com",
	"cloudcomposer-accounts.iam.gserviceaccount.com",
	"dataproc-accounts.iam.gserviceaccount.com",
	"gcf-admin-robot.iam.gserviceaccount.com",
	"genomics-api.google.com.iam.gserviceaccount.com",
	"firebase-rules.iam.gserviceaccount.com",
	"cloud-ml.google.com.iam.gserviceaccount.com",
	"cloud-tpu.iam.gserviceaccount.com",
	"gae-api-prod.google.com.iam.gserviceaccount.com",
}

service_agent(email) if regex.match(`^[0-9]+@cloudservices\.gserviceaccount\.com$`, email)

service_agent(email) if regex.match(`^service-[0-9]+@gcp-sa-[a-z0-9-]+\.iam\.gserviceaccount\.com$`, email)

service_agent(email) if {
	regex.match(`^service-[0-9]+@`, email)
	split(email, "@")[1] in legacy_agent_domains
}

grants contains sprintf("%s has %s", [m, b.role]) if {
	some b in lib.bindings(input.asset.facets)
	admin(b.role)
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
