package runbook

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// graph holds the steps' dependencies and an execution order.
type graph struct {
	deps  map[string][]string // step -> steps it needs, explicit and implicit
	order []*Step             // phases in order; within a phase, dependencies first
}

// stepExprs returns the expressions of a step that may refer to things.
func stepExprs(s *Step) []hcl.Expression {
	var out []hcl.Expression
	names := make([]string, 0, len(s.ArgExprs))
	for n := range s.ArgExprs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, s.ArgExprs[n].Expr)
	}
	if s.When != nil {
		out = append(out, s.When)
	}
	if s.ForEach != nil {
		out = append(out, s.ForEach)
	}
	return out
}

// referencedStep returns the step name of a step.<name>... traversal.
func referencedStep(tr hcl.Traversal) (string, hcl.Range, bool) {
	if tr.RootName() != "step" || len(tr) < 2 {
		return "", hcl.Range{}, false
	}
	if a, ok := tr[1].(hcl.TraverseAttr); ok {
		return a.Name, tr.SourceRange(), true
	}
	return "", hcl.Range{}, false
}

func buildGraph(rb *Runbook) (*graph, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	g := &graph{deps: map[string][]string{}}
	addDep := func(s *Step, name string, rng hcl.Range) {
		t := rb.Step(name)
		switch {
		case t == nil:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared step",
				Detail: fmt.Sprintf("There is no step named %q%s.", name, suggestion(name, stepNames(rb))), Subject: rng.Ptr()})
			return
		case t == s:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Self-referential step",
				Detail: fmt.Sprintf("Step %q cannot depend on itself.", name), Subject: rng.Ptr()})
			return
		case t.Phase.Index > s.Phase.Index:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to a later phase",
				Detail:  fmt.Sprintf("Step %q (phase %s) refers to step %q of phase %s, which runs after it.", s.Name, s.Phase.Name, name, t.Phase.Name),
				Subject: rng.Ptr()})
			return
		}
		for _, d := range g.deps[s.Name] {
			if d == name {
				return
			}
		}
		g.deps[s.Name] = append(g.deps[s.Name], name)
	}
	for _, s := range rb.Steps {
		for _, tr := range s.DependsOn {
			if name, rng, ok := referencedStep(tr); ok {
				addDep(s, name, rng)
			}
		}
		for _, e := range stepExprs(s) {
			for _, tr := range e.Variables() {
				if name, rng, ok := referencedStep(tr); ok {
					addDep(s, name, rng)
				}
			}
		}
	}
	// Cycles, reported once each, at the first step of the cycle.
	state := map[string]int{} // 0 new, 1 on stack, 2 done
	var stack []string
	var visit func(n string)
	reported := map[string]bool{}
	visit = func(n string) {
		state[n] = 1
		stack = append(stack, n)
		for _, d := range g.deps[n] {
			switch state[d] {
			case 0:
				visit(d)
			case 1:
				i := len(stack) - 1
				for stack[i] != d {
					i--
				}
				cycle := append(append([]string(nil), stack[i:]...), d)
				key := strings.Join(sortedCopy(cycle[:len(cycle)-1]), ",")
				if !reported[key] {
					reported[key] = true
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Dependency cycle",
						Detail:  fmt.Sprintf("Steps depend on each other in a cycle: %s.", "step."+strings.Join(cycle, " → step.")),
						Subject: rb.Step(d).DeclRange.Ptr()})
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = 2
	}
	for _, s := range rb.Steps {
		if state[s.Name] == 0 {
			visit(s.Name)
		}
	}
	if diags.HasErrors() {
		return g, diags
	}
	// Order: phase by phase; within a phase, dependencies first, then file
	// order.
	done := map[string]bool{}
	for _, ph := range rb.Phases {
		remaining := append([]*Step(nil), ph.Steps...)
		for len(remaining) > 0 {
			progress := false
			for i := 0; i < len(remaining); i++ {
				s := remaining[i]
				ready := true
				for _, d := range g.deps[s.Name] {
					if !done[d] {
						ready = false
						break
					}
				}
				if ready {
					g.order = append(g.order, s)
					done[s.Name] = true
					remaining = append(remaining[:i], remaining[i+1:]...)
					progress = true
					break
				}
			}
			if !progress { // unreachable after the cycle check
				return g, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Dependency cycle", Subject: remaining[0].DeclRange.Ptr()})
			}
		}
	}
	return g, diags
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func stepNames(rb *Runbook) []string {
	out := make([]string, len(rb.Steps))
	for i, s := range rb.Steps {
		out[i] = s.Name
	}
	return out
}

// evalLocals evaluates locals in dependency order. Locals may refer to
// variables, other locals and functions, not to steps.
func evalLocals(rb *Runbook, vars cty.Value, funcs map[string]function.Function) (cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	vals := map[string]cty.Value{}
	byName := map[string]*Local{}
	for _, l := range rb.Locals {
		byName[l.Name] = l
	}
	for _, l := range rb.Locals {
		for _, tr := range l.Expr.Variables() {
			if tr.RootName() == "step" || tr.RootName() == "each" {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid reference in locals",
					Detail: fmt.Sprintf("Local %q refers to %s; locals are evaluated before any step runs and can refer only to var.* and local.*.", l.Name, tr.RootName()), Subject: tr.SourceRange().Ptr()})
			}
		}
	}
	if diags.HasErrors() {
		return cty.EmptyObjectVal, diags
	}
	state := map[string]int{}
	var eval func(l *Local) bool
	eval = func(l *Local) bool {
		switch state[l.Name] {
		case 1:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cycle in locals",
				Detail: fmt.Sprintf("Local %q depends on itself.", l.Name), Subject: l.DeclRange.Ptr()})
			return false
		case 2:
			return true
		}
		state[l.Name] = 1
		for _, tr := range l.Expr.Variables() {
			if tr.RootName() != "local" || len(tr) < 2 {
				continue
			}
			a, ok := tr[1].(hcl.TraverseAttr)
			if !ok {
				continue
			}
			dep, ok := byName[a.Name]
			if !ok {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared local",
					Detail: fmt.Sprintf("There is no local named %q.", a.Name), Subject: tr.SourceRange().Ptr()})
				state[l.Name] = 2
				return false
			}
			if !eval(dep) {
				state[l.Name] = 2
				return false
			}
		}
		ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": vars, "local": cty.ObjectVal(vals)}, Functions: funcs}
		v, d := l.Expr.Value(ctx)
		diags = append(diags, d...)
		vals[l.Name] = v
		state[l.Name] = 2
		return !d.HasErrors()
	}
	for _, l := range rb.Locals {
		eval(l)
	}
	return cty.ObjectVal(vals), diags
}
