package serve

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/auth"
	"github.com/vigil-ir/vigil/internal/store"
)

// Runs is what the runs API and pages need: the run store, and the
// runbook machinery (internal/cli wires the providers, the journal key
// and the anchor).
type Runs interface {
	Store() store.RunStore
	// Runbooks lists what can be started by name.
	Runbooks() []RunbookInfo
	// Start plans a runbook and starts the run in this process; it
	// returns once the run is stored.
	Start(ctx context.Context, by *auth.Principal, req *StartRequest) (*runbook.Run, *runbook.Plan, error)
	// Resume continues a run in this process, in the background.
	Resume(ctx context.Context, by *auth.Principal, runID string) error
	Unlock(ctx context.Context, by *auth.Principal, runID string) (*runbook.Lease, error)
	// Verify checks a run's journal against the anchor and the journal key.
	Verify(ctx context.Context, run *runbook.Run, entries []*runbook.Entry) *runbook.Verification
}

// RunbookInfo describes a startable runbook.
type RunbookInfo struct {
	Name      string    `json:"name"`
	Title     string    `json:"title"`
	Variables []VarInfo `json:"variables"`
}

// VarInfo is a runbook variable, for the start form.
type VarInfo struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Required    bool   `json:"required"`
	Description string `json:"description,omitempty"`
}

// StartRequest starts a runbook: by name with variables, or from a
// triage card's suggested command.
type StartRequest struct {
	Runbook string            `json:"runbook"`
	Vars    map[string]string `json:"vars,omitempty"`
	// Provider is "cloud" or "sim" (default: server.runbooks.provider).
	Provider string `json:"provider,omitempty"`
	// FromAlert is an alert file a watch recorded (its triage card names it).
	FromAlert string `json:"from_alert,omitempty"`
	// Suggestion is a card's command ("vigil runbook plan NAME -var ..."),
	// read into the fields above.
	Suggestion string `json:"suggestion,omitempty"`
}

// OtherProviderError is a run whose provider is not the one this server
// runs runbooks with: the server leaves it to a process configured for
// that provider (the responder's CLI).
type OtherProviderError struct {
	RunID, Provider, Configured string
}

func (e *OtherProviderError) Error() string {
	return fmt.Sprintf("run %s uses provider %q and this server runs runbooks with provider %q only (server.runbooks.provider in vigil.hcl): it does not continue it; resume it where that provider is configured: vigil runbook resume %s", e.RunID, e.Provider, e.Configured, e.RunID)
}

// RequestError carries an HTTP status through Runs.
type RequestError struct {
	Code int
	Err  error
}

func (e *RequestError) Error() string { return e.Err.Error() }
func (e *RequestError) Unwrap() error { return e.Err }

