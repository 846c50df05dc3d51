package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/auth"
)

// signInHint says how a CLI user signs in, for the refusals below.
const signInHint = `sign in: set VIGIL_SERVER (or --server) to your team's vigil serve URL and VIGIL_TOKEN to your token there (a static token from serve's --tokens-file, or an ID token from the team's IdP), or start the run in the dashboard`

// starter is who starts a run applied by the CLI. Signed in (the server and
// a token given), it is whoever vigil serve's /api/whoami says the token
// belongs to: verified, so the two-person rule can tell the approver from
// it. Otherwise nil: the OS user (or --actor), which nothing checked, and
// which a run with a step needing a second person's approval may not have
// (one person could then start it under one name and approve it under
// another): that is refused here, before anything runs.
func (a *app) starter(ctx context.Context, f *runbookFlags, plan *runbook.Plan) (*runbook.Identity, error) {
	server := f.server
	if server == "" {
		server = a.env("VIGIL_SERVER")
	}
	token := strings.TrimSpace(a.env("VIGIL_TOKEN"))
	step := runbook.FirstDistinct(plan)
	if server != "" && token != "" {
		if f.actor != "" {
			return nil, &exitError{code: ExitError, err: fmt.Errorf("--actor cannot rename a signed-in starter: the journal names who VIGIL_TOKEN signs in as at %s; drop --actor", server)}
		}
		id, err := whoami(ctx, server, token, plan.Hash())
		if err != nil {
			return nil, &exitError{code: ExitError, err: err}
		}
		if step == "" {
			return id, nil
		}
		// What /api/whoami says counts only as far as serve's signature,
		// checked against the key pinned here, vouches for it: a fake
		// server (or a proxy) answering whoami names nobody.
		pub, _, err := a.servePublicKey(f)
		if err != nil {
			return nil, err
		}
		if pub == nil {
			return nil, &exitError{code: ExitError, err: fmt.Errorf("step.%s needs a second person's approval (distinct_approver), so vigil serve must vouch for who starts the run, and nothing here says which key is serve's: pin it with serve_public_key in vigil.hcl, --serve-public-key or VIGIL_SERVE_PUBLIC_KEY (the PEM that vigil serve --show-signing-key prints). Nothing was applied", step)}
		}
		if _, err := runbook.VerifyStarter(pub, *id, plan.Hash(), time.Now()); err != nil {
			return nil, &exitError{code: ExitError, err: fmt.Errorf("step.%s needs a second person's approval (distinct_approver), and %s/api/whoami's answer is not vouched for: %v. Nothing was applied", step, strings.TrimRight(server, "/"), err)}
		}
		return id, nil
	}
	if step == "" {
		return nil, nil
	}
	missing := "VIGIL_SERVER and VIGIL_TOKEN are not set"
	switch {
	case server != "":
		missing = "VIGIL_TOKEN is not set"
	case token != "":
		missing = "neither --server nor VIGIL_SERVER is set"
	}
	if f.actor != "" {
		return nil, &exitError{code: ExitError, err: fmt.Errorf("step.%s needs a second person's approval (distinct_approver): --actor cannot name who starts such a run, nobody checks it; %s. Nothing was applied", step, signInHint)}
	}
	return nil, &exitError{code: ExitError, err: fmt.Errorf("step.%s needs a second person's approval (distinct_approver), so whoever starts the run must be signed in, and %s; %s. Nothing was applied", step, missing, signInHint)}
}

// whoami asks vigil serve who a bearer token belongs to, with serve's
// signed statement of it for starting the plan planHash (checked by the
// caller when it matters).
func whoami(ctx context.Context, server, token, planHash string) (*runbook.Identity, error) {
	base := strings.TrimRight(server, "/")
	if !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") {
		return nil, fmt.Errorf("the server %q is not an http(s):// URL (as vigil serve prints it: serving on https://HOST:PORT)", server)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/whoami?plan_sha256="+url.QueryEscape(planHash), nil)
	if err != nil {
		return nil, fmt.Errorf("the server %q: %w", server, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot ask %s who VIGIL_TOKEN is: %w", base, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, fmt.Errorf("%s refused VIGIL_TOKEN (401): the token is wrong or expired; get a new one (%s)", base, signInHint)
	case resp.StatusCode == http.StatusForbidden:
		var e struct{ Error string }
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(raw))
		}
		return nil, fmt.Errorf("%s will not let VIGIL_TOKEN start a run (403): %s. Nothing was applied", base, e.Error)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s/api/whoami answered %s: %s", base, resp.Status, strings.TrimSpace(string(raw)))
	}
	var p struct {
		auth.Principal
		Attestation *runbook.Attestation `json:"attestation"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || p.Subject == "" {
		return nil, fmt.Errorf("%s/api/whoami did not say who VIGIL_TOKEN is (is it vigil serve?): %.200s", base, raw)
	}
	id := p.Identity()
	id.Attestation = p.Attestation
	// Not "vigil serve (...)": serve carries on only the runs it started
	// itself (a CLI's run is resumed by its responder).
	id.Via = "vigil CLI, signed in to " + base + " (" + p.Via + ")"
	return &id, nil
}
