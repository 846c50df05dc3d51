package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/internal/testutil"
)

var roles = RoleMap{Viewer: {"ir-viewers"}, Responder: {"ir-team"}, Approver: {"ir-leads"}, Admin: {"user:root@acme.example"}}

// server is a guarded handler that says who the caller is.
func server(t *testing.T, idp *testutil.IdP, tokens *Tokens, redirect bool) (*httptest.Server, *[]*store.AuditEntry) {
	var audit []*store.AuditEntry
	g := &Guard{Tokens: tokens, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Audit: func(_ context.Context, e *store.AuditEntry) { audit = append(audit, e) }}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(From(r.Context())) })
	mux.HandleFunc("POST /approve", g.Require(Approver, "step.approve", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "approved") }))
	srv := httptest.NewServer(g.Wrap(mux))
	t.Cleanup(srv.Close)
	if idp != nil {
		oc := &config.OIDC{Issuer: idp.URL, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret, GroupsClaim: "groups"}
		if redirect {
			oc.RedirectURL = srv.URL + "/auth/callback"
		}
		g.OIDC = NewOIDC(oc, roles, nil)
	}
	return srv, &audit
}

func do(t *testing.T, c *http.Client, method, url, bearer string, hdr map[string]string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestOIDCBearer(t *testing.T) {
	idp := testutil.NewIdP(t)
	srv, audit := server(t, idp, nil, false)
	other := testutil.NewIdP(t) // another provider's key and issuer
	alice := map[string]any{"sub": "u-1", "email": "alice@acme.example", "email_verified": true, "groups": []string{"ir-team"}}
	carol := map[string]any{"sub": "u-3", "email": "carol@acme.example", "groups": []string{"ir-viewers", "ir-leads"}}
	for _, tc := range []struct {
		name, token string
		code        int
		want        string
	}{
		{"no token", "", 401, "sign in"},
		{"responder", idp.Token(t, alice), 200, `"role":"responder"`},
		{"highest role of several groups", idp.Token(t, carol), 200, `"role":"approver"`},
		{"admin by user: entry", idp.Token(t, map[string]any{"sub": "u-9", "email": "root@acme.example"}), 200, `"role":"admin"`},
		{"no role", idp.Token(t, map[string]any{"sub": "u-4", "groups": []string{"sales"}}), 403, "has no role"},
		{"expired", idp.Token(t, map[string]any{"sub": "u-1", "exp": time.Now().Add(-time.Hour).Unix()}), 401, "expired"},
		{"wrong audience", idp.Token(t, map[string]any{"sub": "u-1", "aud": "someone-else"}), 401, "audience"},
		{"another provider's key", other.Token(t, alice), 401, "signature"},
		{"tampered", idp.Token(t, alice)[:40] + "x" + idp.Token(t, alice)[41:], 401, "refused"},
		{"not a token", "hello", 401, "not a known token"},
	} {
		code, body, hdr := do(t, nil, "GET", srv.URL+"/whoami", tc.token, nil)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s (want %d, %q)", tc.name, code, body, tc.code, tc.want)
		}
		if code == 401 && hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
	}
	// An unverified email names nobody.
	code, body, _ := do(t, nil, "GET", srv.URL+"/whoami", idp.Token(t, map[string]any{"sub": "u-5", "email": "root@acme.example", "email_verified": false,
		"preferred_username": "root@acme.example", "groups": []string{"ir-viewers"}}), nil)
	if code != 200 || !strings.Contains(body, `"role":"viewer"`) || strings.Contains(body, "root@") {
		t.Errorf("unverified email: %d %s", code, body)
	}
	// Nor does an unverified email under "name" (review 18, bug 8): the
	// principal is named by its subject, and keeps its group's role.
	code, body, _ = do(t, nil, "GET", srv.URL+"/whoami", idp.Token(t, map[string]any{"sub": "u-9", "email": "bob@acme.example", "email_verified": false,
		"name": "bob@acme.example", "groups": []string{"ir-leads"}}), nil)
	if code != 200 || !strings.Contains(body, `"role":"approver"`) || strings.Contains(body, "bob@") || !strings.Contains(body, `"name":"u-9"`) {
		t.Errorf("unverified email as name: %d %s", code, body)
	}
	// email_verified as a string, as some providers send it.
	for v, named := range map[string]bool{"true": true, "false": false} {
		code, body, _ = do(t, nil, "GET", srv.URL+"/whoami", idp.Token(t, map[string]any{"sub": "u-7", "email": "alice@acme.example", "email_verified": v, "groups": []string{"ir-team"}}), nil)
		if code != 200 || strings.Contains(body, "alice@acme.example") != named {
			t.Errorf("email_verified %q: %d %s", v, code, body)
		}
	}
	refused := 0
	for _, e := range *audit {
		if e.Action == "sign-in" && e.Outcome == "refused" {
			refused++
		}
	}
	if refused != 5 {
		t.Errorf("%d refused sign-ins audited, want 5 (expired, audience, issuer, tampered, unknown)", refused)
	}
}

