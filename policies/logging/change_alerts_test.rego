package vigil.policies.logging.change_alerts_test

import data.vigil.policies.logging.change_alerts as p
import rego.v1

acct := {"asset": {"provider": "aws", "kind": "account", "scope": "111", "facets": {}}}

trail := {"id": "t", "multi_region": true, "logging": true, "log_group": "trail-logs"}

sg_pattern := "{ ($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = AuthorizeSecurityGroupEgress) || ($.eventName = RevokeSecurityGroupIngress) || ($.eventName = RevokeSecurityGroupEgress) || ($.eventName = CreateSecurityGroup) || ($.eventName = DeleteSecurityGroup) }"

# What the index says of sg_pattern (engine/logfilter parses it: the six
# calls it matches; scan's TestScopeMore checks the parse).
sg_calls := ["AuthorizeSecurityGroupEgress", "AuthorizeSecurityGroupIngress", "CreateSecurityGroup", "DeleteSecurityGroup", "RevokeSecurityGroupEgress", "RevokeSecurityGroupIngress"]

sg_filter := {"log_group": "trail-logs", "filter": sg_pattern, "metrics": ["CISBenchmark/SecurityGroupEventCount"], "calls": sg_calls, "catch_all": false}

alarm := {"name": "sg", "metrics": ["CISBenchmark/SecurityGroupEventCount"], "targets": ["arn:aws:sns:eu-west-1:111:secops"], "enabled": true}

test_nothing_set_up if {
	res := p.deny with input as acct with data.vigil.inventory as {"scopes": {"111": {"trails": [trail]}}, "nodes": {}}
	some f in res
	count(f.details.unalerted) == 4
}

test_metric_filter_and_alarm_cover_security_groups if {
	inv := {"scopes": {"111": {"trails": [trail], "metric_filters": [sg_filter], "alarms": [alarm]}}, "nodes": {}}
	res := p.deny with input as acct with data.vigil.inventory as inv
	some f in res
	f.details.unalerted == ["CloudTrail changes", "IAM policy changes", "network ACL changes"]
	# CloudTrail 4.5, IAM 4.4, NACL 4.11: not 4.10, which is covered
	f.details.controls == ["cis-aws-3.0:4.11", "cis-aws-3.0:4.4", "cis-aws-3.0:4.5"]
}

test_alarm_without_action_does_not_alert if {
	inv := {"scopes": {"111": {"trails": [trail], "metric_filters": [sg_filter], "alarms": [object.union(alarm, {"targets": []})]}}, "nodes": {}}
	res := p.deny with input as acct with data.vigil.inventory as inv
	some f in res
	"security group changes" in f.details.unalerted
}

test_filter_on_other_log_group if {
	inv := {"scopes": {"111": {"trails": [trail], "metric_filters": [object.union(sg_filter, {"log_group": "app-logs"})], "alarms": [alarm]}}, "nodes": {}}
	res := p.deny with input as acct with data.vigil.inventory as inv
	some f in res
	"security group changes" in f.details.unalerted
}

iam_rule := {"name": "iam", "filter": "{\"source\":[\"aws.iam\"],\"detail-type\":[\"AWS API Call via CloudTrail\"]}", "targets": ["arn:aws:sns:x"], "enabled": true}

ct_rule := {"name": "ct", "filter": "{\"source\":[\"aws.cloudtrail\"]}", "targets": ["arn:aws:sns:x"], "enabled": true}

ec2_rule := {"name": "ec2", "filter": "{\"source\":[\"aws.ec2\"]}", "targets": ["arn:aws:sns:x"], "enabled": true}

in_region(r, region) := object.union(r, {"region": region})

# The account's assets are in eu-west-1 only: IAM events reach
# EventBridge in us-east-1 alone, so the IAM rule is there; CloudTrail and
# EC2 calls reach the rules of their own region, eu-west-1.
test_eventbridge_rules_cover_everything if {
	rules := [in_region(iam_rule, "us-east-1"), in_region(ct_rule, "eu-west-1"), in_region(ec2_rule, "eu-west-1")]
	count(p.deny) == 0 with input as acct with data.vigil.inventory as {"scopes": {"111": {"event_rules": rules, "regions": {"eu-west-1": {"assets": 4, "instances": 1}}}}, "nodes": {}}
}