func statusOf(err error) int {
	var re *RequestError
	switch {
	case errors.As(err, &re):
		return re.Code
	case runbook.IsLeaseHeld(err):
		return http.StatusConflict
	case errors.Is(err, runbook.ErrRunNotFound):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// RunView is a run as the API shows it.
type RunView struct {
	*runbook.Run
	PlanSHA256 string                `json:"plan_sha256"`
	Starter    runbook.Identity      `json:"starter"`
	Waiting    []WaitingStep         `json:"waiting"`
	Decisions  []*store.StepDecision `json:"decisions"`
	Lease      *LeaseView            `json:"lease,omitempty"`
	// Held says the lease is live: some process runs it now.
	Held bool `json:"held"`
}

// LeaseView is a run's lease as the API shows it: who holds it and until
// when, never its token (whoever has the token can act as the holder).
type LeaseView struct {
	Holder      runbook.Holder `json:"holder"`
	AcquiredAt  time.Time      `json:"acquired_at"`
	HeartbeatAt time.Time      `json:"heartbeat_at"`
	ExpiresAt   time.Time      `json:"expires_at"`
}

func leaseView(l *runbook.Lease) *LeaseView {
	if l == nil {
		return nil
	}
	return &LeaseView{Holder: l.Holder, AcquiredAt: l.AcquiredAt, HeartbeatAt: l.HeartbeatAt, ExpiresAt: l.ExpiresAt}
}

// WaitingStep is a step instance that waits for a decision.
type WaitingStep struct {
	Address          string   `json:"address"`
	Action           string   `json:"action,omitempty"`
	Effect           string   `json:"effect,omitempty"`
	Reason           string   `json:"reason,omitempty"`
	Summary          string   `json:"summary,omitempty"`
	Targets          []string `json:"targets,omitempty"`
	DistinctApprover bool     `json:"distinct_approver"`
	Approvers        []string `json:"approvers,omitempty"`
}

func (s *Server) runView(ctx context.Context, id string) (*RunView, []*runbook.Entry, *runbook.Plan, error) {
	st := s.Runs.Store()
	run, err := st.GetRun(ctx, id)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("run %s: %w", id, err)
	}
	entries, err := st.Entries(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	plan, err := runbook.DecodePlan(run.Plan)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("run %s: read its plan: %w", id, err)
	}
	v := &RunView{Run: run, PlanSHA256: plan.Hash(), Starter: runbook.StarterOf(run, entries), Waiting: []WaitingStep{}}
	for _, addr := range runbook.Waiting(entries) {
		w := WaitingStep{Address: addr}
		if ps := plannedStep(plan, addr); ps != nil {
			w.Action, w.Effect, w.Reason, w.Summary, w.Targets, w.DistinctApprover, w.Approvers = ps.Action, string(ps.Effect), ps.ApprovalReason, ps.Summary, ps.Targets, ps.DistinctApprover, ps.Approvers
		}
		v.Waiting = append(v.Waiting, w)
	}
	if ap, ok := st.(store.Approvals); ok {
		v.Decisions, _ = ap.Decisions(ctx, id)
	}
	if v.Decisions == nil {
		v.Decisions = []*store.StepDecision{}
	}
	l, _ := st.Lease(ctx, id)
	v.Lease = leaseView(l)
	v.Held = v.Lease != nil && v.Lease.ExpiresAt.After(time.Now())
	return v, entries, plan, nil
}

// plannedStep finds an instance's planned step, or its step's when the
// instance was expanded at apply.
func plannedStep(plan *runbook.Plan, addr string) *runbook.PlannedStep {
	if ps := plan.Step(addr); ps != nil {
		return ps
	}
	name := addr
	if i := strings.IndexByte(addr, '['); i >= 0 {
		name = addr[:i]
	}
	return plan.Step(name + "[*]")
}

func (s *Server) apiRuns(w http.ResponseWriter, r *http.Request) {
	runs, err := s.Runs.Store().ListRuns(r.Context())
	if err != nil {
		httpError(w, 500, err)
		return
	}
	status := r.URL.Query().Get("status")
	out := []*runbook.Run{}
	for i := len(runs) - 1; i >= 0; i-- { // newest first
		run := *runs[i]
		run.Plan = nil
		if status == "" || run.Status == status {
			out = append(out, &run)
		}
	}
	writeJSON(w, out)
}

func (s *Server) apiRun(w http.ResponseWriter, r *http.Request) {
	v, _, plan, err := s.runView(r.Context(), r.PathValue("id"))
	if err != nil {
		httpError(w, statusOf(err), err)
		return
	}
	v.Run.Plan = nil
	writeJSON(w, map[string]any{"run": v, "plan": plan})
}

func (s *Server) apiJournal(w http.ResponseWriter, r *http.Request) {
	v, entries, _, err := s.runView(r.Context(), r.PathValue("id"))
	if err != nil {
		httpError(w, statusOf(err), err)
		return
	}
	ver := s.Runs.Verify(r.Context(), v.Run, entries)
	res := map[string]any{"run": v.ID, "entries": entries, "verified": ver.Tamper == nil, "key": ver.Key, "anchored": ver.Anchored}
	if ver.Tamper != nil {
		res["tamper"] = ver.Tamper.Error()
	}
	writeJSON(w, res)
}

func (s *Server) apiTimeline(w http.ResponseWriter, r *http.Request) {
	v, entries, _, err := s.runView(r.Context(), r.PathValue("id"))
	if err != nil {
		httpError(w, statusOf(err), err)
		return
	}
	writeJSON(w, runbook.BuildTimeline(v.Run, entries, s.Runs.Verify(r.Context(), v.Run, entries)))
}

func (s *Server) apiRunbooks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.Runs.Runbooks())
}

