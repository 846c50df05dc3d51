package vigil.policies.logging.log_file_validation_test

import data.vigil.policies.logging.log_file_validation as p
import rego.v1

test_off if count(p.deny) == 1 with input as {"asset": {"kind": "trail", "name": "t", "facets": {"validation": false}}}

test_on if count(p.deny) == 0 with input as {"asset": {"kind": "trail", "name": "t", "facets": {"validation": true}}}

test_unknown if count(p.deny) == 0 with input as {"asset": {"kind": "trail", "name": "t", "facets": {}}}
