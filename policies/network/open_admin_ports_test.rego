package vigil.policies.network.open_admin_ports_test

import data.vigil.policies.network.open_admin_ports as p
import rego.v1

cfg := {"admin_ports": [22, 3389]}

fw(rules) := {"asset": {"kind": "firewall", "name": "fw", "facets": {"ingress": rules}}}

r(sources, protocol, ports) := {"sources": sources, "protocol": protocol, "ports": ports, "action": "allow", "enabled": true}

test_ssh_from_anywhere if {
	res := p.deny with input as fw([r(["0.0.0.0/0"], "tcp", [{"from": 22, "to": 22}])]) with data.vigil.config as cfg
	count(res) == 1
	some f in res
	f.details.ports == "22"
}

test_rdp_from_ipv6_anywhere if {
	count(p.deny) == 1 with input as fw([r(["::/0"], "tcp", [{"from": 3389, "to": 3389}])]) with data.vigil.config as cfg
}

# Ranges that together are the whole internet are the internet: the two
# halves of IPv4, of IPv6, or four quarters; three quarters are not.
test_halves_of_ipv4 if {
	res := p.deny with input as fw([r(["0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8"], "tcp", [{"from": 22, "to": 22}])]) with data.vigil.config as cfg
	count(res) == 1
	some f in res
	f.msg == "fw allows tcp from 0.0.0.0/1, 128.0.0.0/1, 10.0.0.0/8 to 22"
}

test_halves_of_ipv6 if {
	count(p.deny) == 1 with input as fw([r(["::/1", "8000::/1"], "tcp", [{"from": 3389, "to": 3389}])]) with data.vigil.config as cfg
}

test_quarters if {
	count(p.deny) == 1 with input as fw([r(["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"], "tcp", [{"from": 22, "to": 22}])]) with data.vigil.config as cfg
}

test_three_quarters_is_not_the_internet if {
	count(p.deny) == 0 with input as fw([r(["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2"], "tcp", [{"from": 22, "to": 22}])]) with data.vigil.config as cfg
}

test_invalid_sources_are_ignored if {
	count(p.deny) == 0 with input as fw([r(["0.0.0.0/1", "not-a-range"], "tcp", [{"from": 22, "to": 22}])]) with data.vigil.config as cfg
}

test_range_covering_admin_port if {
	count(p.deny) == 1 with input as fw([r(["0.0.0.0/0"], "tcp", [{"from": 20, "to": 25}])]) with data.vigil.config as cfg
}

test_all_protocols if {
	res := p.deny with input as fw([r(["0.0.0.0/0"], "all", [{"from": 0, "to": 65535}])]) with data.vigil.config as cfg
	some f in res
	f.details.ports == "all ports"
}

test_https_only_is_fine if {
	count(p.deny) == 0 with input as fw([r(["0.0.0.0/0"], "tcp", [{"from": 443, "to": 443}])]) with data.vigil.config as cfg
}

test_internal_source_is_fine if {
	count(p.deny) == 0 with input as fw([r(["10.0.0.0/8"], "tcp", [{"from": 22, "to": 22}])]) with data.vigil.config as cfg
}

test_deny_rule_is_fine if {
	rule := object.union(r(["0.0.0.0/0"], "tcp", [{"from": 22, "to": 22}]), {"action": "deny"})
	count(p.deny) == 0 with input as fw([rule]) with data.vigil.config as cfg
}

test_disabled_rule_is_fine if {
	rule := object.union(r(["0.0.0.0/0"], "tcp", [{"from": 22, "to": 22}]), {"enabled": false})
	count(p.deny) == 0 with input as fw([rule]) with data.vigil.config as cfg
}

test_egress_is_fine if {
	inp := {"asset": {"kind": "firewall", "name": "fw", "facets": {"egress": [r(["0.0.0.0/0"], "all", [{"from": 0, "to": 65535}])]}}}
	count(p.deny) == 0 with input as inp with data.vigil.config as cfg
}

