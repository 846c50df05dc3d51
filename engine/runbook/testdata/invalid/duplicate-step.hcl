runbook "duplicate-step" {
  phase "triage" {
    step "a" {
      action = "core.log"
      args   = { message = "a" }
    }
    step "a" { # expect: Duplicate step
      action = "core.log"
      args   = { message = "b" }
    }
  }
}
