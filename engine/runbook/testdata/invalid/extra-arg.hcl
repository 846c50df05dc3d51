runbook "extra-arg" {
  phase "containment" {
    step "stop" {
      action = "gcp.compute.stop_instance"
      args = {
        instance = "projects/p/zones/z/instances/i"
        force    = true # expect: Unsupported argument | has no argument "force"
      }
    }
  }
}
