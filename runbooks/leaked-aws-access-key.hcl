runbook "leaked-aws-access-key" {
  title       = "Respond to a leaked AWS access key"
  description = <<-EOT
    Find the key and its user in the inventory, record them, deactivate the
    key at once, and cut the user's permissions with a deny-all policy (old
    sessions included). Deleting the key is optional and needs an approval.
  EOT
  tags = ["aws", "iam", "credentials"]

  variable "access_key_id" {
    type        = string
    description = "The leaked key (AKIA...)"
    validation {
      condition     = can(regex("^(AKIA|ASIA)[A-Z0-9]{12,}$", var.access_key_id))
      error_message = "An AWS access key id starts with AKIA or ASIA."
    }
  }

  variable "incident" {
    type = string
  }

  variable "detected_at" {
    type        = string
    default     = ""
    description = "When the key was reported leaked (RFC 3339): what it did is read from CloudTrail from 24h before to 6h after; empty skips it"
  }

  variable "delete_key" {
    type    = bool
    default = false
  }

  variable "notify_url" {
    type        = string
    default     = ""
    description = "Webhook for the incident channel (Slack-compatible); empty to skip"
    # A webhook URL is a credential: plans, journals and the console show
    # (sensitive) instead.
    sensitive = true
  }

  locals {
    key     = assets({ kind = "access_key", name = var.access_key_id })
    user    = length(local.key) > 0 ? local.key[0].facets.user : ""
    account = length(local.key) > 0 ? local.key[0].scope : ""
  }

  # vigil runbook plan leaked-aws-access-key --from-alert FILE takes these from a provider alert.
  from_alert {
    access_key_id = alert.resource.access_key_id
    incident      = alert.incident
    detected_at   = alert.time
  }

  phase "identification" {
    step "found" {
      action = "core.assert"
      args = {
        condition = length(local.key) == 1
        message   = "access key ${var.access_key_id} is in the inventory"
      }
    }

    step "keys" {
      description = "Every key of the user: a second active key may be leaked too"
      action      = "aws.iam.list_access_keys"
      args        = { user = local.user }
      depends_on  = [step.found]
    }

    step "record" {
      action = "core.evidence"
      args = {
        assets = [for k in local.key : k.id]
        note   = "the leaked key as ${var.incident} began"
      }
      depends_on = [step.found]
    }

    step "activity" {
      description = "What the key did, before and after the detection, from CloudTrail"
      action      = "aws.cloudtrail.lookup_events"
      when        = var.detected_at != ""
      args = {
        at        = var.detected_at
        principal = var.access_key_id
        regions   = distinct(concat(["us-east-1"], [for r in assets({ kind = "instance" }) : r.region if r.scope == local.account]))
      }
      evidence   = true
      depends_on = [step.found]
    }
  }

  phase "containment" {
    step "deactivate" {
      action = "aws.iam.deactivate_access_key"
      args = {
        access_key_id = var.access_key_id
        user          = local.user
      }
    }

    step "deny_all" {
      action = "aws.iam.attach_deny_all_policy"
      args   = { principal = "arn:aws:iam::${local.account}:user/${local.user}" }
      approval {
        reason = "revokes every permission of ${local.user}, including sessions already issued"
      }
    }

    step "notify" {
      action   = "core.notify"
      when     = var.notify_url != ""
      args     = { url = var.notify_url, format = "slack", message = "${var.incident}: key ${var.access_key_id} of ${local.user} is deactivated" }
      on_error = "continue"
    }
  }

  phase "recovery" {
    step "delete" {
      action = "aws.iam.delete_access_key"
      when   = var.delete_key
      args = {
        access_key_id = var.access_key_id
        user          = local.user
      }
    }
  }

  output "user" {
    value = local.user
  }

  output "other_keys" {
    value = [for k in step.keys.outputs.keys : k.id if k.id != var.access_key_id]
  }
}
