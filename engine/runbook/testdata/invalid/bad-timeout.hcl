runbook "bad-timeout" {
  phase "triage" {
    step "a" {
      action  = "core.wait"
      args    = { duration = "1s" }
      timeout = "five minutes" # expect: Invalid timeout
    }
  }
}
