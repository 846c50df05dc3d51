package vigil.policies.logging.vpc_flow_logs_test

import data.vigil.policies.logging.vpc_flow_logs as p
import rego.v1

vpc := {"asset": {"provider": "aws", "kind": "network", "scope": "111", "facets": {"network": "vpc-1"}}}

test_no_flow_log if count(p.deny) == 1 with input as vpc with data.vigil.inventory as {"scopes": {"111": {}}, "nodes": {}}

test_flow_log if count(p.deny) == 0 with input as vpc with data.vigil.inventory as {"scopes": {"111": {"flow_logs": {"vpc-1": true}}}, "nodes": {}}

test_flow_log_of_other_vpc if count(p.deny) == 1 with input as vpc with data.vigil.inventory as {"scopes": {"111": {"flow_logs": {"vpc-2": true}}}, "nodes": {}}
