package vigil.policies.iam.aws_ir_access_test

import data.vigil.policies.iam.aws_ir_access as p
import rego.v1

cfg := {"ir_principals": ["group:ir@example.com", "arn:aws:iam::999999999999:role/IR"]}

acct := {"asset": {"provider": "aws", "kind": "account", "scope": "111", "facets": {}}}

inv(trusts) := {"scopes": {"111": {"roles": 3, "trusts": trusts}}, "nodes": {}}

test_no_role_trusts_ir if {
	count(p.deny) == 1 with input as acct with data.vigil.config as cfg with data.vigil.inventory as inv({"arn:aws:iam::222222222222:root": ["partner"]})
}

test_role_trusts_ir_role if {
	count(p.deny) == 0 with input as acct with data.vigil.config as cfg with data.vigil.inventory as inv({"arn:aws:iam::999999999999:role/IR": ["ir-break-glass"]})
}

test_role_trusts_ir_account if {
	count(p.deny) == 0 with input as acct with data.vigil.config as cfg with data.vigil.inventory as inv({"arn:aws:iam::999999999999:root": ["ir-break-glass"]})
}

test_silent_without_aws_principals if {
	count(p.deny) == 0 with input as acct with data.vigil.config as {"ir_principals": ["group:ir@example.com"]} with data.vigil.inventory as inv({})
}

# Account 222 of the examples: no role collected. The triage card says
# "unknown" (engine/triage emergency), and so does the scan: no finding.
test_no_roles_collected_is_unknown if {
	count(p.deny) == 0 with input as acct with data.vigil.config as cfg with data.vigil.inventory as {"scopes": {"111": {}}, "nodes": {}}
}

test_message_counts_roles if {
	res := p.deny with input as acct with data.vigil.config as cfg with data.vigil.inventory as inv({})
	some f in res
	contains(f.msg, "(3 roles in the inventory)")
}
