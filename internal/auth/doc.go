// Package auth signs people and automation in to `vigil serve`: OpenID
// Connect ID tokens from the team's identity provider (verified with
// coreos/go-oidc, as a bearer token or after a browser sign-in), static
// bearer tokens from a file, the roles (viewer, responder, approver,
// admin) their groups map to, and the guards every request passes: the
// Host allowlist against DNS rebinding, no cross-origin access, security
// headers, and the audit of who did what.
//
// It decides who a request comes from and what that identity may do; it
// does not serve pages or touch runs.
package auth
