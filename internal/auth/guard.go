package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/vigil-ir/vigil/internal/store"
)

// Guard authenticates every request and applies the server's guards.
type Guard struct {
	OIDC   *OIDC
	Tokens *Tokens
	// AllowedHosts are the Host header values served: a name (any port) or
	// name:port. Empty: localhost, 127.0.0.1 and ::1.
	AllowedHosts []string
	// PublicMetrics serves /metrics without sign-in.
	PublicMetrics bool
	// Secure marks cookies Secure (the server speaks TLS, or sits behind a
	// proxy that does).
	Secure bool
	// Audit records sign-ins and refusals (nil: none).
	Audit func(ctx context.Context, e *store.AuditEntry)
	Log   *slog.Logger
	Now   func() time.Time

	// limit bounds the audit rows of unauthenticated requests.
	limit auditLimiter
	// signedLimit bounds those of signed-in principals, by identity.
	signedLimit auditLimiter
}

// Cookie names: the session holds the ID token (or the static token)
// itself, verified on every request, so that any replica accepts it.
const (
	SessionCookie = "vigil_session"
	loginCookie   = "vigil_login"
)

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *Guard) log() *slog.Logger {
	if g.Log == nil {
		return slog.Default()
	}
	return g.Log
}

// HostAllowed reports whether a Host header value is one the server
// answers to.
func (g *Guard) HostAllowed(host string) bool {
	name, port := host, ""
	if h, p, err := net.SplitHostPort(host); err == nil {
		name, port = h, p
	}
	name = strings.ToLower(strings.TrimSuffix(strings.Trim(name, "[]"), "."))
	allowed := g.AllowedHosts
	if len(allowed) == 0 {
		allowed = []string{"localhost", "127.0.0.1", "::1"}
	}
	for _, a := range allowed {
		a = strings.ToLower(a)
		an, ap := a, ""
		if h, p, err := net.SplitHostPort(a); err == nil {
			an, ap = h, p
		}
		an = strings.Trim(an, "[]")
		if an == name && (ap == "" || ap == port) {
			return true
		}
	}
	return false
}

// PublicMetricsRequest says whether r reads /metrics without sign-in:
// with public_metrics, a GET of /metrics addressed to an IP literal or
// localhost (a scraper by pod IP, as Prometheus' Kubernetes discovery
// does) that came through no proxy. A DNS-rebinding page sends its own
// name as Host, and an ingress adds X-Forwarded-For, so neither reads
// the findings' series unsigned: they get the Host allowlist and sign-in
// of every other path.
func (g *Guard) PublicMetricsRequest(r *http.Request) bool {
	if g == nil || !g.PublicMetrics || r.URL.Path != "/metrics" {
		return false
	}
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip"} {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	name := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		name = h
	}
	name = strings.ToLower(strings.TrimSuffix(strings.Trim(name, "[]"), "."))
	return name == "localhost" || net.ParseIP(name) != nil
}

// Wrap puts the guards in front of next: Host allowlist, security
// headers, no CORS, sign-in (except /healthz and, when public, /metrics)
// and the /auth/ endpoints.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
		h.Set("Cache-Control", "no-store")
		public := r.URL.Path == "/healthz" || g.PublicMetricsRequest(r)
		// DNS rebinding: a page of evil.example whose name now resolves to
		// this server must not read it. Probes come by pod IP; public
		// metrics are public only when asked for by IP (PublicMetricsRequest).
		if !public && !g.HostAllowed(r.Host) {
			g.audit(r, nil, "request", r.URL.Path, "refused", "host "+r.Host+" is not allowed")
			jsonError(w, http.StatusMisdirectedRequest, fmt.Sprintf("this server does not answer to host %q: add it to server.allowed_hosts in vigil.hcl", r.Host))
			return
		}
		// No cross-origin access: no CORS headers are ever sent, and a
		// preflight is refused.
		if r.Method == http.MethodOptions {
			jsonError(w, http.StatusMethodNotAllowed, "cross-origin requests are not served")
			return
		}
		if public {
			next.ServeHTTP(w, r)
			return
		}
		switch r.URL.Path {
		case "/auth/login":
			g.login(w, r)
			return
		case "/auth/callback":
			g.callback(w, r)
			return
		case "/auth/token":
			g.tokenSignIn(w, r)
			return
		case "/auth/logout":
			g.logout(w, r)
			return
		}
		p, fromCookie, err := g.authenticate(r)
		if err != nil {
			g.audit(r, nil, "sign-in", r.URL.Path, "refused", err.Error())
			g.log().Warn("refused a credential", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			if fromCookie {
				http.SetCookie(w, g.cookie(r, SessionCookie, "", -1))
			}
			g.unauthorized(w, r, "the credential was refused: "+err.Error())
			return
		}
		if p == nil {
			g.unauthorized(w, r, "sign in: send Authorization: Bearer <ID token or vigil token>")
			return
		}
		if fromCookie && unsafe(r.Method) && !sameOrigin(r) {
			// A form on another site posting with the session cookie.
			g.audit(r, p, "request", r.URL.Path, "refused", "cross-site request")
			jsonError(w, http.StatusForbidden, "cross-site request refused: send it from the dashboard, or with a bearer token")
			return
		}
		if p.Role == "" {
			g.audit(r, p, "request", r.URL.Path, "refused", "no role: none of the identity's groups is in server.roles")
			jsonError(w, http.StatusForbidden, fmt.Sprintf("%s has no role in vigil: an admin adds one of its groups to server.roles in vigil.hcl", p))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

func unsafe(method string) bool {
	return method != http.MethodGet && method != http.MethodHead
}

// sameOrigin accepts a request whose Origin (or Sec-Fetch-Site) says it
// came from this server's own pages.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return err == nil && strings.EqualFold(u.Host, r.Host)
	}
	s := r.Header.Get("Sec-Fetch-Site")
	return s == "same-origin"
}

