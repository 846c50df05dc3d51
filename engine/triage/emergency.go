package triage

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
)

// emergency answers whether the IR team (ir_principals in vigil.hcl) can
// act in the asset's account or project: on AWS, roles of the account whose
// trust policy lets one of them assume it (VGL-IAM-002); on GCP, roles they
// hold on the project or a folder or organization above it (VGL-IAM-001).
func (t *triager) emergency(a, scope *asset.Asset) Answer {
	ans := Answer{Question: QEmergency}
	var principals []string
	if t.o.Config != nil {
		principals = t.o.Config.IRPrincipals
	}
	if len(principals) == 0 {
		ans.Value = "unknown"
		ans.Collect = "set ir_principals in vigil.hcl (the IR team's group, or AWS role ARNs) to have this checked"
		return ans
	}
	if a.Provider == asset.AWS {
		var aws []string
		for _, p := range principals {
			if strings.HasPrefix(p, "arn:aws") {
				aws = append(aws, p)
			}
		}
		if len(aws) == 0 {
			ans.Value = "unknown"
			ans.Collect = "ir_principals names no AWS principal: add the IR team's role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
			return ans
		}
		roles, usable := 0, 0
		var looks []string // roles that trust the team but give no way in, or only read
		for _, r := range t.byKind[asset.KindRole] {
			if r.Provider != asset.AWS || r.Scope != a.Scope {
				continue
			}
			roles++
			var denied []string
			var allBut [][]string // each Deny with NotPrincipal: those it spares
			for _, b := range r.Facets.Bindings {
				switch b.Role {
				case inventory.DeniedAssumeRole:
					denied = append(denied, b.Members...)
				case inventory.DeniedAllButAssumeRole:
					allBut = append(allBut, b.Members)
				}
			}
			readOnly := r.Facets.ReadOnly != nil && *r.Facets.ReadOnly
			found := false
			for _, b := range r.Facets.Bindings {
				if b.Role != "sts:AssumeRole" {
					continue
				}
				for _, m := range b.Members {
					for _, p := range aws {
						if !trustCovers(m, p) {
							continue
						}
						d := fmt.Sprintf("role %s trusts %s (%s may assume it)", r.Name, m, p)
						if i := slices.IndexFunc(denied, func(x string) bool { return trustCovers(x, p) }); i >= 0 {
							looks = append(looks, fmt.Sprintf("role %s trusts %s, but its trust policy denies %s (a Deny wins)", r.Name, m, denied[i]))
							continue
						}
						if i := slices.IndexFunc(allBut, func(but []string) bool {
							return !slices.ContainsFunc(but, func(x string) bool { return spares(x, p) })
						}); i >= 0 {
							looks = append(looks, fmt.Sprintf("role %s trusts %s, but its trust policy denies every principal but %s (Deny with NotPrincipal)", r.Name, m, strings.Join(allBut[i], ", ")))
							continue
						}
						if readOnly {
							looks = append(looks, fmt.Sprintf("role %s trusts %s, but its policies only read: the team could not act", r.Name, m))
							continue
						}
						ans.Details = append(ans.Details, d)
						found = true
					}
				}
			}
			if found {
				usable++
			}
		}
		switch {
		case len(ans.Details) > 0:
			ans.Known, ans.Value = true, fmt.Sprintf("yes (%d roles)", usable)
		case len(looks) > 0:
			ans.Known, ans.Value, ans.Details = true, fmt.Sprintf("no: no role of account %s lets %s act (a trust denied, or read-only)", a.Scope, strings.Join(aws, ", ")), looks
		case roles == 0:
			ans.Value = "unknown"
			ans.Collect = fmt.Sprintf("no IAM role of account %s in the inventory: collect its roles (AWS Config AWS::IAM::Role, or vigil inventory collect --aws)", a.Scope)
		default:
			ans.Known, ans.Value = true, fmt.Sprintf("no: none of the %d roles of account %s trusts %s", roles, a.Scope, strings.Join(aws, ", "))
		}
		return ans
	}
	// GCP: bindings on the project and the nodes above it.
	nodes := []*asset.Asset{}
	if scope != nil {
		nodes = append(nodes, scope)
		for _, anc := range scope.Facets.Ancestors {
			if n := t.inv.Get("//cloudresourcemanager.googleapis.com/" + anc); n != nil && n != scope {
				nodes = append(nodes, n)
			}
		}
	}
	if len(nodes) == 0 {
		ans.Value = "unknown"
		ans.Collect = "the asset's project is not in the inventory: collect it with its IAM policy (CAI content type IAM_POLICY)"
		return ans
	}
	var looks []string
	for _, n := range nodes {
		for _, b := range n.Facets.Bindings {
			for _, m := range b.Members {
				for _, p := range principals {
					if m != p {
						continue
					}
					d := fmt.Sprintf("%s has %s on %s %s", p, b.Role, n.Kind, n.Name)
					if readOnlyRole(b.Role) {
						looks = append(looks, d)
						continue
					}
					ans.Details = append(ans.Details, d)
				}
			}
		}
	}
	switch {
	case len(ans.Details) > 0:
		ans.Known, ans.Value = true, "yes"
	case len(looks) > 0:
		ans.Known, ans.Value, ans.Details = true, fmt.Sprintf("no: %s hold only read-only roles on %s or above it", strings.Join(principals, ", "), nodes[0].Name), looks
	default:
		ans.Known, ans.Value = true, fmt.Sprintf("no: none of %s has a role on %s or above it", strings.Join(principals, ", "), nodes[0].Name)
	}
	return ans
}

// readOnlyRole says whether a GCP role only reads: the IR team needs to
// act (VGL-IAM-001 reads roles alike).
func readOnlyRole(role string) bool {
	switch role {
	case "roles/viewer", "roles/browser", "roles/iam.securityReviewer":
		return true
	}
	r := strings.ToLower(role)
	return strings.HasSuffix(r, "viewer") || strings.HasSuffix(r, "reader") || strings.HasSuffix(r, "browser")
}

// spares says whether a NotPrincipal entry names p: by its role ARN or its
// session's (arn:aws:sts::ACCOUNT:assumed-role/NAME/...), not by account,
// as IAM matches NotPrincipal.
func spares(x, p string) bool {
	if x == p {
		return true
	}
	acct, role, ok := strings.Cut(strings.TrimPrefix(p, "arn:aws:iam::"), ":role/")
	if !ok {
		return false
	}
	role = role[strings.LastIndexByte(role, '/')+1:]
	return strings.HasPrefix(x, "arn:aws:sts::"+acct+":assumed-role/"+role+"/")
}

// trustCovers says whether a trust policy principal lets p assume the
// role: p itself, p's account (id or root ARN), or "*".
func trustCovers(trusted, p string) bool {
	if trusted == p || trusted == "*" {
		return true
	}
	parts := strings.Split(p, ":")
	if len(parts) < 5 {
		return false
	}
	acct := parts[4]
	return trusted == acct || trusted == "arn:aws:iam::"+acct+":root"
}
