package vigil.policies.iam.default_sa_keys_test

import data.vigil.policies.iam.default_sa_keys as p
import rego.v1

key(sa, typ) := {"asset": {"kind": "service_account_key", "name": "k1", "facets": {"user": sa, "key_type": typ}}}

test_default_sa_user_key if count(p.deny) == 1 with input as key("123-compute@developer.gserviceaccount.com", "user_managed")

test_default_sa_system_key if count(p.deny) == 0 with input as key("123-compute@developer.gserviceaccount.com", "system_managed")

test_other_sa if count(p.deny) == 0 with input as key("app@p.iam.gserviceaccount.com", "user_managed")
