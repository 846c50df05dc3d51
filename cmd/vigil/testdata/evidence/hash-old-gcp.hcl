# The evidence gate on Google Cloud (cmd/vigil/evidence_review16_test.go):
# the content hash of snapshots an earlier run made is evidence of those
# snapshots, not of the VM's disks now, so deleting the VM is refused.
runbook "hash-old-gcp" {
  variable "instance" { type = string }
  variable "incident" { type = string }
  variable "snapshots" { type = list(string) }
  variable "worker_service_account" { type = string }

  phase "investigation" {
    step "hash" {
      action = "gcp.compute.hash_snapshot"
      args = {
        snapshots       = var.snapshots
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
