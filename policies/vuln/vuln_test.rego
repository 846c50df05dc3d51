package vigil.policies.vuln_test

import data.vigil.policies.vuln.exposed
import data.vigil.policies.vuln.unreachable
import rego.v1

cfg := {"admin_ports": [22, 3389]}

gcp_vm := "//compute.googleapis.com/projects/acme/zones/europe-west1-b/instances/web-1"

report(resource, vulns) := {"asset": {"kind": "vulnerability_report", "name": "r", "facets": {"resource": resource, "vulnerabilities": vulns}}}

critical := {"id": "CVE-2024-6387", "severity": "critical", "fixable": true, "package": "openssh-server"}

inst := {"name": "web-1", "public_ips": ["34.76.112.9"], "networks": ["projects/acme/global/networks/prod"], "network_tags": ["web"], "service_accounts": [], "security_groups": [], "subnets": []}

rule(action, tags, from, to, prio) := {"action": action, "protocol": "tcp", "ports": [{"from": from, "to": to}], "priority": prio, "target_tags": tags, "target_service_accounts": [], "sources": ["0.0.0.0/0"]}

from(r, sources) := object.union(r, {"sources": sources})

inv(rules) := {"scopes": {}, "nodes": {}, "exposure": {"instances": {gcp_vm: inst}, "networks": {"projects/acme/global/networks/prod": rules}, "groups": {}, "subnets": {}}}

# Must show: an internet-reachable instance with a fixable critical CVE...
test_exposed_critical_fires if {
	res := exposed.deny with input as report(gcp_vm, [critical]) with data.vigil.inventory as inv([rule("allow", ["web"], 22, 22, 1000)]) with data.vigil.config as cfg
	count(res) == 1
	some f in res
	f.details.cves == ["CVE-2024-6387"]
	f.details.open_ports == [22]
	count(unreachable.deny) == 0 with input as report(gcp_vm, [critical]) with data.vigil.inventory as inv([rule("allow", ["web"], 22, 22, 1000)]) with data.vigil.config as cfg
}

# ... and not the same CVE behind a closed firewall: a deny-all at
# priority 1 beats the allow at 1000.
test_closed_firewall_is_not_exposed if {
	rules := [rule("allow", ["web"], 22, 22, 1000), rule("deny", [], 0, 65535, 1)]
	count(exposed.deny) == 0 with input as report(gcp_vm, [critical]) with data.vigil.inventory as inv(rules) with data.vigil.config as cfg
	count(unreachable.deny) == 1 with input as report(gcp_vm, [critical]) with data.vigil.inventory as inv(rules) with data.vigil.config as cfg
}

test_rule_for_other_tag_does_not_reach if {
	count(exposed.deny) == 0 with input as report(gcp_vm, [critical]) with data.vigil.inventory as inv([rule("allow", ["db"], 22, 22, 1000)]) with data.vigil.config as cfg
}

test_unfixable_is_silent if {
	v := object.union(critical, {"fixable": false})
	count(exposed.deny) == 0 with input as report(gcp_vm, [v]) with data.vigil.inventory as inv([rule("allow", [], 22, 22, 1000)]) with data.vigil.config as cfg
	count(unreachable.deny) == 0 with input as report(gcp_vm, [v]) with data.vigil.inventory as inv([rule("allow", [], 22, 22, 1000)]) with data.vigil.config as cfg
}

test_medium_cve_is_silent if {
	v := object.union(critical, {"severity": "medium"})
	count(exposed.deny) == 0 with input as report(gcp_vm, [v]) with data.vigil.inventory as inv([rule("allow", [], 22, 22, 1000)]) with data.vigil.config as cfg
}

test_known_port_must_be_open if {
	v := object.union(critical, {"ports": [8443]})
	count(exposed.deny) == 0 with input as report(gcp_vm, [v]) with data.vigil.inventory as inv([rule("allow", [], 22, 22, 1000)]) with data.vigil.config as cfg
	count(exposed.deny) == 1 with input as report(gcp_vm, [v]) with data.vigil.inventory as inv([rule("allow", [], 8000, 9000, 1000)]) with data.vigil.config as cfg
}