# Review bug 4: all three rules in eu-west-1. No IAM event ever arrives
# there (IAM policy changes unalerted); CloudTrail and EC2 changes in
# eu-west-1 are alerted on.
test_eventbridge_iam_rule_outside_us_east_1 if {
	rules := [in_region(iam_rule, "eu-west-1"), in_region(ct_rule, "eu-west-1"), in_region(ec2_rule, "eu-west-1")]
	res := p.deny with input as acct with data.vigil.inventory as {"scopes": {"111": {"event_rules": rules, "regions": {"eu-west-1": {"assets": 4, "instances": 1}}}}, "nodes": {}}
	some f in res
	f.details.unalerted == ["IAM policy changes"]
	f.details.controls == ["cis-aws-3.0:4.4"]
}

# Assets in eu-west-1 and us-east-1, the CloudTrail and EC2 rules only in
# eu-west-1: changes made in us-east-1 raise no alert, so the three
# regional changes are unalerted; the IAM rule in us-east-1 covers IAM.
test_eventbridge_regional_rules_miss_a_region if {
	rules := [in_region(iam_rule, "us-east-1"), in_region(ct_rule, "eu-west-1"), in_region(ec2_rule, "eu-west-1")]
	regions := {"eu-west-1": {"assets": 4, "instances": 1}, "us-east-1": {"assets": 1, "instances": 0}}
	res := p.deny with input as acct with data.vigil.inventory as {"scopes": {"111": {"event_rules": rules, "regions": regions}}, "nodes": {}}
	some f in res
	f.details.unalerted == ["CloudTrail changes", "network ACL changes", "security group changes"]
}

test_disabled_rule_does_not_count if {
	rules := [{"name": "ec2", "filter": "{\"source\":[\"aws.ec2\"]}", "targets": ["arn:aws:sns:x"], "enabled": false}]
	res := p.deny with input as acct with data.vigil.inventory as {"scopes": {"111": {"event_rules": rules}}, "nodes": {}}
	some f in res
	count(f.details.unalerted) == 4
}

proj := {"asset": {"provider": "gcp", "kind": "project", "name": "acme", "scope": "acme", "facets": {}}}

# The index's "changes" are what engine/logfilter reads of the filter
# (TestGCPCovers tests the parsing).
fw_metric := {"name": "fw", "filter": "resource.type=\"gce_firewall_rule\" AND protoPayload.methodName:\"compute.firewalls\"", "changes": ["firewall rule changes"], "catch_all": false, "metrics": ["logging.googleapis.com/user/fw"], "enabled": true}

fw_alert := {"name": "fw", "metrics": ["logging.googleapis.com/user/fw"], "targets": ["projects/acme/notificationChannels/1"], "enabled": true}

test_gcp_firewall_alerted if {
	res := p.deny with input as proj with data.vigil.inventory as {"scopes": {"acme": {"log_metrics": [fw_metric], "alert_policies": [fw_alert]}}, "nodes": {}}
	some f in res
	f.details.unalerted == ["network changes", "project ownership changes", "route changes"]
	# network 2.9, ownership 2.4, route 2.8: not the firewall's 2.7
	f.details.controls == ["cis-gcp-3.0:2.4", "cis-gcp-3.0:2.8", "cis-gcp-3.0:2.9"]
}

test_gcp_metric_without_alert if {
	res := p.deny with input as proj with data.vigil.inventory as {"scopes": {"acme": {"log_metrics": [fw_metric]}}, "nodes": {}}
	some f in res
	"firewall rule changes" in f.details.unalerted
}

# An account a Terraform plan creates is not judged: its trail, filters
# and alarms are made elsewhere (an organization baseline), not in the plan.
test_planned_account_is_not_judged if {
	planned := {"asset": object.union(acct.asset, {"change": {"actions": ["create"]}})}
	count(p.deny) == 0 with input as planned with data.vigil.inventory as {"scopes": {"111": {"trails": [trail]}}, "nodes": {}}
}

