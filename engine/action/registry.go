package action

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// Registry resolves action names to implementations.
type Registry struct {
	actions  map[string]Action
	provider map[string]string // action -> provider name
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{actions: map[string]Action{}, provider: map[string]string{}}
}

// Register adds a provider's actions. An action in the catalog must keep
// the catalog's contract exactly; a later provider replaces an earlier one
// (--provider sim registers the simulated cloud over the real one).
func (r *Registry) Register(p Provider) error {
	for _, a := range p.Actions() {
		s := a.Spec()
		if want, ok := Catalog[s.Name]; ok && !sameSpec(want, s) {
			return fmt.Errorf("provider %s: action %s differs from the catalog's contract", p.Name(), s.Name)
		}
		r.actions[s.Name] = a
		r.provider[s.Name] = p.Name()
	}
	return nil
}

func sameSpec(a, b *Spec) bool {
	if a.Effect != b.Effect || a.Gate != b.Gate || len(a.Args) != len(b.Args) || len(a.Outputs) != len(b.Outputs) {
		return false
	}
	for n, x := range a.Args {
		y, ok := b.Args[n]
		if !ok || x.Required != y.Required || !x.Type.Equals(y.Type) {
			return false
		}
	}
	for n, t := range a.Outputs {
		if u, ok := b.Outputs[n]; !ok || !t.Equals(u) {
			return false
		}
	}
	return true
}

// Lookup returns the implementation of an action and its provider.
func (r *Registry) Lookup(name string) (Action, string, bool) {
	a, ok := r.actions[name]
	return a, r.provider[name], ok
}

// Names lists the registered actions.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.actions))
	for n := range r.actions {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Suggest returns known action names close to a misspelt one.
func (r *Registry) Suggest(name string) []string {
	known := map[string]bool{}
	for n := range r.actions {
		known[n] = true
	}
	for n := range Catalog {
		known[n] = true
	}
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for n := range known {
		d := distance(name, n)
		// close in spelling, or the same last word (isolate_instance)
		if d <= 3+len(name)/10 || lastPart(n) == lastPart(name) {
			cs = append(cs, cand{n, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].name < cs[j].name
	})
	var out []string
	for i := 0; i < len(cs) && i < 3; i++ {
		out = append(out, cs[i].name)
	}
	return out
}

func lastPart(s string) string {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// distance is the Levenshtein distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Unknowns returns the outputs of a spec as unknown values, for the plan.
func (s *Spec) Unknowns() map[string]cty.Value {
	out := map[string]cty.Value{}
	for n, t := range s.Outputs {
		out[n] = cty.UnknownVal(t)
	}
	return out
}

// Unavailable stands in for a catalog action that no provider of the run
// implements. A step that would run it fails with a clear message; a step
// that does not run (an empty for_each, when = false) needs no provider,
// so a runbook covering AWS and Google Cloud runs where only one is set up.
type Unavailable struct{ S *Spec }

// Spec implements Action.
func (u *Unavailable) Spec() *Spec { return u.S }

func (u *Unavailable) err() error {
	return fmt.Errorf("No provider in this run implements %s. Rehearse with --provider sim --inventory FILE, or enable the provider that implements it.", u.S.Name)
}

// Plan implements Action.
func (u *Unavailable) Plan(context.Context, *Request) (*Change, error) { return nil, u.err() }

// Apply implements Action.
func (u *Unavailable) Apply(context.Context, *Request) (*Result, error) { return nil, u.err() }

// Resolve is Lookup that falls back to Unavailable for catalog actions no
// provider implements; ok is false only for names the catalog lacks.
func (r *Registry) Resolve(name string) (Action, string, bool) {
	if a, p, ok := r.Lookup(name); ok {
		return a, p, true
	}
	if s, ok := Catalog[name]; ok {
		return &Unavailable{S: s}, "unavailable", true
	}
	return nil, "", false
}