// authenticate reads the request's credential: a bearer token, else the
// session cookie. No credential is (nil, nil).
func (g *Guard) authenticate(r *http.Request) (*Principal, bool, error) {
	raw, fromCookie := "", false
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, ok := strings.Cut(a, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return nil, false, errors.New("the Authorization header is not \"Bearer TOKEN\"")
		}
		raw = strings.TrimSpace(tok)
	} else if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		raw, fromCookie = c.Value, true
	} else {
		return nil, false, nil
	}
	p, err := g.Check(r.Context(), raw)
	return p, fromCookie, err
}

// Check verifies a credential: a static token, or an ID token.
func (g *Guard) Check(ctx context.Context, raw string) (*Principal, error) {
	if p := g.Tokens.Lookup(raw); p != nil {
		return p, nil
	}
	if strings.Count(raw, ".") == 2 && g.OIDC != nil {
		p, _, err := g.OIDC.Verify(ctx, raw)
		return p, err
	}
	return nil, errors.New("not a known token")
}

func (g *Guard) unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") && strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, "/auth/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
	jsonError(w, http.StatusUnauthorized, msg)
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (g *Guard) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: g.secure(r), SameSite: http.SameSiteStrictMode}
}

// secure says whether cookies get Secure: the server speaks TLS, is
// configured to (Secure), or a TLS-terminating proxy says the browser came
// by https (X-Forwarded-Proto). Secure only narrows where a browser sends
// the cookie, so a header that claims it costs nothing when false.
func (g *Guard) secure(r *http.Request) bool {
	return g.Secure || r.TLS != nil || strings.EqualFold(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0]), "https")
}

// next is where to go after signing in: a path of this server only.
func next(r *http.Request) string {
	n := r.URL.Query().Get("next")
	if n == "" {
		n = r.FormValue("next")
	}
	return localPath(n)
}

// localPath keeps a sign-in's destination on this server, or gives "/".
// It reads the value as a browser would (WHATWG URL parsing drops tab, LF
// and CR anywhere and takes a backslash for a slash), so "/\t/evil.example"
// or "/\\evil.example" cannot become the network path //evil.example; the
// value returned is that normalised form, so Location carries no tab.
func localPath(n string) string {
	for _, c := range n {
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f {
			return "/"
		}
	}
	n = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(n)
	if len(n) == 0 || n[0] != '/' || (len(n) > 1 && n[1] == '/') {
		return "/"
	}
	u, err := url.Parse(n)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil {
		return "/"
	}
	return n
}

