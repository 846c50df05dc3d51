# METADATA
# title: Publicly readable bucket
# description: |
#   A bucket anyone on the internet can read: a GCP IAM grant to allUsers or
#   allAuthenticatedUsers, an S3 ACL grant to AllUsers or AuthenticatedUsers,
#   or a bucket policy allowing Principal "*", not stopped by a public access
#   block (the bucket's own or, on AWS, the account's).
# custom:
#   id: VGL-DATA-002
#   severity: critical
#   kinds: [bucket]
#   phase: preparation
#   frameworks: ["cis-gcp-3.0:5.1", "cis-aws-3.0:2.1.4"]
#   evidence:
#     "*": [bucket.public]
#   partial:
#     "cis-aws-3.0:2.1.4": whether the bucket is public, not whether Block Public Access is configured on it or its account
package vigil.policies.data.public_bucket

import data.vigil.lib
import rego.v1

# The account-wide S3 public access block, when the inventory has it.
account_block := lib.scope(input.asset.scope).s3_public_access_block

blocked(exposure) if {
	exposure.via == "acl"
	account_block.ignore_public_acls
}

blocked(exposure) if {
	exposure.via == "policy"
	account_block.restrict_public_buckets
}

exposures := [e.detail |
	some e in object.get(input.asset.facets, "public_via", [])
	not blocked(e)
]

deny contains finding if {
	input.asset.facets.public == true
	count(exposures) > 0
	finding := {
		"msg": sprintf("bucket %s is public: %s", [input.asset.name, concat("; ", exposures)]),
		"details": {"exposures": exposures},
	}
}

deny contains finding if {
	lib.unknown(input.asset.facets, "public")
	not input.asset.facets.public
	finding := {
		"msg": sprintf("whether bucket %s is public is known only after apply", [input.asset.name]),
		"details": {"unknown": ["public"]},
	}
}
