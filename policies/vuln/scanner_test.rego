package vigil.policies.vuln.scanner_test

import data.vigil.policies.vuln.scanner as p
import rego.v1

acct := {"asset": {"provider": "aws", "kind": "account", "scope": "111", "facets": {}}}

insp(region, on) := {"id": region, "region": region, "enabled": on, "type": "AWS::Inspector2::AccountStatus"}

regions := {"eu-west-1": {"assets": 4, "instances": 2}, "us-east-1": {"assets": 1, "instances": 0}}

test_inspector_off_where_instances_run if {
	inv := {"scopes": {"111": {"regions": regions, "detectors": [insp("eu-west-1", false), insp("us-east-1", true)]}}, "nodes": {}}
	res := p.deny with input as acct with data.vigil.inventory as inv
	some f in res
	f.details.regions == ["eu-west-1 (2 instances)"]
}

test_inspector_on if {
	inv := {"scopes": {"111": {"regions": regions, "detectors": [insp("eu-west-1", true)]}}, "nodes": {}}
	count(p.deny) == 0 with input as acct with data.vigil.inventory as inv
}

test_inspector_status_unknown if {
	count(p.deny) == 0 with input as acct with data.vigil.inventory as {"scopes": {"111": {"regions": regions}}, "nodes": {}}
}

proj := {"asset": {"provider": "gcp", "kind": "project", "name": "p", "scope": "p", "facets": {}}}

test_osconfig_api_off if {
	inv := {"scopes": {"p": {"regions": regions, "services": {"compute.googleapis.com": true}, "project_metadata": {"enable-osconfig": "TRUE"}}}, "nodes": {}}
	count(p.deny) == 1 with input as proj with data.vigil.inventory as inv
}

test_osconfig_agent_off if {
	inv := {"scopes": {"p": {"regions": regions, "services": {"osconfig.googleapis.com": true}, "project_metadata": {}}}, "nodes": {}}
	res := p.deny with input as proj with data.vigil.inventory as inv
	some f in res
	contains(f.msg, "enable-osconfig")
}

test_osconfig_on if {
	inv := {"scopes": {"p": {"regions": regions, "services": {"osconfig.googleapis.com": true}, "project_metadata": {"enable-osconfig": "true"}}}, "nodes": {}}
	count(p.deny) == 0 with input as proj with data.vigil.inventory as inv
}

# gcp1 of the review: the project does not set enable-osconfig, its only
# instance does: the agent reports, nothing to say.
test_instance_sets_osconfig if {
	inv := {"scopes": {"p": {"regions": {"europe-west1": {"assets": 1, "instances": 1}}, "services": {"osconfig.googleapis.com": true}, "project_metadata": {}, "instance_osconfig": {"on": 1, "off": 0}}}, "nodes": {}}
	count(p.deny) == 0 with input as proj with data.vigil.inventory as inv
}

# 2 instances, the project off, one instance on: 2 - 1 = 1 without agent.
test_some_instances_without_agent if {
	inv := {"scopes": {"p": {"regions": regions, "services": {"osconfig.googleapis.com": true}, "project_metadata": {}, "instance_osconfig": {"on": 1}}}, "nodes": {}}
	res := p.deny with input as proj with data.vigil.inventory as inv
	some f in res
	f.details == {"instances": 2, "without_agent": 1, "finding_key": "osconfig-agent"}
}

# The project on, one of the 2 instances turns it off: 1 without agent.
test_instance_turns_osconfig_off if {
	inv := {"scopes": {"p": {"regions": regions, "services": {"osconfig.googleapis.com": true}, "project_metadata": {"enable-osconfig": "TRUE"}, "instance_osconfig": {"off": 1}}}, "nodes": {}}
	res := p.deny with input as proj with data.vigil.inventory as inv
	some f in res
	f.details.without_agent == 1
}

# The API off and the agent off on one project are two findings of one
# policy on one asset: their finding_keys tell them apart (the ids of
# SARIF, ASFF and OCSF hash the policy, the asset and this key).
test_api_and_agent_off_are_told_apart if {
	inv := {"scopes": {"p": {"regions": regions, "services": {"osconfig.googleapis.com": false}, "project_metadata": {}, "instance_osconfig": {}}}, "nodes": {}}
	res := p.deny with input as proj with data.vigil.inventory as inv
	{f.details.finding_key | some f in res} == {"osconfig-api", "osconfig-agent"}
}
