package runbook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ir/vigil/engine/action"
)

// ApprovalSource reads decisions on step instances given outside this
// process: through vigil serve, by a signed-in approver, kept in the store
// under the run's plan hash and the instance's address.
type ApprovalSource interface {
	// Decision returns the decision recorded for req.Address under
	// req.PlanHash, nil when there is none yet.
	Decision(ctx context.Context, runID string, req *ApprovalRequest) (*Decision, error)
}

// WaitMode says which instances keep a run going while they wait for a
// decision through vigil serve.
type WaitMode int

const (
	// WaitNone: the run stops in awaiting_approval; resume reads the
	// decision recorded meanwhile.
	WaitNone WaitMode = iota
	// WaitDistinct: instances that need a second person wait for one
	// (nothing this process can do approves them); others stop as with
	// WaitNone.
	WaitDistinct
	// WaitAll: every instance needing an approval waits for a decision.
	WaitAll
)

// NeedsDistinctApprover reports whether a step's approver must be another
// person than the run's starter: as its approval block says, else for
// destructive actions against the real clouds (the provider mode
// "cloud"; a rehearsal against the simulated cloud changes nothing real).
func NeedsDistinctApprover(s *Step, spec *action.Spec, provider string) bool {
	if s.Approval != nil && s.Approval.DistinctApprover != nil {
		return *s.Approval.DistinctApprover
	}
	return spec != nil && spec.Effect == action.Destructive && provider == "cloud"
}

// UnverifiedStarterError refuses to start a run that has a step needing a
// second person's approval when nobody verified who starts it.
type UnverifiedStarterError struct {
	Step    string
	Starter Identity
	// Why says what failed when the starter claims to be signed in.
	Why error
}

func (e *UnverifiedStarterError) Error() string {
	if e.Why != nil {
		return fmt.Sprintf("step.%s needs a second person's approval (distinct_approver), so vigil serve must vouch for the run's starter: %v", e.Step, e.Why)
	}
	return fmt.Sprintf("step.%s needs a second person's approval (distinct_approver), so the run's starter must be signed in to vigil serve; %s is not verified", e.Step, e.Starter)
}

// FirstDistinct is the address of the first step instance of a plan that
// needs a distinct approver ("" when none does); skipped instances run
// nothing and do not count.
func FirstDistinct(plan *Plan) string {
	for _, ps := range plan.Steps {
		if ps.DistinctApprover && !ps.Skipped {
			return ps.Address
		}
	}
	return ""
}

// StarterOf is who started a run: as its first entry binds it, or, for a
// run made before starters were recorded, its actor (not verified).
func StarterOf(run *Run, entries []*Entry) Identity {
	if len(entries) > 0 && entries[0].Kind == EntryRunStarted {
		var b Binding
		if json.Unmarshal(entries[0].Detail, &b) == nil && b.Starter != nil {
			return *b.Starter
		}
	}
	name := ""
	if run != nil {
		name = run.Actor
	}
	return Identity{Subject: "actor:" + name, Name: name}
}

// CheckDecider says why an identity may not decide on an instance, nil
// when it may: the two-person rule (a verified identity other than a
// verified starter) and the approval block's approvers (names, emails,
// group:G).
func CheckDecider(by, starter Identity, distinct bool, approvers []string) error {
	if distinct {
		if !by.Verified {
			return fmt.Errorf("%s is not signed in: a step that needs a second person is approved through vigil serve", by)
		}
		// "Another person than the starter" means nothing when nobody
		// checked who the starter is: an OS user or a self-declared --actor
		// could be the approver under another name. Such a run (one made
		// before starters had to sign in) is not approved; start it anew
		// signed in.
		if !starter.Verified {
			return fmt.Errorf("%s started this run without signing in (not verified), so nobody can be shown to be another person: a step that needs a second person's approval is not approved in such a run; start a new run signed in (VIGIL_SERVER and VIGIL_TOKEN, or the dashboard)", starter)
		}
		if by.SamePerson(starter) {
			return fmt.Errorf("%s started this run and cannot also approve this step: it needs another person's approval (distinct_approver)", by)
		}
	}
	if len(approvers) > 0 && by.Verified && !approverListed(by, approvers) {
		return fmt.Errorf("%s is not among the step's approvers (%s)", by, strings.Join(approvers, ", "))
	}
	return nil
}

