runbook "everything" {
  title       = "Every feature of the language"
  description = "Used by the engine's tests."
  tags        = ["test"]

  variable "names" {
    type    = list(string)
    default = ["a", "b"]
  }

  variable "token" {
    type      = string
    sensitive = true
  }

  variable "count" {
    type    = number
    default = 2
    validation {
      condition     = var.count > 0 && var.count < 10
      error_message = "count is between 1 and 9."
    }
  }

  locals {
    greeting = upper(format("hello %s", join(" and ", var.names)))
    doubled  = var.count * 2
  }

  phase "preparation" {
    step "hello" {
      action = "core.log"
      args   = { message = local.greeting }
    }
  }

  phase "triage" {
    step "each" {
      action   = "core.log"
      for_each = toset(var.names)
      args     = { message = "name ${each.key} (${local.doubled})" }
    }

    step "secret" {
      action = "core.log"
      args   = { message = "token is ${var.token}" }
    }

    step "skipped" {
      action = "core.log"
      when   = var.count > 100
      args   = { message = "never" }
    }

    step "gate" {
      action     = "core.approval"
      args       = { reason = "go on?" }
      depends_on = [step.each]
    }
  }

  output "names" {
    value = var.names
  }

  output "token_out" {
    value     = var.token
    sensitive = true
  }
}