test_instance_without_public_ip if {
	i := {"scopes": {}, "nodes": {}, "exposure": {"instances": {}, "networks": {}, "groups": {}, "subnets": {}}}
	count(exposed.deny) == 0 with input as report(gcp_vm, [critical]) with data.vigil.inventory as i with data.vigil.config as cfg
	res := unreachable.deny with input as report(gcp_vm, [critical]) with data.vigil.inventory as i with data.vigil.config as cfg
	some f in res
	contains(f.msg, "no public IP")
}

# An image's report says it is an image, and nothing of reachability,
# whether it is named by its URL or (a resourceUri that was not a URL) by
# the report itself.
test_image_report_is_not_called_unreachable if {
	i := {"scopes": {}, "nodes": {}, "exposure": {"instances": {}, "networks": {}, "groups": {}, "subnets": {}}}
	img := "https://europe-west1-docker.pkg.dev/acme/web/api@sha256:4d0c"
	res := unreachable.deny with input as image_report(img, [critical]) with data.vigil.inventory as i with data.vigil.config as cfg
	count(res) == 1
	some f in res
	f.msg == "https://europe-west1-docker.pkg.dev/acme/web/api@sha256:4d0c has 1 fixable critical/high vulnerabilities (CVE-2024-6387) in a container image: rebuild it on the fixed packages; whether what runs the image is reachable from the internet is not assessed"
	self := "//containeranalysis.googleapis.com/projects/acme/imageVulnerabilities/x"
	own := object.union(report(self, [critical]), {"asset": {"type": "containeranalysis.googleapis.com/ImageVulnerabilities"}})
	some g in unreachable.deny with input as own with data.vigil.inventory as i with data.vigil.config as cfg
	contains(g.msg, "in a container image")
	not contains(g.msg, "not reachable")
	count(exposed.deny) == 0 with input as image_report(img, [critical]) with data.vigil.inventory as i with data.vigil.config as cfg
}

image_report(resource, vulns) := object.union(report(resource, vulns), {"asset": {"type": "containeranalysis.googleapis.com/ImageVulnerabilities"}})

# A URL alone does not make an image: an OS Config or Inspector report
# about a machine named by an https link is still judged as a machine's.
test_url_is_not_an_image if {
	i := {"scopes": {}, "nodes": {}, "exposure": {"instances": {}, "networks": {}, "groups": {}, "subnets": {}}}
	some f in unreachable.deny with input as report("https://www.googleapis.com/compute/v1/projects/acme/zones/europe-west1-b/instances/web-1", [critical]) with data.vigil.inventory as i with data.vigil.config as cfg
	contains(f.msg, "no public IP")
	not contains(f.msg, "container image")
}

aws_vm := "arn:aws:ec2:eu-west-1:111:instance/i-1"

aws_inv(nacl) := {"scopes": {}, "nodes": {}, "exposure": {
	"instances": {aws_vm: {"name": "web", "public_ips": ["52.1.2.3"], "networks": ["vpc-1"], "network_tags": [], "service_accounts": [], "security_groups": ["sg-1"], "subnets": ["subnet-1"]}},
	"networks": {}, "groups": {"sg-1": [rule("allow", [], 443, 443, 0)]}, "subnets": nacl,
}}

test_aws_security_group_open if {
	count(exposed.deny) == 1 with input as report(aws_vm, [critical]) with data.vigil.inventory as aws_inv({}) with data.vigil.config as cfg
}

test_aws_nacl_denies_first if {
	nacl := {"subnet-1": [rule("deny", [], 0, 65535, 10), rule("allow", [], 0, 65535, 100)]}
	count(exposed.deny) == 0 with input as report(aws_vm, [critical]) with data.vigil.inventory as aws_inv(nacl) with data.vigil.config as cfg
}

test_aws_nacl_allows if {
	nacl := {"subnet-1": [rule("allow", [], 0, 65535, 100), rule("deny", [], 0, 65535, 32767)]}
	count(exposed.deny) == 1 with input as report(aws_vm, [critical]) with data.vigil.inventory as aws_inv(nacl) with data.vigil.config as cfg
}

