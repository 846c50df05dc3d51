package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/vigil-ir/vigil/engine/runbook"
)

// Roles in increasing power: each includes the ones before it.
const (
	Viewer    = "viewer"
	Responder = "responder"
	Approver  = "approver"
	Admin     = "admin"
)

var ranks = map[string]int{Viewer: 1, Responder: 2, Approver: 3, Admin: 4}

// Principal is who a request comes from.
type Principal struct {
	// Subject is the stable id: oidc:ISSUER#SUB or token:NAME.
	Subject string   `json:"subject"`
	Name    string   `json:"name"`
	Email   string   `json:"email,omitempty"`
	Groups  []string `json:"groups,omitempty"`
	// Role is the highest role the identity has ("" for none).
	Role string `json:"role"`
	// Via is how it signed in: oidc or token.
	Via string `json:"via"`
}

// Can reports whether the principal has role (or a higher one).
func (p *Principal) Can(role string) bool {
	return p != nil && ranks[p.Role] >= ranks[role] && ranks[role] > 0
}

// Identity is the principal as runs record it: verified, since the server
// authenticated it.
func (p *Principal) Identity() runbook.Identity {
	id := runbook.Identity{Subject: p.Subject, Name: p.Name, Email: p.Email, Groups: p.Groups, Verified: true, Via: "vigil serve (" + p.Via + ")"}
	return id
}

func (p *Principal) String() string {
	if p.Email != "" && p.Email != p.Name {
		return fmt.Sprintf("%s <%s>", p.Name, p.Email)
	}
	return p.Name
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the request's principal, nil when it is not signed in.
func From(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}

// RoleMap maps groups (and user:EMAIL entries) to roles.
type RoleMap map[string][]string

// RoleOf returns the highest role whose entries name one of the groups,
// the email (user:EMAIL) or the subject (user:SUBJECT).
func (m RoleMap) RoleOf(email, subject string, groups []string) string {
	best := ""
	for role, entries := range m {
		if ranks[role] <= ranks[best] {
			continue
		}
		for _, e := range entries {
			if u, ok := strings.CutPrefix(e, "user:"); ok {
				if (email != "" && strings.EqualFold(u, email)) || u == subject {
					best = role
				}
				continue
			}
			if slices.Contains(groups, strings.TrimPrefix(e, "group:")) {
				best = role
			}
		}
	}
	return best
}
