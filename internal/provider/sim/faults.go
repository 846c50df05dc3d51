package sim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/vigil-ir/vigil/engine/action"
)

// Fault makes a simulated action fail the way a network does, for tests of
// what the engine does when a mutating call's outcome is unknown.
type Fault struct {
	Action string // the catalog name
	// After: the change takes effect, then the call fails (a timeout or 5xx
	// after the server acted); otherwise it fails before acting.
	After bool
	// Times is how many calls fail; 0 means every call.
	Times int
}

// ParseFaults reads VIGIL_SIM_FAULTS: ACTION=unknown-before|unknown-after[:TIMES],...
func ParseFaults(spec string) ([]Fault, error) {
	var out []Fault
	for _, part := range strings.Split(spec, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		name, kind, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("sim fault %q: write ACTION=unknown-before or ACTION=unknown-after[:TIMES]", part)
		}
		f := Fault{Action: name}
		kind, times, _ := strings.Cut(kind, ":")
		switch kind {
		case "unknown-before":
		case "unknown-after":
			f.After = true
		default:
			return nil, fmt.Errorf("sim fault %q: the kind is unknown-before or unknown-after", part)
		}
		if times != "" {
			n, err := strconv.Atoi(times)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("sim fault %q: TIMES is a positive number", part)
			}
			f.Times = n
		}
		if _, ok := action.Catalog[name]; !ok {
			return nil, fmt.Errorf("sim fault %q: no action %s", part, name)
		}
		out = append(out, f)
	}
	return out, nil
}

// Inject adds faults to the cloud's actions.
func (c *Cloud) Inject(faults ...Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.faults == nil {
		c.faults = map[string]*faultState{}
	}
	for _, f := range faults {
		c.faults[f.Action] = &faultState{Fault: f}
	}
}

type faultState struct {
	Fault
	mu    sync.Mutex
	fired int
}

// fire reports whether this call fails.
func (f *faultState) fire() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Times > 0 && f.fired >= f.Times {
		return false
	}
	f.fired++
	return true
}

// faulty wraps an action whose calls may fail with an unknown outcome.
type faulty struct {
	action.Action
	f *faultState
}

var errSimTimeout = errors.New("simulated: the request timed out after it was sent")

func (a *faulty) Apply(ctx context.Context, r *action.Request) (*action.Result, error) {
	if !a.f.fire() {
		return a.Action.Apply(ctx, r)
	}
	if a.f.After {
		if _, err := a.Action.Apply(ctx, r); err != nil {
			return nil, err
		}
	}
	return nil, &action.OutcomeUnknownError{Err: fmt.Errorf("%s: %w", a.Spec().Name, errSimTimeout)}
}

func (a *faulty) Recover(ctx context.Context, r *action.Request) (*action.Result, bool, error) {
	if rec, ok := a.Action.(action.Recoverer); ok {
		return rec.Recover(ctx, r)
	}
	return nil, false, nil
}

func (c *Cloud) withFaults(list []action.Action) []action.Action {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, a := range list {
		if f, ok := c.faults[a.Spec().Name]; ok {
			list[i] = &faulty{Action: a, f: f}
		}
	}
	return list
}
