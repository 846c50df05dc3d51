package vigil.policies.network.nacl_admin_ports_test

import data.vigil.policies.network.nacl_admin_ports as p
import rego.v1

cfg := {"admin_ports": [22, 3389]}

e(n, action, src, proto, from, to) := {"priority": n, "action": action, "sources": [src], "protocol": proto, "ports": [{"from": from, "to": to}], "enabled": true}

nacl(entries) := {"asset": {"kind": "network_acl", "name": "acl-1", "facets": {"ingress": entries}}}

# The default ACL: 100 allow all, 32767 deny all.
test_default_acl_allows_all if {
	res := p.deny with input as nacl([e(100, "allow", "0.0.0.0/0", "all", 0, 65535), e(32767, "deny", "0.0.0.0/0", "all", 0, 65535)]) with data.vigil.config as cfg
	some f in res
	f.details.open == ["22 from 0.0.0.0/0 (rule 100)", "3389 from 0.0.0.0/0 (rule 100)"]
}

test_lower_deny_protects if {
	entries := [
		e(50, "deny", "0.0.0.0/0", "tcp", 22, 22), e(60, "deny", "0.0.0.0/0", "tcp", 3389, 3389),
		e(100, "allow", "0.0.0.0/0", "all", 0, 65535),
	]
	count(p.deny) == 0 with input as nacl(entries) with data.vigil.config as cfg
}

test_https_only if {
	count(p.deny) == 0 with input as nacl([e(100, "allow", "0.0.0.0/0", "tcp", 443, 443), e(32767, "deny", "0.0.0.0/0", "all", 0, 65535)]) with data.vigil.config as cfg
}

test_ipv6_world if {
	count(p.deny) == 1 with input as nacl([e(100, "allow", "::/0", "tcp", 22, 22)]) with data.vigil.config as cfg
}

# The review's acl-halves: 0.0.0.0/1 and 128.0.0.0/1 together are the
# IPv4 internet, as VGL-NET-001 reads them.
test_halves_are_the_internet if {
	res := p.deny with input as nacl([e(100, "allow", "0.0.0.0/1", "tcp", 22, 22), e(110, "allow", "128.0.0.0/1", "tcp", 22, 22), e(32767, "deny", "0.0.0.0/0", "all", 0, 65535)]) with data.vigil.config as cfg
	some f in res
	f.details.open == ["22 from 0.0.0.0/1, 128.0.0.0/1 (rule 100, 110)"]
}

# One half alone is not.
test_one_half_is_not if {
	count(p.deny) == 0 with input as nacl([e(100, "allow", "0.0.0.0/1", "tcp", 22, 22), e(32767, "deny", "0.0.0.0/0", "all", 0, 65535)]) with data.vigil.config as cfg
}

# acl-v6deny: deny ::/0 at 90 does not touch IPv4; allow 0.0.0.0/0 at 100.
test_v6_deny_leaves_v4_open if {
	res := p.deny with input as nacl([e(90, "deny", "::/0", "tcp", 22, 22), e(100, "allow", "0.0.0.0/0", "tcp", 22, 22)]) with data.vigil.config as cfg
	some f in res
	f.details.open == ["22 from 0.0.0.0/0 (rule 100)"]
}

# A deny of half the IPv4 space before the allow: not open from anywhere.
test_half_denied_first if {
	count(p.deny) == 0 with input as nacl([e(90, "deny", "0.0.0.0/1", "tcp", 22, 22), e(100, "allow", "0.0.0.0/0", "tcp", 22, 22)]) with data.vigil.config as cfg
}
