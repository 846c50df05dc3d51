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

inv_denies(trusts, denies) := {"scopes": {"111": {"roles": 3, "trusts": trusts, "trust_denies": denies}}, "nodes": {}}

# Review bug 5: ir-break-glass trusts the IR role but its trust policy
# also denies "*" sts:AssumeRole: the Deny wins, nobody may assume it.
test_explicit_deny_of_everyone_wins if {
	count(p.deny) == 1 with input as acct with data.vigil.config as cfg with data.vigil.inventory as inv_denies({"arn:aws:iam::999999999999:role/IR": ["ir-break-glass"]}, {"*": ["ir-break-glass"]})
}

# A Deny of the IR account's root on the role trusting the account shuts
# the IR role (in that account) out too.
test_deny_of_ir_account_wins if {
	count(p.deny) == 1 with input as acct with data.vigil.config as cfg with data.vigil.inventory as inv_denies({"arn:aws:iam::999999999999:root": ["ir-break-glass"]}, {"arn:aws:iam::999999999999:root": ["ir-break-glass"]})
}

# A Deny on another role does not touch ir-break-glass: access holds.
test_deny_on_other_role_only if {
	count(p.deny) == 0 with input as acct with data.vigil.config as cfg with data.vigil.inventory as inv_denies({"arn:aws:iam::999999999999:role/IR": ["ir-break-glass"]}, {"*": ["partner"]})
}

# A Deny of someone else on the same role leaves the IR role's access.
test_deny_of_other_principal if {
	count(p.deny) == 0 with input as acct with data.vigil.config as cfg with data.vigil.inventory as inv_denies({"arn:aws:iam::999999999999:role/IR": ["ir-break-glass"]}, {"arn:aws:iam::222222222222:root": ["ir-break-glass"]})
}

inv_all_but(trusts, all_but) := {"scopes": {"111": {"roles": 3, "trusts": trusts, "trust_denies_all_but": all_but}}, "nodes": {}}

# break-glass trusts the account and denies all but the IR role: the IR
# role may assume it.
test_deny_not_principal_spares_ir if {
	count(p.deny) == 0 with input as acct with data.vigil.config as cfg with data.vigil.inventory as inv_all_but({"arn:aws:iam::999999999999:root": ["break-glass"]}, {"break-glass": [["arn:aws:iam::999999999999:role/IR"]]})
}

# ... sparing another role only: the IR role is denied.
test_deny_not_principal_denies_ir if {
	count(p.deny) == 1 with input as acct with data.vigil.config as cfg with data.vigil.inventory as inv_all_but({"arn:aws:iam::999999999999:root": ["break-glass"]}, {"break-glass": [["arn:aws:iam::999999999999:role/admin"]]})
}

# Sparing the IR account does not spare its roles (IAM matches
# NotPrincipal by principal); its session ARN does; two such Denies must
# both spare the IR role.
test_deny_not_principal_two_statements if {
	count(p.deny) == 1 with input as acct with data.vigil.config as cfg with data.vigil.inventory as inv_all_but({"*": ["break-glass"]}, {"break-glass": [["999999999999", "arn:aws:iam::999999999999:root"]]})
	count(p.deny) == 0 with input as acct with data.vigil.config as cfg with data.vigil.inventory as inv_all_but({"*": ["break-glass"]}, {"break-glass": [["arn:aws:sts::999999999999:assumed-role/IR/responder"]]})
	count(p.deny) == 1 with input as acct with data.vigil.config as cfg with data.vigil.inventory as inv_all_but({"*": ["break-glass"]}, {"break-glass": [["arn:aws:iam::999999999999:role/IR"], ["arn:aws:iam::999999999999:role/other"]]})
}

# Another role's Deny with NotPrincipal does not touch break-glass.
test_deny_not_principal_other_role if {
	count(p.deny) == 0 with input as acct with data.vigil.config as cfg with data.vigil.inventory as inv_all_but({"arn:aws:iam::999999999999:role/IR": ["break-glass"]}, {"other": [[]]})
}
