runbook "cycle" {
  phase "triage" {
    step "a" { # expect: Dependency cycle | step.a → step.b → step.a
      action     = "core.log"
      args       = { message = "a" }
      depends_on = [step.b]
    }
    step "b" {
      action = "core.log"
      args   = { message = "b ${step.a.outputs == null ? "" : ""}" }
    }
  }
}
