runbook "unknown-action" {
  variable "instance" { type = string }
  phase "containment" {
    step "isolate" {
      action = "gcp.compute.isolate_instnce" # expect: Unknown action | Did you mean "gcp.compute.isolate_instance"
      args   = { instance = var.instance }
    }
  }
}
