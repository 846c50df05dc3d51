package config

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestServerBlock(t *testing.T) {
	LookupEnv = func(name string) (string, bool) {
		v, ok := map[string]string{"VIGIL_OIDC_CLIENT_SECRET": "s3cret", "SLACK_WEBHOOK": "https://hooks.slack.com/services/T/B/K"}[name]
		return v, ok
	}
	defer func() { LookupEnv = os.LookupEnv }()
	src := `
server {
  allowed_hosts  = ["vigil.acme.example"]
  public_metrics = true
  tokens_file    = "tokens"
  oidc {
    issuer        = "https://idp.acme.example"
    client_id     = "vigil"
    client_secret = env("VIGIL_OIDC_CLIENT_SECRET")
    redirect_url  = "https://vigil.acme.example/auth/callback"
  }
  roles {
    viewer   = ["ir-viewers"]
    approver = ["ir-leads", "user:carol@acme.example"]
  }
  runbooks {
    provider  = "sim"
    inventory = ["inv/"]
  }
}
notify "secops" {
  url = env("SLACK_WEBHOOK")
}
`
	cfg, _, diags := Parse([]byte(src), "/etc/vigil/vigil.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	s := cfg.Server
	want := &Server{AllowedHosts: []string{"vigil.acme.example"}, PublicMetrics: true, TokensFile: "/etc/vigil/tokens",
		OIDC:     &OIDC{Issuer: "https://idp.acme.example", ClientID: "vigil", ClientSecret: "s3cret", RedirectURL: "https://vigil.acme.example/auth/callback", GroupsClaim: "groups"},
		Roles:    map[string][]string{"viewer": {"ir-viewers"}, "approver": {"ir-leads", "user:carol@acme.example"}, "responder": nil, "admin": nil},
		Runbooks: ServerRunbooks{Provider: "sim", Inventory: []string{"/etc/vigil/inv"}, Dirs: []string{}}}
	s.Range, s.OIDC.Range = want.Range, want.Range
	if d := cmp.Diff(want, s); d != "" {
		t.Error(d)
	}
	if cfg.Notify[0].URL != "https://hooks.slack.com/services/T/B/K" {
		t.Errorf("notify url from env(): %q", cfg.Notify[0].URL)
	}
}

func TestServerBlockErrors(t *testing.T) {
	LookupEnv = func(string) (string, bool) { return "", false }
	defer func() { LookupEnv = os.LookupEnv }()
	for _, tc := range []struct{ src, want string }{
		{`notify "x" { url = env("SLACK_WEBHOOK") }`, "environment variable SLACK_WEBHOOK is not set"},
		{`server { tls_cert = "c.pem" }`, "give both tls_cert and tls_key"},
		{"server {\n oidc {\n issuer = \"idp\"\n client_id = \"x\"\n }\n}", "Invalid OIDC issuer"},
		{"server {\n oidc {\n issuer = \"https://idp\"\n client_id = \"x\"\n redirect_url = \"https://v/auth/callback\"\n }\n}", "needs client_secret"},
		{"server {\n oidc {\n issuer = \"https://idp\"\n client_id = \"x\"\n redirect_url = \"https://v/cb\"\n client_secret = \"s\"\n }\n}", "must be https://HOST/auth/callback"},
		{"server {\n runbooks {\n provider = \"aws\"\n }\n}", "Invalid runbooks provider"},
		{"server {}\nserver {}", "Duplicate server block"},
		{`server { allowed_hosts = ["http://x/"] }`, "is not a host name"},
		{`serve_public_key = ""`, "serve_public_key is empty"},
	} {
		_, _, diags := Parse([]byte(tc.src), "vigil.hcl")
		if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
			t.Errorf("%s: %v (want %q)", tc.src, diags, tc.want)
		}
		for _, d := range diags {
			if d.Subject == nil {
				t.Errorf("%s: diagnostic without a range: %s", tc.src, d.Summary)
			}
		}
	}
}

// The serve signing key (server.signing_key) and the serve public key the
// CLI pins (serve_public_key) are files relative to vigil.hcl.
func TestServeKeys(t *testing.T) {
	cfg, _, diags := Parse([]byte("serve_public_key = \"keys/serve.pub\"\nserver {\n  signing_key = \"serve-signing.key\"\n}\n"), "/etc/vigil/vigil.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cfg.ServePublicKey != "/etc/vigil/keys/serve.pub" || cfg.Server == nil || cfg.Server.SigningKey != "/etc/vigil/serve-signing.key" {
		t.Errorf("serve_public_key %q, signing_key %+v", cfg.ServePublicKey, cfg.Server)
	}
	cfg, _, diags = Parse([]byte("serve_public_key = \"/abs/serve.pub\"\n"), "/etc/vigil/vigil.hcl")
	if diags.HasErrors() || cfg.ServePublicKey != "/abs/serve.pub" {
		t.Errorf("an absolute path: %q %v", cfg.ServePublicKey, diags)
	}
}
