runbook "shadow-project-triage" {
  title       = "Triage a shadow project outside the approved networks"
  description = <<-EOT
    Take stock of a project nobody declared: record its assets, list what
    the posture policies find there, tell its owner, and, when asked, cut
    its public instances off the network.
  EOT
  tags = ["gcp", "triage", "posture"]

  variable "project" {
    type        = string
    description = "The project id"
  }

  variable "incident" {
    type    = string
    default = "shadow-it"
  }

  variable "contain" {
    type        = bool
    default     = false
    description = "Isolate the project's instances that have a public IP"
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
    assets   = assets({ scope = var.project })
    findings = findings({ scope = var.project })
    public   = toset([for a in assets({ scope = var.project, kind = "instance" }) : a.id if length(try(a.facets.public_ips, [])) > 0])
    owners   = distinct(compact([for a in local.assets : try(a.labels.owner, "")]))
  }

  phase "identification" {
    step "exists" {
      action = "core.assert"
      args = {
        condition = length(local.assets) > 0
        message   = "project ${var.project} is in the inventory"
      }
    }

    step "record" {
      action     = "core.evidence"
      args       = { values = { assets = [for a in local.assets : a.id] }, note = "assets of ${var.project} at triage" }
      depends_on = [step.exists]
    }
  }

  phase "triage" {
    step "summary" {
      action = "core.log"
      args = {
        message = format("%s: %d assets, %d findings, %d public instances, owners: %s", var.project, length(local.assets), length(local.findings), length(local.public), length(local.owners) > 0 ? join(", ", local.owners) : "none labelled")
      }
    }

    step "notify" {
      action   = "core.notify"
      when     = var.notify_url != ""
      args     = { url = var.notify_url, message = "${var.incident}: project ${var.project} is outside the approved networks (${length(local.findings)} findings)" }
      on_error = "continue"
    }
  }

  phase "containment" {
    step "isolate" {
      action   = "gcp.compute.isolate_instance"
      for_each = var.contain ? local.public : toset([])
      args     = { instance = each.value }
      approval {
        reason = "cuts a public instance of the shadow project off the network"
      }
    }
  }

  output "findings" {
    value = length(local.findings)
  }
}
