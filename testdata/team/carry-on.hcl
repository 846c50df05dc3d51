# Three steps and no approval: the replica tests kill the serve replica
# that runs it between two steps, and another carries it on.
runbook "carry-on" {
  title = "Record, wait, log"

  phase "triage" {
    step "record" {
      action = "core.log"
      args   = { message = "started" }
    }
    step "work" {
      action     = "core.wait"
      args       = { duration = "200ms" }
      depends_on = [step.record]
    }
    step "done" {
      action     = "core.log"
      args       = { message = "done" }
      depends_on = [step.work]
    }
  }
}
