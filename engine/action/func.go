package action

import (
	"context"
	"fmt"
)

// Func builds an action from functions: the usual way providers implement
// the catalog's specs.
type Func struct {
	S         *Spec
	PlanFn    func(ctx context.Context, req *Request) (*Change, error)
	ApplyFn   func(ctx context.Context, req *Request) (*Result, error)
	RecoverFn func(ctx context.Context, req *Request) (*Result, bool, error)
}

// Spec implements Action.
func (f *Func) Spec() *Spec { return f.S }

// Plan implements Action.
func (f *Func) Plan(ctx context.Context, req *Request) (*Change, error) {
	if f.PlanFn == nil {
		return &Change{Summary: f.S.Description}, nil
	}
	return f.PlanFn(ctx, req)
}

// Apply implements Action.
func (f *Func) Apply(ctx context.Context, req *Request) (*Result, error) { return f.ApplyFn(ctx, req) }

// Recover implements Recoverer; without RecoverFn the action cannot tell,
// and resume re-applies it (Apply is idempotent).
func (f *Func) Recover(ctx context.Context, req *Request) (*Result, bool, error) {
	if f.RecoverFn == nil {
		return nil, false, nil
	}
	return f.RecoverFn(ctx, req)
}

// MustSpec returns a catalog spec or panics: providers call it at start-up
// for names that must exist.
func MustSpec(name string) *Spec {
	s, ok := Catalog[name]
	if !ok {
		panic(fmt.Sprintf("action %s is not in the catalog", name))
	}
	return s
}

// StaticProvider is a provider made of a fixed list of actions.
type StaticProvider struct {
	ProviderName string
	List         []Action
}

// Name implements Provider.
func (p *StaticProvider) Name() string { return p.ProviderName }

// Actions implements Provider.
func (p *StaticProvider) Actions() []Action { return p.List }
