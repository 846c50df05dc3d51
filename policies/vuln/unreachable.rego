# METADATA
# title: Fixable critical or high CVE, not known to be reachable from the internet
# description: |
#   A vulnerability scanner reports a critical or high vulnerability with a
#   fix available on an instance the internet cannot reach (no public IP,
#   or no rule admits the internet to it), on an instance the inventory does
#   not hold, or in a container image, whose reachability vigil does not
#   judge (what runs the image is not in the inventory's exposure). Patch
#   the instance, or rebuild the image, in the next cycle.
# custom:
#   id: VGL-VULN-002
#   severity: medium
#   kinds: [vulnerability_report]
#   phase: preparation
#   frameworks: ["cis-gcp-3.0:4.12"]
#   evidence:
#     "*": [vulnerability_report.resource]
#   partial:
#     "cis-gcp-3.0:4.12": that no VM has a fixable critical or high CVE, not that every update is installed
package vigil.policies.vuln.unreachable

import data.vigil.vuln.reach
import rego.v1

reachable(v) if reach.reaches(reach.instance(input.asset.facets.resource), v)

cves := sort({v.id | some v in input.asset.facets.vulnerabilities; reach.serious(v); not reachable(v)})

# An Artifact Analysis report is about a container image, not a machine:
# what runs the image (a Cloud Run service, a GKE workload) is not judged
# here, so nothing is said about its reachability. Its type says so, not
# its resource (a URL the occurrence's writer chose).
image if input.asset.type in {"containeranalysis.googleapis.com/ImageVulnerabilities", "containeranalysis.googleapis.com/Occurrence"}

why := "but is not reachable from the internet: it has no public IP, or is not in the inventory" if {
	not image
	not reach.instance(input.asset.facets.resource)
}

why := "but is not reachable from the internet: no rule admits the internet to the vulnerable service" if {
	not image
	reach.instance(input.asset.facets.resource)
}

why := "in a container image: rebuild it on the fixed packages; whether what runs the image is reachable from the internet is not assessed" if image

deny contains finding if {
	count(cves) > 0
	finding := {
		"msg": sprintf("%s has %d fixable critical/high vulnerabilities (%s) %s", [
			input.asset.facets.resource, count(cves), concat(", ", array.slice(cves, 0, 5)), why,
		]),
		"details": {"resource": input.asset.facets.resource, "cves": cves},
	}
}
