runbook "open-firewall-remediation" {
  title       = "Close admin ports open to the internet"
  description = <<-EOT
    For every VGL-NET-001 finding, record the rule as found, then on Google
    Cloud restrict its sources to the given ranges (or delete it), and on
    AWS revoke exactly the world-open rules that reach an admin port. A
    final scan shows what is left.
  EOT
  tags = ["aws", "gcp", "network", "posture"]

  variable "mode" {
    type        = string
    default     = "restrict"
    description = "restrict (replace 0.0.0.0/0 with allowed_ranges) or delete the Google firewall rules"
    validation {
      condition     = contains(["restrict", "delete"], var.mode)
      error_message = "mode is restrict or delete."
    }
  }

  variable "allowed_ranges" {
    type        = list(string)
    default     = ["35.235.240.0/20"]
    description = "Ranges that keep access when restricting (default: Identity-Aware Proxy)"
  }

  variable "admin_ports" {
    type    = list(number)
    default = [22, 3389]
  }

  locals {
    gcp_rules = toset([for f in findings({ policy = "VGL-NET-001", provider = "gcp" }) : f.asset_id])
    aws_rules = toset([for f in findings({ policy = "VGL-NET-001", provider = "aws" }) : f.asset_id])
  }

  phase "identification" {
    step "scan" {
      action = "core.scan"
      args   = { policies = ["VGL-NET-001"] }
    }
  }

  phase "investigation" {
    step "record" {
      description = "Hash each firewall as found: evidence for the review, and what allows deleting it"
      action      = "core.evidence"
      for_each    = setunion(local.gcp_rules, local.aws_rules)
      args = {
        assets = [each.value]
        note   = "world-open firewall before remediation"
      }
      evidence = true
    }
  }

  phase "containment" {
    step "restrict" {
      action   = "gcp.compute.restrict_firewall"
      for_each = var.mode == "restrict" ? local.gcp_rules : toset([])
      args = {
        firewall      = each.value
        source_ranges = var.allowed_ranges
      }
      approval {
        reason = "changes who can reach the instances behind this rule"
      }
    }

    step "delete" {
      action   = "gcp.compute.delete_firewall"
      for_each = var.mode == "delete" ? local.gcp_rules : toset([])
      args     = { firewall = each.value }
    }

    step "revoke" {
      action   = "aws.ec2.revoke_open_ingress"
      for_each = local.aws_rules
      args = {
        security_group = each.value
        ports          = var.admin_ports
      }
      approval {
        reason = "removes the world-open rules of this security group"
      }
    }
  }

  phase "lessons_learned" {
    step "rescan" {
      action = "core.scan"
      args   = { policies = ["VGL-NET-001"] }
    }
  }

  output "remaining" {
    value = step.rescan.outputs.count
  }
}
