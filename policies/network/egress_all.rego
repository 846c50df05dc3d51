# METADATA
# title: Egress to anywhere from a network holding classified data
# description: |
#   An enabled GCP firewall rule allows egress on every protocol and port to
#   0.0.0.0/0 in a project whose data class (its own residency label or the
#   project's, folder's or organization's) is set: nothing stands between
#   the data and an exfiltration channel. Only explicit rules are judged;
#   the implied allow-all egress rule of every VPC (priority 65535) is not in
#   the inventory.
# custom:
#   id: VGL-NET-008
#   severity: medium
#   kinds: [firewall]
#   phase: containment
package vigil.policies.network.egress_all

import data.vigil.lib
import rego.v1

label_keys := {r.label | some r in data.vigil.config.residency}

classes contains sprintf("%s=%s on %s", [k, v, n.node]) if {
	some n in array.concat([{"node": "the rule", "labels": input.asset.labels}], object.get(input.asset.facets, "inherited", []))
	some k in label_keys
	v := object.get(object.get(n, "labels", {}), k, "")
	v != ""
}

deny contains finding if {
	input.asset.provider == "gcp"
	some rule in input.asset.facets.egress
	rule.action == "allow"
	rule.enabled
	"0.0.0.0/0" in rule.sources
	lib.all_ports(rule)
	count(classes) > 0
	finding := {
		"msg": sprintf("firewall rule %s allows all egress to 0.0.0.0/0 from a project holding classified data (%s)", [input.asset.name, concat(", ", sort(classes))]),
		"details": {"classes": sort(classes)},
	}
}
