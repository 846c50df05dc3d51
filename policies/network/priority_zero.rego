# METADATA
# title: Priority-0 allow rule that defeats quarantine
# description: |
#   An enabled GCP ingress allow rule at priority 0 that vigil did not make.
#   vigil (and most IR playbooks) quarantine a VM behind deny-all rules at
#   priority 1; a priority-0 allow that applies to every instance, or to
#   the quarantine tag, wins over them and keeps a compromised VM reachable.
#   vigil's own forensics rule (vigil-quarantine-allow-forensics-*) is not
#   counted.
# custom:
#   id: VGL-NET-009
#   severity: high
#   kinds: [firewall]
#   phase: containment
package vigil.policies.network.priority_zero

import rego.v1

applies_to_quarantine if count(object.get(input.asset.facets, "target_tags", [])) + count(object.get(input.asset.facets, "target_service_accounts", [])) == 0

applies_to_quarantine if "vigil-quarantine" in input.asset.facets.target_tags

deny contains finding if {
	input.asset.provider == "gcp"
	not startswith(input.asset.name, "vigil-quarantine-")
	some rule in input.asset.facets.ingress
	rule.action == "allow"
	rule.enabled
	object.get(rule, "priority", 0) == 0 # the loader always sets GCP priorities; 0 is omitted
	applies_to_quarantine
	finding := {
		"msg": sprintf("firewall rule %s allows ingress at priority 0, ahead of quarantine's deny-all at priority 1", [input.asset.name]),
		"details": {"sources": rule.sources},
	}
}