func decodeBody(r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &RequestError{Code: http.StatusBadRequest, Err: fmt.Errorf("read the request body (JSON): %w", err)}
	}
	return nil
}

func (s *Server) apiStart(w http.ResponseWriter, r *http.Request) {
	p := auth.From(r.Context())
	var req StartRequest
	if err := decodeBody(r, &req); err != nil {
		httpError(w, statusOf(err), err)
		return
	}
	if req.Suggestion != "" {
		sg, err := ParseSuggestion(req.Suggestion)
		if err != nil {
			s.audit(r, "run.start", req.Suggestion, "refused", err.Error())
			httpError(w, http.StatusBadRequest, err)
			return
		}
		if req.Runbook == "" {
			req.Runbook = sg.Runbook
		}
		if req.Provider == "" {
			req.Provider = sg.Provider
		}
		if req.FromAlert == "" {
			req.FromAlert = sg.FromAlert
		}
		for k, v := range sg.Vars {
			if req.Vars == nil {
				req.Vars = map[string]string{}
			}
			if _, set := req.Vars[k]; !set {
				req.Vars[k] = v
			}
		}
	}
	if req.Runbook == "" {
		httpError(w, http.StatusBadRequest, errors.New("name the runbook: {\"runbook\": \"compromised-vm-gcp\", \"vars\": {...}}"))
		return
	}
	run, plan, err := s.Runs.Start(r.Context(), p, &req)
	if err != nil {
		s.audit(r, "run.start", req.Runbook, "refused", err.Error())
		httpError(w, statusOf(err), err)
		return
	}
	s.audit(r, "run.start", run.ID, "ok", fmt.Sprintf("runbook %s, plan sha256 %s", req.Runbook, plan.Hash()))
	w.Header().Set("Location", "/api/runs/"+run.ID)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	r2 := *run
	r2.Plan = nil
	json.NewEncoder(w).Encode(map[string]any{"run": &r2, "plan_sha256": plan.Hash(), "plan": plan})
}

func (s *Server) apiResume(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.Runs.Resume(r.Context(), auth.From(r.Context()), id); err != nil {
		s.audit(r, "run.resume", id, "refused", err.Error())
		httpError(w, statusOf(err), err)
		return
	}
	s.audit(r, "run.resume", id, "ok", "")
	w.WriteHeader(http.StatusAccepted)
	writeJSON(w, map[string]string{"run": id, "status": "resuming"})
}

func (s *Server) apiUnlock(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	old, err := s.Runs.Unlock(r.Context(), auth.From(r.Context()), id)
	if err != nil {
		s.audit(r, "run.unlock", id, "error", err.Error())
		httpError(w, statusOf(err), err)
		return
	}
	detail := "not locked"
	if old != nil {
		detail = "broke the lease of " + old.Holder.String()
	}
	s.audit(r, "run.unlock", id, "ok", detail)
	writeJSON(w, map[string]any{"run": id, "broken": leaseView(old)})
}

// DecisionRequest approves or rejects one waiting step instance.
type DecisionRequest struct {
	Address string `json:"address"`
	// PlanSHA256 is the plan the approver looked at: it must be the run's.
	PlanSHA256 string `json:"plan_sha256"`
	Approve    *bool  `json:"approve"`
	Comment    string `json:"comment,omitempty"`
}

