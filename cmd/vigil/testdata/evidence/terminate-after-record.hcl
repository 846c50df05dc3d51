# The evidence gate (cmd/vigil/evidence_test.go): a hash of the
# instance's record is not evidence of its disks, so terminate is refused.
runbook "terminate-after-record" {
  title = "Terminate after a record hash only"

  variable "instance" { type = string }
  variable "incident" { type = string }

  phase "identification" {
    step "record" {
      action = "core.evidence"
      args = {
        assets = [for a in assets({ kind = "instance", id = "*${var.instance}" }) : a.id]
        note   = "the instance as found"
      }
    }
  }

  phase "recovery" {
    step "terminate" {
      action = "aws.ec2.terminate_instance"
      args   = { instance = var.instance }
    }
  }
}
