package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// secondApprover is the other person of the two-person rule in tests that
// run destructive steps against the fakes (provider cloud): nothing the
// CLI's user types approves those.
var secondApprover = runbook.Identity{Subject: "test:second-responder", Name: "second responder", Verified: true, Via: "vigil serve (test)"}

// identityServer is one vigil serve for the whole test binary, whose only
// use is to say who a token is (/api/whoami): a run with a step needing a
// second person must be started signed in. The run itself lives in the
// test's own state; the approver is secondApprover.
var identityServer struct {
	once       sync.Once
	cmd        *exec.Cmd
	url, token string
	err        error
}

// signedIn is the environment that signs the CLI in as "first-responder"
// (token:first-responder, a responder), starting the server once.
func signedIn(t *testing.T) []string {
	t.Helper()
	s := &identityServer
	s.once.Do(func() {
		dir := filepath.Dir(binPath)
		s.token = strings.Repeat("f1", 20)
		tokens := filepath.Join(dir, "identity-tokens")
		if s.err = os.WriteFile(tokens, []byte("first-responder responder "+s.token+"\n"), 0o600); s.err != nil {
			return
		}
		// A server block and nothing else: sign-in, no schedules.
		cfg := filepath.Join(dir, "identity.hcl")
		if s.err = os.WriteFile(cfg, []byte("server {\n}\n"), 0o644); s.err != nil {
			return
		}
		s.cmd = exec.Command(binPath, "serve", "--config", cfg, "--store="+filepath.Join(dir, "identity.db"), "--listen", "127.0.0.1:0", "--tokens-file", tokens)
		out, err := s.cmd.StdoutPipe()
		if err != nil {
			s.err = err
			return
		}
		s.cmd.Stderr = s.cmd.Stdout
		if s.err = s.cmd.Start(); s.err != nil {
			return
		}
		found := make(chan string, 1)
		var mu sync.Mutex
		var said strings.Builder
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				mu.Lock()
				said.WriteString(sc.Text() + "\n")
				mu.Unlock()
				if m := servingRe.FindStringSubmatch(sc.Text()); m != nil {
					found <- m[1]
				}
			}
		}()
		select {
		case s.url = <-found:
		case <-time.After(60 * time.Second):
			mu.Lock()
			s.err = fmt.Errorf("the identity server did not listen within 60s:\n%s", said.String())
			mu.Unlock()
		}
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return []string{"VIGIL_SERVER=" + s.url, "VIGIL_TOKEN=" + s.token}
}

// serveKeyPath is the signing key every vigil serve of the test binary
// makes on first use (XDG_CONFIG_HOME is the binary's own: see TestMain).
func serveKeyPath() string {
	return filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "vigil", "serve-signing.key")
}

// serveSigningKey reads that key: the tests play vigil serve with it
// where they record a decision in the store themselves.
func serveSigningKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	raw, err := os.ReadFile(serveKeyPath())
	if err != nil {
		t.Fatalf("the serve signing key (made by the first vigil serve): %v", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatalf("%s is not PEM", serveKeyPath())
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(ed25519.PrivateKey)
}

// makeServeKey makes serveKeyPath (mode 0600) and writes its public half
// into dir as vigil serve --show-signing-key prints it; it returns that
// file.
func makeServeKey(dir string) (string, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(serveKeyPath()), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(serveKeyPath(), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return "", err
	}
	pder, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return "", err
	}
	pub := filepath.Join(dir, "serve.pub")
	return pub, os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}), 0o644)
}

func stopIdentityServer() {
	if c := identityServer.cmd; c != nil && c.Process != nil {
		c.Process.Kill()
		c.Wait()
	}
}

// applyWithSecondApprover runs vigil (an apply against the fakes) on a
// SQLite state and, while it waits, approves each step that needs a
// distinct approver as vigil serve records an approver's decision: in the
// run's store, bound to the plan hash and the address. The CLI is signed in
// (signedIn) as another identity than the approver.
func applyWithSecondApprover(t *testing.T, env []string, state string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = testutil.Root(t)
	cmd.Env = append(append(append(os.Environ(), signedIn(t)...), env...), "VIGIL_APPROVAL_POLL=100ms")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case err := <-done:
			return exitCode(t, err), out.String()
		case <-time.After(100 * time.Millisecond):
			approvePending(t, state)
		}
	}
}

func approvePending(t *testing.T, state string) {
	if _, err := os.Stat(state); err != nil {
		return // the CLI has not made it yet
	}
	st, err := store.OpenSQLite(state)
	if err != nil {
		return
	}
	defer st.Close()
	ap, ok := any(st).(store.Approvals)
	if !ok {
		t.Fatalf("%T keeps no decisions", st)
	}
	ctx := context.Background()
	runs, _ := st.ListRuns(ctx)
	for _, run := range runs {
		es, _ := st.Entries(ctx, run.ID)
		for _, e := range es {
			var d struct {
				Plan     string `json:"plan_sha256"`
				Distinct bool   `json:"distinct_approver"`
			}
			if e.Kind != runbook.EntryApprovalRequired || json.Unmarshal(e.Detail, &d) != nil || !d.Distinct {
				continue
			}
			if prev, err := ap.Decision(ctx, run.ID, e.Step, d.Plan); err != nil || prev != nil {
				continue
			}
			// Signed with serve's key, as serve records a decision: an
			// unsigned row approves nothing.
			at := time.Now().UTC()
			att := runbook.SignApproval(serveSigningKey(t), &runbook.ApprovalStatement{Run: run.ID, PlanSHA256: d.Plan, Address: e.Step, Approved: true,
				Approver: secondApprover, Starter: runbook.StarterOf(run, es), Decision: "test-" + e.Step, At: at})
			ap.RecordDecision(ctx, &store.StepDecision{RunID: run.ID, Address: e.Step, PlanHash: d.Plan, DecidedAt: at,
				Decision: runbook.Decision{Approved: true, By: secondApprover, Comment: "parity test", ID: "test-" + e.Step, Attestation: att}})
		}
	}
}

// makeServeKeyPub writes the public half of a new key, not serve's, into
// dir and returns the file.
func makeServeKeyPub(dir string) (string, error) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "other-serve.pub")
	return path, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
}
