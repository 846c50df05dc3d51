runbook "missing-arg" {
  phase "containment" {
    step "restrict" {
      action = "gcp.compute.restrict_firewall"
      args   = { firewall = "projects/p/global/firewalls/f" } # expect: Missing required argument | source_ranges
    }
  }
}
