runbook "unknown-step" {
  phase "investigation" {
    step "snapshot" {
      action = "aws.ec2.snapshot_instance_volumes"
      args   = { instance = "i-1" }
    }
    step "share" {
      action = "aws.ec2.share_snapshot"
      args = {
        snapshot_ids = step.snapshots.outputs.snapshot_ids # expect: Reference to undeclared step | did you mean "snapshot"
        account      = "123456789012"
      }
    }
  }
}
