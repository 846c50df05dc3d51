# METADATA
# title: Instance with a public IP address
# description: |
#   An instance reachable on a public IP address (a GCP access config with a
#   NAT IP, an AWS public IP on any interface) is one firewall mistake away
#   from the internet, and is the first thing to cut off in containment.
# custom:
#   id: VGL-NET-004
#   severity: medium
#   kinds: [instance]
#   phase: preparation
#   remediation:
#     gcp: compromised-vm-gcp
#     aws: compromised-ec2
#   frameworks: ["cis-gcp-3.0:4.9"]
package vigil.policies.network.public_ip

import data.vigil.lib
import rego.v1

deny contains finding if {
	ips := input.asset.facets.public_ips
	count(ips) > 0
	finding := {
		"msg": sprintf("instance %s has public IP %s", [input.asset.name, concat(", ", ips)]),
		"details": {"public_ips": ips},
	}
}

deny contains finding if {
	lib.unknown(input.asset.facets, "public_ips")
	count(object.get(input.asset.facets, "public_ips", [])) == 0
	finding := {
		"msg": sprintf("whether instance %s gets a public IP is known only after apply", [input.asset.name]),
		"details": {"unknown": ["public_ips"]},
	}
}
