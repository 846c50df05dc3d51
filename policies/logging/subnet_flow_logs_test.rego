package vigil.policies.logging.subnet_flow_logs_test

import data.vigil.policies.logging.subnet_flow_logs as p
import rego.v1

sn(logging) := {"asset": {"provider": "gcp", "kind": "subnet", "name": "s", "region": "europe-west1", "facets": {"logging": logging}}}

test_off if count(p.deny) == 1 with input as sn(false)

test_on if count(p.deny) == 0 with input as sn(true)