func approverListed(by Identity, approvers []string) bool {
	for _, a := range approvers {
		if g, ok := strings.CutPrefix(a, "group:"); ok {
			if slices.Contains(by.Groups, g) {
				return true
			}
			continue
		}
		u := strings.TrimPrefix(a, "user:")
		// An email names whoever the IdP vouched for it (Email is empty
		// when its email_verified is false), never a name or alias that
		// happens to look like it (preferred_username is the user's to set).
		if strings.Contains(u, "@") {
			if (by.Email != "" && strings.EqualFold(u, by.Email)) || strings.EqualFold(u, by.Subject) {
				return true
			}
			continue
		}
		// A bare name is a subject, or a static token's name (the operator
		// named it): never an email's local part, a display name or an
		// alias, which would let bob@any-domain.example stand for "bob".
		if strings.EqualFold(u, by.Subject) || strings.EqualFold("token:"+u, by.Subject) {
			return true
		}
	}
	return false
}

// distinct reports whether a unit needs a second person.
func (ex *execution) distinct(u *unit) bool {
	return NeedsDistinctApprover(u.sr.s, u.sr.spec, ex.plan.Provider)
}

func (ex *execution) request(u *unit) *ApprovalRequest {
	req := &ApprovalRequest{Address: u.addr, Action: u.sr.s.Action, Effect: u.sr.spec.Effect, Reason: u.reason,
		Args: u.encArgs, PlanHash: ex.planHash, AtApply: u.planned == nil, DistinctApprover: ex.distinct(u), Starter: ex.starter}
	if s := u.sr.s; s.Approval != nil {
		req.Approvers = s.Approval.Approvers
	}
	if ps := u.planned; ps != nil && !ps.Unknown {
		req.Summary, req.Details, req.Targets = ps.Summary, ps.Details, ps.Targets
	}
	return req
}

// recorded looks once for a decision given through vigil serve (on the
// owner goroutine); it reports whether it settled the unit.
func (ex *execution) recorded(u *unit) bool {
	if ex.x.Approvals == nil {
		return false
	}
	d, err := ex.x.Approvals.Decision(ex.ctx, ex.run.ID, ex.request(u))
	if err != nil || d == nil {
		return false
	}
	d, err = ex.attested(u, d)
	if err != nil {
		ex.event("waiting", u.addr, "a decision recorded for this step is not taken: "+err.Error(), 0)
		return false
	}
	ex.decided(u, d, nil)
	return true
}

// attested is the decision a step takes from the store: for a step that
// needs a second person, only one vigil serve signed (checked against the
// pinned serve key) for this run, plan hash and address, in a run whose
// starter serve vouched for; the approver is then whom serve's statement
// names, not what the row says. Anything else (a row written by hand, one
// signed by another key or for another step or plan) is no decision: the
// step keeps waiting, and verify reports the row.
func (ex *execution) attested(u *unit, d *Decision) (*Decision, error) {
	if !ex.distinct(u) {
		return d, nil
	}
	if ex.starterErr != nil {
		return nil, ex.starterErr
	}
	st, err := openApproval(ex.x.ServeKey, d.Attestation, ex.run.ID, ex.planHash, u.addr, ex.starter)
	if err != nil {
		return nil, fmt.Errorf("the decision by %s: %w", d.By, err)
	}
	return &Decision{Approved: st.Approved, By: st.Approver, Comment: d.Comment, ID: st.Decision, Attestation: d.Attestation}, nil
}