var signInPage = template.Must(template.New("signin").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>vigil: sign in</title>
<style>body{font:15px system-ui,sans-serif;max-width:34em;margin:4em auto}input[type=password]{width:100%;padding:.4em}button,a.b{padding:.4em 1em}</style></head>
<body><h1>Sign in to vigil</h1>
{{if .Error}}<p style="color:#b00">{{.Error}}</p>{{end}}
{{if .OIDC}}<p><a class="b" href="/auth/login?next={{.Next}}">Sign in with your identity provider</a></p>{{end}}
<form method="post" action="/auth/token"><p><label>Or paste a vigil token:<br><input type="password" name="token" autocomplete="off"></label></p>
<input type="hidden" name="next" value="{{.Next}}"><button type="submit">Sign in</button></form>
</body></html>`))

// signInErrors are what the sign-in page may say, by the code in its
// ?error= (the reason itself is in the audit log).
var signInErrors = map[string]string{
	"token": "The token was refused: it is wrong, expired, or not in the server's tokens file.",
}

// login starts the browser sign-in: with the IdP when configured,
// otherwise a form that takes a token.
func (g *Guard) login(w http.ResponseWriter, r *http.Request) {
	if !g.OIDC.BrowserSignIn() || r.URL.Query().Get("form") != "" || r.URL.Query().Get("error") != "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// Only fixed messages, by code: the query string is anyone's to
		// write, and a page of ours must not say what a link made it say.
		signInPage.Execute(w, map[string]any{"OIDC": g.OIDC.BrowserSignIn(), "Next": next(r), "Error": signInErrors[r.URL.Query().Get("error")]})
		return
	}
	oc, err := g.OIDC.oauth(r.Context())
	if err != nil {
		jsonError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	state, nonce, verifier := randomString(24), randomString(24), oauth2.GenerateVerifier()
	// The login cookie must come back on the IdP's redirect, a top-level
	// navigation from another site: Lax, and only to /auth/.
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: strings.Join([]string{state, nonce, verifier, url.QueryEscape(next(r))}, "|"),
		Path: "/auth/", MaxAge: 600, HttpOnly: true, Secure: g.secure(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, oc.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// callback finishes the browser sign-in: the state matches, the code is
// exchanged (with the PKCE verifier), the ID token verifies and carries
// the nonce; the session cookie then holds the ID token.
func (g *Guard) callback(w http.ResponseWriter, r *http.Request) {
	fail := func(msg string) {
		g.audit(r, nil, "sign-in", "oidc", "refused", msg)
		http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: "/auth/", MaxAge: -1})
		jsonError(w, http.StatusUnauthorized, "sign-in failed: "+msg)
	}
	if !g.OIDC.BrowserSignIn() {
		jsonError(w, http.StatusNotFound, "browser sign-in is not configured (server.oidc.redirect_url)")
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil {
		fail("no sign-in in progress (it expired, or cookies are blocked): start again at /auth/login")
		return
	}
	parts := strings.Split(c.Value, "|")
	if len(parts) != 4 || r.URL.Query().Get("state") != parts[0] {
		fail("the state does not match the sign-in this browser started")
		return
	}
	if e := r.URL.Query().Get("error"); e != "" {
		fail("the identity provider said: " + e + " " + r.URL.Query().Get("error_description"))
		return
	}
	oc, err := g.OIDC.oauth(r.Context())
	if err != nil {
		fail(err.Error())
		return
	}
	tok, err := oc.Exchange(oidc.ClientContext(r.Context(), g.OIDC.client), r.URL.Query().Get("code"), oauth2.VerifierOption(parts[2]))
	if err != nil {
		fail("exchange the code: " + err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		fail("the token response has no id_token")
		return
	}
	p, idt, err := g.OIDC.Verify(r.Context(), raw)
	if err != nil {
		fail(err.Error())
		return
	}
	if idt.Nonce != parts[1] {
		fail("the ID token's nonce is not this sign-in's")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: "/auth/", MaxAge: -1})
	http.SetCookie(w, g.cookie(r, SessionCookie, raw, max(1, int(time.Until(idt.Expiry).Seconds()))))
	g.audit(r, p, "sign-in", "oidc", "ok", "")
	dest, _ := url.QueryUnescape(parts[3])
	dest = localPath(dest)
	// A page of ours moves on: the Strict session cookie is not sent on a
	// redirect chain that started at the IdP.
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><meta http-equiv="refresh" content="0;url=%s"><p>Signed in as %s. <a href="%s">Continue</a></p>`,
		template.HTMLEscapeString(dest), template.HTMLEscapeString(p.String()), template.HTMLEscapeString(dest))
}

// tokenSignIn takes a token from the sign-in form into the session cookie.
func (g *Guard) tokenSignIn(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		jsonError(w, http.StatusMethodNotAllowed, "POST the token")
		return
	}
	if !sameOrigin(r) {
		jsonError(w, http.StatusForbidden, "cross-site request refused")
		return
	}
	raw := strings.TrimSpace(r.FormValue("token"))
	p, err := g.Check(r.Context(), raw)
	if err != nil || p == nil {
		msg := "the token was refused"
		if err != nil {
			msg += ": " + err.Error()
		}
		g.audit(r, nil, "sign-in", "token", "refused", msg)
		http.Redirect(w, r, "/auth/login?error=token&next="+url.QueryEscape(next(r)), http.StatusSeeOther)
		return
	}
	g.audit(r, p, "sign-in", "token", "ok", "")
	http.SetCookie(w, g.cookie(r, SessionCookie, raw, 12*3600))
	http.Redirect(w, r, next(r), http.StatusSeeOther)
}

func (g *Guard) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, g.cookie(r, SessionCookie, "", -1))
	http.Redirect(w, r, "/auth/login", http.StatusSeeOther)
}

func (g *Guard) audit(r *http.Request, p *Principal, action, target, outcome, detail string) {
	if g.Audit == nil {
		return
	}
	e := &store.AuditEntry{At: g.now(), Action: action, Target: target, Outcome: outcome, Detail: detail, Remote: r.RemoteAddr, Method: r.Method, Path: r.URL.Path}
	e.Bound()
	if p == nil {
		g.auditAnonymous(r, e)
		return
	}
	e.Subject, e.Name, e.Role = p.Subject, p.String(), p.Role
	g.AuditSignedIn(r, e)
}

// Require lets only principals with role (or higher) through; others get
// 403, which is audited.
func (g *Guard) Require(role, action string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := From(r.Context())
		if !p.Can(role) {
			name, have := "nobody", "no role"
			if p != nil {
				name, have = p.String(), "the role "+p.Role
			}
			g.audit(r, p, action, r.URL.Path, "refused", fmt.Sprintf("needs the role %s, has %s", role, have))
			jsonError(w, http.StatusForbidden, fmt.Sprintf("%s needs the role %s; %s has %s", action, role, name, have))
			return
		}
		h(w, r)
	}
}
