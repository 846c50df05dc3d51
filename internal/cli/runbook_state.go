package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/anchor"
	"github.com/vigil-ir/vigil/internal/store"
)

// openRunStore opens --state: a SQLite file (default) or postgres://.
func (a *app) openRunStore(ctx context.Context, f *runbookFlags) (store.RunStore, error) {
	st, err := store.OpenRuns(ctx, f.state)
	if err != nil {
		return nil, &exitError{code: ExitError, err: err}
	}
	return st, nil
}

// defaultKeyPath is where the journal key is made on first use: the user's
// configuration directory, apart from the state it signs.
func defaultKeyPath() string {
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "vigil", "journal.key")
	}
	return ".vigil-journal.key"
}

// defaultServeKeyPath is where vigil serve's signing key is made on first
// use, beside the journal key.
func defaultServeKeyPath() string {
	return filepath.Join(filepath.Dir(defaultKeyPath()), "serve-signing.key")
}

// journalKeySource is --journal-key, else VIGIL_JOURNAL_KEY (a path, or the
// PEM text itself, as CI secrets are), else the default path.
func (a *app) journalKeySource(f *runbookFlags) (path, pemText string, explicit bool) {
	return a.keySource(f.journalKey, "VIGIL_JOURNAL_KEY", "", defaultKeyPath())
}

// keySource is where a key comes from: the flag, else the environment
// variable (a path, or the PEM text itself), else vigil.hcl's setting,
// else def (not explicit: it may be made on first use).
func (a *app) keySource(flag, envName, configured, def string) (path, pemText string, explicit bool) {
	if flag != "" {
		return flag, "", true
	}
	if v := a.env(envName); v != "" {
		if strings.HasPrefix(strings.TrimSpace(v), "-----BEGIN") {
			return envName, v, true
		}
		return v, "", true
	}
	if configured != "" {
		return configured, "", true
	}
	return def, "", false
}

// journalKey loads the signing key, making the default one on first use
// (mode 0600). A key given explicitly must exist.
func (a *app) journalKey(f *runbookFlags) (ed25519.PrivateKey, string, error) {
	path, text, explicit := a.journalKeySource(f)
	return a.signingKey("journal", path, text, explicit,
		"keep it safe: it is what makes the journal impossible to rewrite")
}

// signingKey loads an ed25519 private key from a source keySource gave,
// making it on first use when it is the default one.
func (a *app) signingKey(what, path, text string, explicit bool, keepSafe string) (ed25519.PrivateKey, string, error) {
	if text != "" {
		k, err := parsePrivateKey([]byte(text))
		if err != nil {
			return nil, path, &exitError{code: ExitError, err: fmt.Errorf("%s: %w", path, err)}
		}
		return k, path, nil
	}
	k, err := readPrivateKey(path)
	if os.IsNotExist(err) && !explicit {
		k, err = createKey(path)
		if err == nil {
			fmt.Fprintf(a.stderr, "vigil: made the %s signing key %s (ed25519, %s); %s\n",
				what, path, runbook.KeyID(k.Public().(ed25519.PublicKey)), keepSafe)
		}
	}
	if err != nil {
		return nil, path, &exitError{code: ExitError, err: fmt.Errorf("%s key %s: %w", what, path, err)}
	}
	return k, path, nil
}

// trustedKey is the public key verify compares a run's with: the journal
// key when there is one (private or public PEM), nil otherwise.
func (a *app) trustedKey(f *runbookFlags) (ed25519.PublicKey, string, error) {
	path, text, explicit := a.journalKeySource(f)
	return publicKeyFrom("journal", path, text, explicit)
}

// servePublicKey is vigil serve's public signing key as pinned here:
// --serve-public-key, else VIGIL_SERVE_PUBLIC_KEY (a path or the PEM
// text), else vigil.hcl's serve_public_key; nil when none is given. It is
// never asked of the server it vouches for.
func (a *app) servePublicKey(f *runbookFlags) (ed25519.PublicKey, string, error) {
	configured := ""
	if f.servePublicKey == "" && a.env("VIGIL_SERVE_PUBLIC_KEY") == "" {
		cfg, err := a.loadConfig(f.config)
		if err != nil {
			return nil, "", err
		}
		configured = cfg.ServePublicKey
	}
	path, text, explicit := a.keySource(f.servePublicKey, "VIGIL_SERVE_PUBLIC_KEY", configured, "")
	if path == "" {
		return nil, "", nil
	}
	return publicKeyFrom("serve public", path, text, explicit)
}

