# An example change set: what a platform team might propose in one pull
# request. plan.json is its `terraform show -json` form; `vigil check
# examples/terraform/plan.json` judges it with the posture policies.

terraform {
  required_providers {
    aws    = { source = "hashicorp/aws", version = "~> 5.70" }
    google = { source = "hashicorp/google", version = "~> 6.8" }
  }
}

variable "region" {
  default = "eu-west-1"
}

provider "aws" {
  region = var.region
}

provider "aws" {
  alias  = "us"
  region = "us-east-1"
}

provider "google" {
  project = "acme-prod"
  region  = "europe-west1"
}

resource "aws_vpc" "main" {
  cidr_block = "10.30.0.0/16"
  tags       = { Name = "main", owner = "platform-team" }
}

resource "aws_security_group" "bastion" {
  name   = "bastion"
  vpc_id = aws_vpc.main.id
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_vpc_security_group_ingress_rule" "rdp" {
  security_group_id = aws_security_group.bastion.id
  cidr_ipv6         = "::/0"
  from_port         = 3389
  to_port           = 3389
  ip_protocol       = "tcp"
}

resource "aws_eip" "peer" {
  count  = 2
  domain = "vpc"
}

# SSH from the VPN peers, whose addresses exist only after apply.
resource "aws_security_group" "vpn" {
  name   = "vpn-peers"
  vpc_id = aws_vpc.main.id
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = [for ip in aws_eip.peer[*].public_ip : "${ip}/32"]
  }
}

resource "aws_instance" "web" {
  count                       = 2
  ami                         = "ami-0c1a7f89451184c8b"
  instance_type               = "t3.small"
  subnet_id                   = "subnet-0aa11bb22cc33dd44"
  associate_public_ip_address = true
  tags                        = { Name = "web-${count.index}", owner = "web-team" }
}

resource "aws_s3_bucket" "reports" {
  provider = aws.us
  bucket   = "acme-partner-reports-2026"
  tags     = { owner = "data-team", "data-class" = "pii" }
}

resource "aws_s3_bucket_policy" "reports" {
  provider = aws.us
  bucket   = aws_s3_bucket.reports.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Sid = "PartnerRead", Effect = "Allow", Principal = "*", Action = "s3:GetObject", Resource = "arn:aws:s3:::acme-partner-reports-2026/*" }]
  })
}

resource "aws_s3_bucket" "logs" {
  bucket = "acme-logs-2026"
  tags   = { owner = "platform-team" }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  ignore_public_acls      = true
  block_public_policy     = true
  restrict_public_buckets = true
}

resource "aws_cloudtrail" "main" {
  name                  = "main"
  s3_bucket_name        = aws_s3_bucket.logs.id
  is_multi_region_trail = true
}

resource "aws_guardduty_detector" "main" {
  enable = true
}

module "edge" {
  source = "./modules/edge"
  vpc_id = aws_vpc.main.id
}

resource "google_compute_network" "prod" {
  name                    = "prod-vpc"
  auto_create_subnetworks = false
}

resource "google_compute_address" "office_nat" {
  name   = "office-nat"
  region = "europe-west1"
}

resource "google_compute_firewall" "office_ssh" {
  name          = "allow-ssh-from-office"
  network       = google_compute_network.prod.name
  source_ranges = ["${google_compute_address.office_nat.address}/32"]
  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}

resource "google_compute_firewall" "health_checks" {
  name          = "allow-health-checks"
  network       = google_compute_network.prod.name
  source_ranges = ["35.191.0.0/16", "130.211.0.0/22"]
  allow {
    protocol = "tcp"
    ports    = ["80"]
  }
}

# Meant for IAP only, but the source ranges were forgotten: Google applies
# the rule to 0.0.0.0/0.
resource "google_compute_firewall" "iap_ssh" {
  name    = "allow-iap-ssh"
  network = google_compute_network.prod.name
  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}

resource "google_storage_bucket" "exports" {
  name     = "acme-exports-2026"
  location = "US"
  labels   = { owner = "data-team", "data-class" = "pii" }
}

resource "google_storage_bucket_iam_member" "exports_public" {
  bucket = google_storage_bucket.exports.name
  role   = "roles/storage.objectViewer"
  member = "allUsers"
}

# Removed from the configuration: planned for deletion.
# resource "aws_db_instance" "legacy" { ... }