test_icmp_is_fine if {
	count(p.deny) == 0 with input as fw([r(["0.0.0.0/0"], "icmp", [])]) with data.vigil.config as cfg
}

test_admin_ports_from_config if {
	count(p.deny) == 1 with input as fw([r(["0.0.0.0/0"], "tcp", [{"from": 5432, "to": 5432}])]) with data.vigil.config as {"admin_ports": [5432]}
}

test_unknown_sources_reported if {
	rule := object.union(r([], "tcp", [{"from": 22, "to": 22}]), {"unknown": ["sources"]})
	res := p.deny with input as fw([rule]) with data.vigil.config as cfg
	count(res) == 1
	some f in res
	object.get(f.details, "unknown", []) == ["sources"]
}

test_unknown_ports_reported if {
	rule := object.union(r(["0.0.0.0/0"], "tcp", []), {"ports": [], "unknown": ["ports"]})
	res := p.deny with input as fw([rule]) with data.vigil.config as cfg
	count(res) == 1
}

test_everything_unknown_reported if {
	rule := object.union(r([], "all", []), {"unknown": ["sources", "ports", "protocol"]})
	res := p.deny with input as fw([rule]) with data.vigil.config as cfg
	some f in res
	object.get(f.details, "unknown", []) == ["sources", "ports", "protocol"]
}

test_unknown_sources_to_https_is_fine if {
	rule := object.union(r([], "tcp", [{"from": 443, "to": 443}]), {"unknown": ["sources"]})
	count(p.deny) == 0 with input as fw([rule]) with data.vigil.config as cfg
}

test_standalone_rule_names_its_group if {
	inp := {"asset": {"kind": "firewall", "name": "ssh", "facets": {"parent": "module.m.aws_security_group.alb", "ingress": [r(["0.0.0.0/0"], "tcp", [{"from": 22, "to": 22}])]}}}
	some f in p.deny with input as inp with data.vigil.config as cfg
	contains(f.msg, "(rule of module.m.aws_security_group.alb)")
}

# details.controls: which CIS control each finding breaks, so the
# compliance view does not count an SSH rule against RDP (GCP 3.7) or an
# IPv4 rule against the IPv6 control (AWS 5.3).
on(provider, rules) := {"asset": {"provider": provider, "kind": "firewall", "name": "fw", "facets": {"ingress": rules}}}

controls_of(inp, conf) := [f.details.controls | some f in p.deny with input as inp with data.vigil.config as conf]

test_controls_gcp_ssh_only if {
	controls_of(on("gcp", [r(["0.0.0.0/0"], "tcp", [{"from": 22, "to": 22}])]), cfg) == [["cis-gcp-3.0:3.6"]]
}

test_controls_gcp_all_ports if {
	controls_of(on("gcp", [r(["0.0.0.0/0"], "all", [])]), cfg) == [["cis-gcp-3.0:3.6", "cis-gcp-3.0:3.7"]]
}

# aws3 of the review: one IPv4-only SSH rule breaks 5.2, not 5.3.
test_controls_aws_ipv4 if {
	controls_of(on("aws", [r(["0.0.0.0/0"], "tcp", [{"from": 22, "to": 22}])]), cfg) == [["cis-aws-3.0:5.2"]]
}

test_controls_aws_ipv6_halves if {
	controls_of(on("aws", [r(["::/1", "8000::/1"], "tcp", [{"from": 3389, "to": 3389}])]), cfg) == [["cis-aws-3.0:5.3"]]
}

test_controls_aws_both if {
	controls_of(on("aws", [r(["0.0.0.0/0", "::/0"], "tcp", [{"from": 22, "to": 22}])]), cfg) == [["cis-aws-3.0:5.2", "cis-aws-3.0:5.3"]]
}

# A configured admin port CIS does not name breaks no CIS control.
test_controls_other_admin_port if {
	controls_of(on("aws", [r(["0.0.0.0/0"], "tcp", [{"from": 5432, "to": 5432}])]), {"admin_ports": [5432]}) == [[]]
}
