runbook "compromised-ec2" {
  title       = "Contain a compromised EC2 instance, evidence first"
  description = <<-EOT
    Record the instance, snapshot its volumes, share the snapshots with the
    security account and copy them there, hash every byte of the copies
    (EBS direct APIs) and read CloudTrail around the detection, then swap
    its security groups for an isolation group with no rules and stop it.
    Terminating it is optional, needs an approval, and is refused unless
    an evidence step of the same run snapshotted or hashed each volume.
  EOT
  tags = ["aws", "ec2", "containment", "forensics"]

  variable "instance" {
    type        = string
    description = "The instance id (i-...) or ARN"
  }

  variable "incident" {
    type        = string
    description = "Incident id, used in tags and messages"
  }

  variable "security_account" {
    type        = string
    default     = "333333333333"
    description = "Account that keeps the evidence"
    validation {
      condition     = can(regex("^[0-9]{12}$", var.security_account))
      error_message = "An AWS account id has 12 digits."
    }
  }

  variable "evidence_kms_key" {
    type        = string
    default     = ""
    description = "Customer managed KMS key the security account may use: snapshots encrypted with the AWS managed key are re-encrypted with it, as only such copies can be shared"
  }

  variable "detected_at" {
    type        = string
    default     = ""
    description = "When the alert fired (RFC 3339, 2026-11-27T09:00:00Z): CloudTrail is read from 24h before to 6h after it; empty skips the activity timeline"
  }

  variable "principal" {
    type        = string
    default     = ""
    description = "The principal of the alert (an access key id, user or role name or ARN): its CloudTrail events are read too"
  }

  variable "hash_content" {
    type        = bool
    default     = true
    description = "Hash the content of the evidence copies (reads every block of each volume: time and EBS direct API requests grow with the volume size)"
  }

  variable "stop" {
    type    = bool
    default = true
  }

  variable "terminate" {
    type        = bool
    default     = false
    description = "Terminate the instance once the evidence is safe"
  }

  # vigil runbook plan compromised-ec2 --from-alert FILE takes these from a provider alert.
  from_alert {
    instance    = alert.resource.id
    incident    = alert.incident
    detected_at = alert.time
  }

  phase "identification" {
    step "record" {
      action = "core.evidence"
      args = {
        assets = [for a in assets({ kind = "instance", id = "*${var.instance}" }) : a.id]
        note   = "state of the instance when ${var.incident} response began"
      }
    }
  }

  phase "investigation" {
    step "snapshot" {
      action = "aws.ec2.snapshot_instance_volumes"
      args = {
        instance = var.instance
        tags     = { incident = var.incident }
      }
      evidence = true
      timeout  = "1h"
      retry {
        attempts = 5
        backoff  = "15s"
      }
    }

    step "share" {
      action = "aws.ec2.share_snapshot"
      args = {
        snapshot_ids = step.snapshot.outputs.snapshot_ids
        account      = var.security_account
        kms_key_id   = var.evidence_kms_key != "" ? var.evidence_kms_key : null
      }
    }

    step "copy" {
      description = "Copy into the security account, where the attacker's credentials do not reach"
      action      = "aws.ec2.copy_snapshot"
      args = {
        snapshot_ids = step.share.outputs.shared # re-encrypted copies where the originals cannot be shared
        tags         = { incident = var.incident }
      }
      evidence   = true
    }

    step "hash" {
      description = "SHA-256 of every byte of each copy, as sha256sum of a byte-for-byte image would give, with a block manifest"
      action      = "aws.ebs.hash_snapshot"
      when        = var.hash_content
      args        = { snapshot_ids = step.copy.outputs.snapshot_ids }
      evidence    = true
      timeout     = "12h"
      retry {
        attempts = 3
        backoff  = "30s"
      }
    }

    step "activity" {
      description = "What CloudTrail recorded of the instance and the principal before and after the detection"
      action      = "aws.cloudtrail.lookup_events"
      when        = var.detected_at != ""
      args = {
        at        = var.detected_at
        resource  = var.instance
        principal = var.principal != "" ? var.principal : null
      }
      evidence = true
    }
  }

  phase "containment" {
    step "isolate" {
      action = "aws.ec2.isolate_instance"
      args   = { instance = var.instance }
      approval {
        reason = "replaces every security group of the instance with one that allows nothing"
      }
    }

    step "stop" {
      action     = "aws.ec2.stop_instance"
      when       = var.stop
      args       = { instance = var.instance }
      depends_on = [step.isolate]
    }
  }

  phase "recovery" {
    step "terminate" {
      action = "aws.ec2.terminate_instance"
      when   = var.terminate
      args   = { instance = var.instance }
      approval {
        reason = "terminates the instance; only its snapshots remain"
      }
    }
  }

  output "evidence_snapshots" {
    value = step.copy.outputs.snapshot_ids
  }

  output "content_hashes" {
    value = step.hash.outputs.hashes
  }
}