# vigil's quarantine denies at priority 0, and in GCP a deny wins a tie:
# an allow at priority 0 does not get past it.
test_deny_wins_a_tie if {
	rules := [rule("allow", ["web"], 22, 22, 0), rule("deny", [], 0, 65535, 0)]
	count(exposed.deny) == 0 with input as report(gcp_vm, [critical]) with data.vigil.inventory as inv(rules) with data.vigil.config as cfg
}

# An IPv6 deny does not close the IPv4 door.
test_ipv6_deny_leaves_ipv4_open if {
	rules := [rule("allow", ["web"], 22, 22, 1000), from(rule("deny", [], 0, 65535, 1), ["::/0"])]
	count(exposed.deny) == 1 with input as report(gcp_vm, [critical]) with data.vigil.inventory as inv(rules) with data.vigil.config as cfg
}

# The /1 halves are the internet (i-halves of the review).
test_halves_reach if {
	rules := [from(rule("allow", ["web"], 22, 22, 1000), ["0.0.0.0/1", "128.0.0.0/1"])]
	count(exposed.deny) == 1 with input as report(gcp_vm, [critical]) with data.vigil.inventory as inv(rules) with data.vigil.config as cfg
}

# i-v6only: an IPv6-only instance is reached by a ::/0 rule, not by an
# IPv4 one.
v6_inv(sources) := {"scopes": {}, "nodes": {}, "exposure": {
	"instances": {aws_vm: {"name": "v6", "public_ips": ["2a05:d018::1"], "networks": ["vpc-1"], "network_tags": [], "service_accounts": [], "security_groups": ["sg-1"], "subnets": []}},
	"networks": {}, "groups": {"sg-1": [from(rule("allow", [], 22, 22, 0), sources)]}, "subnets": {},
}}

test_ipv6_only_instance if {
	count(exposed.deny) == 1 with input as report(aws_vm, [critical]) with data.vigil.inventory as v6_inv(["::/0"]) with data.vigil.config as cfg
	count(exposed.deny) == 0 with input as report(aws_vm, [critical]) with data.vigil.inventory as v6_inv(["0.0.0.0/0"]) with data.vigil.config as cfg
}

# i-v4nacl: NACL 90 denies ::/0, 100 allows 0.0.0.0/0 (sg-1 opens 443):
# the IPv4 instance is reached, the ::/0 entry does not match IPv4.
test_aws_nacl_ipv6_deny_first if {
	nacl := {"subnet-1": [from(rule("deny", [], 0, 65535, 90), ["::/0"]), rule("allow", [], 0, 65535, 100)]}
	count(exposed.deny) == 1 with input as report(aws_vm, [critical]) with data.vigil.inventory as aws_inv(nacl) with data.vigil.config as cfg
}

# Review bug 2: NACL 50 denies one /24 on every port, 100 allows
# 0.0.0.0/0; sg-1 opens 443 to the world. The rest of the internet still
# reaches 443, so the critical CVE is VULN-001 (critical), not VULN-002.
test_aws_nacl_narrow_deny_first_still_reached if {
	nacl := {"subnet-1": [from(rule("deny", [], 0, 65535, 50), ["198.51.100.0/24"]), rule("allow", [], 0, 65535, 100)]}
	count(exposed.deny) == 1 with input as report(aws_vm, [critical]) with data.vigil.inventory as aws_inv(nacl) with data.vigil.config as cfg
	count(unreachable.deny) == 0 with input as report(aws_vm, [critical]) with data.vigil.inventory as aws_inv(nacl) with data.vigil.config as cfg
}

# Denies of 0.0.0.0/1 (50) and 128.0.0.0/1 (60) together shut the IPv4
# internet before the allow at 100: not reached, VULN-002.
test_aws_nacl_halves_denied_not_reached if {
	nacl := {"subnet-1": [from(rule("deny", [], 0, 65535, 50), ["0.0.0.0/1"]), from(rule("deny", [], 0, 65535, 60), ["128.0.0.0/1"]), rule("allow", [], 0, 65535, 100)]}
	count(exposed.deny) == 0 with input as report(aws_vm, [critical]) with data.vigil.inventory as aws_inv(nacl) with data.vigil.config as cfg
	count(unreachable.deny) == 1 with input as report(aws_vm, [critical]) with data.vigil.inventory as aws_inv(nacl) with data.vigil.config as cfg
}
