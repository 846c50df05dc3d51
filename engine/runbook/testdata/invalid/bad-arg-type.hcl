runbook "bad-arg-type" {
  variable "instance" { type = string }
  phase "investigation" {
    step "snapshot" {
      action = "gcp.compute.snapshot_instance_disks"
      args = {
        instance = var.instance
        labels   = ["incident", "INC-1"] # expect: Invalid argument type | must be map of string
      }
    }
  }
}
