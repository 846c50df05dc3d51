# Settings for a scheduled deployment: copy next to your inventories.

approved_networks = ["projects/acme-prod/global/networks/prod-vpc"]
required_labels   = ["owner"]
ir_principals     = ["group:ir-team@acme.example"]

# Every hour: the organization's live inventory and the exported AWS Config
# snapshots of the org aggregator. A run is stopped after 50 minutes (without
# timeout, when the next one is due) and /healthz then reports the schedule.
schedule "hourly-org" {
  cron    = "0 * * * *"
  sources = ["gcp:organizations/684315297612", "/var/lib/vigil/aws-config/"]
  timeout = "50m"
}

# Every ten minutes, network exposure only: ids or globs.
schedule "exposure" {
  cron     = "*/10 * * * *"
  sources  = ["gcp:organizations/684315297612"]
  policies = ["VGL-NET-*", "VGL-DATA-002"]
}

# New high and critical findings go to the incident channel, each once.
notify "secops" {
  url          = "https://hooks.slack.com/services/T000/B000/XXXX"
  format       = "slack"
  min_severity = "high"
}
