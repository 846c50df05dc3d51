# METADATA
# title: Priority-0 allow rule that only a priority-0 deny overrides
# description: |
#   An enabled GCP ingress allow rule at priority 0 that vigil did not
#   make, applying to every instance or to the quarantine tag. VPC rules
#   are evaluated lowest number first and a deny wins a tie, so vigil's own
#   quarantine (deny-all at priority 0) still holds against it; but any
#   containment deny at priority 1 or more (a hand-made block, another
#   tool's or playbook's isolation rule) loses to it, and the rule keeps a
#   compromised VM reachable until someone finds it. vigil's own forensics
#   rule (vigil-quarantine-allow-forensics-*) is not counted. A rule for
#   target service accounts counts: quarantine replaces a VM's network
#   tags with vigil-quarantine but leaves its service account, so the rule
#   still applies to a quarantined VM running as one of them; a rule for
#   other tags does not (the quarantined VM no longer carries them).
#   Not examined: hierarchical firewall policies (organization or folder),
#   which Google evaluates before VPC rules and whose allow or goto_next
#   could also keep a VM reachable; vigil does not collect them.
# custom:
#   id: VGL-NET-009
#   severity: medium
#   kinds: [firewall]
#   phase: containment
package vigil.policies.network.priority_zero

import rego.v1

applies_to_quarantine if count(object.get(input.asset.facets, "target_tags", [])) + count(object.get(input.asset.facets, "target_service_accounts", [])) == 0

applies_to_quarantine if "vigil-quarantine" in object.get(input.asset.facets, "target_tags", [])

# A quarantined VM keeps its service account.
applies_to_quarantine if count(object.get(input.asset.facets, "target_service_accounts", [])) > 0

targets := "every instance" if {
	count(object.get(input.asset.facets, "target_tags", [])) + count(object.get(input.asset.facets, "target_service_accounts", [])) == 0
}

targets := "the quarantine tag" if "vigil-quarantine" in object.get(input.asset.facets, "target_tags", [])

targets := sprintf("instances running as %s (quarantine keeps a VM's service account)", [concat(", ", input.asset.facets.target_service_accounts)]) if {
	count(object.get(input.asset.facets, "target_service_accounts", [])) > 0
}

deny contains finding if {
	input.asset.provider == "gcp"
	not startswith(input.asset.name, "vigil-quarantine-")
	some rule in input.asset.facets.ingress
	rule.action == "allow"
	rule.enabled
	object.get(rule, "priority", 0) == 0 # the loader always sets GCP priorities; 0 is omitted
	applies_to_quarantine
	finding := {
		"msg": sprintf("firewall rule %s allows ingress at priority 0: only a deny at priority 0 (as vigil's quarantine) overrides it, containment at any lower priority does not", [input.asset.name]),
		"details": {"sources": rule.sources, "applies_to": targets},
	}
}