// publicKeyFrom reads a public key (or the public half of a private key)
// in PEM; nil when a default path does not exist.
func publicKeyFrom(what, path, text string, explicit bool) (ed25519.PublicKey, string, error) {
	raw := []byte(text)
	if text == "" {
		var err error
		raw, err = os.ReadFile(path)
		if os.IsNotExist(err) && !explicit {
			return nil, path, nil
		}
		if err != nil {
			return nil, path, &exitError{code: ExitError, err: fmt.Errorf("%s key %s: %w", what, path, err)}
		}
	}
	block, _ := pem.Decode(raw)
	if block != nil && block.Type == "PUBLIC KEY" {
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if k, ok := pub.(ed25519.PublicKey); err == nil && ok {
			return k, path, nil
		}
		return nil, path, &exitError{code: ExitError, err: fmt.Errorf("%s key %s is not an ed25519 public key", what, path)}
	}
	k, err := parsePrivateKey(raw)
	if err != nil {
		return nil, path, &exitError{code: ExitError, err: fmt.Errorf("%s key %s: %w", what, path, err)}
	}
	return k.Public().(ed25519.PublicKey), path, nil
}

func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("the key is readable by others (mode %04o): chmod 600 %s", info.Mode().Perm(), path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parsePrivateKey(raw)
}

func parsePrivateKey(raw []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM private key (-----BEGIN PRIVATE KEY-----)")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("not an ed25519 key")
	}
	return ek, nil
}

// createKey writes a new key atomically: two processes making it at once
// end up with one key, the first one linked into place.
func createKey(path string) (ed25519.PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	tmp := path + ".tmp-" + hex.EncodeToString(b)
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if err := pem.Encode(fh, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		fh.Close()
		return nil, err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return nil, err
	}
	if err := fh.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp, path); err != nil {
		if os.IsExist(err) {
			return readPrivateKey(path)
		}
		return nil, err
	}
	return k, nil
}

// openAnchor returns where journal heads are copied: vigil.hcl's anchor,
// else an append-only file beside the state.
func (a *app) openAnchor(ctx context.Context, f *runbookFlags, st store.RunStore) (runbook.Anchor, error) {
	cfg, err := a.loadConfig(f.config)
	if err != nil {
		return nil, err
	}
	spec := cfg.Anchor
	if spec != "" && !strings.Contains(spec, "://") && !filepath.IsAbs(spec) && cfg.File != "" {
		spec = filepath.Join(filepath.Dir(cfg.File), spec)
	}
	def := st.Path() + ".anchor"
	if st.Path() == "" {
		def = filepath.Join(filepath.Dir(store.DefaultPath()), "postgres-journal.anchor")
	}
	o := anchor.Options{S3Endpoint: f.aws.endpoint, S3Region: f.aws.region, GCSEndpoint: f.gcp.endpoint}
	if o.GCSEndpoint == "" {
		o.GCSEndpoint = a.env("VIGIL_GCP_ENDPOINT")
	}
	an, err := anchor.Open(ctx, spec, def, o)
	if err != nil {
		return nil, &exitError{code: ExitError, err: err}
	}
	if st.Path() == "" && spec == "" && !a.warnedAnchor {
		// A state several machines share, anchored in a file only this one
		// sees: a run resumed elsewhere is anchored elsewhere, and entries
		// cut from the database after that go unnoticed here.
		a.warnedAnchor = true
		fmt.Fprintf(a.stderr, "vigil: WARNING: the state is a PostgreSQL database that other machines may share, but the journal's anchor is %s, on this machine only: "+
			"a run applied here and resumed elsewhere is anchored in two places, and neither can tell when entries are cut from the database. "+
			"Set anchor = \"s3://BUCKET/PREFIX\" or \"gs://BUCKET/PREFIX\" (with Object Lock or a retention policy), or a path every machine shares, in vigil.hcl.\n", an)
	}
	return an, nil
}
