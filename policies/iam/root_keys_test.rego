package vigil.policies.iam.root_keys_test

import data.vigil.policies.iam.root_keys as p
import rego.v1

acct(facets) := {"asset": {"provider": "aws", "kind": "account", "scope": "111", "facets": facets}}

test_root_key if count(p.deny) == 1 with input as acct({"active_keys": 1})

test_no_root_key if count(p.deny) == 0 with input as acct({"active_keys": 0})

test_unknown_is_silent if count(p.deny) == 0 with input as acct({})
