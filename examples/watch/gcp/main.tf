# What `vigil watch` reads on Google Cloud: an organization log sink that
# routes the Admin Activity audit logs of the calls vigil acts on to a
# Pub/Sub topic, Security Command Center notifications to the same topic, a
# subscription with a dead-letter topic, and the IAM each party needs.

terraform {
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 5.0"
    }
  }
}

variable "organization_id" {
  description = "The organization whose audit logs and findings vigil watches (a number)"
  type        = string
}

variable "project_id" {
  description = "The security project that holds the topics and subscriptions"
  type        = string
}

variable "vigil_service_account" {
  description = "The service account vigil runs as (email)"
  type        = string
}

locals {
  # The methods vigil acts on, by service (engine/event.AuditMethods; a test
  # checks the two lists agree). Compute methods match any API version
  # (v1., beta.) through the ":" (has) operator; Resource Manager's name each
  # spelling it logs (v1's SetIamPolicy and CreateProject, v3's
  # google.cloud.resourcemanager.v3.Projects.SetIamPolicy and
  # cloudresourcemanager.v3.projects.create) the same way.
  audit_methods = {
    "compute.googleapis.com" = ["compute.firewalls.insert", "compute.firewalls.patch", "compute.firewalls.update", "compute.instances.insert", "compute.networks.insert",
    "compute.firewalls.delete", "compute.instances.delete", "compute.networks.delete",
    "compute.instances.deleteAccessConfig", "compute.instances.setMetadata"]
    "cloudresourcemanager.googleapis.com" = ["SetIamPolicy", "setIamPolicy", "CreateProject", "projects.create"]
    "storage.googleapis.com"              = ["storage.setIamPermissions", "storage.buckets.create", "storage.buckets.update", "storage.buckets.delete"]
    "logging.googleapis.com" = ["google.logging.v2.ConfigServiceV2.UpdateSink", "google.logging.v2.ConfigServiceV2.DeleteSink",
    "google.logging.v2.ConfigServiceV2.CreateSink"]
  }
  sink_filter = join(" OR ", [
    for service, methods in local.audit_methods :
    "(logName:\"cloudaudit.googleapis.com%2Factivity\" AND protoPayload.serviceName=\"${service}\" AND protoPayload.methodName:(${join(" OR ", [for m in methods : "\"${m}\""])}))"
  ])
}

data "google_project" "security" {
  project_id = var.project_id
}

resource "google_pubsub_topic" "events" {
  project = var.project_id
  name    = "vigil-events"
}

resource "google_pubsub_topic" "dead_letter" {
  project = var.project_id
  name    = "vigil-events-dead-letter"
}

resource "google_pubsub_subscription" "events" {
  project                    = var.project_id
  name                       = "vigil-events"
  topic                      = google_pubsub_topic.events.id
  ack_deadline_seconds       = 60 # the client extends it while vigil works
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = "" # never expires
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
  # vigil dead-letters a message itself after its max_attempts; this catches
  # what a crashing consumer could not.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 10
  }
}

resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project_id
  name                       = "vigil-events-dead-letter"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = "604800s"
}

resource "google_logging_organization_sink" "audit" {
  name             = "vigil-events"
  org_id           = var.organization_id
  include_children = true
  destination      = "pubsub.googleapis.com/${google_pubsub_topic.events.id}"
  filter           = local.sink_filter
}

resource "google_scc_notification_config" "findings" {
  config_id    = "vigil-events"
  organization = var.organization_id
  description  = "Active findings, for vigil's triage cards"
  pubsub_topic = google_pubsub_topic.events.id
  streaming_config {
    filter = "state = \"ACTIVE\""
  }
}

# The sink and SCC publish to the topic.
resource "google_pubsub_topic_iam_member" "sink" {
  project = var.project_id
  topic   = google_pubsub_topic.events.name
  role    = "roles/pubsub.publisher"
  member  = google_logging_organization_sink.audit.writer_identity
}

resource "google_pubsub_topic_iam_member" "scc" {
  project = var.project_id
  topic   = google_pubsub_topic.events.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_scc_notification_config.findings.service_account}"
}

# Pub/Sub's service agent forwards undeliverable messages.
resource "google_pubsub_topic_iam_member" "dead_letter_forward" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:service-${data.google_project.security.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_subscription_iam_member" "dead_letter_ack" {
  project      = var.project_id
  subscription = google_pubsub_subscription.events.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:service-${data.google_project.security.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# vigil consumes the subscription, dead-letters poison messages itself, and
# re-reads changed assets through the Cloud Asset API.
resource "google_pubsub_subscription_iam_member" "vigil" {
  project      = var.project_id
  subscription = google_pubsub_subscription.events.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${var.vigil_service_account}"
}

resource "google_pubsub_topic_iam_member" "vigil_dead_letter" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${var.vigil_service_account}"
}

resource "google_organization_iam_member" "vigil_asset_viewer" {
  org_id = var.organization_id
  role   = "roles/cloudasset.viewer"
  member = "serviceAccount:${var.vigil_service_account}"
}

output "subscription" {
  description = "watch \"gcp\" { pubsub { subscription = ... } } in vigil.hcl"
  value       = google_pubsub_subscription.events.id
}

output "dead_letter_topic" {
  value = google_pubsub_topic.dead_letter.id
}
