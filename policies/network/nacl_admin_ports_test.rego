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

# A deny blocks only what it matches: half the IPv4 space denied at 90
# leaves 128.0.0.0/1 admitted by the 0.0.0.0/0 allow at 100, so 22 is
# open to the internet, as on GCP, where only a world deny closes a rule.
test_half_denied_first_still_open if {
	res := p.deny with input as nacl([e(90, "deny", "0.0.0.0/1", "tcp", 22, 22), e(100, "allow", "0.0.0.0/0", "tcp", 22, 22)]) with data.vigil.config as cfg
	some f in res
	f.details.open == ["22 from 0.0.0.0/0 (rule 100)"]
}

# The blocklist pattern (review bug 2): rule 50 denies one /24 on every
# protocol, rule 100 allows 22 from 0.0.0.0/0; all but 256 addresses reach
# 22: open, through rule 100.
test_narrow_deny_first_still_open if {
	res := p.deny with input as nacl([e(50, "deny", "198.51.100.0/24", "all", 0, 65535), e(100, "allow", "0.0.0.0/0", "tcp", 22, 22), e(32767, "deny", "0.0.0.0/0", "all", 0, 65535)]) with data.vigil.config as cfg
	some f in res
	f.details.open == ["22 from 0.0.0.0/0 (rule 100)"]
}

# Two denies that together hold the IPv4 internet (the halves, at 50 and
# 60) shut 22 before the allow at 100: not open.
test_halves_denied_first_closed if {
	count(p.deny) == 0 with input as nacl([e(50, "deny", "0.0.0.0/1", "tcp", 22, 22), e(60, "deny", "128.0.0.0/1", "all", 0, 65535), e(100, "allow", "0.0.0.0/0", "tcp", 22, 22)]) with data.vigil.config as cfg
}

# A world deny of 3389 only does not shut 22.
test_world_deny_other_port if {
	res := p.deny with input as nacl([e(50, "deny", "0.0.0.0/0", "tcp", 3389, 3389), e(100, "allow", "0.0.0.0/0", "tcp", 22, 22)]) with data.vigil.config as cfg
	some f in res
	f.details.open == ["22 from 0.0.0.0/0 (rule 100)"]
}
