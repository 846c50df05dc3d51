# Accepted risks. Each waiver needs a reason and an expiry; an expired waiver
# stops waiving and the scan says so.

waiver {
  policy  = "VGL-NET-003"
  asset   = "arn:aws:ec2:*:111111111111:vpc/vpc-0d1e2f3a4b5c6d7e8"
  reason  = "empty default VPC kept for a legacy AMI build; SEC-412"
  expires = "2027-06-30"
}

waiver {
  policy  = "VGL-NET-004"
  asset   = "arn:aws:ec2:eu-west-1:111111111111:instance/i-0a1b2c3d4e5f60001"
  reason  = "web-1 serves the shop directly until the load balancer migration; SEC-398"
  expires = "2026-10-31"
}
