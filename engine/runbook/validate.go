package runbook

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/vigil-ir/vigil/engine/action"
)

// Validate checks a runbook without running anything: every action exists,
// every argument is known, present when required and of the right type
// (with typed unknowns for values only a run can know), references point at
// declared variables, locals and steps, and steps form no cycle.
func Validate(rb *Runbook, reg *action.Registry) hcl.Diagnostics {
	_, diags := validate(rb, reg)
	return diags
}

func validate(rb *Runbook, reg *action.Registry) (*graph, hcl.Diagnostics) {
	g, diags := buildGraph(rb)
	funcs := functions(context.Background(), nil, true)

	vars := map[string]cty.Value{}
	for _, v := range rb.Variables {
		val := cty.UnknownVal(v.Type)
		if v.Sensitive {
			val = val.Mark(sensitive)
		}
		vars[v.Name] = val
	}
	varObj := cty.ObjectVal(vars)
	locals, d := evalLocals(rb, unknownVars(rb), funcs)
	diags = append(diags, d...)

	steps := map[string]cty.Value{}
	for _, s := range rb.Steps {
		spec := specOf(reg, s.Action)
		if s.ForEach != nil || spec == nil {
			steps[s.Name] = cty.DynamicVal
			continue
		}
		steps[s.Name] = cty.ObjectVal(map[string]cty.Value{"outputs": cty.UnknownVal(spec.OutputsType())})
	}

	for _, s := range rb.Steps {
		spec := specOf(reg, s.Action)
		if spec == nil {
			detail := fmt.Sprintf("There is no action %q.", s.Action)
			if sug := reg.Suggest(s.Action); len(sug) > 0 {
				detail += " Did you mean " + quoteList(sug) + "?"
			}
			detail += " `vigil runbook actions` lists them."
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown action", Detail: detail, Subject: s.ActionRange.Ptr()})
			continue
		}
		ctxVars := map[string]cty.Value{"var": varObj, "local": locals, "step": cty.ObjectVal(steps)}
		if s.ForEach != nil {
			ctxVars["each"] = cty.ObjectVal(map[string]cty.Value{"key": cty.UnknownVal(cty.String), "value": cty.DynamicVal})
		}
		ctx := &hcl.EvalContext{Variables: ctxVars, Functions: funcs}
		for _, e := range stepExprs(s) {
			diags = append(diags, checkRefs(rb, s, e)...)
		}
		if s.ForEach != nil {
			v, d := s.ForEach.Value(ctx)
			diags = append(diags, d...)
			if !d.HasErrors() && v.Type() != cty.DynamicPseudoType && !isCollection(v.Type()) {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid for_each",
					Detail: fmt.Sprintf("for_each must be a list, set or map, not %s.", v.Type().FriendlyName()), Subject: s.ForEach.Range().Ptr()})
			}
		}
		if s.When != nil {
			v, d := s.When.Value(ctx)
			diags = append(diags, d...)
			if !d.HasErrors() {
				if _, err := convert.Convert(v, cty.Bool); err != nil {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid when",
						Detail: fmt.Sprintf("when must be true or false: %s.", err), Subject: s.When.Range().Ptr()})
				}
			}
		}
		diags = append(diags, checkArgs(s, spec, ctx)...)
		if spec.Effect == action.Destructive && !hasEvidenceBefore(rb, g, s) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Destructive step without evidence",
				Detail:  fmt.Sprintf("Step %q runs %s, which deletes assets; apply refuses to delete an asset unless an evidence step of the same run succeeded for it. Add a step with evidence = true (a snapshot, or core.evidence) before it.", s.Name, s.Action),
				Subject: s.DeclRange.Ptr()})
		}
	}
	for _, o := range rb.Outputs {
		if o.Value == nil {
			continue
		}
		for _, tr := range o.Value.Variables() {
			if name, rng, ok := referencedStep(tr); ok && rb.Step(name) == nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared step",
					Detail: fmt.Sprintf("There is no step named %q.", name), Subject: rng.Ptr()})
			}
		}
	}
	return g, diags
}

func unknownVars(rb *Runbook) cty.Value {
	vars := map[string]cty.Value{}
	for _, v := range rb.Variables {
		vars[v.Name] = cty.UnknownVal(v.Type)
	}
	return cty.ObjectVal(vars)
}

