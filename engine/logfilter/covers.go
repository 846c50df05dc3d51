package logfilter

import "slices"

// CISCalls are the CloudTrail API calls of the CIS AWS Foundations 3.0
// monitoring controls vigil implements (4.4 IAM policy changes, 4.5
// CloudTrail changes, 4.10 security group changes, 4.11 network ACL
// changes), with their event sources. VGL-LOG-003 groups them by control.
var CISCalls = map[string]string{
	"DeleteGroupPolicy": "iam.amazonaws.com", "DeleteRolePolicy": "iam.amazonaws.com", "DeleteUserPolicy": "iam.amazonaws.com",
	"PutGroupPolicy": "iam.amazonaws.com", "PutRolePolicy": "iam.amazonaws.com", "PutUserPolicy": "iam.amazonaws.com",
	"CreatePolicy": "iam.amazonaws.com", "DeletePolicy": "iam.amazonaws.com", "CreatePolicyVersion": "iam.amazonaws.com",
	"DeletePolicyVersion": "iam.amazonaws.com", "AttachRolePolicy": "iam.amazonaws.com", "DetachRolePolicy": "iam.amazonaws.com",
	"AttachUserPolicy": "iam.amazonaws.com", "DetachUserPolicy": "iam.amazonaws.com", "AttachGroupPolicy": "iam.amazonaws.com",
	"DetachGroupPolicy": "iam.amazonaws.com",
	"CreateTrail":       "cloudtrail.amazonaws.com", "UpdateTrail": "cloudtrail.amazonaws.com", "DeleteTrail": "cloudtrail.amazonaws.com",
	"StartLogging": "cloudtrail.amazonaws.com", "StopLogging": "cloudtrail.amazonaws.com",
	"AuthorizeSecurityGroupIngress": "ec2.amazonaws.com", "AuthorizeSecurityGroupEgress": "ec2.amazonaws.com",
	"RevokeSecurityGroupIngress": "ec2.amazonaws.com", "RevokeSecurityGroupEgress": "ec2.amazonaws.com",
	"CreateSecurityGroup": "ec2.amazonaws.com", "DeleteSecurityGroup": "ec2.amazonaws.com",
	"CreateNetworkAcl": "ec2.amazonaws.com", "CreateNetworkAclEntry": "ec2.amazonaws.com", "DeleteNetworkAcl": "ec2.amazonaws.com",
	"DeleteNetworkAclEntry": "ec2.amazonaws.com", "ReplaceNetworkAclEntry": "ec2.amazonaws.com",
	"ReplaceNetworkAclAssociation": "ec2.amazonaws.com",
}

// unrelated is an event no alerting filter should match: a filter that
// matches it matches (nearly) everything, which is noise, not an alert on
// a change.
var unrelated = Event{"eventName": "DescribeInstances", "eventSource": "ec2.amazonaws.com"}

// Covers lists the CIS calls (sorted) that the pattern matches whatever
// the event's other fields, and whether it matches an unrelated call too
// (catchAll: a pattern such as ($.eventName != X) matches everything else).
func (p *CloudWatchPattern) Covers() (calls []string, catchAll bool) {
	for call, src := range CISCalls {
		if p.Match(Event{"eventName": call, "eventSource": src}) == True {
			calls = append(calls, call)
		}
	}
	slices.Sort(calls)
	return calls, p.Match(unrelated) == True
}
