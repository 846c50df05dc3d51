# gcp.compute.delete_instance, for the sim-cloud parity test
# (cmd/vigil/parity_test.go): a run of its own, so that gcp-actions.hcl
# leaves the instance for its metadata to be compared.
runbook "parity-gcp-delete" {
  title = "Delete an instance, evidence first"

  variable "instance" { type = string }
  variable "incident" { type = string }

  phase "investigation" {
    step "snapshot" {
      action   = "gcp.compute.snapshot_instance_disks"
      args     = { instance = var.instance, destination_project = "acme-sec-forensics" }
      evidence = true
    }
  }

  phase "recovery" {
    step "delete" {
      action     = "gcp.compute.delete_instance"
      args       = { instance = var.instance }
      depends_on = [step.snapshot]
    }
  }
}