// specOf returns the action's contract from the registry or the catalog.
func specOf(reg *action.Registry, name string) *action.Spec {
	if reg != nil {
		if a, _, ok := reg.Lookup(name); ok {
			return a.Spec()
		}
	}
	return action.Catalog[name]
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, " or ")
}

func isCollection(t cty.Type) bool {
	return t.IsListType() || t.IsSetType() || t.IsMapType() || t.IsTupleType() || t.IsObjectType()
}

// checkRefs reports references to undeclared variables and locals, and
// each.* outside for_each.
func checkRefs(rb *Runbook, s *Step, e hcl.Expression) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, tr := range e.Variables() {
		root := tr.RootName()
		name := ""
		if len(tr) > 1 {
			if a, ok := tr[1].(hcl.TraverseAttr); ok {
				name = a.Name
			}
		}
		switch root {
		case "var":
			if rb.Variable(name) == nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared variable",
					Detail: fmt.Sprintf("There is no variable named %q%s.", name, suggestion(name, rb.varNames())), Subject: tr.SourceRange().Ptr()})
			}
		case "local":
			found := false
			for _, l := range rb.Locals {
				found = found || l.Name == name
			}
			if !found {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared local",
					Detail: fmt.Sprintf("There is no local named %q.", name), Subject: tr.SourceRange().Ptr()})
			}
		case "each":
			if s.ForEach == nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "each outside for_each",
					Detail: fmt.Sprintf("Step %q has no for_each, so each.key and each.value do not exist.", s.Name), Subject: tr.SourceRange().Ptr()})
			}
		case "step":
		default:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown reference",
				Detail: fmt.Sprintf("%q is not something a runbook can refer to; use var.*, local.*, step.<name>.outputs.* or each.* (in for_each steps).", root), Subject: tr.SourceRange().Ptr()})
		}
	}
	return diags
}

// checkArgs compares a step's arguments with the action's schema.
func checkArgs(s *Step, spec *action.Spec, ctx *hcl.EvalContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	subject := s.DeclRange
	if s.Args != nil {
		subject = s.Args.Range()
	}
	var valid []string
	for n := range spec.Args {
		valid = append(valid, n)
	}
	sort.Strings(valid)
	for _, n := range valid {
		if spec.Args[n].Required {
			if _, ok := s.ArgExprs[n]; !ok {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing required argument",
					Detail: fmt.Sprintf("Action %s needs argument %q (%s): %s.", spec.Name, n, spec.Args[n].Type.FriendlyName(), spec.Args[n].Description), Subject: subject.Ptr()})
			}
		}
	}
	names := make([]string, 0, len(s.ArgExprs))
	for n := range s.ArgExprs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ae := s.ArgExprs[n]
		a, ok := spec.Args[n]
		if !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported argument",
				Detail: fmt.Sprintf("Action %s has no argument %q%s. Its arguments: %s.", spec.Name, n, suggestion(n, valid), strings.Join(valid, ", ")), Subject: ae.KeyRange.Ptr()})
			continue
		}
		v, d := ae.Expr.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		if _, err := convert.Convert(v, a.Type); err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid argument type",
				Detail: fmt.Sprintf("Argument %q of %s must be %s: %s.", n, spec.Name, a.Type.FriendlyName(), err), Subject: ae.Expr.Range().Ptr()})
		}
	}
	return diags
}

// hasEvidenceBefore reports whether an evidence step runs before s: in an
// earlier phase, or among its dependencies.
func hasEvidenceBefore(rb *Runbook, g *graph, s *Step) bool {
	isEvidence := func(st *Step) bool { return st.Evidence || st.Action == "core.evidence" }
	for _, o := range rb.Steps {
		if isEvidence(o) && o != s && o.Phase.Index < s.Phase.Index {
			return true
		}
	}
	seen := map[string]bool{}
	var walk func(n string) bool
	walk = func(n string) bool {
		for _, d := range g.deps[n] {
			if seen[d] {
				continue
			}
			seen[d] = true
			if st := rb.Step(d); st != nil && isEvidence(st) {
				return true
			}
			if walk(d) {
				return true
			}
		}
		return false
	}
	return g != nil && walk(s.Name)
}
