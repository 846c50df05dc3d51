runbook "local-refers-step" {
  locals {
    ids = step.a.outputs # expect: Invalid reference in locals
  }
  phase "triage" {
    step "a" {
      action = "core.log"
      args   = { message = "a" }
    }
  }
}
