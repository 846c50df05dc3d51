# METADATA
# title: Risky changes that raise no alert
# description: |
#   Changes responders must hear about at once (security groups, network
#   ACLs, IAM policies and CloudTrail itself on AWS; firewall rules, routes,
#   networks and project ownership on GCP) raise no alert. AWS: a logging
#   multi-region trail delivers to CloudWatch Logs, a metric filter there
#   matches every API call of the change, and an enabled alarm with an
#   action watches its metric; or an enabled EventBridge rule with a target
#   matches the calls (or their service, without naming calls) where the
#   events arrive: EventBridge is regional, IAM (a global service) sends
#   its events to us-east-1 only, and CloudTrail, security group and
#   network ACL calls reach the rules of the region they are made in, so
#   an IAM rule must be in us-east-1 and the others in every region that
#   holds assets of the account (any region when none is known). GCP: a
#   log-based metric matches the change, and an enabled alert policy with a
#   notification channel watches it. CIS audits the metric filters and
#   alarms (log-based metrics and alert policies) only: its controls pass
#   only when some were read (custom.evidence), so an account alerted
#   through EventBridge alone is "not assessed" for them.
# custom:
#   id: VGL-LOG-003
#   severity: medium
#   kinds: [account, project]
#   phase: identification
#   frameworks: ["cis-aws-3.0:4.4", "cis-aws-3.0:4.5", "cis-aws-3.0:4.10", "cis-aws-3.0:4.11", "cis-gcp-3.0:2.4", "cis-gcp-3.0:2.7", "cis-gcp-3.0:2.8", "cis-gcp-3.0:2.9"]
#   evidence:
#     "cis-aws-3.0:4.4": [metric_filter.filter, alarm.metrics]
#     "cis-aws-3.0:4.5": [metric_filter.filter, alarm.metrics]
#     "cis-aws-3.0:4.10": [metric_filter.filter, alarm.metrics]
#     "cis-aws-3.0:4.11": [metric_filter.filter, alarm.metrics]
#     "cis-gcp-3.0:2.4": [log_metric.filter, alert_policy.metrics]
#     "cis-gcp-3.0:2.7": [log_metric.filter, alert_policy.metrics]
#     "cis-gcp-3.0:2.8": [log_metric.filter, alert_policy.metrics]
#     "cis-gcp-3.0:2.9": [log_metric.filter, alert_policy.metrics]
package vigil.policies.logging.change_alerts

import data.vigil.lib
import rego.v1

# The API calls of each change, as CIS AWS Foundations 3.0 4.4, 4.5, 4.10
# and 4.11 list them, with the event source an EventBridge rule may match.
aws_changes := {
	"IAM policy changes": {"source": "aws.iam", "global": true, "calls": [
		"DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy", "PutGroupPolicy", "PutRolePolicy",
		"PutUserPolicy", "CreatePolicy", "DeletePolicy", "CreatePolicyVersion", "DeletePolicyVersion",
		"AttachRolePolicy", "DetachRolePolicy", "AttachUserPolicy", "DetachUserPolicy", "AttachGroupPolicy",
		"DetachGroupPolicy",
	]},
	"CloudTrail changes": {"source": "aws.cloudtrail", "calls": ["CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging"]},
	"security group changes": {"source": "aws.ec2", "calls": [
		"AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress",
		"RevokeSecurityGroupEgress", "CreateSecurityGroup", "DeleteSecurityGroup",
	]},
	"network ACL changes": {"source": "aws.ec2", "calls": [
		"CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl", "DeleteNetworkAclEntry",
		"ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation",
	]},
}

info := lib.scope(input.asset.scope)

# The CIS control each change is, for details.controls.
cis := {
	"IAM policy changes": "cis-aws-3.0:4.4",
	"CloudTrail changes": "cis-aws-3.0:4.5",
	"security group changes": "cis-aws-3.0:4.10",
	"network ACL changes": "cis-aws-3.0:4.11",
	"project ownership changes": "cis-gcp-3.0:2.4",
	"firewall rule changes": "cis-gcp-3.0:2.7",
	"route changes": "cis-gcp-3.0:2.8",
	"network changes": "cis-gcp-3.0:2.9",
}

log_groups := {t.log_group |
	some t in object.get(info, "trails", [])
	t.multi_region == true
	t.logging == true
	t.log_group
}

alarmed(metrics) if {
	some a in object.get(info, "alarms", [])
	a.enabled
	count(a.targets) > 0
	some m in a.metrics
	m in metrics
}

