runbook "syntax" {
  phase "triage" {
    step "a" {
      action = "core.log"
      args   = { message = "a" } }  # expect: Missing newline after argument
    }
  }
}
