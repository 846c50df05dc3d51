package policy

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// shapeOf works out which parts of the input a partially evaluated query
// can read, so that inputs are built with those alone: for most kinds a
// handful of facets, not all of them. It follows the query's rules and
// every rule they depend on, and stays conservative: any use of
// input.asset (or its facets) other than a constant field lookup means the
// whole of it.
func shapeOf(c *ast.Compiler, query ast.Body) inputShape {
	var shape inputShape
	seen := map[*ast.Rule]bool{}
	var queue []*ast.Rule
	addRulesOf := func(x any) {
		ast.WalkRefs(x, func(r ast.Ref) bool {
			if r.HasPrefix(ast.DefaultRootRef) {
				for _, rule := range c.GetRules(r) {
					if !seen[rule] {
						seen[rule] = true
						queue = append(queue, rule)
					}
				}
			}
			return false
		})
	}
	scan := func(x any) {
		if shape == fullShape {
			return
		}
		facetsRef := ast.MustParseRef("input.asset.facets")
		isFacets := func(t *ast.Term) bool {
			r, ok := t.Value.(ast.Ref)
			return ok && r.Equal(facetsRef)
		}
		// The compiler moves nested calls out into local variables:
		// "__local1__ = input.asset.facets; object.get(__local1__, ...)".
		aliases := map[ast.Var]int{} // variable -> uses accounted for
		handled := map[*ast.Term]bool{}
		ast.WalkExprs(x, func(e *ast.Expr) bool {
			if len(e.With) > 0 {
				shape = fullShape // the input may be replaced
			}
			if (e.IsEquality() || e.IsAssignment()) && len(e.Operands()) == 2 {
				a, b := e.Operand(0), e.Operand(1)
				if isFacets(b) {
					a, b = b, a
				}
				if v, ok := b.Value.(ast.Var); ok && isFacets(a) {
					aliases[v]++ // the binding itself
					handled[a] = true
					shape.top |= topFacets
				}
			}
			return false
		})
		// object.get(input.asset.facets, "name", default) reads one facet.
		objectGet := func(terms []*ast.Term) {
			if len(terms) < 3 || !terms[0].Equal(objectGetRef) {
				return
			}
			k, ok := terms[2].Value.(ast.String)
			if !ok {
				return
			}
			arg := terms[1]
			if v, ok := arg.Value.(ast.Var); ok {
				if _, alias := aliases[v]; !alias {
					return
				}
				aliases[v]++
			} else if !isFacets(arg) {
				return
			}
			handled[arg] = true
			shape.top |= topFacets
			if bit, known := facetBits[string(k)]; known {
				shape.facets |= bit
			}
		}
		ast.WalkExprs(x, func(e *ast.Expr) bool {
			if terms, ok := e.Terms.([]*ast.Term); ok {
				objectGet(terms)
			}
			return false
		})
		ast.WalkTerms(x, func(t *ast.Term) bool {
			if call, ok := t.Value.(ast.Call); ok {
				objectGet(call)
			}
			return false
		})
		// An alias used any other way hands the facets on whole.
		uses := map[ast.Var]int{}
		ast.WalkVars(x, func(v ast.Var) bool {
			if _, ok := aliases[v]; ok {
				uses[v]++
			}
			return false
		})
		for v, accounted := range aliases {
			if uses[v] > accounted {
				shape.top |= topFacets
				shape.facets = ^uint64(0)
			}
		}
		ast.WalkTerms(x, func(t *ast.Term) bool {
			r, ok := t.Value.(ast.Ref)
			if !ok || !r[0].Equal(ast.InputRootDocument) || handled[t] {
				return false
			}
			shape = shape.with(r)
			return false
		})
	}
	addRulesOf(query)
	scan(query)
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		scan(r)
		addRulesOf(r)
		for dep := range c.Graph.Dependencies(r) {
			if dr, ok := dep.(*ast.Rule); ok && !seen[dr] {
				seen[dr] = true
				queue = append(queue, dr)
			}
		}
	}
	return shape
}

var objectGetRef = ast.NewTerm(ast.MustParseRef("object.get"))

// with adds what a reference to the input reads.
func (s inputShape) with(r ast.Ref) inputShape {
	if len(r) < 2 {
		return fullShape // input itself
	}
	if _, ok := r[1].Value.(ast.String); !ok {
		return fullShape // input[x]
	}
	if !r[1].Equal(kAsset) {
		return s // not part of the input vigil makes
	}
	if len(r) < 3 {
		return fullShape // input.asset
	}
	field, ok := r[2].Value.(ast.String)
	if !ok {
		return fullShape // input.asset[x]
	}
	for i, k := range topKeys {
		if k.Value.Compare(field) != 0 {
			continue
		}
		s.top |= 1 << i
		if k == kFacets {
			if len(r) < 4 {
				s.facets = ^uint64(0) // the facets as a whole
				break
			}
			f, ok := r[3].Value.(ast.String)
			if !ok {
				s.facets = ^uint64(0) // facets[x]
				break
			}
			s.facets |= facetBits[string(f)]
		}
		break
	}
	return s
}
