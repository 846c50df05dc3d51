# METADATA
# title: Instance accepts project-wide SSH keys
# description: |
#   A GCP instance whose metadata does not set block-project-ssh-keys=TRUE:
#   every SSH key in the project's metadata opens it, so one leaked key
#   opens every such VM of the project. OS Login does not exempt it (CIS
#   GCP 4.3 and Prowler do not: turning OS Login off again brings the
#   project's keys back; VGL-SSH-002 judges OS Login). VMs that GKE
#   creates for its node pools (label goog-gke-node, or a name starting
#   gke-) are exempt, as in CIS: GKE manages their keys.
# custom:
#   id: VGL-SSH-001
#   severity: medium
#   kinds: [instance]
#   phase: preparation
#   frameworks: ["cis-gcp-3.0:4.3"]
package vigil.policies.network.project_ssh_keys

import data.vigil.lib
import rego.v1

blocked if lib.truthy(input.asset.facets.metadata["block-project-ssh-keys"])

gke_node if input.asset.labels["goog-gke-node"] # any value, "" too

gke_node if startswith(input.asset.name, "gke-")

deny contains finding if {
	input.asset.provider == "gcp"
	not blocked
	not gke_node
	finding := {
		"msg": sprintf("instance %s accepts project-wide SSH keys (its metadata does not set block-project-ssh-keys=TRUE)", [input.asset.name]),
		"details": {},
	}
}
