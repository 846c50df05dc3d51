# vigil.hcl for `vigil watch` (or `vigil serve`, which runs watch blocks
# beside its schedules). The queues are what aws/main.tf and gcp/main.tf
# create; the inventory is what a scheduled `vigil inventory collect`
# writes, the context cross-asset policies judge a changed asset in.

required_labels = ["owner"]
ir_principals   = ["group:ir-team@acme.example"]

notify "secops" {
  url          = "https://hooks.slack.com/services/T000/B000/XXXX"
  format       = "slack"
  min_severity = "high"
}

watch "aws-events" {
  sqs {
    queue_url             = "https://sqs.eu-west-1.amazonaws.com/111111111111/vigil-events"
    dead_letter_queue_url = "https://sqs.eu-west-1.amazonaws.com/111111111111/vigil-events-dlq"
  }
  inventory    = ["/var/lib/vigil/inventory/aws.ndjson"]
  concurrency  = 8   # events in flight; the queue is not read past them
  max_attempts = 5   # then the dead-letter queue
}

watch "gcp-events" {
  pubsub {
    subscription      = "projects/acme-sec/subscriptions/vigil-events"
    dead_letter_topic = "projects/acme-sec/topics/vigil-events-dead-letter"
  }
  inventory = ["/var/lib/vigil/inventory/gcp.ndjson"]
  settle    = "2m" # how long to wait for Cloud Asset Inventory to show a change
}

# A GuardDuty finding about an EC2 instance plans compromised-ec2 at once.
# Nothing runs: the card says how to apply the plan, which stops at every
# approval.
respond "ec2-compromise" {
  source       = "guardduty"
  types        = ["UnauthorizedAccess:EC2/*", "Backdoor:EC2/*", "CryptoCurrency:EC2/*"]
  min_severity = "medium"
  runbook      = "compromised-ec2"
}
