package awsfake

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A role's permissions as IAM serves them: its inline policies
// (ListRolePolicies, GetRolePolicy; the documents are Account.RolePolicies,
// which PutRolePolicy writes too) and its attached managed policies
// (ListAttachedRolePolicies, then GetPolicy for the default version and
// GetPolicyVersion for its document). IAM returns policy documents
// URL-encoded (RFC 3986), and lists in pages of MaxItems with a Marker.

// ManagedPolicy is a managed policy, AWS's (arn:aws:iam::aws:policy/NAME)
// or the account's own, with its versions' documents.
type ManagedPolicy struct {
	Name           string
	DefaultVersion string            // v1, v2, ...
	Versions       map[string]string // version id → document
}

// rfc3986 escapes all but the unreserved characters, as IAM encodes the
// policy documents it returns.
func rfc3986(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// iamPage cuts a listing as IAM does: MaxItems (default 100) from Marker,
// with IsTruncated and the next Marker.
func iamPage[T any](q form, all []T) (items []T, next string) {
	start, _ := strconv.Atoi(q.get("Marker"))
	n, err := strconv.Atoi(q.get("MaxItems"))
	if err != nil || n <= 0 {
		n = 100
	}
	if start > len(all) {
		start = len(all)
	}
	end := min(start+n, len(all))
	if end < len(all) {
		next = strconv.Itoa(end)
	}
	return all[start:end], next
}

func truncated(b *xb, next string) {
	b.bool("IsTruncated", next != "")
	b.elIf("Marker", next)
}

// rolePolicies serves ListRolePolicies, ListAttachedRolePolicies,
// GetPolicy and GetPolicyVersion.
func (f *Fake) rolePolicies(req *request, q form) {
	a := req.account
	m := f.More(a.ID)
	role := func() *Role {
		r := m.Roles[q.get("RoleName")]
		if r == nil {
			queryError(req, http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The role with name %s cannot be found.", q.get("RoleName")))
		}
		return r
	}
	policy := func() *ManagedPolicy {
		p := m.Policies[q.get("PolicyArn")]
		if p == nil {
			queryError(req, http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("Policy %s does not exist or is not attachable.", q.get("PolicyArn")))
		}
		return p
	}
	created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)
	switch req.op {
	case "ListRolePolicies":
		if role() == nil {
			return
		}
		names, next := iamPage(q, slices.Sorted(maps.Keys(a.RolePolicies[q.get("RoleName")])))
		queryOK(req, iamNS, func(b *xb) {
			b.open("PolicyNames")
			for _, n := range names {
				b.el("member", n)
			}
			b.close("PolicyNames")
			truncated(b, next)
		})
	case "ListAttachedRolePolicies":
		r := role()
		if r == nil {
			return
		}
		arns, next := iamPage(q, r.Attached)
		queryOK(req, iamNS, func(b *xb) {
			b.open("AttachedPolicies")
			for _, arn := range arns {
				b.open("member")
				b.el("PolicyName", arn[strings.LastIndexByte(arn, '/')+1:])
				b.el("PolicyArn", arn)
				b.close("member")
			}
			b.close("AttachedPolicies")
			truncated(b, next)
		})
	case "GetPolicy":
		p := policy()
		if p == nil {
			return
		}
		arn := q.get("PolicyArn")
		queryOK(req, iamNS, func(b *xb) {
			b.open("Policy")
			b.el("PolicyName", p.Name)
			b.el("PolicyId", "ANPAFAKE"+strings.ToUpper(p.Name))
			b.el("Arn", arn)
			b.el("Path", "/")
			b.el("DefaultVersionId", p.DefaultVersion)
			b.int("AttachmentCount", 1)
			b.int("PermissionsBoundaryUsageCount", 0)
			b.bool("IsAttachable", true)
			b.el("CreateDate", created)
			b.el("UpdateDate", created)
			b.close("Policy")
		})
	case "GetPolicyVersion":
		p := policy()
		if p == nil {
			return
		}
		doc, ok := p.Versions[q.get("VersionId")]
		if !ok {
			queryError(req, http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("Policy %s version %s does not exist or is not attachable.", q.get("PolicyArn"), q.get("VersionId")))
			return
		}
		queryOK(req, iamNS, func(b *xb) {
			b.open("PolicyVersion")
			b.el("Document", rfc3986(doc))
			b.el("VersionId", q.get("VersionId"))
			b.bool("IsDefaultVersion", q.get("VersionId") == p.DefaultVersion)
			b.el("CreateDate", created)
			b.close("PolicyVersion")
		})
	}
}
