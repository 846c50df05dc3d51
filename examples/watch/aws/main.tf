# What `vigil watch` reads on AWS: EventBridge rules that send CloudTrail
# management events (the calls vigil re-reads assets for), GuardDuty findings
# and Security Hub findings to an SQS queue, with a dead-letter queue, the
# queue policy EventBridge needs, and a role with exactly what vigil calls.
#
# EventBridge rules are regional: apply this in every region you use (IAM
# calls arrive in us-east-1), or send the other regions' events to this
# region's default bus with a rule whose target is that bus.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "name" {
  description = "Name of the queue, the rules and the role"
  type        = string
  default     = "vigil-events"
}

variable "vigil_principal" {
  description = "Who runs vigil and assumes the role: an account root ARN, a role ARN, or an IRSA-style federated principal"
  type        = string
}

locals {
  # The calls vigil acts on, by event source (engine/event.CloudTrailEvents;
  # a test checks the two lists agree): those that open things and those
  # that close or remove them (so that an exposure closed and reopened is
  # announced again).
  cloudtrail_events = {
    "ec2.amazonaws.com" = ["AuthorizeSecurityGroupIngress", "ModifySecurityGroupRules", "CreateSecurityGroup", "RunInstances", "CreateVpc",
    "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "DeleteSecurityGroup", "TerminateInstances", "DeleteVpc"]
    "s3.amazonaws.com"         = ["PutBucketPolicy", "PutBucketAcl", "DeletePublicAccessBlock", "PutPublicAccessBlock", "DeleteBucketPolicy", "DeleteBucket"]
    "cloudtrail.amazonaws.com" = ["StopLogging", "DeleteTrail", "UpdateTrail", "StartLogging", "CreateTrail"]
    "guardduty.amazonaws.com"  = ["DeleteDetector", "UpdateDetector", "CreateDetector"]
    "iam.amazonaws.com"        = ["CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"]
  }
}

resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.name}-dlq"
  message_retention_seconds = 1209600 # 14 days, to look at what failed
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "events" {
  name                       = var.name
  visibility_timeout_seconds = 60 # vigil extends it while it works on a message
  receive_wait_time_seconds  = 20
  message_retention_seconds  = 345600
  sqs_managed_sse_enabled    = true
  # vigil dead-letters a message itself after its max_attempts; this catches
  # what a crashing consumer could not.
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = 10
  })
}

resource "aws_cloudwatch_event_rule" "cloudtrail" {
  name        = "${var.name}-cloudtrail"
  description = "Configuration changes vigil re-reads and judges"
  event_pattern = jsonencode({
    "detail-type" = ["AWS API Call via CloudTrail"]
    detail = {
      eventSource = keys(local.cloudtrail_events)
      eventName   = flatten(values(local.cloudtrail_events))
    }
  })
}

resource "aws_cloudwatch_event_rule" "guardduty" {
  name        = "${var.name}-guardduty"
  description = "GuardDuty findings, for triage cards"
  event_pattern = jsonencode({
    source        = ["aws.guardduty"]
    "detail-type" = ["GuardDuty Finding"]
  })
}

resource "aws_cloudwatch_event_rule" "securityhub" {
  name        = "${var.name}-securityhub"
  description = "Security Hub findings, for triage cards"
  event_pattern = jsonencode({
    source        = ["aws.securityhub"]
    "detail-type" = ["Security Hub Findings - Imported"]
    detail = {
      findings = { RecordState = ["ACTIVE"], Workflow = { Status = ["NEW"] } }
    }
  })
}

resource "aws_cloudwatch_event_target" "cloudtrail" {
  rule = aws_cloudwatch_event_rule.cloudtrail.name
  arn  = aws_sqs_queue.events.arn
}

resource "aws_cloudwatch_event_target" "guardduty" {
  rule = aws_cloudwatch_event_rule.guardduty.name
  arn  = aws_sqs_queue.events.arn
}

resource "aws_cloudwatch_event_target" "securityhub" {
  rule = aws_cloudwatch_event_rule.securityhub.name
  arn  = aws_sqs_queue.events.arn
}

# EventBridge may send to the queue, and only for these rules.
data "aws_iam_policy_document" "queue" {
  statement {
    sid       = "EventBridgeRules"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.cloudtrail.arn, aws_cloudwatch_event_rule.guardduty.arn, aws_cloudwatch_event_rule.securityhub.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy    = data.aws_iam_policy_document.queue.json
}

# vigil's role: consume the queue, dead-letter, and the read-only calls that
# re-read what an event changed (internal/provider/aws/read.go).
data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = [var.vigil_principal]
    }
  }
}

resource "aws_iam_role" "vigil" {
  name               = var.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "vigil" {
  statement {
    sid       = "ConsumeEvents"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.events.arn]
  }
  statement {
    sid       = "DeadLetter"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
  }
  statement {
    sid = "ReadChangedAssets"
    actions = [
      "ec2:DescribeSecurityGroups", "ec2:DescribeInstances", "ec2:DescribeVpcs",
      "s3:ListAllMyBuckets", "s3:GetBucketLocation", "s3:GetBucketPublicAccessBlock", "s3:GetBucketAcl", "s3:GetBucketPolicy", "s3:GetBucketTagging",
      "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors",
      "guardduty:GetDetector",
      "iam:ListAccessKeys", "iam:GetAccessKeyLastUsed",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "vigil" {
  name   = "vigil-watch"
  role   = aws_iam_role.vigil.id
  policy = data.aws_iam_policy_document.vigil.json
}

output "queue_url" {
  description = "watch \"aws\" { sqs { queue_url = ... } } in vigil.hcl"
  value       = aws_sqs_queue.events.url
}

output "dead_letter_queue_url" {
  value = aws_sqs_queue.dead_letter.url
}

output "role_arn" {
  value = aws_iam_role.vigil.arn
}
