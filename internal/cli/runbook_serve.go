package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/auth"
	"github.com/vigil-ir/vigil/internal/serve"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/runbooks"
)

// runService runs runbooks for vigil serve: started from the dashboard or
// the API, resumed after a decision, or carried on when their holder is
// gone. Runs execute in this process, leased in the shared store, with
// the journal key and anchor every replica and CLI share.
type runService struct {
	a       *app
	cfg     *config.Config
	cfgPath string
	dsn     string
	st      store.RunStore
	log     *slog.Logger
	// keyFlags carry --journal-key (or VIGIL_JOURNAL_KEY) and the config
	// for the anchor.
	flags runbookFlags
	// alertDirs are where watches keep alert files: from_alert may name
	// only those.
	alertDirs []string
	// leaseTTL is the runs' lease TTL (serve --lease-ttl).
	leaseTTL time.Duration
	// signer is serve's signing key: it vouches for the starters of the
	// runs started here, and its public half checks the decisions they
	// take.
	signer ed25519.PrivateKey
	// ctx bounds the runs this process executes (serve's lifetime).
	ctx context.Context
	wg  sync.WaitGroup
	// running are the runs this process executes now, closed when the
	// executor returns: a decision recorded while one is stopping at an
	// approval (status written, lease not yet released) waits for it
	// rather than finding the lease held and leaving the run stuck.
	mu      sync.Mutex
	running map[string]chan struct{}
}

// track records that this process executes runID until the returned
// function is called.
func (rs *runService) track(runID string) func() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.running == nil {
		rs.running = map[string]chan struct{}{}
	}
	done := make(chan struct{})
	rs.running[runID] = done
	return func() {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		if rs.running[runID] == done {
			delete(rs.running, runID)
		}
		close(done)
	}
}

