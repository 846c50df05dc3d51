# METADATA
# title: No SSH from anywhere on tagged bastions
# custom:
#   id: ACME-002
#   severity: high
#   kinds: [firewall]
package vigil.policies.acme.open_admin

import rego.v1

deny contains {"msg": sprintf("%s allows port 22 from 0.0.0.0/0", [input.asset.name])} if {
	some rule in input.asset.facets.ingress
	rule.enabled
	"0.0.0.0/0" in rule.sources
	some p in rule.ports
	p.from <= 22
	p.to >= 22
}
