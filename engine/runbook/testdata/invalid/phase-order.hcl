runbook "phase-order" {
  phase "containment" {
    step "a" {
      action = "core.log"
      args   = { message = "a" }
    }
  }
  phase "identification" { # expect: Phases out of order | comes before "containment"
    step "b" {
      action = "core.log"
      args   = { message = "b" }
    }
  }
}