// awaitLocal waits, at most d, for this process's executor of runID (if
// any) to return.
func (rs *runService) awaitLocal(ctx context.Context, runID string, d time.Duration) {
	rs.mu.Lock()
	done := rs.running[runID]
	rs.mu.Unlock()
	if done == nil {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
}

func (rs *runService) Store() store.RunStore { return rs.st }

func (rs *runService) settings() config.ServerRunbooks {
	if rs.cfg.Server != nil {
		return rs.cfg.Server.Runbooks
	}
	return config.ServerRunbooks{Provider: "cloud"}
}

// Runbooks lists the built-in runbooks and those of server.runbooks.dirs.
func (rs *runService) Runbooks() []serve.RunbookInfo {
	var out []serve.RunbookInfo
	add := func(rb *runbook.Runbook) {
		info := serve.RunbookInfo{Name: rb.ID, Title: rb.Title, Variables: []serve.VarInfo{}}
		for _, v := range rb.Variables {
			info.Variables = append(info.Variables, serve.VarInfo{Name: v.Name, Type: v.Type.FriendlyName(), Required: v.Required(), Description: v.Description})
		}
		out = append(out, info)
	}
	for _, name := range runbooks.Names() {
		if src, err := runbooks.Source(name); err == nil {
			if rb, _, diags := runbook.Parse(src, "builtin/"+name+".hcl"); !diags.HasErrors() {
				add(rb)
			}
		}
	}
	for _, p := range rs.dirFiles() {
		if rb, _, diags := runbook.ParseFile(p); !diags.HasErrors() {
			add(rb)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (rs *runService) dirFiles() []string {
	var out []string
	for _, d := range rs.settings().Dirs {
		fs, _ := filepath.Glob(filepath.Join(d, "*.hcl"))
		out = append(out, fs...)
	}
	return out
}

// runbookArg finds a runbook by name: a built-in one, or one of the
// configured directories. A request never names a file.
func (rs *runService) runbookArg(name string) (string, error) {
	for _, p := range rs.dirFiles() {
		if rb, _, diags := runbook.ParseFile(p); !diags.HasErrors() && rb.ID == name {
			return p, nil
		}
	}
	if _, err := runbooks.Source(name); err == nil {
		return "builtin:" + name, nil
	}
	return "", &serve.RequestError{Code: http.StatusNotFound, Err: fmt.Errorf("no runbook %q: GET /api/runbooks lists those that can be started", name)}
}

// sub is an app whose messages are captured, to hand back to the caller.
func (rs *runService) sub() (*app, *bytes.Buffer) {
	var buf bytes.Buffer
	return &app{stdout: &buf, stderr: &buf, log: rs.log, env: rs.a.env}, &buf
}

// requestError turns what the CLI code returned into an API error: bad
// input (diagnostics included) is the caller's.
func requestError(err error, msgs *bytes.Buffer) error {
	var ee *exitError
	text := strings.TrimSpace(msgs.String())
	if errors.As(err, &ee) && ee.code == ExitError {
		if ee.err != nil {
			text = strings.TrimSpace(text + "\n" + ee.err.Error())
		}
		return &serve.RequestError{Code: http.StatusUnprocessableEntity, Err: errors.New(text)}
	}
	if text != "" {
		return fmt.Errorf("%w\n%s", err, text)
	}
	return err
}

func (rs *runService) executor(ctx context.Context, sa *app, f *runbookFlags, s *rbSession, by *auth.Principal) (*runbook.Executor, error) {
	key, _, err := sa.journalKey(f)
	if err != nil {
		return nil, err
	}
	an, err := sa.openAnchor(ctx, f, rs.st)
	if err != nil {
		return nil, err
	}
	actor := by.String()
	x := &runbook.Executor{Store: rs.st, Key: key, Anchor: an, Actor: actor, Holder: localHolder(actor), HolderGone: holderGone,
		Starter: by.Identity(), Parallel: 4, Wait: runbook.WaitNone, LeaseTTL: rs.leaseTTL}
	if rs.signer != nil {
		x.ServeKey = rs.signer.Public().(ed25519.PublicKey)
	}
	// The crash tests kill a replica mid-run (VIGIL_FAILPOINT, as for apply).
	if fp := sa.failpoint(); fp != nil {
		x.Failpoint = fp
	}
	if ap, ok := rs.st.(store.Approvals); ok {
		x.Approvals = store.DecisionSource{Store: ap}
	}
	if s != nil {
		x.Registry, x.Env, x.Data = s.reg, s.env, s.data
	}
	x.Progress = func(ev runbook.Event) {
		rs.log.Info("run", "step", ev.Step, "event", ev.Kind, "message", ev.Message)
	}
	return x, nil
}

// provider is the one provider this server runs runbooks with
// (server.runbooks.provider, "cloud" when unset).
func (rs *runService) provider() string {
	if p := rs.settings().Provider; p != "" {
		return p
	}
	return "cloud"
}

func (rs *runService) flagsFor(provider string) runbookFlags {
	f := rs.flags
	f.provider = provider
	f.config = rs.cfgPath
	f.state = rs.dsn
	return f
}

// Start plans the runbook with the server's inventory and providers and
// starts the run; it returns once the run is stored.
func (rs *runService) Start(ctx context.Context, by *auth.Principal, req *serve.StartRequest) (*runbook.Run, *runbook.Plan, error) {
	set := rs.settings()
	configured := rs.provider()
	provider := req.Provider
	if provider == "" {
		provider = configured
	}
	// Only the provider the operator configured: a responder may not turn
	// a rehearsal server (sim) into one that acts on the real clouds.
	if provider != configured {
		return nil, nil, &serve.RequestError{Code: http.StatusBadRequest, Err: fmt.Errorf("provider %q: this server runs runbooks with provider %q only (server.runbooks.provider in vigil.hcl); leave provider out", provider, configured)}
	}
	arg, err := rs.runbookArg(req.Runbook)
	if err != nil {
		return nil, nil, err
	}
	if req.FromAlert != "" && !rs.alertAllowed(req.FromAlert) {
		return nil, nil, &serve.RequestError{Code: http.StatusBadRequest, Err: fmt.Errorf("from_alert %s is not an alert file a watch of this server recorded", req.FromAlert)}
	}
	f := rs.flagsFor(provider)
	f.inventory, f.fromAlert = set.Inventory, req.FromAlert
	keys := make([]string, 0, len(req.Vars))
	for k := range req.Vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f.vars = append(f.vars, k+"="+req.Vars[k])
	}
	sa, msgs := rs.sub()
	rb, files, label, err := sa.loadRunbook(arg)
	if err != nil {
		return nil, nil, requestError(err, msgs)
	}
	simState := simStatePath(rs.st)
	s, err := sa.session(ctx, &f, f.inventory, "", simState)
	if err != nil {
		return nil, nil, requestError(err, msgs)
	}
	fromAlert, err := sa.alertInputs(rb, f.fromAlert)
	if err != nil {
		return nil, nil, requestError(err, msgs)
	}
	vars, vf, diags := rb.ResolveVariables(runbook.Inputs{Vars: f.vars, Alert: fromAlert})
	for k, v := range vf {
		files[k] = v
	}
	if err := sa.diagsError(files, diags); err != nil {
		return nil, nil, requestError(err, msgs)
	}
	planner := &runbook.Planner{Registry: s.reg, Env: s.env, Data: s.data, Provider: provider, Inventory: f.inventory}
	var pd hcl.Diagnostics
	plan, pd := planner.Plan(ctx, rb, label, vars)
	if err := sa.diagsError(files, pd); err != nil {
		return nil, nil, requestError(err, msgs)
	}
	x, err := rs.executor(ctx, sa, &f, s, by)
	if err != nil {
		return nil, nil, requestError(err, msgs)
	}
	if rs.signer != nil {
		now := time.Now().UTC()
		x.Starter.Attestation = runbook.SignIdentity(rs.signer, &runbook.IdentityStatement{Identity: by.Identity(), Role: by.Role,
			Audience: runbook.StarterAudience, PlanSHA256: plan.Hash(), IssuedAt: now, ExpiresAt: now.Add(runbook.StarterTTL)})
	}
	if s.cloud != nil {
		x.State = simState
		if err := s.cloud.Save(); err != nil {
			return nil, nil, err
		}
	}
	started := make(chan *runbook.Run, 1)
	untrack := func() {}
	x.Started = func(r *runbook.Run) {
		untrack = rs.track(r.ID)
		started <- r
	}
	done := make(chan error, 1)
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		res, err := x.Start(rs.ctx, rb, plan, vars)
		untrack()
		rs.finished(res, err)
		done <- err
	}()
	select {
	case run := <-started:
		return run, plan, nil
	case err := <-done:
		return nil, nil, requestError(err, msgs)
	}
}

func (rs *runService) finished(res *runbook.Result, err error) {
	if res != nil {
		rs.log.Info("run ended", "run", res.Run.ID, "status", res.Status, "waiting", strings.Join(res.Waiting, ","), "failed", strings.Join(res.Failed, ","))
	}
	if err != nil {
		rs.log.Error("run", "err", err)
	}
}

func (rs *runService) alertAllowed(path string) bool {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	for _, d := range rs.alertDirs {
		if rel, err := filepath.Rel(d, abs); err == nil && !strings.HasPrefix(rel, "..") {
			return true
		}
	}
	return false
}

// Resume continues a run in this process, in the background. A run held
// by a live process, or whose runbook or simulated cloud is not on this
// server, is refused now.
func (rs *runService) Resume(ctx context.Context, by *auth.Principal, runID string) error {
	run, err := rs.st.GetRun(ctx, runID)
	if err != nil {
		return fmt.Errorf("run %s: %w", runID, err)
	}
	if run.Status == runbook.RunCompleted {
		return &serve.RequestError{Code: http.StatusConflict, Err: fmt.Errorf("run %s is completed: nothing to resume", runID)}
	}
	// This process's own executor of the run may be stopping at the step
	// just decided: let it let go of the lease first.
	rs.awaitLocal(ctx, runID, 10*time.Second)
	if l, err := rs.st.Lease(ctx, runID); err == nil && l != nil && l.ExpiresAt.After(time.Now()) && !holderGone(l) {
		return &runbook.LeaseHeldError{Lease: l}
	}
	plan, err := runbook.DecodePlan(run.Plan)
	if err != nil {
		return fmt.Errorf("run %s: read its plan: %w", runID, err)
	}
	// The run's own provider, never this server's credentials for another:
	// a rehearsal server (sim) must not act on the real clouds for a run a
	// CLI started with --provider cloud, and a cloud server must not
	// replay a rehearsal against them.
	if configured := rs.provider(); plan.Provider != configured || (run.Provider != "" && run.Provider != configured) {
		return &serve.RequestError{Code: http.StatusConflict, Err: &serve.OtherProviderError{RunID: runID, Provider: plan.Provider, Configured: configured}}
	}
	if run.State != "" {
		if _, err := os.Stat(run.State); err != nil {
			return &serve.RequestError{Code: http.StatusConflict, Err: fmt.Errorf("run %s rehearses against a simulated cloud kept at %s, which is not on this server: resume it where it started", runID, run.State)}
		}
	}
	f := rs.flagsFor(plan.Provider)
	sa, msgs := rs.sub()
	rb, files, _, err := sa.loadRunbook(run.File)
	if err != nil {
		return &serve.RequestError{Code: http.StatusConflict, Err: fmt.Errorf("run %s: its runbook %s cannot be read here: %v", runID, run.File, requestError(err, msgs))}
	}
	s, err := sa.session(ctx, &f, plan.Inventory, run.State, "")
	if err != nil {
		return requestError(err, msgs)
	}
	vars, err := sa.planVars(rb, plan, &f, files)
	if err != nil {
		return requestError(err, msgs)
	}
	x, err := rs.executor(ctx, sa, &f, s, by)
	if err != nil {
		return requestError(err, msgs)
	}
	untrack := rs.track(runID)
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		res, err := x.Resume(rs.ctx, runID, rb, vars)
		untrack()
		rs.finished(res, err)
	}()
	return nil
}

func (rs *runService) Unlock(ctx context.Context, by *auth.Principal, runID string) (*runbook.Lease, error) {
	f := rs.flagsFor("cloud")
	sa, msgs := rs.sub()
	x, err := rs.executor(ctx, sa, &f, nil, by)
	if err != nil {
		return nil, requestError(err, msgs)
	}
	return x.Unlock(ctx, runID)
}

func (rs *runService) Verify(ctx context.Context, run *runbook.Run, entries []*runbook.Entry) *runbook.Verification {
	f := rs.flagsFor("cloud")
	sa, _ := rs.sub()
	var heads []runbook.Head
	name := ""
	if an, err := sa.openAnchor(ctx, &f, rs.st); err == nil && an != nil {
		heads, _ = an.Heads(ctx, run.ID)
		name = an.String()
	}
	trusted, _, _ := sa.trustedKey(&f)
	v := runbook.VerifyRun(run, entries, heads, trusted, name)
	if v.Tamper == nil {
		var pub ed25519.PublicKey
		if rs.signer != nil {
			pub = rs.signer.Public().(ed25519.PublicKey)
		}
		ds, err := store.StoredDecisions(ctx, rs.st, run.ID)
		if err != nil {
			v.Tamper = &runbook.Tamper{What: runbook.TamperApproval, Reason: "the run's decisions cannot be read: " + err.Error()}
			return v
		}
		v.Tamper = runbook.VerifyApprovals(run, entries, ds, pub)
	}
	return v
}

// wait lets the runs this process executes end (serve's shutdown).
func (rs *runService) wait(grace time.Duration) {
	done := make(chan struct{})
	go func() { rs.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
	}
}
