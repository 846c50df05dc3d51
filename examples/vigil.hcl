# Organization settings for the bundled example inventories.
# Copy this file next to your inventories and edit it; every setting is optional.

# Networks infrastructure may live in (globs; "*" also matches "/").
# GCP networks as projects/PROJECT/global/networks/NAME, AWS VPCs by id.
approved_networks = [
  "projects/acme-prod/global/networks/prod-vpc",
  "projects/acme-sec-forensics/global/networks/forensics-vpc",
  "vpc-0abc1234def567890",
]

# Networks that belong to the corporate network (globs), so triage can tell
# which cloud networks reach it by peering. VPN, Interconnect, Direct Connect
# and transit gateways count without being listed.
corporate_networks = [
  "projects/acme-corp-net/global/networks/*",
]

# Labels (GCP) or tags (AWS) every instance and bucket must carry.
required_labels = ["owner"]

# Labels (tags) every project and account must carry (VGL-OWN-002), so that
# responders know whom to call and what it is for. This is the default.
scope_labels = ["owner", "purpose"]

# Who responds to incidents: they need a role on every project.
ir_principals = ["group:ir-team@acme.example", "arn:aws:iam::999999999999:role/IR"]

# Ports that must never be open to the internet (default: SSH and RDP).
admin_ports = [22, 3389]

# Where each class of data may live. An asset labelled data-class=pii must be
# in one of these regions (globs).
residency "pii" {
  label   = "data-class"
  regions = ["eu", "eu-*", "europe-*"]
}

residency "confidential" {
  label   = "data-class"
  regions = ["eu", "eu-*", "europe-*"]
}
