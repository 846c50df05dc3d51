package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/vigil-ir/vigil/engine/config"
)

// OIDC verifies ID tokens of the team's identity provider and runs the
// browser sign-in (the authorization code flow with PKCE).
type OIDC struct {
	cfg    *config.OIDC
	roles  RoleMap
	client *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	lastTry  time.Time
	lastErr  error
}

// NewOIDC prepares the verifier; the provider's discovery document is
// read on first use (and again after a failure, at most every few
// seconds), so that the server starts while the IdP is unreachable.
func NewOIDC(cfg *config.OIDC, roles RoleMap, client *http.Client) *OIDC {
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	return &OIDC{cfg: cfg, roles: roles, client: client}
}

// ErrIdPUnavailable says the provider's discovery document could not be read.
var ErrIdPUnavailable = errors.New("the identity provider is unreachable")

func (o *OIDC) init(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.verifier != nil {
		return o.provider, o.verifier, nil
	}
	if time.Since(o.lastTry) < 3*time.Second && o.lastErr != nil {
		return nil, nil, o.lastErr
	}
	o.lastTry = time.Now()
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, o.client), 15*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, o.cfg.Issuer)
	if err != nil {
		o.lastErr = fmt.Errorf("%w: read %s/.well-known/openid-configuration: %v", ErrIdPUnavailable, strings.TrimSuffix(o.cfg.Issuer, "/"), err)
		return nil, nil, o.lastErr
	}
	o.provider, o.verifier, o.lastErr = p, p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID}), nil
	return o.provider, o.verifier, nil
}

// Check reads the discovery document now (at startup, to report a
// misconfigured issuer early).
func (o *OIDC) Check(ctx context.Context) error { _, _, err := o.init(ctx); return err }

// flexBool reads a JSON boolean, or the string "true"/"false" some
// providers send for email_verified (go-oidc tolerates it too).
type flexBool bool

func (b *flexBool) UnmarshalJSON(raw []byte) error {
	var v bool
	if err := json.Unmarshal(raw, &v); err == nil {
		*b = flexBool(v)
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("email_verified: want true or false, got %s", raw)
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("email_verified: want true or false, got %q", s)
	}
	*b = flexBool(v)
	return nil
}

// claims are the ID token claims vigil reads.
type claims struct {
	Subject           string    `json:"sub"`
	Email             string    `json:"email"`
	EmailVerified     *flexBool `json:"email_verified"`
	Name              string    `json:"name"`
	PreferredUsername string    `json:"preferred_username"`
	Nonce             string    `json:"nonce"`
}

// Verify checks an ID token (signature by the provider's keys, issuer,
// audience = client_id, expiry) and returns its principal.
func (o *OIDC) Verify(ctx context.Context, raw string) (*Principal, *oidc.IDToken, error) {
	_, v, err := o.init(ctx)
	if err != nil {
		return nil, nil, err
	}
	tok, err := v.Verify(oidc.ClientContext(ctx, o.client), raw)
	if err != nil {
		return nil, nil, fmt.Errorf("verify ID token: %w", err)
	}
	var c claims
	if err := tok.Claims(&c); err != nil {
		return nil, nil, fmt.Errorf("read ID token claims: %w", err)
	}
	var all map[string]json.RawMessage
	if err := tok.Claims(&all); err != nil {
		return nil, nil, fmt.Errorf("read ID token claims: %w", err)
	}
	groups, err := groupsOf(all[o.cfg.GroupsClaim])
	if err != nil {
		return nil, nil, fmt.Errorf("read the %s claim: %w", o.cfg.GroupsClaim, err)
	}
	email := c.Email
	if c.EmailVerified != nil && !bool(*c.EmailVerified) {
		email = "" // an address the IdP did not check names nobody
	}
	p := &Principal{Subject: "oidc:" + tok.Issuer + "#" + c.Subject, Email: email, Groups: groups, Via: "oidc"}
	username, name := c.PreferredUsername, c.Name
	if email == "" && strings.Contains(username, "@") {
		username = "" // the user's own word for an address, as unchecked as the email
	}
	if email == "" && strings.Contains(name, "@") {
		name = "" // so is a name that reads as one (review 18: "bob@acme.example" unverified)
	}
	p.Name = firstOf(email, username, name, c.Subject)
	p.Role = o.roles.RoleOf(email, c.Subject, groups)
	return p, tok, nil
}

// groupsOf reads a groups claim: a list of strings, or one string.
func groupsOf(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, errors.New("it is neither a list of strings nor a string")
	}
	return []string{one}, nil
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func (o *OIDC) oauth(ctx context.Context) (*oauth2.Config, error) {
	p, _, err := o.init(ctx)
	if err != nil {
		return nil, err
	}
	scopes := o.cfg.Scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	return &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: scopes}, nil
}

// BrowserSignIn reports whether the browser flow is configured.
func (o *OIDC) BrowserSignIn() bool { return o != nil && o.cfg.RedirectURL != "" }

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
