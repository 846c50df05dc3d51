runbook "bad-phase" {
  phase "contaiment" { # expect: Unknown phase | did you mean "containment"
    step "log" {
      action = "core.log"
      args   = { message = "x" }
    }
  }
}
