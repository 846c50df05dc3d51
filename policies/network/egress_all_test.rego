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

targeted(r, tags, sas) := object.union(r, {"target_tags": tags, "target_service_accounts": sas})

# The implied rule closed by a deny-all at 65000; an allow-all at 1000 for
# the tag etl still lets those instances out (GCP applies it to them).
test_tagged_allow_opens if {
	fs := p.deny with input as network(pii_project) with data.vigil.config as cfg with data.vigil.inventory as inv([targeted(rule("allow", 1000, "all", []), ["etl"], []), all_deny(65000)], [])
	some f in fs
	f.details.allowed_by == ["allow-1000 (priority 1000, instances tagged etl)"]
	contains(f.msg, "lets the instances they target send anything")
}

# The same for a service account target.
test_sa_allow_opens if {
	sa := "etl@acme.iam.gserviceaccount.com"
	fs := p.deny with input as network(pii_project) with data.vigil.config as cfg with data.vigil.inventory as inv([targeted(rule("allow", 1000, "all", []), [], [sa]), all_deny(65000)], [])
	some f in fs
	f.details.allowed_by == [sprintf("allow-1000 (priority 1000, instances running as %s)", [sa])]
}

# A deny-all for the same tag at a better priority closes the tagged allow.
test_tagged_deny_closes_tagged_allow if {
	count(p.deny) == 0 with input as network(pii_project) with data.vigil.config as cfg with data.vigil.inventory as inv([targeted(rule("allow", 1000, "all", []), ["etl"], []), targeted(all_deny(900), ["etl"], []), all_deny(65000)], [])
}

# Tags a and b: a deny for a alone leaves the b instances open.
test_tagged_deny_partial if {
	fs := p.deny with input as network(pii_project) with data.vigil.config as cfg with data.vigil.inventory as inv([targeted(rule("allow", 1000, "all", []), ["a", "b"], []), targeted(all_deny(900), ["a"], []), all_deny(65000)], [])
	some f in fs
	f.details.allowed_by == ["allow-1000 (priority 1000, instances tagged a or b)"]
}

# Two denies, one per tag, cover both.
test_tagged_denies_add_up if {
	rules := [targeted(rule("allow", 1000, "all", []), ["a", "b"], []), targeted(all_deny(900), ["a"], []), targeted(all_deny(1000), ["b"], []), all_deny(65000)]
	count(p.deny) == 0 with input as network(pii_project) with data.vigil.config as cfg with data.vigil.inventory as inv(rules, [])
}

# A deny for a tag does not cover an allow chosen by service account, and
# a tagged deny at 900 after the allow's 800 comes too late.
test_tag_deny_not_sa if {
	sa := "etl@acme.iam.gserviceaccount.com"
	rules := [targeted(rule("allow", 1000, "all", []), [], [sa]), targeted(all_deny(900), ["etl"], []), all_deny(65000)]
	count(p.deny) == 1 with input as network(pii_project) with data.vigil.config as cfg with data.vigil.inventory as inv(rules, [])
	late := [targeted(rule("allow", 800, "all", []), ["etl"], []), targeted(all_deny(900), ["etl"], []), all_deny(65000)]
	count(p.deny) == 1 with input as network(pii_project) with data.vigil.config as cfg with data.vigil.inventory as inv(late, [])
}

# A deny-all for a service account closes the allow for it; a tagged deny
# never closes the untargeted implied rule.
test_sa_deny_closes_sa_allow if {
	sa := "etl@acme.iam.gserviceaccount.com"
	rules := [targeted(rule("allow", 1000, "all", []), [], [sa]), targeted(all_deny(1000), [], [sa]), all_deny(65000)]
	count(p.deny) == 0 with input as network(pii_project) with data.vigil.config as cfg with data.vigil.inventory as inv(rules, [])
	fs := p.deny with input as network(pii_project) with data.vigil.config as cfg with data.vigil.inventory as inv([targeted(all_deny(100), ["etl"], [])], [])
	some f in fs
	f.details.allowed_by == ["the implied allow-egress rule (priority 65535)"]
	contains(f.msg, "lets every instance send anything")
}

# A tagged allow of 443 only is no allow-all.
test_tagged_partial_allow if {
	rules := [targeted(rule("allow", 1000, "tcp", [{"from": 443, "to": 443}]), ["etl"], []), all_deny(65000)]
	count(p.deny) == 0 with input as network(pii_project) with data.vigil.config as cfg with data.vigil.inventory as inv(rules, [])
}
