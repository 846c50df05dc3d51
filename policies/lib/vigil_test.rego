package vigil.lib_test

import data.vigil.lib
import rego.v1

rule(sources, protocol, ports) := {"sources": sources, "protocol": protocol, "ports": ports, "action": "allow", "enabled": true}

test_world_open_ipv4 if lib.world_open(rule(["10.0.0.0/8", "0.0.0.0/0"], "tcp", []))

test_world_open_ipv6 if lib.world_open(rule(["::/0"], "tcp", []))

test_not_world_open if not lib.world_open(rule(["0.0.0.0/1", "10.0.0.0/8"], "tcp", []))

test_covers_port_range if lib.covers_port(rule([], "tcp", [{"from": 20, "to": 25}]), 22)

test_covers_port_edges if {
	lib.covers_port(rule([], "tcp", [{"from": 22, "to": 22}]), 22)
	not lib.covers_port(rule([], "tcp", [{"from": 23, "to": 25}]), 22)
}

test_icmp_covers_nothing if not lib.covers_port(rule([], "icmp", []), 22)

test_all_protocol_is_all_ports if lib.all_ports(rule([], "all", [{"from": 0, "to": 65535}]))

test_full_range_is_all_ports if lib.all_ports(rule([], "tcp", [{"from": 1, "to": 65535}]))

test_glob_any_crosses_slashes if lib.glob_any(["projects/acme-*/global/networks/*"], "projects/acme-prod/global/networks/vpc")

test_glob_any_no_match if not lib.glob_any(["vpc-0abc*"], "vpc-1234")

test_label_missing if {
	lib.label_missing({}, "owner")
	lib.label_missing({"owner": ""}, "owner")
	not lib.label_missing({"owner": "alice"}, "owner")
}

test_audit_configs_union_with_ancestors if {
	facets := {"ancestors": ["projects/1", "folders/2", "organizations/3"], "audit_configs": [{"service": "allServices", "log_types": ["DATA_READ"]}]}
	inv := {"scopes": {}, "nodes": {"organizations/3": {"audit_configs": [{"service": "allServices", "log_types": ["ADMIN_READ"]}]}}}
	configs := lib.audit_configs(facets) with data.vigil.inventory as inv
	count(configs) == 2
}

test_days_since if {
	lib.days_since("2026-11-01T00:00:00Z") == 26 with data.vigil.clock.now_ns as time.parse_rfc3339_ns("2026-11-27T09:00:00Z")
}

test_effective_metadata_instance_wins if {
	f := {"metadata": {"enable-oslogin": "FALSE"}, "inherited": [{"node": "projects/1", "metadata": {"enable-oslogin": "TRUE"}}]}
	lib.metadata(f, "enable-oslogin") == "FALSE"
}

test_effective_metadata_from_project if {
	f := {"metadata": {}, "inherited": [{"node": "projects/1", "metadata": {"enable-oslogin": "TRUE"}}]}
	lib.truthy(lib.metadata(f, "enable-oslogin"))
}

test_account_of if {
	lib.account_of("arn:aws:iam::999999999999:role/IR") == "999999999999"
	lib.account_of("999999999999") == "999999999999"
}
