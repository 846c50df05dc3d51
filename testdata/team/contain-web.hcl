# A runbook whose containment step needs a second person's approval even in
# a rehearsal: the team tests (internal/cli, cmd/vigil) start it.
runbook "contain-web" {
  title = "Isolate a VM, approved by a second person"

  variable "instance" { type = string }
  variable "incident" { type = string }

  phase "containment" {
    step "isolate" {
      action = "gcp.compute.isolate_instance"
      args   = { instance = var.instance }
      approval {
        reason            = "cuts ${var.instance} off the network"
        distinct_approver = true
      }
    }
  }
}
