package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/vigil-ir/vigil/engine/asset"
)

// StoppedError is an evaluation stopped by its context (a timeout, Ctrl-C,
// SIGTERM) while a policy was running. It unwraps to the context's cause,
// so errors.Is(err, context.DeadlineExceeded) holds after a timeout.
type StoppedError struct {
	// Policy is the policy that was running; nil when the stack did not
	// say (Running then lists the policies the evaluation ran).
	Policy *Policy
	// Location is the file:line of the expression it was at.
	Location string
	Running  []string
	Asset    string
	// Cause is the context's cause (a signal, a deadline); Err its Err.
	Cause, Err error
}

func (e *StoppedError) Error() string {
	if e.Policy == nil {
		return fmt.Sprintf("evaluation of %s stopped while one of %s was running: %v", e.Asset, strings.Join(e.Running, ", "), e.Cause)
	}
	where := e.Location
	if where == "" {
		where = fmt.Sprintf("%s:%d", e.Policy.File, e.Policy.Line)
	}
	return fmt.Sprintf("policy %s (%s) was still running on %s: %v", e.Policy.ID, where, e.Asset, e.Cause)
}

func (e *StoppedError) Unwrap() []error { return []error{e.Cause, e.Err} }

// cancelled turns an evaluation error into a StoppedError when it was
// the context that stopped the evaluation, or returns nil.
func cancelled(ctx context.Context, policies []*Policy, a *asset.Asset, err error) error {
	if err == nil || !topdown.IsCancel(err) && ctx.Err() == nil {
		return nil
	}
	cause, cerr := context.Cause(ctx), ctx.Err()
	if cause == nil {
		cause, cerr = err, context.Canceled
	}
	se := &StoppedError{Asset: a.ID, Cause: cause, Err: cerr}
	for _, p := range policies {
		se.Running = append(se.Running, p.ID)
	}
	var te *topdown.Error
	if !errors.As(err, &te) {
		return se
	}
	// The stack is innermost first. The outermost frame in one of the
	// query's policy files names the policy whose rules were asked for;
	// the innermost frame in that file, the line it had reached.
	byFile := map[string]*Policy{}
	for _, p := range policies {
		byFile[p.File] = p
	}
	for _, f := range slices.Backward(te.StackTrace) {
		if f.Location == nil {
			continue
		}
		if p, ok := byFile[f.Location.File]; ok && se.Policy == nil {
			se.Policy = p
		}
		if se.Policy != nil && f.Location.File == se.Policy.File {
			se.Location = fmt.Sprintf("%s:%d", f.Location.File, f.Location.Row)
		}
	}
	if se.Policy == nil && len(policies) == 1 {
		se.Policy = policies[0]
	}
	return se
}

// noteStopped keeps the first evaluation stopped inside a policy.
func (e *Engine) noteStopped(err error) error {
	if se, ok := err.(*StoppedError); ok && se.Policy != nil {
		e.stopped.CompareAndSwap(nil, se)
	}
	return err
}

// Stopped returns the first evaluation that its context stopped inside a
// policy, or nil. When a scan's context ends, several evaluations end
// with it, some between two assets: the scan reports this one, the
// policy that was running.
func (e *Engine) Stopped() *StoppedError { return e.stopped.Load() }
