package vigil.policies.iam.two_keys_test

import data.vigil.policies.iam.two_keys as p
import rego.v1

user(n) := {"asset": {"provider": "aws", "kind": "user", "name": "ci", "facets": {"active_keys": n}}}

test_two_keys if count(p.deny) == 1 with input as user(2)

test_one_key if count(p.deny) == 0 with input as user(1)
