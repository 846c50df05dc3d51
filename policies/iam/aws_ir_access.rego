# METADATA
# title: No emergency access for the IR team (AWS)
# description: |
#   No role of the AWS account trusts any of the ir_principals that are AWS
#   ARNs (vigil.hcl): during an incident the responders could not assume a
#   role there without asking first. A trust of the principal itself, of
#   its account (ACCOUNT or arn:aws:iam::ACCOUNT:root) or of "*" counts,
#   for an Action that matches sts:AssumeRole (sts:Assume*, sts:* too);
#   a statement with NotAction counts when none of its patterns matches
#   sts:AssumeRole; not when the same trust policy explicitly denies the
#   principal (a Deny wins; a Deny with NotPrincipal denies every principal
#   it does not name, by its role or session ARN: naming its account does
#   not spare a role, as IAM reads NotPrincipal; an Allow with NotPrincipal
#   allows all but those it names), nor on a read-only role (every policy only reads: an AWS
#   managed one named so, such as ReadOnlyAccess or AmazonS3ReadOnlyAccess;
#   an inline or customer one by its document, whose Allow statements grant
#   only Get/List/Describe-style actions, no *, service:* or NotAction):
#   the team could look but not act, as VGL-IAM-001 reads GCP roles.
#   Silent when ir_principals names no AWS principal, and when the
#   inventory holds no role of the account (not collected: unknown, as on
#   the triage card).
# custom:
#   id: VGL-IAM-002
#   severity: medium
#   kinds: [account]
#   phase: preparation
package vigil.policies.iam.aws_ir_access

import data.vigil.lib
import rego.v1

principals := [p | some p in data.vigil.config.ir_principals; startswith(p, "arn:aws")]

trusts := object.get(lib.scope(input.asset.scope), "trusts", {})

denies := object.get(lib.scope(input.asset.scope), "trust_denies", {})

# usable(p): a role (not read-only: the index leaves those out) trusts p
# and its trust policy does not deny p.
usable(p) if {
	some t, roles in trusts
	covers(t, p)
	some r in roles
	not denied(r, p)
}

denied(r, p) if {
	some d, roles in denies
	covers(d, p)
	r in roles
}

# A Deny with NotPrincipal denies every principal it does not spare.
denies_all_but := object.get(lib.scope(input.asset.scope), "trust_denies_all_but", {})

denied(r, p) if {
	some but in object.get(denies_all_but, r, [])
	not spared(but, p)
}

# NotPrincipal spares a principal by name, not by account: the IR role's
# ARN, or its session's (arn:aws:sts::ACCOUNT:assumed-role/NAME/...).
spared(but, p) if p in but

spared(but, p) if {
	some x in but
	startswith(x, session_prefix(p))
}

session_prefix(p) := sprintf("arn:aws:sts::%s:assumed-role/%s/", [lib.account_of(p), name]) if {
	parts := split(p, ":role/")
	count(parts) == 2
	name := regex.replace(parts[1], `^.*/`, "")
}

covers(t, p) if t == p

covers("*", _)

covers(t, p) if t == lib.account_of(p)

covers(t, p) if t == sprintf("arn:aws:iam::%s:root", [lib.account_of(p)])

deny contains finding if {
	input.asset.provider == "aws"
	not lib.planned
	count(principals) > 0
	# Without the account's roles nothing is known (the triage card says
	# "unknown" too): the index counts the roles it read.
	object.get(lib.scope(input.asset.scope), "roles", 0) > 0
	count([p | some p in principals; usable(p)]) == 0
	finding := {
		"msg": sprintf("no role of account %s trusts %s (%d roles in the inventory)", [
			input.asset.scope, concat(", ", principals), lib.scope(input.asset.scope).roles,
		]),
		"details": {"ir_principals": principals},
	}
}
