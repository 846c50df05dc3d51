# METADATA
# title: vigil policy library
# description: |
#   Helpers shared by the built-in policies and available to user policies as
#   data.vigil.lib. Cross-asset lookups go through data.vigil.inventory, an
#   index the engine builds while it reads the inventory (scopes with their
#   trails, detectors and asset counts; resource-hierarchy nodes with their
#   IAM bindings and audit configs), so no policy scans the whole inventory.
package vigil.lib

import rego.v1

# CIDRs that mean "anywhere".
world_cidrs := {"0.0.0.0/0", "::/0"}

# Protocols whose rules carry ports.
port_protocols := {"tcp", "udp", "sctp", "all"}

# world_open(rule) is true when the rule admits traffic from anywhere.
world_open(rule) if {
	some s in rule.sources
	s in world_cidrs
}

# all_ports(rule) is true when the rule opens every port.
all_ports(rule) if rule.protocol == "all"

all_ports(rule) if {
	rule.protocol in port_protocols
	some r in rule.ports
	r.from <= 1
	r.to >= 65535
}

# covers_port(rule, port) is true when the rule opens the port.
covers_port(rule, port) if {
	rule.protocol in port_protocols
	some r in rule.ports
	r.from <= port
	port <= r.to
}

# ports_reached(rule, ports) is the subset of ports the rule opens.
ports_reached(rule, ports) := {p | some p in ports; covers_port(rule, p)}

# unknown(x, field) is true when a Terraform plan leaves the field unknown
# until apply. Written as a plain reference (not object.get), it fails at
# once on inventories, which never have unknowns: put it first in a rule
# about unknowns, and the rule costs nothing elsewhere.
unknown(x, field) if field in x.unknown

# glob_any(patterns, value) matches value against any glob; "*" also
# matches "/" (no delimiters), as in vigil.hcl and waivers.
glob_any(patterns, value) if {
	some p in patterns
	glob.match(p, null, value)
}

# label_missing(labels, key) is true when the label is absent or empty.
label_missing(labels, key) if not labels[key]

label_missing(labels, key) if labels[key] == ""

# scope(s) is the inventory's index entry for a project or account id.
scope(s) := object.get(data.vigil.inventory.scopes, s, {})

# The functions below take an asset's facets (input.asset.facets), not the
# whole asset: the engine leaves the native payload (input.asset.data) out of
# the input unless a policy reads it, and passing input.asset whole counts as
# reading it.

# chain(facets) is the resource-hierarchy entries of the asset's ancestors
# (itself included) that the inventory holds.
chain(facets) := [n |
	some a in object.get(facets, "ancestors", [])
	n := data.vigil.inventory.nodes[a]
]

# audit_configs(facets) are the audit configs set on the asset or any of its
# ancestors; GCP applies their union.
audit_configs(facets) := array.concat(
	object.get(facets, "audit_configs", []),
	[c | some n in chain(facets); some c in object.get(n, "audit_configs", [])],
)

# bindings(facets) are the IAM bindings on the asset or any of its ancestors.
bindings(facets) := array.concat(
	object.get(facets, "bindings", []),
	[b | some n in chain(facets); some b in object.get(n, "bindings", [])],
)

# members(facets) are all principals bound on the asset or an ancestor.
members(facets) := {m | some b in bindings(facets); some m in b.members}

# --- issue 19 helpers ---------------------------------------------------

# now_ns is the scan's clock (data.vigil.clock, fixed when the scan starts).
now_ns := data.vigil.clock.now_ns

day_ns := ((24 * 60) * 60) * 1000000000

# days_since(ts) is how many whole days ago an RFC 3339 time was.
days_since(ts) := floor((now_ns - time.parse_rfc3339_ns(ts)) / day_ns)

# truthy(v) reads a GCP metadata boolean ("TRUE", "true", "1", "yes", "y").
truthy(v) if lower(v) in {"true", "1", "yes", "y", "on"}

# metadata(facets, key) is an instance's effective metadata value: its own,
# else its project's (facets.inherited), as Compute Engine resolves it.
metadata(facets, key) := facets.metadata[key]

metadata(facets, key) := v if {
	not facets.metadata[key]
	some n in object.get(facets, "inherited", [])
	startswith(n.node, "projects/")
	v := n.metadata[key]
}

# account_of(arn) is the account id of an AWS ARN, or the id itself.
account_of(arn) := split(arn, ":")[4] if startswith(arn, "arn:")

account_of(id) := id if not startswith(id, "arn:")

# planned holds for an asset of a Terraform plan. A project or account a
# plan creates or changes shows only what the plan holds: its trails,
# detectors, alerts, scanners and the grants it inherits are made
# elsewhere, so policies about what a whole account or project lacks do
# not judge it.
planned if input.asset.change

# --- the internet, per address family ---------------------------------

# family(cidr) is "ipv6" for an IPv6 range or address, else "ipv4".
family(c) := "ipv6" if contains(c, ":")

family(c) := "ipv4" if not contains(c, ":")

world_of := {"ipv4": "0.0.0.0/0", "ipv6": "::/0"}

# internet(sources, fam): the sources, taken together, hold every address
# of the family (0.0.0.0/0, or 0.0.0.0/1 with 128.0.0.0/1, ...): the test
# of engine/asset CoversInternet, with net.cidr_merge. The exact /0 is the
# cheap, usual case; the merge runs only for several sources.
internet(sources, fam) if world_of[fam] in sources

internet(sources, fam) if {
	not world_of[fam] in sources
	count(sources) > 1
	world_of[fam] in net.cidr_merge([s | some s in sources; net.cidr_is_valid(s); family(s) == fam])
}

# internet_families(sources) are the families whose whole internet the
# sources hold.
internet_families(sources) := {f | some f in {"ipv4", "ipv6"}; internet(sources, f)}

# acl_open(entries, port, fam): network ACL entries (priority = rule
# number, the first match decides) admit every address of the family to
# the port. The allow entries that cover the port count, less those that
# the earlier denies of the port, together, shut to the whole family: a
# deny blocks only the traffic it matches, so a narrow deny (one abusive
# /24, even half the space) ahead of a 0.0.0.0/0 allow leaves the port
# open to the rest of the internet, as on GCP only a deny of the whole
# internet closes a world-open rule. Together the counted allows must
# hold the whole family.
acl_open(entries, port, fam) if internet(acl_allowed(entries, port, fam), fam)

acl_allowed(entries, port, fam) := [s |
	some e in entries
	e.action == "allow"
	covers_port(e, port)
	some s in e.sources
	net.cidr_is_valid(s)
	family(s) == fam
	not acl_denied_before(entries, e, s, port)
]

# acl_rules(entries, port, fam) are the rule numbers of the allow entries
# acl_allowed counts.
acl_rules(entries, port, fam) := sort({e.priority |
	some e in entries
	e.action == "allow"
	covers_port(e, port)
	some s in e.sources
	net.cidr_is_valid(s)
	family(s) == fam
	not acl_denied_before(entries, e, s, port)
})

# acl_denied_before: the denies of the port numbered before e, together,
# hold the whole internet of s's family.
acl_denied_before(entries, e, s, port) if {
	internet(
		[ds |
			some d in entries
			d.action == "deny"
			d.priority < e.priority
			covers_port(d, port)
			some ds in d.sources
			net.cidr_is_valid(ds)
			family(ds) == family(s)
		],
		family(s),
	)
}
