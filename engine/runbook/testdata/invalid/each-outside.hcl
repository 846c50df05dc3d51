runbook "each-outside" {
  phase "containment" {
    step "stop" {
      action = "gcp.compute.stop_instance"
      args   = { instance = each.value } # expect: each outside for_each
    }
  }
}
