package vigil.policies.network.priority_zero_test

import data.vigil.policies.network.priority_zero as p
import rego.v1

r(prio) := {"sources": ["10.0.0.0/8"], "protocol": "tcp", "ports": [{"from": 22, "to": 22}], "action": "allow", "enabled": true, "priority": prio}

fw(name, prio, tags) := {"asset": {"provider": "gcp", "kind": "firewall", "name": name, "facets": {"ingress": [r(prio)], "target_tags": tags}}}

test_priority_zero_for_all if count(p.deny) == 1 with input as fw("allow-admin", 0, [])

test_priority_zero_for_quarantine_tag if count(p.deny) == 1 with input as fw("allow-admin", 0, ["vigil-quarantine"])

test_priority_zero_other_tag if count(p.deny) == 0 with input as fw("allow-admin", 0, ["web"])

test_priority_1000 if count(p.deny) == 0 with input as fw("allow-admin", 1000, [])

test_vigil_forensics_rule if count(p.deny) == 0 with input as fw("vigil-quarantine-allow-forensics-prod-vpc", 0, ["vigil-quarantine"])

fw_sa(name, prio, sas) := {"asset": {"provider": "gcp", "kind": "firewall", "name": name, "facets": {"ingress": [r(prio)], "target_tags": [], "target_service_accounts": sas}}}

# Quarantine swaps a VM's tags for vigil-quarantine and keeps its service
# account: a priority-0 allow for the account still reaches it.
test_priority_zero_for_service_account if {
	fs := p.deny with input as fw_sa("allow-etl", 0, ["etl@acme.iam.gserviceaccount.com"])
	count(fs) == 1
	some f in fs
	f.details.applies_to == "instances running as etl@acme.iam.gserviceaccount.com (quarantine keeps a VM's service account)"
}

test_service_account_priority_1000 if count(p.deny) == 0 with input as fw_sa("allow-etl", 1000, ["etl@acme.iam.gserviceaccount.com"])

test_priority_zero_for_all_says_so if {
	some f in p.deny with input as fw("allow-admin", 0, [])
	f.details.applies_to == "every instance"
}

# A rule with no target_tags facet at all applies to every instance too.
test_no_target_facets if count(p.deny) == 1 with input as {"asset": {"provider": "gcp", "kind": "firewall", "name": "x", "facets": {"ingress": [r(0)]}}}
