# METADATA
# title: Internet-reachable instance with a fixable critical or high CVE
# description: |
#   A vulnerability scanner (AWS Inspector, GCP OS Config) reports a
#   critical or high vulnerability with a fix available on an instance that
#   the internet can reach: it has a public IP and a firewall rule or
#   security group (and network ACL) admits 0.0.0.0/0 to the vulnerable
#   service's port or, when the scanner does not name the port, to any
#   port. This is how most cloud compromises begin; patch or cut it off now.
# custom:
#   id: VGL-VULN-001
#   severity: critical
#   kinds: [vulnerability_report]
#   phase: preparation
#   remediation:
#     gcp: compromised-vm-gcp
#     aws: compromised-ec2
#   frameworks: ["cis-gcp-3.0:4.12"]
#   evidence:
#     "*": [vulnerability_report.resource]
#   partial:
#     "cis-gcp-3.0:4.12": that no internet-reachable VM has a fixable critical or high CVE, not that every update is installed
package vigil.policies.vuln.exposed

import data.vigil.vuln.reach
import rego.v1

inst := reach.instance(input.asset.facets.resource)

cves := sort({v.id | some v in input.asset.facets.vulnerabilities; reach.serious(v); reach.reaches(inst, v)})

deny contains finding if {
	count(cves) > 0
	ports := sort(reach.open_ports(inst))
	finding := {
		"msg": sprintf("%s is reachable from the internet (%s; open: %s) and has %d fixable critical/high vulnerabilities: %s", [
			inst.name, concat(", ", inst.public_ips), concat(", ", [sprintf("%d", [p]) | some p in ports]), count(cves), shown(cves),
		]),
		"details": {"instance": input.asset.facets.resource, "cves": cves, "open_ports": ports},
	}
}

shown(list) := concat(", ", list) if count(list) <= 5

shown(list) := sprintf("%s and %d more", [concat(", ", array.slice(list, 0, 5)), count(list) - 5]) if count(list) > 5
