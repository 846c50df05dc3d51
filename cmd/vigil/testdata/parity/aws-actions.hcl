# The aws.* actions no built-in runbook uses, for the sim-cloud parity test
# (cmd/vigil/parity_test.go).
runbook "parity-aws-actions" {
  title = "Every aws.* action the built-in runbooks leave out"

  variable "instance" { type = string }
  variable "incident" { type = string }

  phase "investigation" {
    step "snapshot" {
      action   = "aws.ec2.snapshot_instance_volumes"
      args     = { instance = var.instance }
      evidence = true
    }
  }

  phase "containment" {
    step "isolate" {
      action = "aws.ec2.isolate_instance"
      args   = { instance = var.instance, end_tracked_connections = "untrack" }
    }
    step "release" {
      action     = "aws.ec2.release_instance"
      args       = { instance = var.instance }
      depends_on = [step.isolate]
    }
    step "tag" {
      action     = "aws.ec2.tag"
      args       = { resource = var.instance, tags = { incident = "INC-11", state = "released" } }
      depends_on = [step.release]
    }
  }

  phase "recovery" {
    step "terminate" {
      action     = "aws.ec2.terminate_instance"
      args       = { instance = var.instance }
      depends_on = [step.tag, step.snapshot]
    }
  }
}