func TestGuards(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	os.WriteFile(file, []byte("# automation\nviewer-bot viewer 0123456789abcdef0123456789abcdef\nlead approver sha256:"+sha("fedcba9876543210fedcba9876543210")+"\n"), 0o600)
	tokens, err := LoadTokens(file)
	if err != nil || len(tokens.Warnings) > 0 {
		t.Fatal(err, tokens.Warnings)
	}
	srv, audit := server(t, nil, tokens, false)
	viewer, lead := "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		name, method, path, token string
		hdr                       map[string]string
		code                      int
	}{
		{"healthz needs nothing", "GET", "/healthz", "", nil, 200},
		{"healthz from any host (probes by pod IP)", "GET", "/healthz", "", map[string]string{"Host": "10.1.2.3:8080"}, 200},
		{"DNS rebinding", "GET", "/whoami", viewer, map[string]string{"Host": "evil.example"}, 421},
		{"rebinding with the port", "GET", "/whoami", viewer, map[string]string{"Host": "evil.example:" + host[strings.LastIndex(host, ":")+1:]}, 421},
		{"localhost", "GET", "/whoami", viewer, map[string]string{"Host": "localhost"}, 200},
		{"viewer token", "GET", "/whoami", viewer, nil, 200},
		{"viewer cannot approve", "POST", "/approve", viewer, nil, 403},
		{"approver token (sha256 in the file)", "POST", "/approve", lead, nil, 200},
		{"CORS preflight", "OPTIONS", "/approve", "", map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, 405},
	} {
		code, body, hdr := do(t, nil, tc.method, srv.URL+tc.path, tc.token, tc.hdr)
		if code != tc.code {
			t.Errorf("%s: %d %s (want %d)", tc.name, code, body, tc.code)
		}
		if v := hdr.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("%s: Access-Control-Allow-Origin %q", tc.name, v)
		}
		if hdr.Get("X-Frame-Options") != "DENY" || hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: security headers missing: %v", tc.name, hdr)
		}
	}
	denied := false
	for _, e := range *audit {
		if e.Action == "step.approve" && e.Outcome == "refused" && e.Name == "viewer-bot" && e.Role == "viewer" {
			denied = true
		}
	}
	if !denied {
		t.Errorf("the viewer's approval is not in the audit: %+v", *audit)
	}

	// The sign-in form puts the token in a cookie; a cross-site form post
	// with that cookie is refused, a same-origin one is not.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(srv.URL+"/auth/token", map[string][]string{"token": {lead}, "next": {"/whoami"}})
	if err == nil {
		resp.Body.Close()
	}
	if err != nil || resp.StatusCode != 400 && resp.StatusCode != 403 {
		// Go's client sends no Origin: refused as cross-site.
		t.Fatalf("token sign-in without Origin: %v %v", err, resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/auth/token", strings.NewReader("token="+lead+"&next=/whoami"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.URL)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"name":"lead"`) {
		t.Fatalf("token sign-in: %d %s", resp.StatusCode, b)
	}
	// After sign-in the redirect stays on this server, however next is
	// written (review 18, bug 5: "/\t/evil.example" went out as is, and a
	// browser drops the tab and goes to //evil.example).
	stay := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, n := range []string{"/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "/\\evil.example", "\\/evil.example", "//evil.example", "https://evil.example/", "/\t\\evil.example"} {
		req, _ := http.NewRequest("POST", srv.URL+"/auth/token", strings.NewReader(url.Values{"token": {lead}, "next": {n}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", srv.URL)
		resp, err := stay.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		base, _ := url.Parse(srv.URL + "/auth/token")
		to, err := url.Parse(loc)
		if resp.StatusCode != http.StatusSeeOther || err != nil || strings.ContainsAny(loc, "\t\r\n\\") || base.ResolveReference(to).Host != base.Host {
			t.Errorf("next %q: %d Location %q, want a path of this server", n, resp.StatusCode, loc)
		}
	}
	// Behind a TLS-terminating ingress the session cookie is Secure
	// (review 18, bug 10); over plain http with no such proxy it cannot be.
	for proto, secure := range map[string]bool{"https": true, "": false, "http": false} {
		req, _ := http.NewRequest("POST", srv.URL+"/auth/token", strings.NewReader(url.Values{"token": {lead}, "next": {"/"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", srv.URL)
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		resp, err := stay.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cs := resp.Cookies()
		if len(cs) != 1 || cs[0].Name != SessionCookie || cs[0].Secure != secure {
			t.Errorf("X-Forwarded-Proto %q: cookies %v, want one session cookie with Secure %v", proto, cs, secure)
		}
	}
	if code, body, _ := do(t, c, "POST", srv.URL+"/approve", "", map[string]string{"Origin": "https://evil.example"}); code != 403 || !strings.Contains(body, "cross-site") {
		t.Errorf("cross-site post with the cookie: %d %s", code, body)
	}
	if code, body, _ := do(t, c, "POST", srv.URL+"/approve", "", map[string]string{"Origin": srv.URL}); code != 200 {
		t.Errorf("same-origin post with the cookie: %d %s", code, body)
	}

	// A refused token comes back to the form with a code, and the form
	// says only the fixed message of a code it knows: not what a link
	// wrote in ?error=.
	req, _ = http.NewRequest("POST", srv.URL+"/auth/token", strings.NewReader("token=wrong&next=/whoami"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.URL)
	resp, err = (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || !strings.HasPrefix(loc, "/auth/login?error=token&") {
		t.Errorf("a refused token: %d %s", resp.StatusCode, loc)
	}
	if code, body, _ := do(t, nil, "GET", srv.URL+"/auth/login?error=token", "", nil); code != 200 || !strings.Contains(body, "The token was refused") {
		t.Errorf("the refused-token page: %d %s", code, body)
	}
	forged := "Your+session+expired.+Call+the+helpdesk+at+555-0100"
	if code, body, _ := do(t, nil, "GET", srv.URL+"/auth/login?error="+forged, "", nil); code != 200 || strings.Contains(body, "helpdesk") || strings.Contains(body, "color:#b00") {
		t.Errorf("the sign-in page says what the link wrote: %d %s", code, body)
	}
}

// The browser signs in at the IdP (authorization code with PKCE) and comes
// back with a session that every later page accepts.
func TestBrowserSignIn(t *testing.T) {
	idp := testutil.NewIdP(t)
	idp.User = map[string]any{"sub": "u-2", "email": "bob@acme.example", "groups": []string{"ir-leads"}}
	srv, audit := server(t, idp, nil, true)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	code, body, _ := do(t, c, "GET", srv.URL+"/whoami", "", map[string]string{"Accept": "text/html"})
	if code != 200 || !strings.Contains(body, "Signed in as bob@acme.example") {
		t.Fatalf("sign-in: %d %s", code, body)
	}
	code, body, _ = do(t, c, "GET", srv.URL+"/whoami", "", nil)
	if code != 200 || !strings.Contains(body, `"role":"approver"`) || !strings.Contains(body, `"subject":"oidc:`+idp.URL+`#u-2"`) {
		t.Fatalf("after sign-in: %d %s", code, body)
	}
	ok := false
	for _, e := range *audit {
		ok = ok || (e.Action == "sign-in" && e.Outcome == "ok" && e.Name == "bob@acme.example")
	}
	if !ok {
		t.Error("the sign-in is not audited")
	}
	// A callback with another state than the sign-in started is refused.
	noFollow := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if code, _, hdr := do(t, noFollow, "GET", srv.URL+"/auth/login?next=/whoami", "", nil); code != 302 || !strings.HasPrefix(hdr.Get("Location"), idp.URL+"/authorize?") {
		t.Fatalf("login: %d %v", code, hdr)
	}
	if code, body, _ := do(t, c, "GET", srv.URL+"/auth/callback?code=x&state=forged", "", nil); code != 401 || !strings.Contains(body, "state") {
		t.Errorf("forged state: %d %s", code, body)
	}
}

func TestTokensFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ content, want string }{
		{"bot viewer\n", ":1: write NAME ROLE TOKEN"},
		{"bot owner 0123456789abcdef0123456789abcdef\n", `:1: unknown role "owner"`},
		{"bot viewer short\n", ":1: the token of bot is 5 characters"},
		{"# c\nbot viewer sha256:abc\n", ":2: sha256:abc is not 64 hex digits"},
		{"a viewer 0123456789abcdef0123456789abcdef\na admin 0123456789abcdef0123456789abcdeX\n", `:2: token name "a" is already used on line 1`},
	} {
		p := filepath.Join(dir, "t")
		os.WriteFile(p, []byte(tc.content), 0o600)
		if _, err := LoadTokens(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v (want %q)", tc.content, err, tc.want)
		}
	}
	p := filepath.Join(dir, "open")
	os.WriteFile(p, []byte("a viewer 0123456789abcdef0123456789abcdef\n"), 0o644)
	if tk, err := LoadTokens(p); err != nil || len(tk.Warnings) != 1 {
		t.Errorf("a readable file of clear tokens: %v %v", err, tk.Warnings)
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// localPath reads next as a browser would; the wanted values are what a
// WHATWG parser makes of each (tab/LF/CR dropped, backslash as slash),
// kept only when that is a path of this server.
func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/runs/run-1?tab=journal": "/runs/run-1?tab=journal",
		"/":                       "/",
		"/a/b%2F%2Fc":             "/a/b%2F%2Fc",
		"/ru\tns":                 "/runs", // the browser drops the tab too
		"/\t/evil.example":        "/",     // review 18's payload
		"/\n/evil.example":        "/",
		"/\r/evil.example":        "/",
		"/\t\n\r/evil.example":    "/",
		"\t//evil.example":        "/",
		"//evil.example":          "/",
		"/\\evil.example":         "/",
		"\\\\evil.example":        "/",
		"\\/evil.example":         "/",
		"https://evil.example/":   "/",
		"javascript:alert(1)":     "/",
		" /runs":                  "/", // not a path as written
		"/runs\x00x":              "/",
		"/runs\x7f":               "/",
		"":                        "/",
		"runs":                    "/",
		"/%09/evil.example":       "/%09/evil.example", // encoded: a path segment, not stripped by browsers
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// public_metrics skips sign-in only, never the Host check (review 18,
// bug 6): by IP, as a scraper of the pod, /metrics needs nothing; by a
// rebinding page's name it is refused, and by the dashboard's name or
// through an ingress (X-Forwarded-For) it needs sign-in like every page.
func TestPublicMetricsKeepTheHostCheck(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	os.WriteFile(file, []byte("viewer-bot viewer 0123456789abcdef0123456789abcdef\n"), 0o600)
	tokens, err := LoadTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	viewer := "0123456789abcdef0123456789abcdef"
	g := &Guard{Tokens: tokens, PublicMetrics: true, AllowedHosts: []string{"vigil.acme.example"}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	mux := http.NewServeMux()
	// As internal/serve routes it.
	signed := g.Require(Viewer, "metrics.read", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "vigil_findings 1") })
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if g.PublicMetricsRequest(r) {
			io.WriteString(w, "vigil_findings 1")
			return
		}
		signed(w, r)
	})
	srv := httptest.NewServer(g.Wrap(mux))
	defer srv.Close()
	for _, tc := range []struct {
		name, token string
		hdr         map[string]string
		code        int
	}{
		{"scraper by pod IP", "", map[string]string{"Host": "10.1.2.3:8080"}, 200},
		{"scraper by IPv6 pod IP", "", map[string]string{"Host": "[fd00::5]:8080"}, 200},
		{"loopback", "", nil, 200}, // httptest's 127.0.0.1:port
		{"localhost", "", map[string]string{"Host": "localhost:8080"}, 200},
		{"DNS rebinding", "", map[string]string{"Host": "evil.example"}, 421},
		{"DNS rebinding with a token", viewer, map[string]string{"Host": "evil.example"}, 421},
		{"the dashboard's name, no sign-in", "", map[string]string{"Host": "vigil.acme.example"}, 401},
		{"the dashboard's name, signed in", viewer, map[string]string{"Host": "vigil.acme.example"}, 200},
		{"through the ingress by name", "", map[string]string{"Host": "vigil.acme.example", "X-Forwarded-For": "203.0.113.9"}, 401},
		{"through a proxy by IP", "", map[string]string{"Host": "10.1.2.3:8080", "X-Real-IP": "203.0.113.9"}, 421},
		{"Forwarded by IP", "", map[string]string{"Host": "10.1.2.3", "Forwarded": "for=203.0.113.9"}, 421},
	} {
		code, body, _ := do(t, nil, "GET", srv.URL+"/metrics", tc.token, tc.hdr)
		if code != tc.code {
			t.Errorf("%s: %d %s (want %d)", tc.name, code, body, tc.code)
		}
	}
}
