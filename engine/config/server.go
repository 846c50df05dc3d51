package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// Server is the server block of vigil.hcl: how `vigil serve` signs people
// in, which Host names it answers to, and how it runs runbooks.
type Server struct {
	// AllowedHosts are the Host header values served (a DNS-rebinding
	// guard); empty: loopback names only.
	AllowedHosts []string
	// PublicMetrics serves /metrics without sign-in (for Prometheus).
	PublicMetrics bool
	// TokensFile holds static bearer tokens for automation.
	TokensFile string
	// TLSCert and TLSKey are PEM files; both or neither.
	TLSCert, TLSKey string
	// SigningKey is the ed25519 private key (PEM) serve signs identity
	// statements and decisions with; every replica has the same one.
	SigningKey string
	OIDC       *OIDC
	// Roles maps each role (viewer, responder, approver, admin) to the
	// groups (of the OIDC groups claim) or "user:EMAIL" entries that have it.
	Roles    map[string][]string
	Runbooks ServerRunbooks
	Range    hcl.Range
}

// OIDC is the team's identity provider.
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is where the IdP sends the browser back:
	// https://HOST/auth/callback.
	RedirectURL string
	// GroupsClaim is the ID token claim listing the groups (default "groups").
	GroupsClaim string
	Scopes      []string
	Range       hcl.Range
}

// ServerRunbooks say how runs started from the dashboard or the API run.
type ServerRunbooks struct {
	// Provider is "cloud" (default) or "sim".
	Provider string
	// Inventory feeds assets(), findings() and the simulated cloud.
	Inventory []string
	// Dirs hold runbooks (*.hcl) that can be started by name, beside the
	// built-in ones.
	Dirs []string
}

// Roles, in order: each includes the ones before it.
var Roles = []string{"viewer", "responder", "approver", "admin"}

type serverBody struct {
	AllowedHosts  []string `hcl:"allowed_hosts,optional"`
	PublicMetrics bool     `hcl:"public_metrics,optional"`
	TokensFile    string   `hcl:"tokens_file,optional"`
	TLSCert       string   `hcl:"tls_cert,optional"`
	TLSKey        string   `hcl:"tls_key,optional"`
	SigningKey    string   `hcl:"signing_key,optional"`
	Rest          hcl.Body `hcl:",remain"`
}

var serverBlocks = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "oidc"}, {Type: "roles"}, {Type: "runbooks"}}}

type oidcBody struct {
	Issuer       string   `hcl:"issuer"`
	ClientID     string   `hcl:"client_id"`
	ClientSecret string   `hcl:"client_secret,optional"`
	RedirectURL  string   `hcl:"redirect_url,optional"`
	GroupsClaim  string   `hcl:"groups_claim,optional"`
	Scopes       []string `hcl:"scopes,optional"`
}

type rolesBody struct {
	Viewer    []string `hcl:"viewer,optional"`
	Responder []string `hcl:"responder,optional"`
	Approver  []string `hcl:"approver,optional"`
	Admin     []string `hcl:"admin,optional"`
}

type runbooksBody struct {
	Provider  string   `hcl:"provider,optional"`
	Inventory []string `hcl:"inventory,optional"`
	Dirs      []string `hcl:"dirs,optional"`
}

