package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/auth"
	"github.com/vigil-ir/vigil/internal/serve"
	"github.com/vigil-ir/vigil/internal/store"
)

func (a *app) serveCmd() *cobra.Command {
	var cfgPath, dsn, listen, tlsCert, tlsKey, tokensFile, signingKey string
	var allowed, policyDirs []string
	var publicMetrics, showSigningKey bool
	var grace time.Duration
	// leaseTTL is how long a run's lease outlives its holder's heartbeat:
	// after it another replica carries the run on.
	var leaseTTL time.Duration
	var rf runbookFlags
	c := &cobra.Command{
		Use:   "serve --config vigil.hcl",
		Short: "The team's server: scheduled scans, runs, approvals, the dashboard and the API",
		Long: `Serve runs the schedules of vigil.hcl, each on its cron expression and never
overlapping with itself, records every scan in the history and tells the
notify blocks about new findings (each finding once). It serves, to signed-in
people and automation only:

  /                       the dashboard (the page 'vigil report --format html' writes)
  /runs, /runs/ID         runs: plan, journal, timeline; approve, reject, resume
  /runs/new               start a runbook (from a finding: its "start" link)
  /audit                  who did what (admin)
  /api/scans, /api/findings, /api/diff
  /api/runs               runs (GET), start one (POST {"runbook","vars"} or
                          {"suggestion": a triage card's command}: responder)
  /api/runs/ID            a run, its plan, the steps waiting for a decision
  /api/runs/ID/journal    its journal and whether it verifies
  /api/runs/ID/timeline   its timeline
  /api/runs/ID/approvals  POST {"address","plan_sha256","approve","comment"}: approver
  /api/runs/ID/resume     POST: responder; /api/runs/ID/unlock POST: admin
  /api/audit, /api/whoami
  /metrics                Prometheus (sign-in unless server.public_metrics and asked for by IP)
  /healthz                liveness, with each schedule's state (no sign-in)

Sign-in: OpenID Connect ID tokens of the team's identity provider (a bearer
token, or the browser sign-in at /auth/login), or static bearer tokens from
server.tokens_file. The groups claim maps to roles, each including the ones
before it: viewer (read), responder (start and resume runs), approver
(decide on steps), admin (unlock runs, read the audit log). With neither an
IdP nor a tokens file, serve makes an admin token for this machine and says
where it is.

Approvals are bound to the run's plan hash and the step's address. A step
with approval { distinct_approver = true } (the default for destructive
steps against the real clouds) must be approved by someone other than the
run's starter, who must be signed in (a CLI apply of such a run signs in
here with --server and VIGIL_TOKEN, and is refused without); the process
running it (a replica, or a CLI apply waiting for it) picks the decision up
from the store.

Serve signs (ed25519) who a signed-in starter is (/api/whoami, bound to the
plan being started, for 10 minutes) and every decision it records (run, plan
hash, step, approver, starter, time), with its own key: server.signing_key,
--signing-key or VIGIL_SERVE_SIGNING_KEY, else one made on first use beside
the journal key; every replica needs the same. CLIs and verifiers pin its
public half (serve_public_key in vigil.hcl, --serve-public-key or
VIGIL_SERVE_PUBLIC_KEY), which --show-signing-key prints: a step that needs
a second person takes only decisions that verify with it, so a row written
into the database by hand approves nothing (and verify reports it).

Several replicas share one PostgreSQL (--store postgres://...): each tick of
a schedule is scanned by one replica and recorded once (an advisory lock
the others wait on; a replica killed mid-scan hands the tick to the next),
runs are leased in the store, and a replica carries on a run started here
whose holder is gone.

Guards: the listen address defaults to 127.0.0.1; other Host headers than
server.allowed_hosts (default: localhost names) are refused, against DNS
rebinding; no cross-origin access; TLS from server.tls_cert and tls_key.

  server {
    allowed_hosts = ["vigil.acme.example"]
    tokens_file   = "/etc/vigil/tokens/tokens"   # NAME ROLE TOKEN|sha256:HEX per line
    oidc {
      issuer        = "https://idp.acme.example"
      client_id     = "vigil"
      client_secret = env("VIGIL_OIDC_CLIENT_SECRET")
      redirect_url  = "https://vigil.acme.example/auth/callback"
    }
    roles {
      viewer    = ["ir-viewers"]
      responder = ["ir-team"]
      approver  = ["ir-leads"]
      admin     = ["secops-admins"]
    }
    runbooks {
      provider  = "cloud"                        # or sim
      inventory = ["/var/lib/vigil/inventory/"]
    }
  }

A run must finish by its deadline: the schedule's timeout, or else the time
its next run is due; /healthz answers 503 naming a schedule stopped at its
deadline, or still going past it. SIGTERM or SIGINT stop it: running scans
get --grace to finish, then are abandoned; a scan is recorded whole or not
at all.`,
		Example: `  vigil serve --config vigil.hcl
  vigil serve --config vigil.hcl --show-signing-key > serve.pub
  vigil serve --config vigil.hcl --store postgres://vigil@db/vigil --listen 0.0.0.0:8443 \
      --allowed-host vigil.acme.example --tls-cert tls.crt --tls-key tls.key`,
		RunE: func(c *cobra.Command, args []string) error {
			if cfgPath == "" {
				return usageError(c, "serve needs --config: the schedules are in vigil.hcl")
			}
			cfg, err := a.loadConfig(cfgPath)
			if err != nil {
				return err
			}
			// --show-signing-key serves nothing: a responder's vigil.hcl
			// without schedules prints the key to pin as well
			if len(cfg.Schedules) == 0 && len(cfg.Watches) == 0 && cfg.Server == nil && !showSigningKey {
				return &exitError{code: ExitError, err: fmt.Errorf("%s declares no schedule: add schedule \"name\" { cron = \"0 * * * *\"  sources = [...] } (or a watch or server block)", cfgPath)}
			}
			if _, diags := serve.Parse(cfg.Schedules); diags.HasErrors() {
				return a.diagsError(sourceFiles(cfg.File), diags)
			}
			sc := config.Server{}
			if cfg.Server != nil {
				sc = *cfg.Server
			}
			if tlsCert != "" || tlsKey != "" {
				sc.TLSCert, sc.TLSKey = tlsCert, tlsKey
			}
			if (sc.TLSCert == "") != (sc.TLSKey == "") {
				return usageError(c, "give both --tls-cert and --tls-key, or neither")
			}
			sc.AllowedHosts = append(sc.AllowedHosts, allowed...)
			if tokensFile != "" {
				sc.TokensFile = tokensFile
			}
			sc.PublicMetrics = sc.PublicMetrics || publicMetrics
			// The key serve vouches for signed-in starters and for decisions
			// with: apart from the journal key (every CLI that applies runs
			// holds that one), the same on every replica.
			kp, kt, kx := a.keySource(signingKey, "VIGIL_SERVE_SIGNING_KEY", sc.SigningKey, defaultServeKeyPath())
			signer, signerPath, err := a.signingKey("serve", kp, kt, kx,
				"keep it safe (only vigil serve holds it), and pin its public half where runs are applied: serve_public_key in vigil.hcl (vigil serve --show-signing-key prints it)")
			if err != nil {
				return err
			}
			if showSigningKey {
				return a.printPublicKey("Serve signing key", signerPath, signer.Public().(ed25519.PublicKey))
			}
			host, _, err := net.SplitHostPort(listen)
			if err != nil {
				return usageError(c, "--listen %q: give host:port, such as 127.0.0.1:8080", listen)
			}
			if ip := net.ParseIP(host); (host == "" || (ip != nil && ip.IsUnspecified())) && len(sc.AllowedHosts) == 0 {
				return usageError(c, "--listen %s serves every interface: name the hosts clients use with --allowed-host (or server.allowed_hosts), a guard against DNS rebinding", listen)
			}
			if ip := net.ParseIP(host); host != "" && ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
				sc.AllowedHosts = append(sc.AllowedHosts, host)
			}
			log := slog.New(slog.NewTextHandler(a.stderr, nil))

			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			h, err := a.openHistory(ctx, dsn)
			if err != nil {
				return err
			}
			defer h.Close()
			if dsn, err = a.resolveStore(dsn); err != nil {
				return err
			}
			st, err := store.OpenRuns(ctx, dsn)
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			defer st.Close()
			sched, err := store.SchedulingOf(ctx, h)
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			audit, err := store.AuditLogOf(ctx, h)
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			guard, err := a.guard(ctx, &sc, st, audit, log)
			if err != nil {
				return err
			}
			clock, err := fakeClock(a.hook("VIGIL_FAKE_CLOCK"))
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			hostname, _ := os.Hostname()
			judged := &judgedBySchedule{}
			srv := &serve.Server{Schedules: cfg.Schedules, History: h, Scan: a.scheduleScan(cfgPath, policyDirs, h, cfg.Notify, judged), Grace: grace, Log: log, Clock: clock,
				Scheduling: sched, Holder: fmt.Sprintf("%s/%d", hostname, os.Getpid()), Guard: guard, Audit: audit, Failpoint: a.serveFailpoint(),
				Notify: scheduleNotify(h, cfg.Notify, judged), RunbookVars: requiredVars()}
			// The watch blocks run beside the schedules (watch.go).
			runWatches, watchMetrics, closeWatches, err := a.serveWatches(ctx, cfgPath, cfg, h, dsn, grace)
			if err != nil {
				return err
			}
			defer closeWatches()
			if watchMetrics != nil {
				srv.Gatherers = []prometheus.Gatherer{watchMetrics}
			}
			var alertDirs []string
			for _, w := range cfg.Watches {
				alertDirs = append(alertDirs, filepath.Join(a.watchDir("", dsn, w.Name), "alerts"))
			}
			rf.config, rf.state = cfgPath, dsn
			if leaseTTL < time.Second {
				return usageError(c, "--lease-ttl %s: give at least 1s (the default is %s)", leaseTTL, runbook.DefaultLeaseTTL)
			}
			rs := &runService{a: a, cfg: cfg, cfgPath: cfgPath, dsn: dsn, st: st, log: log, flags: rf, alertDirs: alertDirs, ctx: ctx, leaseTTL: leaseTTL}
			// Runs whose holder is gone are looked for a few times per TTL.
			srv.KeepRuns = min(max(leaseTTL/4, time.Second), 30*time.Second)
			if _, _, err := a.journalKey(&rf); err != nil {
				return err
			}
			srv.Runs = rs
			srv.Signer, rs.signer = signer, signer
			fmt.Fprintf(a.stderr, "vigil: signing who is signed in and every decision with the serve key %s (%s)\n", runbook.KeyID(signer.Public().(ed25519.PublicKey)), signerPath)
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			// The server's own errors (TLS handshakes) go to the injected log.
			httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
			scheme := "http"
			if sc.TLSCert != "" {
				scheme = "https"
			}
			fmt.Fprintf(a.stderr, "vigil: serving on %s://%s (%d schedules)\n", scheme, lis.Addr(), len(cfg.Schedules))
			errc := make(chan error, 1)
			go func() {
				if sc.TLSCert != "" {
					errc <- httpSrv.ServeTLS(lis, sc.TLSCert, sc.TLSKey)
					return
				}
				errc <- httpSrv.Serve(lis)
			}()
			watchErr := make(chan error, 1)
			go func() { watchErr <- runWatches(ctx) }()
			runErr := srv.Run(ctx)
			if err := <-watchErr; err != nil && runErr == nil {
				runErr = err
			}
			shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			httpSrv.Shutdown(shut)
			rs.wait(grace)
			if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return runErr
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "vigil.hcl with the schedules, notify and server blocks")
	storeFlag(c, &dsn)
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address of the API, metrics and dashboard")
	c.Flags().StringArrayVar(&allowed, "allowed-host", nil, "a Host header value clients use (repeatable; adds to server.allowed_hosts)")
	c.Flags().StringVar(&tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate (server.tls_cert)")
	c.Flags().StringVar(&tlsKey, "tls-key", "", "the certificate's PEM key (server.tls_key)")
	c.Flags().StringVar(&tokensFile, "tokens-file", "", "static bearer tokens, NAME ROLE TOKEN|sha256:HEX per line (server.tokens_file)")
	c.Flags().BoolVar(&publicMetrics, "public-metrics", false, "serve /metrics without sign-in (server.public_metrics)")
	c.Flags().StringVar(&signingKey, "signing-key", "", "ed25519 key (PEM) that signs identity statements and decisions (server.signing_key); VIGIL_SERVE_SIGNING_KEY works too (default "+defaultServeKeyPath()+", made on first use)")
	c.Flags().BoolVar(&showSigningKey, "show-signing-key", false, "print the signing key's path and public key (PEM, for serve_public_key) and exit")
	c.Flags().DurationVar(&grace, "grace", 30*time.Second, "how long shutdown waits for running scans")
	c.Flags().DurationVar(&leaseTTL, "lease-ttl", runbook.DefaultLeaseTTL, "how long a run's lease outlives its holder's last heartbeat: then another replica carries the run on")
	c.Flags().StringArrayVarP(&policyDirs, "policies", "p", nil, "directory of additional Rego policies every schedule runs (repeatable)")
	rf.keyFlags(c)
	return c
}

// guard builds the sign-in: the IdP, the tokens file, or else a local
// admin token written beside the state.
func (a *app) guard(ctx context.Context, sc *config.Server, st store.RunStore, audit store.AuditLog, log *slog.Logger) (*auth.Guard, error) {
	g := &auth.Guard{AllowedHosts: sc.AllowedHosts, PublicMetrics: sc.PublicMetrics, Secure: sc.TLSCert != "" || (sc.OIDC != nil && strings.HasPrefix(sc.OIDC.RedirectURL, "https://")), Log: log,
		Audit: func(ctx context.Context, e *store.AuditEntry) {
			if err := audit.Audit(context.WithoutCancel(ctx), e); err != nil {
				log.Error("audit", "err", err)
			}
		}}
	if sc.TokensFile != "" {
		t, err := auth.LoadTokens(sc.TokensFile)
		if err != nil {
			return nil, &exitError{code: ExitError, err: err}
		}
		for _, w := range t.Warnings {
			fmt.Fprintf(a.stderr, "vigil: warning: %s\n", w)
		}
		g.Tokens = t
	}
	if o := sc.OIDC; o != nil {
		g.OIDC = auth.NewOIDC(o, auth.RoleMap(sc.Roles), nil)
		if err := g.OIDC.Check(ctx); err != nil {
			fmt.Fprintf(a.stderr, "vigil: warning: %v (sign-ins with ID tokens fail until it answers)\n", err)
		}
	}
	if g.OIDC == nil && g.Tokens == nil {
		dir := filepath.Dir(st.Path())
		if st.Path() == "" {
			dir = filepath.Dir(store.DefaultPath())
		}
		path := filepath.Join(dir, "serve.token")
		tok, err := localToken(path)
		if err != nil {
			return nil, &exitError{code: ExitError, err: fmt.Errorf("make the local admin token: %w", err)}
		}
		g.Tokens = &auth.Tokens{}
		g.Tokens.Add("local-admin", auth.Admin, tok)
		fmt.Fprintf(a.stderr, "vigil: no identity provider or tokens file (server block of vigil.hcl): sign in with the admin token in %s\n", path)
	}
	return g, nil
}

// localToken reads the machine's admin token, making it on first use
// (mode 0600).
func localToken(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= auth.MinTokenLength {
		return strings.TrimSpace(string(b)), nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	return tok, os.WriteFile(path, []byte(tok+"\n"), 0o600)
}

// serveFailpoint is the crash-test hook of scheduled scans: VIGIL_FAILPOINT
// kills the process at a point (as for runbooks), and
// VIGIL_FAILPOINT_HOLD=POINT=FILE holds it there while FILE exists, so
// that a test can kill it mid-scan from outside.
func (a *app) serveFailpoint() func(string) {
	kill := a.failpoint()
	point, file, _ := strings.Cut(a.hook("VIGIL_FAILPOINT_HOLD"), "=")
	if kill == nil && point == "" {
		return nil
	}
	return func(p string) {
		if kill != nil {
			kill(p)
		}
		if p == point && file != "" {
			fmt.Fprintf(a.stderr, "vigil: failpoint %s reached (pid %d): holding while %s exists\n", p, os.Getpid(), file)
			for {
				if _, err := os.Stat(file); err != nil {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
}

// scaledClock is a fast clock for tests of real processes: time starts at
// start when the wall clock reads anchor, and runs rate times as fast.
// Processes given the same VIGIL_FAKE_CLOCK agree on the time.
type scaledClock struct {
	start, anchor time.Time
	rate          float64
}

func (c scaledClock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.anchor)) * c.rate))
}

func (c scaledClock) After(d time.Duration) <-chan time.Time {
	out := make(chan time.Time, 1)
	time.AfterFunc(time.Duration(float64(d)/c.rate), func() { out <- c.Now() })
	return out
}

// fakeClock reads VIGIL_FAKE_CLOCK=START@ANCHORxRATE (START RFC 3339,
// ANCHOR Unix milliseconds, RATE a factor), "" for the wall clock.
func fakeClock(spec string) (serve.Clock, error) {
	if spec == "" {
		return serve.RealClock, nil
	}
	start, rest, ok1 := strings.Cut(spec, "@")
	anchor, rate, ok2 := strings.Cut(rest, "x")
	t, err1 := time.Parse(time.RFC3339, start)
	ms, err2 := strconv.ParseInt(anchor, 10, 64)
	r, err3 := strconv.ParseFloat(rate, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || err3 != nil || r <= 0 {
		return nil, fmt.Errorf("VIGIL_FAKE_CLOCK=%q: write START@ANCHOR_MSxRATE, such as 2026-11-27T10:00:30Z@1764237600000x20", spec)
	}
	return scaledClock{start: t, anchor: time.UnixMilli(ms), rate: r}, nil
}