// awaitDecision waits on a worker for a decision through vigil serve,
// looking every ApprovalPoll, until one comes, the run stops or halts.
func (ex *execution) awaitDecision(u *unit) {
	if !u.state.awaiting {
		detail := map[string]any{"reason": u.reason, "plan_sha256": ex.planHash, "distinct_approver": ex.distinct(u), "starter": ex.starter}
		if u.planned == nil {
			detail["expanded_at_apply"] = true
		}
		if ex.journal("", &Entry{Kind: EntryApprovalRequired, Step: u.addr, Detail: mustJSON(detail)}) != nil {
			ex.unitFinished(u.sr, u.key, "interrupted", outputsObject(u.sr.spec, nil))
			return
		}
		u.state.awaiting = true
	}
	msg := "waiting for an approval through vigil serve"
	if ex.distinct(u) {
		msg = fmt.Sprintf("waiting for the approval of a second person through vigil serve (%s started the run and cannot approve it)", ex.starter)
	}
	ex.event("waiting", u.addr, msg, 0)
	req := ex.request(u)
	poll := ex.x.ApprovalPoll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	ex.pending++
	wctx := ex.waitCtx
	go func() {
		said := ""
		for {
			d, err := ex.x.Approvals.Decision(wctx, ex.run.ID, req)
			if d != nil {
				var aerr error
				if d, aerr = ex.attested(u, d); aerr != nil && aerr.Error() != said {
					said = aerr.Error()
					msg := "a decision recorded for this step is not taken: " + said
					ex.inbox <- func() { ex.event("waiting", u.addr, msg, 0) }
				}
			}
			if d != nil || wctx.Err() != nil {
				if d == nil {
					err = context.Cause(wctx)
				}
				ex.inbox <- func() { ex.pending--; ex.decided(u, d, err) }
				return
			}
			// A database hiccup is not a decision: keep waiting.
			select {
			case <-wctx.Done():
			case <-time.After(poll):
			}
		}
	}()
}

var errHalted = errors.New("the run halted")

// decided applies a decision read from the store (on the owner goroutine).
func (ex *execution) decided(u *unit, d *Decision, err error) {
	switch {
	case err != nil && ex.ctx.Err() == nil:
		// The run halted (another step failed): the instance still waits.
		ex.waiting = append(ex.waiting, u.addr)
		ex.unitFinished(u.sr, u.key, "waiting", outputsObject(u.sr.spec, nil))
		return
	case err != nil:
		ex.answered(u, false, err)
		return
	}
	var approvers []string
	if a := u.sr.s.Approval; a != nil {
		approvers = a.Approvers
	}
	detail := map[string]any{"via": "vigil serve", "plan_sha256": ex.planHash, "address": u.addr, "by": d.By, "decision": d.ID, "distinct_approver": ex.distinct(u)}
	if d.Comment != "" {
		detail["comment"] = d.Comment
	}
	if d.Attestation != nil {
		detail["attestation"] = d.Attestation
	}
	if u.planned == nil {
		detail["expanded_at_apply"] = true
	}
	if cerr := CheckDecider(d.By, ex.starter, ex.distinct(u), approvers); cerr != nil && d.Approved {
		// Not an approval this step can take: the decision stands, as a
		// refusal, so that nobody waits on it forever.
		detail["refused"] = cerr.Error()
		d = &Decision{Approved: false, By: d.By, ID: d.ID}
	}
	if !d.Approved {
		if ex.journal("", &Entry{Kind: EntryRejected, Step: u.addr, Actor: d.By.String(), Detail: mustJSON(detail)}) != nil {
			ex.unitFinished(u.sr, u.key, "interrupted", outputsObject(u.sr.spec, nil))
			return
		}
		why := "approval refused by " + d.By.String()
		if r, ok := detail["refused"].(string); ok {
			why = "approval not accepted: " + r
		}
		ex.event("failed", u.addr, why, 0)
		ex.failed = append(ex.failed, u.addr)
		ex.halt()
		ex.unitFinished(u.sr, u.key, "rejected", outputsObject(u.sr.spec, nil))
		return
	}
	if ex.journal("", &Entry{Kind: EntryApproved, Step: u.addr, Actor: d.By.String(), Detail: mustJSON(detail)}) != nil {
		ex.unitFinished(u.sr, u.key, "interrupted", outputsObject(u.sr.spec, nil))
		return
	}
	ex.event("approved", u.addr, "approved by "+d.By.String()+" (vigil serve)", 0)
	ex.dispatch(u)
}
