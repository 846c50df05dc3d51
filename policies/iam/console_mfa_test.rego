package vigil.policies.iam.console_mfa_test

import data.vigil.policies.iam.console_mfa as p
import rego.v1

user(facets) := {"asset": {"provider": "aws", "kind": "user", "name": "alice", "facets": facets}}

test_console_without_mfa if count(p.deny) == 1 with input as user({"console": true, "mfa": false})

test_console_with_mfa if count(p.deny) == 0 with input as user({"console": true, "mfa": true})

test_no_console if count(p.deny) == 0 with input as user({"console": false, "mfa": false})

test_unknown_is_silent if count(p.deny) == 0 with input as user({})