# aws4 of the review. A filter missing one call of the change does not
# cover it (the IAM filter without CreatePolicy and DeletePolicy).
test_filter_missing_a_call if {
	f := object.union(sg_filter, {"calls": [c | some c in sg_calls; c != "DeleteSecurityGroup"]})
	inv := {"scopes": {"111": {"trails": [trail], "metric_filters": [f], "alarms": [alarm]}}, "nodes": {}}
	res := p.deny with input as acct with data.vigil.inventory as inv
	some r in res
	"security group changes" in r.details.unalerted
}

# A catch-all (!= terms) matches every call but alerts on everything.
test_catch_all_filter if {
	f := object.union(sg_filter, {"catch_all": true})
	inv := {"scopes": {"111": {"trails": [trail], "metric_filters": [f], "alarms": [alarm]}}, "nodes": {}}
	res := p.deny with input as acct with data.vigil.inventory as inv
	some r in res
	"security group changes" in r.details.unalerted
}

# An EC2 state-change rule is no API call rule; a CloudTrail rule for
# StopLogging alone does not cover CloudTrail changes.
test_eventbridge_rules_that_do_not_cover if {
	rules := [
		{"name": "ec2-state", "filter": `{"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]}`, "targets": ["arn:aws:sns:x"], "enabled": true},
		{"name": "ct", "filter": `{"source": ["aws.cloudtrail"], "detail-type": ["AWS API Call via CloudTrail"], "detail": {"eventName": ["StopLogging"]}}`, "targets": ["arn:aws:sns:x"], "enabled": true},
	]
	res := p.deny with input as acct with data.vigil.inventory as {"scopes": {"111": {"event_rules": rules}}, "nodes": {}}
	some r in res
	r.details.unalerted == ["CloudTrail changes", "IAM policy changes", "network ACL changes", "security group changes"]
}

test_eventbridge_rule_naming_every_call if {
	rules := [{"name": "ct", "filter": `{"source": ["aws.cloudtrail"], "detail": {"eventName": ["CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging"]}}`, "targets": ["arn:aws:sns:x"], "enabled": true}]
	res := p.deny with input as acct with data.vigil.inventory as {"scopes": {"111": {"event_rules": rules}}, "nodes": {}}
	some r in res
	not "CloudTrail changes" in r.details.unalerted
}

# gcp1 of the review: a metric on gce_router is not one on routes.
test_router_is_not_route if {
	m := {"name": "rt", "filter": "resource.type=\"gce_router\"", "changes": [], "catch_all": false, "metrics": ["logging.googleapis.com/user/rt"], "enabled": true}
	a := {"name": "rt", "metrics": ["logging.googleapis.com/user/rt"], "targets": ["projects/acme/notificationChannels/1"], "enabled": true}
	res := p.deny with input as proj with data.vigil.inventory as {"scopes": {"acme": {"log_metrics": [m], "alert_policies": [a]}}, "nodes": {}}
	some r in res
	"route changes" in r.details.unalerted
}

test_route_metric_covers_routes if {
	m := {"name": "rt", "filter": "resource.type=\"gce_route\" AND (protoPayload.methodName:\"compute.routes.delete\" OR protoPayload.methodName:\"compute.routes.insert\")", "changes": ["route changes"], "catch_all": false, "metrics": ["logging.googleapis.com/user/rt"], "enabled": true}
	a := {"name": "rt", "metrics": ["logging.googleapis.com/user/rt"], "targets": ["projects/acme/notificationChannels/1"], "enabled": true}
	res := p.deny with input as proj with data.vigil.inventory as {"scopes": {"acme": {"log_metrics": [m], "alert_policies": [a]}}, "nodes": {}}
	some r in res
	not "route changes" in r.details.unalerted
}

# A catch-all metric (NOT resource.type="gce_instance") matches the
# changes but alerts on everything: it covers none.
test_gcp_catch_all_metric if {
	m := object.union(fw_metric, {"filter": "NOT resource.type=\"gce_instance\"", "changes": ["firewall rule changes", "network changes", "route changes"], "catch_all": true})
	res := p.deny with input as proj with data.vigil.inventory as {"scopes": {"acme": {"log_metrics": [m], "alert_policies": [fw_alert]}}, "nodes": {}}
	some r in res
	r.details.unalerted == ["firewall rule changes", "network changes", "project ownership changes", "route changes"]
}
