package policy

import (
	"context"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/vigil-ir/vigil/engine/asset"
)

// SetGuards turns the guards of an engine on or off, for tests that
// compare the two.
func SetGuards(e *Engine, on bool) { e.noGuards = !on }

// KeepGuards stops an engine's guards from turning themselves off when
// they seldom spare a policy, so that every guard is compared.
func KeepGuards(e *Engine) { e.keepGuards = true }

// GuardsSkip reports whether the guards leave no policy of the asset's
// kind to evaluate.
func GuardsSkip(ctx context.Context, e *Engine, a *asset.Asset) bool {
	q, err := e.queryFor(ctx, a.Kind, All)
	if err != nil || q == nil || q.guards == nil {
		return false
	}
	input, err := inputValue(a, q.withData, q.shape)
	if err != nil {
		return false
	}
	return q.guards.needed(input, *e.base.Load()) == 0
}

// GuardBench prepares the inputs of assets and returns a function that
// runs the guards on all of them.
func GuardBench(ctx context.Context, e *Engine, as []*asset.Asset) func() int {
	type item struct {
		q  *kindQuery
		in ast.Value
	}
	var items []item
	for _, a := range as {
		q, err := e.queryFor(ctx, a.Kind, All)
		if err != nil || q == nil || q.guards == nil {
			continue
		}
		in, _ := inputValue(a, q.withData, q.shape)
		items = append(items, item{q, in})
	}
	return func() int {
		n := 0
		for _, it := range items {
			if it.q.guards.needed(it.in, *e.base.Load()) == 0 {
				n++
			}
		}
		return n
	}
}
