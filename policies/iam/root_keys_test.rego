package vigil.policies.iam.root_keys_test

import data.vigil.policies.iam.root_keys as p
import rego.v1

acct(facets) := {"asset": {"provider": "aws", "kind": "account", "scope": "111", "facets": facets}}

test_root_key if count(p.deny) == 1 with input as acct({"active_keys": 1})

test_no_root_key if count(p.deny) == 0 with input as acct({"active_keys": 0})

# Nothing known of the root user: no finding, and the compliance view
# reports CIS 1.4 "not assessed" (custom.evidence: account.keys), not pass.
test_unknown_is_silent if count(p.deny) == 0 with input as acct({})

# aws2 of the review: the summary says 1 key present, the credential report
# says it is inactive (active_keys 0): CIS 1.4 fails it.
test_inactive_root_key_counts if {
	res := p.deny with input as acct({"keys": 1, "active_keys": 0})
	some f in res
	f.details == {"root_access_keys": 1, "active": 0}
}