# A metric filter covers a change when its pattern, parsed
# (engine/logfilter: the index's "calls"), matches every call of it
# whatever the other fields, and is not a catch-all (a pattern of !=
# terms matches everything: noise, not an alert on the change).
aws_covered(change) if {
	c := aws_changes[change]
	some f in object.get(info, "metric_filters", [])
	f.log_group in log_groups
	not f.catch_all
	every call in c.calls {
		call in object.get(f, "calls", [])
	}
	alarmed(f.metrics)
}

# An EventBridge rule covers a change when its event pattern (JSON)
# takes CloudTrail API calls ("AWS API Call via CloudTrail", or no
# detail-type) from the service, and every call of the change (detail.
# eventName, or no eventName at all: every call of the service). An
# "EC2 Instance State-change Notification" rule is not an API call rule.
aws_covered(change) if {
	object.get(aws_changes[change], "global", false)
	rule_in(change, "us-east-1")
}

aws_covered(change) if {
	not object.get(aws_changes[change], "global", false)
	count(asset_regions) > 0
	every region in asset_regions {
		rule_in(change, region)
	}
}

aws_covered(change) if {
	not object.get(aws_changes[change], "global", false)
	count(asset_regions) == 0
	some region in {object.get(r, "region", "") | some r in object.get(info, "event_rules", [])}
	rule_in(change, region)
}

# The regions that hold assets of the account (the index's regions).
asset_regions := {r | some r, _ in object.get(info, "regions", {})}

# rule_in(change, region): an enabled EventBridge rule of the region, with
# a target, matches the change's calls.
rule_in(change, region) if {
	c := aws_changes[change]
	some r in object.get(info, "event_rules", [])
	object.get(r, "region", "") == region
	r.enabled
	count(r.targets) > 0
	pattern := json.unmarshal(r.filter)
	c.source in object.get(pattern, "source", [])
	api_calls(pattern)
	rule_matches(object.get(pattern, "detail", {}), c.calls)
}

api_calls(pattern) if not pattern["detail-type"]

api_calls(pattern) if "AWS API Call via CloudTrail" in pattern["detail-type"]

rule_matches(detail, calls) if {
	names := detail.eventName
	every call in calls {
		call in names
	}
}

rule_matches(detail, _) if not detail.eventName

aws_missing := sort([c | some c, _ in aws_changes; not aws_covered(c)])

deny contains finding if {
	input.asset.provider == "aws"
	not lib.planned
	input.asset.kind == "account"
	count(aws_missing) > 0
	finding := {
		"msg": sprintf("account %s raises no alert on %s%s", [input.asset.scope, concat(", ", aws_missing), aws_note]),
		"details": {"unalerted": aws_missing, "controls": sort([cis[c] | some c in aws_missing])},
	}
}

aws_note := " (no logging multi-region trail delivers to CloudWatch Logs, and no EventBridge rule matches)" if count(log_groups) == 0

aws_note := "" if count(log_groups) > 0

# The changes of CIS GCP Foundations 3.0 2.4, 2.7, 2.8 and 2.9. A
# log-based metric covers one when its filter, parsed as the Logging query
# language reads it (engine/logfilter: the index's "changes"), matches
# every audit entry of the change (each method the benchmark names)
# whatever the entry's other fields, and is not a catch-all (a filter that
# matches unrelated entries too is noise, not an alert on the change).
gcp_changes := {"project ownership changes", "firewall rule changes", "route changes", "network changes"}

gcp_alerted(metric) if {
	some p in object.get(info, "alert_policies", [])
	p.enabled
	count(p.targets) > 0
	metric in p.metrics
}

gcp_covered(change) if {
	some m in object.get(info, "log_metrics", [])
	m.enabled
	change in object.get(m, "changes", [])
	not m.catch_all
	some metric in m.metrics
	gcp_alerted(metric)
}

gcp_missing := sort([c | some c in gcp_changes; not gcp_covered(c)])

deny contains finding if {
	input.asset.provider == "gcp"
	not lib.planned
	input.asset.kind == "project"
	count(gcp_missing) > 0
	finding := {
		"msg": sprintf("project %s raises no alert on %s (no log-based metric with an alert policy that notifies)", [input.asset.name, concat(", ", gcp_missing)]),
		"details": {"unalerted": gcp_missing, "controls": sort([cis[c] | some c in gcp_missing])},
	}
}
