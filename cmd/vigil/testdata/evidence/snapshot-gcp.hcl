# Snapshots of a VM's disks, not kept as evidence: an earlier run whose
# snapshots hash-old-gcp.hcl hashes (cmd/vigil/evidence_review16_test.go).
runbook "snapshot-gcp" {
  variable "instance" { type = string }
  variable "incident" { type = string }

  phase "investigation" {
    step "snapshot" {
      action = "gcp.compute.snapshot_instance_disks"
      args   = { instance = var.instance, destination_project = "acme-sec-forensics" }
    }
  }
}
