runbook "compromised-vm-gcp" {
  title       = "Contain a compromised Compute Engine VM, evidence first"
  description = <<-EOT
    Record the VM as found, snapshot every disk and copy the snapshots into
    the security project (hashed into the custody record), then cut the VM
    off the network behind deny-all firewall rules and suspend it, keeping
    its memory for forensics. Nothing is deleted.
  EOT
  tags = ["gcp", "compute", "containment", "forensics"]

  variable "instance" {
    type        = string
    description = "The VM: //compute.googleapis.com/projects/P/zones/Z/instances/N, or projects/P/zones/Z/instances/N"
  }

  variable "incident" {
    type        = string
    description = "Incident id, used in labels and messages (INC-2041)"
    validation {
      condition     = length(var.incident) > 0
      error_message = "Name the incident (INC-2041): it labels every snapshot for the custody record."
    }
  }

  variable "security_project" {
    type        = string
    default     = "acme-sec-forensics"
    description = "Project that keeps the evidence, owned by the security team"
  }

  variable "forensics_ranges" {
    type        = list(string)
    default     = []
    description = "Source ranges still allowed to reach the VM (the forensics workstation)"
  }

  variable "notify_url" {
    type        = string
    default     = ""
    description = "Webhook for the incident channel (Slack-compatible); empty to skip"
    # A webhook URL is a credential: plans, journals and the console show
    # (sensitive) instead.
    sensitive = true
  }

  # vigil runbook plan compromised-vm-gcp --from-alert FILE takes these from a provider alert.
  from_alert {
    instance = alert.resource.id
    incident = alert.incident
  }

  phase "identification" {
    step "record" {
      description = "Hash the VM's inventory record as it was when the response began"
      action      = "core.evidence"
      args = {
        assets = [var.instance]
        note   = "state of the VM when ${var.incident} response began"
      }
    }
  }

  phase "investigation" {
    step "snapshot" {
      description = "Snapshot every disk straight into the security project, out of the attacker's reach"
      action      = "gcp.compute.snapshot_instance_disks"
      args = {
        instance            = var.instance
        destination_project = var.security_project
        labels              = { incident = var.incident }
      }
      evidence = true
      timeout  = "30m"
      retry {
        attempts = 3
        backoff  = "10s"
      }
    }

    step "export" {
      description = "Make disk images of the snapshots in the security project: they boot a forensic VM there"
      action      = "gcp.compute.export_snapshots"
      args = {
        snapshots           = [for s in step.snapshot.outputs.snapshots : s.id]
        destination_project = var.security_project
        labels              = { incident = var.incident }
      }
      evidence = true
    }
  }

  phase "containment" {
    step "isolate" {
      action = "gcp.compute.isolate_instance"
      args = {
        instance     = var.instance
        allow_ranges = var.forensics_ranges
      }
      approval {
        reason = "cuts the VM off the network and removes its external IP"
      }
    }

    step "suspend" {
      description = "Suspend rather than stop: memory and open connections are kept for forensics"
      action      = "gcp.compute.suspend_instance"
      args        = { instance = var.instance }
      depends_on  = [step.isolate]
    }

    step "notify" {
      action = "core.notify"
      when   = var.notify_url != ""
      args = {
        url     = var.notify_url
        format  = "slack"
        message = "${var.incident}: ${var.instance} is isolated and suspended; evidence in ${var.security_project}"
      }
      depends_on = [step.suspend]
      on_error   = "continue"
    }
  }

  output "evidence_images" {
    description = "The disk images in the security project"
    value       = [for i in step.export.outputs.images : i.id]
  }
}
