package vigil.policies.network.egress_all_test

import data.vigil.policies.network.egress_all as p
import rego.v1

cfg := {"residency": {"pii": {"label": "data-class", "regions": ["europe-*"]}}}

nid := "projects/acme/global/networks/vpc"

rule(action, prio, proto, ports) := {"firewall": sprintf("%s-%d", [action, prio]), "sources": ["0.0.0.0/0"], "protocol": proto, "ports": ports, "action": action, "priority": prio}

all_allow := rule("allow", 1000, "all", [])

all_deny(prio) := rule("deny", prio, "all", [])

network(inherited) := {"asset": {"provider": "gcp", "kind": "network", "name": "vpc", "labels": {}, "facets": {"network": nid, "inherited": inherited}}}

pii_project := [{"node": "projects/1", "labels": {"data-class": "pii"}}]

inv(rules, holders) := {"egress": {nid: {"rules": rules, "holders": holders}}}

# A pii project, no rule at all: the implied allow-egress rule lets it out.
test_implied_rule_in_pii_project if {
	fs := p.deny with input as network(pii_project) with data.vigil.config as cfg with data.vigil.inventory as {}
	count(fs) == 1
	some f in fs
	f.details.allowed_by == ["the implied allow-egress rule (priority 65535)"]
}

# An unlabelled project and no classified instance: nothing to protect.
test_unclassified_network if count(p.deny) == 0 with input as network([]) with data.vigil.config as cfg with data.vigil.inventory as inv([all_allow], [])

# An instance labelled pii of its own puts the class on the network.
test_classified_instance if {
	fs := p.deny with input as network([]) with data.vigil.config as cfg with data.vigil.inventory as inv([], [{"label": "data-class", "value": "pii", "instance": "db-1"}])
	some f in fs
	f.details.classes == ["data-class=pii on instance db-1"]
}

# A value no residency block names is no class.
test_public_is_no_class if count(p.deny) == 0 with input as network([{"node": "projects/1", "labels": {"data-class": "public"}}]) with data.vigil.config as cfg with data.vigil.inventory as {}

# A holder of a label that is no residency label is not a class.
test_other_label_holder if count(p.deny) == 0 with input as network([]) with data.vigil.config as cfg with data.vigil.inventory as inv([], [{"label": "team", "value": "x", "instance": "db-1"}])

# deny-all at 65000 beats the implied rule: egress is closed.
test_deny_all_closes if count(p.deny) == 0 with input as network(pii_project) with data.vigil.config as cfg with data.vigil.inventory as inv([all_deny(65000)], [])

# An explicit allow-all at 1000 comes before the deny-all at 2000.
test_allow_before_deny if {
	fs := p.deny with input as network(pii_project) with data.vigil.config as cfg with data.vigil.inventory as inv([all_allow, all_deny(2000)], [])
	some f in fs
	f.details.allowed_by == ["allow-1000 (priority 1000)"]
}

# A deny wins a tie with an allow of the same priority.
test_deny_wins_tie if count(p.deny) == 0 with input as network(pii_project) with data.vigil.config as cfg with data.vigil.inventory as inv([all_allow, all_deny(1000)], [])

# A deny of port 25 only is no deny-all: the implied rule still opens the rest.
test_partial_deny if count(p.deny) == 1 with input as network(pii_project) with data.vigil.config as cfg with data.vigil.inventory as inv([rule("deny", 100, "tcp", [{"from": 25, "to": 25}])], [])

# A deny to the two /1 halves adds up to the whole internet.
test_deny_halves if {
	d := object.union(all_deny(100), {"sources": ["0.0.0.0/1", "128.0.0.0/1"]})
	count(p.deny) == 0 with input as network(pii_project) with data.vigil.config as cfg with data.vigil.inventory as inv([d], [])
}

# A planned network is not judged: its rules are made elsewhere.
test_planned if {
	planned := object.union(network(pii_project), {"asset": {"change": {"action": "create"}}})
	count(p.deny) == 0 with input as planned with data.vigil.config as cfg with data.vigil.inventory as {}
}
