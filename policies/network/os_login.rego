# METADATA
# title: OS Login off
# description: |
#   A GCP project whose compute metadata does not set enable-oslogin=TRUE,
#   or an instance that turns it off with its own metadata. Without OS
#   Login, SSH access is whoever holds a key in metadata, not an IAM
#   decision that can be revoked at once during an incident.
# custom:
#   id: VGL-SSH-002
#   severity: medium
#   kinds: [project_metadata, instance]
#   phase: preparation
#   frameworks: ["cis-gcp-3.0:4.4"]
package vigil.policies.network.os_login

import data.vigil.lib
import rego.v1

# A Terraform google_compute_project_metadata_item sets one key; the
# others are set elsewhere, so an item of another key says nothing of OS
# Login.
other_item if {
	input.asset.type == "google_compute_project_metadata_item"
	not input.asset.facets.metadata["enable-oslogin"]
}

deny contains finding if {
	input.asset.kind == "project_metadata"
	not other_item
	not lib.truthy(object.get(object.get(input.asset.facets, "metadata", {}), "enable-oslogin", ""))
	finding := {
		"msg": sprintf("project %s does not enable OS Login (enable-oslogin=TRUE in its compute metadata)", [input.asset.scope]),
		"details": {},
	}
}

deny contains finding if {
	input.asset.kind == "instance"
	input.asset.provider == "gcp"
	v := input.asset.facets.metadata["enable-oslogin"]
	not lib.truthy(v)
	finding := {
		"msg": sprintf("instance %s turns OS Login off (enable-oslogin=%s)", [input.asset.name, v]),
		"details": {"enable-oslogin": v},
	}
}
