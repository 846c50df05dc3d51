runbook "bad-on-error" {
  phase "triage" {
    step "a" {
      action   = "core.log"
      args     = { message = "a" }
      on_error = "ignore" # expect: Invalid on_error
    }
  }
}
