# Settings for the posture fixtures (testdata/posture): the IR team's
# Google group and its AWS role, and where personal data may live.
ir_principals = ["group:ir-team@acme.example", "arn:aws:iam::999999999999:role/IR"]
residency "pii" {
  label   = "data-class"
  regions = ["eu", "eu-*", "europe-*"]
}
