# METADATA
# title: Vulnerability scanner not enabled
# description: |
#   The provider's vulnerability scanner does not look at instances that
#   exist. AWS: a region with instances where Inspector's EC2 scanning is
#   not enabled (judged where the inventory has Inspector's status for the
#   account). GCP: a project with instances whose services (in the
#   inventory) do not include osconfig.googleapis.com, or whose compute
#   metadata does not set enable-osconfig=TRUE, which the OS Config agent
#   needs to report vulnerabilities.
# custom:
#   id: VGL-VULN-003
#   severity: high
#   kinds: [account, project]
#   phase: preparation
#   frameworks: ["cis-gcp-3.0:4.12"]
#   partial:
#     "cis-gcp-3.0:4.12": that the OS Config agent reports, not that updates are installed
package vigil.policies.vuln.scanner

import data.vigil.lib
import rego.v1

info := lib.scope(input.asset.scope)

inspector := [d | some d in object.get(info, "detectors", []); d.type == "AWS::Inspector2::AccountStatus"]

scanned := {d.region | some d in inspector; d.enabled == true}

unscanned := sort([sprintf("%s (%d instances)", [r, c.instances]) |
	some r, c in object.get(info, "regions", {})
	c.instances > 0
	not r in scanned
])

deny contains finding if {
	input.asset.provider == "aws"
	not lib.planned
	count(inspector) > 0
	count(unscanned) > 0
	finding := {
		"msg": sprintf("account %s: Inspector does not scan EC2 in %s", [input.asset.scope, concat(", ", unscanned)]),
		"details": {"regions": unscanned},
	}
}

osconfig_on(services) if services["osconfig.googleapis.com"] == true

instances := sum([c.instances | some _, c in object.get(info, "regions", {})])

deny contains finding if {
	input.asset.provider == "gcp"
	not lib.planned
	instances > 0
	services := object.get(info, "services", null)
	is_object(services) # silent when the inventory lists no services
	not osconfig_on(services)
	finding := {
		"msg": sprintf("project %s has %d instances but the OS Config API (osconfig.googleapis.com) is off: no vulnerability reports", [input.asset.name, instances]),
		"details": {"instances": instances, "finding_key": "osconfig-api"},
	}
}

# An instance's own enable-osconfig overrides its project's, as Compute
# Engine resolves metadata: the index counts the instances that set it
# themselves, on and off (data.vigil.inventory.scopes[p].instance_osconfig).
own := object.get(info, "instance_osconfig", {})

# agentless is how many instances run without the agent: with the project
# on, those that turn it off; with it off, all but those that turn it on.
agentless := object.get(own, "off", 0) if {
	lib.truthy(object.get(info.project_metadata, "enable-osconfig", ""))
} else := instances - object.get(own, "on", 0)

deny contains finding if {
	input.asset.provider == "gcp"
	not lib.planned
	instances > 0
	md := object.get(info, "project_metadata", null)
	is_object(md) # silent when the project's compute metadata is not collected
	agentless > 0
	finding := {
		"msg": sprintf("project %s: %d of its %d instances run without the OS Config agent: enable-osconfig=TRUE is set neither on them nor on the project (or they turn it off)", [input.asset.name, agentless, instances]),
		"details": {"instances": instances, "without_agent": agentless, "finding_key": "osconfig-agent"},
	}
}