// apiDecide records an approver's decision on a waiting step, bound to
// the run's plan hash and the step's address. The process that holds the
// run picks it up from the store; when none does, this one resumes it.
func (s *Server) apiDecide(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := auth.From(ctx)
	id := r.PathValue("id")
	var req DecisionRequest
	if err := decodeBody(r, &req); err != nil {
		httpError(w, statusOf(err), err)
		return
	}
	action := "step.approve"
	if req.Approve != nil && !*req.Approve {
		action = "step.reject"
	}
	target := id + " step." + req.Address
	refuse := func(code int, err error) {
		s.audit(r, action, target, "refused", err.Error())
		httpError(w, code, err)
	}
	if req.Approve == nil || req.Address == "" || req.PlanSHA256 == "" {
		refuse(http.StatusBadRequest, errors.New(`give {"address": "STEP", "plan_sha256": "HASH", "approve": true|false}: the plan hash is the one shown with the run`))
		return
	}
	v, _, plan, err := s.runView(ctx, id)
	if err != nil {
		refuse(statusOf(err), err)
		return
	}
	if req.PlanSHA256 != v.PlanSHA256 {
		refuse(http.StatusConflict, fmt.Errorf("run %s applies plan sha256 %s, not %s: look at the run again before deciding", id, v.PlanSHA256, req.PlanSHA256))
		return
	}
	var waiting *WaitingStep
	var names []string
	for i := range v.Waiting {
		names = append(names, v.Waiting[i].Address)
		if v.Waiting[i].Address == req.Address {
			waiting = &v.Waiting[i]
		}
	}
	if waiting == nil {
		if len(names) == 0 {
			names = []string{"none"}
		}
		refuse(http.StatusConflict, fmt.Errorf("step.%s of run %s is not waiting for a decision (waiting: %s)", req.Address, id, strings.Join(names, ", ")))
		return
	}
	if plannedStep(plan, req.Address) == nil {
		refuse(http.StatusConflict, fmt.Errorf("the plan of run %s has no step %s", id, req.Address))
		return
	}
	by := p.Identity()
	if *req.Approve {
		if err := runbook.CheckDecider(by, v.Starter, waiting.DistinctApprover, waiting.Approvers); err != nil {
			refuse(http.StatusForbidden, err)
			return
		}
	}
	ap, ok := s.Runs.Store().(store.Approvals)
	if !ok {
		refuse(http.StatusInternalServerError, errors.New("this run store keeps no decisions"))
		return
	}
	d := &store.StepDecision{RunID: id, Address: req.Address, PlanHash: v.PlanSHA256, Decision: runbook.Decision{Approved: *req.Approve, By: by, Comment: req.Comment}}
	if s.Signer != nil {
		// Signed, so that the executor and verify can tell it from a row
		// written into the database by hand.
		d.ID, d.DecidedAt = runbook.NewToken()[:16], time.Now().UTC()
		starter := v.Starter
		d.Attestation = runbook.SignApproval(s.Signer, &runbook.ApprovalStatement{Run: id, PlanSHA256: v.PlanSHA256, Address: req.Address,
			Approved: *req.Approve, Approver: by, Starter: starter, Decision: d.ID, At: d.DecidedAt})
	}
	if err := ap.RecordDecision(ctx, d); err != nil {
		var decided *store.DecidedError
		if !errors.As(err, &decided) {
			refuse(http.StatusInternalServerError, err)
			return
		}
		// A decision this server did not sign (written into the database by
		// hand) decides nothing: no executor takes it, and it must not keep
		// the approver from deciding. It is replaced, and the audit log
		// keeps what it was.
		prev := decided.Decision
		if s.Signer == nil || s.signedHere(prev, v.Starter) {
			refuse(http.StatusConflict, err)
			return
		}
		ok, rerr := ap.ReplaceDecision(ctx, prev.ID, d)
		if rerr != nil || !ok {
			refuse(http.StatusConflict, fmt.Errorf("%v (replacing it failed: %v)", err, rerr))
			return
		}
		s.audit(r, action, target, "replaced", fmt.Sprintf("the store held a decision this server did not sign (id %q, approved %v, by %s): forged? It is replaced by this one", prev.ID, prev.Approved, prev.By))
	}
	s.audit(r, action, target, "ok", fmt.Sprintf("plan sha256 %s; decision %s", v.PlanSHA256, d.ID))
	resumed := false
	notResumed := ""
	// This replica continues the run unless a live process holds it (a
	// CLI apply that is waiting holds the lease, and reads the decision
	// itself). The lease is asked again by Resume, not taken from v: the
	// holder may be this replica's own executor, stopping at the very step
	// decided, which Resume waits for. A run of another provider is not
	// continued here: the decision stays recorded for the process that
	// resumes it, and the answer says so.
	if err := s.Runs.Resume(context.WithoutCancel(ctx), s.serverPrincipal(), id); err != nil {
		var held *runbook.LeaseHeldError
		var op *OtherProviderError
		switch {
		case errors.As(err, &held):
			s.Log.Info("the decision is recorded for the run's holder", "run", id, "holder", held.Lease.Holder)
		case errors.As(err, &op):
			s.Log.Warn("the decision is recorded; the run could not be resumed here", "run", id, "err", err)
			notResumed = "the decision is recorded, but this server does not continue the run: " + op.Error()
		default:
			s.Log.Warn("the decision is recorded; the run could not be resumed here", "run", id, "err", err)
		}
	} else {
		resumed = true
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	body := map[string]any{"decision": d, "resumed": resumed}
	if notResumed != "" {
		body["not_resumed"] = notResumed
	}
	json.NewEncoder(w).Encode(body)
}

// signedHere reports whether a recorded decision carries this server's
// valid signature for it.
func (s *Server) signedHere(d *store.StepDecision, starter runbook.Identity) bool {
	_, err := runbook.VerifyApproval(s.Signer.Public().(ed25519.PublicKey), d.Attestation, d.RunID, d.PlanHash, d.Address, starter)
	return err == nil
}

// serverPrincipal is the server acting on its own (resuming a run after a
// decision, carrying on one a dead replica held).
func (s *Server) serverPrincipal() *auth.Principal {
	return &auth.Principal{Subject: "server:" + s.Holder, Name: "vigil serve (" + s.Holder + ")", Role: auth.Admin, Via: "server"}
}

func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if s.Audit == nil {
		writeJSON(w, []any{})
		return
	}
	es, err := s.Audit.AuditEntries(r.Context(), limit)
	if err != nil {
		httpError(w, 500, err)
		return
	}
	if es == nil {
		es = []*store.AuditEntry{}
	}
	writeJSON(w, es)
}

