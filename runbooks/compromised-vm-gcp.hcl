runbook "compromised-vm-gcp" {
  title       = "Contain a compromised Compute Engine VM, evidence first"
  description = <<-EOT
    Record the VM as found, snapshot every disk and copy the snapshots into
    the security project (hashed into the custody record), hash every byte
    of each snapshot on a short-lived worker VM there (with
    worker_service_account) and read the Cloud Audit Logs around the
    detection (with detected_at), then cut the VM off the network behind
    deny-all firewall rules and suspend it, keeping its memory for
    forensics. Nothing is deleted.
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

  variable "detected_at" {
    type        = string
    default     = ""
    description = "When the alert fired (RFC 3339, 2026-11-27T08:30:00Z): the audit logs are read from 24h before to 6h after it; empty skips the activity timeline"
  }

  variable "principal" {
    type        = string
    default     = ""
    description = "The principal of the alert (an email, or a service account key's name): its audit log entries are read too"
  }

  variable "worker_service_account" {
    type        = string
    default     = ""
    description = "Service account of the hashing worker VM in the security project, one that may only create objects in evidence_bucket; empty skips the content hash"
  }

  variable "evidence_bucket" {
    type        = string
    default     = "acme-sec-evidence"
    description = "Bucket (NAME or gs://NAME/PREFIX) in the security project for the worker's result objects"
  }

  variable "worker_subnetwork" {
    type        = string
    default     = ""
    description = "Subnetwork of the worker (projects/P/regions/R/subnetworks/S), with Private Google Access so that it reaches Cloud Storage without an external IP; empty for the security project's default network"
  }

  variable "worker_zone" {
    type        = string
    default     = ""
    description = "Zone of the worker and its disks; empty for the VM's own zone"
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
    instance    = alert.resource.id
    incident    = alert.incident
    detected_at = alert.time
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

    step "hash" {
      description = "SHA-256 of every byte of each snapshot, read by a worker VM in the security project, which is deleted after"
      action      = "gcp.compute.hash_snapshot"
      when        = var.worker_service_account != ""
      args = {
        snapshots       = [for s in step.snapshot.outputs.snapshots : s.id]
        project         = var.security_project
        zone            = var.worker_zone != "" ? var.worker_zone : regex("zones/([^/]+)/instances/", var.instance)[0]
        bucket          = var.evidence_bucket
        service_account = var.worker_service_account
        subnetwork      = var.worker_subnetwork != "" ? var.worker_subnetwork : null
      }
      evidence = true
      timeout  = "12h"
      retry {
        attempts = 2
        backoff  = "1m"
      }
    }

    step "activity" {
      description = "What Cloud Audit Logs recorded of the VM and the principal before and after the detection"
      action      = "gcp.logging.list_entries"
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

  output "content_hashes" {
    description = "SHA-256 of each snapshot's content"
    value       = step.hash.outputs.hashes
  }

  output "evidence_images" {
    description = "The disk images in the security project"
    value       = [for i in step.export.outputs.images : i.id]
  }
}
