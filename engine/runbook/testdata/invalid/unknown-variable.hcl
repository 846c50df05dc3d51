runbook "unknown-variable" {
  variable "instance" { type = string }
  phase "containment" {
    step "stop" {
      action = "aws.ec2.stop_instance"
      args   = { instance = var.instnce } # expect: Reference to undeclared variable | did you mean "instance"
    }
  }
}
