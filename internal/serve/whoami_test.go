package serve

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/auth"
)

// /api/whoami vouches for the caller as the starter of one plan, signed
// with serve's key: the CLI's check (runbook.VerifyStarter) takes it for
// that person, that plan and ten minutes, and for nothing else.
func TestWhoamiVouchesForOnePlan(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	alice := &auth.Principal{Subject: "token:alice", Name: "alice", Role: auth.Responder, Via: "token"}
	get := func(t *testing.T, signer ed25519.PrivateKey, who *auth.Principal, query string) *http.Response {
		t.Helper()
		srv := &Server{Signer: signer, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		h := srv.Handler()
		// the guard's part: the request is who's
		web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), who)))
		}))
		defer web.Close()
		resp, err := http.Get(web.URL + "/api/whoami" + query)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	whoami := func(t *testing.T, signer ed25519.PrivateKey, query string) (auth.Principal, *runbook.Attestation) {
		t.Helper()
		resp := get(t, signer, alice, query)
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("whoami: %s", resp.Status)
		}
		var out struct {
			auth.Principal
			Attestation *runbook.Attestation `json:"attestation"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out.Principal, out.Attestation
	}

	p, att := whoami(t, key, "?plan_sha256=aaaa")
	if p.Subject != "token:alice" || p.Role != auth.Responder {
		t.Fatalf("whoami says %+v", p)
	}
	if att == nil {
		t.Fatal("a serve with a signing key gave no attestation")
	}
	id := alice.Identity()
	id.Attestation = att
	now := time.Now()
	if _, err := runbook.VerifyStarter(pub, id, "aaaa", now); err != nil {
		t.Fatalf("the statement does not verify for its own plan: %v", err)
	}
	bob := id
	bob.Subject = "token:bob"
	for _, tt := range []struct {
		name string
		pub  ed25519.PublicKey
		id   runbook.Identity
		plan string
		at   time.Time
		want string
	}{
		{"another plan", pub, id, "bbbb", now, "not this run's"},
		{"another person", pub, bob, "aaaa", now, "serve's statement names token:alice"},
		{"another key", otherPub, id, "aaaa", now, "not with the trusted serve key"},
		{"no pinned key", nil, id, "aaaa", now, "no serve public key is pinned"},
		{"expired", pub, id, "aaaa", now.Add(runbook.StarterTTL + time.Minute), "was good from"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runbook.VerifyStarter(tt.pub, tt.id, tt.plan, tt.at)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("VerifyStarter = %v, want an error with %q", err, tt.want)
			}
		})
	}
	// a statement whose text was changed (another plan written in) no
	// longer verifies
	forged := *att
	forged.Statement = strings.Replace(att.Statement, "aaaa", "bbbb", 1)
	id.Attestation = &forged
	if _, err := runbook.VerifyStarter(pub, id, "bbbb", now); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("an edited statement: %v", err)
	}

	// a viewer (or an identity with no role) is not vouched for as a
	// starter: asked for a plan, whoami refuses, as POST /api/runs does;
	// asked who it is, it still answers
	for _, role := range []string{auth.Viewer, ""} {
		vic := &auth.Principal{Subject: "token:vic", Name: "vic", Role: role, Via: "token"}
		resp := get(t, key, vic, "?plan_sha256=aaaa")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "needs the responder role") {
			t.Errorf("role %q asking to start plan aaaa: %s %s", role, resp.Status, body)
		}
		resp = get(t, key, vic, "")
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.Contains(string(body), "attestation") {
			t.Errorf("role %q asking who it is: %s %s", role, resp.Status, body)
		}
	}
	// and a statement naming a viewer, signed with serve's key (an older
	// serve's), does not make a starter
	vicID := runbook.Identity{Subject: "token:vic", Name: "vic", Verified: true}
	vicID.Attestation = runbook.SignIdentity(key, &runbook.IdentityStatement{Identity: vicID, Role: auth.Viewer, Audience: runbook.StarterAudience,
		PlanSHA256: "aaaa", IssuedAt: now, ExpiresAt: now.Add(runbook.StarterTTL)})
	if _, err := runbook.VerifyStarter(pub, vicID, "aaaa", now); err == nil || !strings.Contains(err.Error(), "needs the responder role") {
		t.Errorf("a viewer's starter statement: %v", err)
	}
	for role := range map[string]bool{auth.Viewer: true, auth.Responder: true, auth.Approver: true, auth.Admin: true, "": true} {
		p := &auth.Principal{Role: role}
		if runbook.StarterRoles[role] != p.Can(auth.Responder) {
			t.Errorf("role %q: runbook.StarterRoles says %v, auth says %v", role, runbook.StarterRoles[role], p.Can(auth.Responder))
		}
	}

	// without a signing key serve vouches for nobody
	if _, att := whoami(t, nil, "?plan_sha256=aaaa"); att != nil {
		t.Fatalf("a serve without a signing key signed %+v", att)
	}
}
