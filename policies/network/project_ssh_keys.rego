# METADATA
# title: Instance accepts project-wide SSH keys
# description: |
#   A GCP instance whose metadata does not set block-project-ssh-keys=TRUE
#   and that does not use OS Login (its own enable-oslogin, else its
#   project's): every SSH key in the project's metadata opens it, so one
#   leaked key opens every such VM of the project.
# custom:
#   id: VGL-SSH-001
#   severity: medium
#   kinds: [instance]
#   phase: preparation
#   frameworks: ["cis-gcp-3.0:4.3"]
package vigil.policies.network.project_ssh_keys

import data.vigil.lib
import rego.v1

os_login if lib.truthy(lib.metadata(input.asset.facets, "enable-oslogin"))

blocked if lib.truthy(input.asset.facets.metadata["block-project-ssh-keys"])

deny contains finding if {
	input.asset.provider == "gcp"
	not blocked
	not os_login
	finding := {
		"msg": sprintf("instance %s accepts project-wide SSH keys (no block-project-ssh-keys=TRUE, no OS Login)", [input.asset.name]),
		"details": {},
	}
}
