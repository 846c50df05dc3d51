package runbook

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/vigil-ir/vigil/engine/action"
)

// ApprovalRequest is what a responder is asked to approve: one step
// instance, by its full address, with what it will do to which targets,
// under which plan.
type ApprovalRequest struct {
	Address   string
	Action    string
	Effect    action.Effect
	Reason    string
	Approvers []string
	Summary   string
	Details   []string
	Targets   []string
	Args      map[string]any
	// PlanHash is the SHA-256 of the plan the approval is for.
	PlanHash string
	// AtApply says the instance's key was known only at apply: the plan
	// showed the step, not this instance.
	AtApply bool
	// DistinctApprover: only another person than Starter, signed in to
	// vigil serve, can approve it.
	DistinctApprover bool
	Starter          Identity
}

// approvalPattern is one --approve value: an address (isolate,
// revoke["sg-0a1"]) or all of a step's instances (revoke[*]).
type approvalPattern struct {
	text string
	step string
	key  string
	// all: name[*], every instance including those expanded at apply;
	// hasKey: name["key"], that instance.
	all, hasKey bool
}

// parseApprovals reads --approve values and checks them against the plan:
// naming a step or an instance the plan does not have is an error, so a
// typo never approves nothing (or something else) silently.
func parseApprovals(list []string, plan *Plan) ([]approvalPattern, error) {
	var out []approvalPattern
	steps := map[string]bool{}
	atApply := map[string]bool{}
	var names []string
	for _, ps := range plan.Steps {
		if !steps[ps.Step] {
			names = append(names, ps.Step)
		}
		steps[ps.Step] = true
		if ps.Unknown && ps.Address == ps.Step+"[*]" {
			atApply[ps.Step] = true
		}
	}
	for _, raw := range list {
		text := strings.TrimSpace(raw)
		if text == "" {
			continue
		}
		p := approvalPattern{text: text}
		s := strings.TrimPrefix(text, "step.")
		if i := strings.IndexByte(s, '['); i >= 0 {
			if !strings.HasSuffix(s, "]") {
				return nil, fmt.Errorf("--approve %s: write an address as name, name[\"key\"] or name[*]", text)
			}
			inner := s[i+1 : len(s)-1]
			s = s[:i]
			switch {
			case inner == "*":
				p.all = true
			case strings.HasPrefix(inner, `"`):
				k, err := strconv.Unquote(inner)
				if err != nil {
					return nil, fmt.Errorf("--approve %s: the key %s is not a quoted string", text, inner)
				}
				p.key, p.hasKey = k, true
			default:
				p.key, p.hasKey = inner, true
			}
		}
		p.step = s
		if !steps[s] {
			return nil, fmt.Errorf("--approve %s: the plan has no step %q (its steps: %s)", text, s, strings.Join(names, ", "))
		}
		if p.hasKey && !atApply[s] && plan.Step(Address(s, p.key)) == nil {
			var have []string
			for _, ps := range plan.Steps {
				if ps.Step == s {
					have = append(have, ps.Address)
				}
			}
			return nil, fmt.Errorf("--approve %s: the plan has no instance %s (it has %s)", text, Address(s, p.key), strings.Join(have, ", "))
		}
		out = append(out, p)
	}
	return out, nil
}

// approvedBy returns the --approve value that approves an instance, or "".
// A bare step name approves the instances the plan showed; instances
// expanded only at apply need name[*] or their own address.
func approvedBy(patterns []approvalPattern, plan *Plan, step, addr string) string {
	for _, p := range patterns {
		if p.step != step {
			continue
		}
		switch {
		case p.all:
			return p.text
		case p.hasKey:
			if Address(step, p.key) == addr {
				return p.text
			}
		default:
			if ps := plan.Step(addr); ps != nil {
				return p.text
			}
		}
	}
	return ""
}

// promptQueue asks for approvals one at a time, in the order they came,
// so that an answer always belongs to the prompt it was typed at.
type promptQueue struct {
	mu    sync.Mutex
	items []*unit
	wake  chan struct{}
	done  chan struct{}
}

func newPromptQueue() *promptQueue {
	return &promptQueue{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (q *promptQueue) push(u *unit) {
	q.mu.Lock()
	q.items = append(q.items, u)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// serve runs the prompts until close.
func (q *promptQueue) serve(ask func(*unit)) {
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.mu.Unlock()
			select {
			case <-q.wake:
				continue
			case <-q.done:
				return
			}
		}
		u := q.items[0]
		q.items = slices.Delete(q.items, 0, 1)
		q.mu.Unlock()
		ask(u)
	}
}

func (q *promptQueue) close() { close(q.done) }

// askApproval runs on the prompt goroutine: it shows the instance (asking
// the action what it would do when the plan could not tell) and reports
// the answer to the run's owner.
func (ex *execution) askApproval(u *unit) {
	if ex.stopping.Load() {
		ex.inbox <- func() { ex.pending--; ex.awaitApproval(u) }
		return
	}
	req := &ApprovalRequest{Address: u.addr, Action: u.sr.s.Action, Effect: u.sr.spec.Effect, Reason: u.reason,
		Args: u.encArgs, PlanHash: ex.planHash, AtApply: u.planned == nil}
	if s := u.sr.s; s.Approval != nil {
		req.Approvers = s.Approval.Approvers
	}
	if ps := u.planned; ps != nil && !ps.Unknown {
		req.Summary, req.Details, req.Targets = ps.Summary, ps.Details, ps.Targets
	} else if ch, err := u.sr.a.Plan(ex.ctx, u.req); err == nil {
		req.Summary, req.Details, req.Targets = ex.red.text(ch.Summary), ex.red.texts(ch.Details), ex.red.texts(ch.Targets)
	}
	ok, err := ex.x.Prompt(ex.ctx, req)
	if err == nil && !ok {
		// A "no" halts the run: the owner learns it through the inbox, and
		// the next queued prompt must not reach the responder before then.
		ex.stopping.Store(true)
	}
	ex.inbox <- func() { ex.pending--; ex.answered(u, ok, err) }
}

// answered records a responder's answer (on the owner goroutine).
func (ex *execution) answered(u *unit, ok bool, err error) {
	switch {
	case err != nil:
		ex.event("failed", u.addr, "interrupted: "+ex.red.text(err.Error()), 0)
		ex.unitFinished(u.sr, u.key, "interrupted", outputsObject(u.sr.spec, nil))
	case !ok:
		if ex.journal("", &Entry{Kind: EntryRejected, Step: u.addr, Detail: mustJSON(map[string]string{"plan_sha256": ex.planHash})}) != nil {
			ex.unitFinished(u.sr, u.key, "interrupted", outputsObject(u.sr.spec, nil))
			return
		}
		ex.event("failed", u.addr, "approval refused", 0)
		ex.failed = append(ex.failed, u.addr)
		ex.halt()
		ex.unitFinished(u.sr, u.key, "rejected", outputsObject(u.sr.spec, nil))
	default:
		ex.approved(u, "prompt")
	}
}
