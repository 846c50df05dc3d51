runbook "later-phase" {
  phase "investigation" {
    step "a" {
      action = "core.log"
      args   = { message = step.b.outputs == null ? "x" : "y" } # expect: Reference to a later phase
    }
  }
  phase "containment" {
    step "b" {
      action = "core.log"
      args   = { message = "b" }
    }
  }
}