func parseServer(blk *hcl.Block, file string) (*Server, hcl.Diagnostics) {
	var sb serverBody
	diags := gohcl.DecodeBody(blk.Body, EvalContext(), &sb)
	if diags.HasErrors() {
		return nil, diags
	}
	s := &Server{AllowedHosts: sb.AllowedHosts, PublicMetrics: sb.PublicMetrics, TokensFile: rel(file, sb.TokensFile),
		TLSCert: rel(file, sb.TLSCert), TLSKey: rel(file, sb.TLSKey), SigningKey: rel(file, sb.SigningKey), Roles: map[string][]string{}, Range: blk.DefRange}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Incomplete TLS settings",
			Detail: "server: give both tls_cert and tls_key (PEM files), or neither.", Subject: blk.DefRange.Ptr()})
	}
	for _, h := range s.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/ ") {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid allowed host",
				Detail: fmt.Sprintf("allowed_hosts: %q is not a host name (write vigil.acme.example, or vigil.acme.example:8443 for one port).", h), Subject: blk.DefRange.Ptr()})
		}
	}
	content, d := sb.Rest.Content(serverBlocks)
	diags = append(diags, d...)
	seen := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		if prev, dup := seen[b.Type]; dup {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate " + b.Type + " block",
				Detail: fmt.Sprintf("server has one %s block; the first is at %s.", b.Type, prev), Subject: b.DefRange.Ptr()})
			continue
		}
		seen[b.Type] = b.DefRange
		switch b.Type {
		case "oidc":
			var ob oidcBody
			d := gohcl.DecodeBody(b.Body, EvalContext(), &ob)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
			o := &OIDC{Issuer: ob.Issuer, ClientID: ob.ClientID, ClientSecret: ob.ClientSecret, RedirectURL: ob.RedirectURL,
				GroupsClaim: ob.GroupsClaim, Scopes: ob.Scopes, Range: b.DefRange}
			if o.GroupsClaim == "" {
				o.GroupsClaim = "groups"
			}
			if u, err := url.Parse(o.Issuer); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid OIDC issuer",
					Detail: fmt.Sprintf("issuer %q must be the IdP's https:// URL, as its ID tokens' iss claim says (https://accounts.google.com, https://login.microsoftonline.com/TENANT/v2.0, ...).", o.Issuer), Subject: b.DefRange.Ptr()})
			}
			if o.RedirectURL != "" {
				if u, err := url.Parse(o.RedirectURL); err != nil || u.Host == "" || u.Path != "/auth/callback" {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid OIDC redirect URL",
						Detail: fmt.Sprintf("redirect_url %q must be https://HOST/auth/callback, registered with the IdP for this client.", o.RedirectURL), Subject: b.DefRange.Ptr()})
				}
				if o.ClientSecret == "" {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No OIDC client secret",
						Detail: "the browser sign-in (redirect_url) needs client_secret: take it from the environment, client_secret = env(\"VIGIL_OIDC_CLIENT_SECRET\").", Subject: b.DefRange.Ptr()})
				}
			}
			s.OIDC = o
		case "roles":
			var rb rolesBody
			d := gohcl.DecodeBody(b.Body, EvalContext(), &rb)
			diags = append(diags, d...)
			s.Roles["viewer"], s.Roles["responder"], s.Roles["approver"], s.Roles["admin"] = rb.Viewer, rb.Responder, rb.Approver, rb.Admin
		case "runbooks":
			var rb runbooksBody
			d := gohcl.DecodeBody(b.Body, EvalContext(), &rb)
			diags = append(diags, d...)
			s.Runbooks = ServerRunbooks{Provider: rb.Provider, Inventory: rels(file, rb.Inventory), Dirs: rels(file, rb.Dirs)}
			if s.Runbooks.Provider == "" {
				s.Runbooks.Provider = "cloud"
			}
			if s.Runbooks.Provider != "cloud" && s.Runbooks.Provider != "sim" {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid runbooks provider",
					Detail: fmt.Sprintf("provider is %q; use \"cloud\" (the real providers) or \"sim\" (rehearsals against the inventory).", rb.Provider), Subject: b.DefRange.Ptr()})
			}
		}
	}
	if s.Runbooks.Provider == "" {
		s.Runbooks.Provider = "cloud"
	}
	return s, diags
}

// rel makes a path relative to the config file's directory absolute.
func rel(file, p string) string {
	if p == "" || filepath.IsAbs(p) || file == "" {
		return p
	}
	return filepath.Join(filepath.Dir(file), p)
}

func rels(file string, ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = rel(file, p)
	}
	return out
}

// LookupEnv reads the environment for env() (tests replace it).
var LookupEnv = os.LookupEnv

// EvalContext is what expressions in vigil.hcl may call: env("NAME")
// reads a secret from the environment, so that the file itself holds
// none (a Kubernetes Secret sets the variable).
func EvalContext() *hcl.EvalContext {
	return &hcl.EvalContext{Functions: map[string]function.Function{"env": envFunc}}
}

var envFunc = function.New(&function.Spec{
	Description: "The value of an environment variable; an error when it is not set.",
	Params:      []function.Parameter{{Name: "name", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		name := args[0].AsString()
		v, ok := LookupEnv(name)
		if !ok {
			return cty.NilVal, fmt.Errorf("the environment variable %s is not set: export it (a Kubernetes Secret can set it through env.valueFrom.secretKeyRef)", name)
		}
		return cty.StringVal(v), nil
	},
})