// apiWhoami says who the caller is and, signed with serve's key, vouches
// for it as the starter of the plan ?plan_sha256= names (for a short
// while): the CLI checks that statement against serve's public key pinned
// on its side, never against anything this answer says.
func (s *Server) apiWhoami(w http.ResponseWriter, r *http.Request) {
	p := auth.From(r.Context())
	out := struct {
		*auth.Principal
		Attestation *runbook.Attestation `json:"attestation,omitempty"`
	}{Principal: p}
	// Asked to vouch for a plan's starter, serve answers as POST /api/runs
	// would: starting a run takes a responder. A viewer's token (the
	// widely shared kind, Prometheus's) starts nothing through the CLI
	// either, or one approver could start a run under it and approve it.
	if plan := r.URL.Query().Get("plan_sha256"); plan != "" && p != nil {
		if !p.Can(auth.Responder) {
			err := fmt.Errorf("starting a run needs the %s role (or higher); %s is %s", auth.Responder, p, roleName(p.Role))
			s.audit(r, "run.start", plan, "refused", "the CLI asked serve to vouch for its starter: "+err.Error())
			httpError(w, http.StatusForbidden, err)
			return
		}
		if s.Signer != nil {
			out.Attestation = s.vouch(p, plan)
			s.audit(r, "run.start", plan, "ok", "serve vouched for the starter of a run the CLI applies (plan sha256 "+plan+")")
		}
	}
	writeJSON(w, out)
}

