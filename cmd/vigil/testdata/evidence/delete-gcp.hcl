# The evidence gate on Google Cloud (cmd/vigil/evidence_gcp_test.go): a
# hash of the VM's record is not evidence of its disks, so deleting it is
# refused; after a snapshot of each disk and the content hash of each
# snapshot (content = true), it is allowed.
runbook "delete-gcp" {
  title = "Delete a VM after a record hash, or after its snapshots and their hashes"

  variable "instance" { type = string }
  variable "incident" { type = string }
  variable "content" {
    type    = bool
    default = false
  }
  variable "worker_service_account" {
    type    = string
    default = ""
  }

  phase "identification" {
    step "record" {
      action = "core.evidence"
      args = {
        assets = [var.instance]
        note   = "the VM as found"
      }
    }
  }

  phase "investigation" {
    step "snapshot" {
      action   = "gcp.compute.snapshot_instance_disks"
      when     = var.content
      args     = { instance = var.instance, destination_project = "acme-sec-forensics" }
      evidence = true
    }

    step "hash" {
      action = "gcp.compute.hash_snapshot"
      when   = var.content
      args = {
        snapshots       = [for s in step.snapshot.outputs.snapshots : s.id]
        project         = "acme-sec-forensics"
        zone            = "europe-west1-b"
        bucket          = "gs://acme-sec-evidence/hashes"
        service_account = var.worker_service_account
        subnetwork      = "projects/acme-sec-forensics/regions/europe-west1/subnetworks/forensics-ew1"
      }
      evidence = true
    }
  }

  phase "recovery" {
    step "delete" {
      action     = "gcp.compute.delete_instance"
      args       = { instance = var.instance }
      depends_on = [step.hash]
    }
  }
}
