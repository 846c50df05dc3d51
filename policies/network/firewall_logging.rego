# METADATA
# title: World-open firewall rule without logging
# description: |
#   A GCP firewall rule that admits the internet (0.0.0.0/0 or ::/0) has
#   firewall rules logging off: when it is abused there is no record of who
#   connected, and no log to alert on.
# custom:
#   id: VGL-NET-007
#   severity: medium
#   kinds: [firewall]
#   phase: identification
package vigil.policies.network.firewall_logging

import data.vigil.lib
import rego.v1

deny contains finding if {
	input.asset.provider == "gcp"
	input.asset.facets.logging == false
	some rule in input.asset.facets.ingress
	rule.action == "allow"
	rule.enabled
	count(lib.internet_families(rule.sources)) > 0 # 0.0.0.0/0, ::/0 or the /1 halves
	finding := {
		"msg": sprintf("firewall rule %s admits the internet but does not log (logConfig.enable is off)", [input.asset.name]),
		"details": {},
	}
}