// roleName is a role as a refusal shows it.
func roleName(role string) string {
	if role == "" {
		return "given no role"
	}
	return "a " + role
}

// vouch signs who p is, as the starter of the plan planHash.
func (s *Server) vouch(p *auth.Principal, planHash string) *runbook.Attestation {
	now := time.Now().UTC()
	return runbook.SignIdentity(s.Signer, &runbook.IdentityStatement{Identity: p.Identity(), Role: p.Role, Audience: runbook.StarterAudience,
		PlanSHA256: planHash, IssuedAt: now, ExpiresAt: now.Add(runbook.StarterTTL)})
}

// audit records what a signed-in principal did.
func (s *Server) audit(r *http.Request, action, target, outcome, detail string) {
	if s.Audit == nil {
		return
	}
	e := &store.AuditEntry{At: time.Now(), Action: action, Target: target, Outcome: outcome, Detail: detail, Remote: r.RemoteAddr, Method: r.Method, Path: r.URL.Path}
	if p := auth.From(r.Context()); p != nil {
		e.Subject, e.Name, e.Role = p.Subject, p.String(), p.Role
	}
	e.Bound()
	s.Log.Info("audit", "who", e.Name, "action", e.Action, "target", e.Target, "outcome", e.Outcome, "detail", e.Detail)
	// A refusal is the caller's to repeat: it is limited per identity like
	// the guard's. What was done (outcome ok or error) is always written.
	if outcome == "refused" && s.Guard != nil && s.Guard.Audit != nil {
		s.Guard.AuditSignedIn(r, e)
		return
	}
	if err := s.Audit.Audit(context.WithoutCancel(r.Context()), e); err != nil {
		s.Log.Error("audit", "err", err, "action", e.Action, "target", e.Target)
	}
}

// keepRuns carries on the runs vigil serve started whose holder is gone
// (a replica killed mid-run: its lease expired), every interval.
func (s *Server) keepRuns(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	leftAlone := map[string]struct{}{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		runs, err := s.Runs.Store().ListRuns(ctx)
		if err != nil {
			continue
		}
		sort.Slice(runs, func(i, j int) bool { return runs[i].CreatedAt.Before(runs[j].CreatedAt) })
		for _, run := range runs {
			if run.Status != runbook.RunRunning && run.Status != runbook.RunInterrupted {
				continue
			}
			l, err := s.Runs.Store().Lease(ctx, run.ID)
			if err != nil || (l != nil && l.ExpiresAt.After(time.Now())) {
				continue
			}
			entries, err := s.Runs.Store().Entries(ctx, run.ID)
			if err != nil || !strings.HasPrefix(runbook.StarterOf(run, entries).Via, "vigil serve") {
				continue // a CLI's run: its responder resumes it
			}
			if err := s.Runs.Resume(ctx, s.serverPrincipal(), run.ID); err == nil {
				s.Log.Info("carrying on a run whose holder is gone", "run", run.ID, "status", run.Status)
			} else if op := (*OtherProviderError)(nil); errors.As(err, &op) {
				// Left alone, said once: it is retried every interval.
				if _, said := leftAlone[run.ID]; !said {
					leftAlone[run.ID] = struct{}{}
					s.Log.Warn("leaving a run of another provider alone", "run", run.ID, "err", err)
				}
			}
		}
	}
}
