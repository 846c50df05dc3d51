# The evidence gate for a firewall rule (cmd/vigil/evidence_review16_test.go):
# restricting the rule with evidence = true hashes that step's outputs, not
# the rule's record, so deleting the rule after it is refused; with a
# record of the rule (record = true), it is allowed.
runbook "firewall-gcp" {
  title = "Delete a firewall rule after restricting it, with or without a record of it"

  variable "firewall" { type = string }
  variable "incident" { type = string }
  variable "record" {
    type    = bool
    default = false
  }

  phase "identification" {
    step "record" {
      action = "core.evidence"
      when   = var.record
      args = {
        assets = [var.firewall]
        note   = "the rule as found"
      }
    }
  }

  phase "containment" {
    step "restrict" {
      action     = "gcp.compute.restrict_firewall"
      args       = { firewall = var.firewall, source_ranges = ["10.0.0.0/8"] }
      evidence   = true
      depends_on = [step.record]
    }
  }

  phase "recovery" {
    step "delete" {
      action     = "gcp.compute.delete_firewall"
      args       = { firewall = var.firewall }
      depends_on = [step.restrict]
    }
  }
}
