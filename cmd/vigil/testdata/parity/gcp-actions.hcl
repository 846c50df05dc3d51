# The gcp.* actions no built-in runbook uses, for the sim-cloud parity test
# (cmd/vigil/parity_test.go): run once against the simulated cloud and once
# against gcpfake, from the same inventory, and compared.
runbook "parity-gcp-actions" {
  title = "Every gcp.* action the built-in runbooks leave out"

  variable "instance" { type = string }
  variable "key" { type = string }
  variable "incident" { type = string }

  phase "investigation" {
    step "snapshot" {
      action   = "gcp.compute.snapshot_instance_disks"
      args     = { instance = var.instance, destination_project = "acme-sec-forensics" }
      evidence = true
    }
  }

  phase "containment" {
    step "isolate" {
      action = "gcp.compute.isolate_instance"
      args   = { instance = var.instance, allow_ranges = ["10.99.0.0/24"] }
    }
    step "release" {
      action     = "gcp.compute.release_instance"
      args       = { instance = var.instance }
      depends_on = [step.isolate]
    }
    step "keys" {
      action     = "gcp.compute.remove_instance_ssh_keys"
      args       = { instance = var.instance, project_metadata = true }
      depends_on = [step.release]
    }
    step "disable_key" {
      action = "gcp.iam.disable_service_account_key"
      args   = { key = var.key }
    }
    step "suspend" {
      action     = "gcp.compute.suspend_instance"
      args       = { instance = var.instance }
      depends_on = [step.keys]
    }
    step "resume" {
      action     = "gcp.compute.resume_instance"
      args       = { instance = var.instance }
      depends_on = [step.suspend]
    }
    step "stop" {
      action     = "gcp.compute.stop_instance"
      args       = { instance = var.instance }
      depends_on = [step.resume]
    }
  }

  phase "recovery" {
    step "recreate" {
      action = "gcp.compute.create_instance_from_snapshot"
      args = {
        snapshot = step.snapshot.outputs.snapshots[0].id
        name     = "web-1-clean"
        zone     = "europe-west1-b"
        network  = "projects/acme-sec-forensics/global/networks/forensics-vpc"
      }
    }
  }
}
