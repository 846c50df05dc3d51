package vigil.policies.data.public_bucket_test

import data.vigil.policies.data.public_bucket as p
import rego.v1

inv := {"scopes": {}, "nodes": {}}

bucket(scope, via) := {"asset": {"kind": "bucket", "name": "b", "scope": scope, "facets": {"public": count(via) > 0, "public_via": via}}}

test_gcp_all_users if {
	inp := bucket("p1", [{"via": "iam", "detail": "IAM grants roles/storage.objectViewer to allUsers"}])
	count(p.deny) == 1 with input as inp with data.vigil.inventory as inv
}

test_private_bucket if {
	count(p.deny) == 0 with input as bucket("p1", []) with data.vigil.inventory as inv
}

test_account_block_stops_acl if {
	blocked := {"scopes": {"111": {"s3_public_access_block": {"ignore_public_acls": true, "restrict_public_buckets": false}}}, "nodes": {}}
	inp := bucket("111", [{"via": "acl", "detail": "ACL grants Read to AllUsers"}])
	count(p.deny) == 0 with input as inp with data.vigil.inventory as blocked
}

test_account_block_does_not_stop_policy if {
	blocked := {"scopes": {"111": {"s3_public_access_block": {"ignore_public_acls": true, "restrict_public_buckets": false}}}, "nodes": {}}
	inp := bucket("111", [{"via": "policy", "detail": "bucket policy allows Principal \"*\""}])
	count(p.deny) == 1 with input as inp with data.vigil.inventory as blocked
}

test_unknown_public if {
	inp := {"asset": {"kind": "bucket", "name": "b", "scope": "p", "facets": {"unknown": ["public"]}}}
	count(p.deny) == 1 with input as inp with data.vigil.inventory as inv
}
