package policy

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Guards decide, before the Rego evaluator runs, which policies of a query
// cannot produce a result for an asset. Most assets break no policy, and a
// rule body fails at its first few expressions ("the asset has a public
// IP", "its label is missing"), yet a topdown query costs microseconds per
// rule. A guard evaluates a partially evaluated rule body itself, on the
// same input, for the forms such bodies are made of: references into the
// input and the base documents, unification with a variable or a scalar,
// negation, iteration, comprehensions, calls of pure built-ins (through
// OPA's own implementations) and of the support rules and functions. It
// answers "fails" only when the body fails on every path without raising
// an error on the way; anything it does not model (with, every, patterns,
// a built-in not known to be pure, a built-in error, a conflict, more work
// than a small budget) answers "unknown", and OPA evaluates the policy as
// written. A policy whose rules all fail is left out of the query; when
// none is left, there is no query.
type outcome uint8

const (
	fails   outcome = iota // no path through the body succeeds
	holds                  // some path succeeds
	unknown                // the guard cannot tell
)

// either combines the outcomes of two alternative paths: one that holds
// makes the whole hold, else one unknown makes it unknown.
func either(a, b outcome) outcome {
	if a == holds || b == holds {
		return holds
	}
	if a == unknown || b == unknown {
		return unknown
	}
	return fails
}

const (
	// guardDepth bounds the nesting of rule and function calls a guard
	// follows.
	guardDepth = 16
	// guardBudget is how many expressions a guard evaluates for one rule
	// before it gives up: a rule that needs more (the exposure join walks
	// rules and ports) is cheaper to leave to OPA than to evaluate twice.
	guardBudget = 96
)

// pureBuiltins are the built-ins a guard may call: deterministic, without
// side effects, reading nothing but their operands (not the time, the
// network, the caches of the built-in context or the tracers). Any other
// built-in makes a guard answer unknown.
var pureBuiltins = func() map[string]topdown.BuiltinFunc {
	names := []string{
		"equal", "neq", "lt", "gt", "lte", "gte",
		"internal.member_2", "internal.member_3",
		"count", "lower", "upper", "startswith", "endswith", "contains", "indexof",
		"trim", "trim_space", "trim_prefix", "trim_suffix", "split", "concat", "substring", "replace",
		"glob.match", "object.get", "object.keys",
		"is_object", "is_string", "is_array", "is_set", "is_number", "is_boolean", "is_null", "type_name",
		"array.concat", "array.slice", "sort", "min", "max", "sum",
		"plus", "minus", "mul", "div", "rem", "floor", "ceil", "abs", "round",
		"and", "or", "to_number", "format_int", "sprintf",
		"time.parse_rfc3339_ns", "urlquery.decode", "json.unmarshal",
		"net.cidr_contains", "net.cidr_intersects",
	}
	m := make(map[string]topdown.BuiltinFunc, len(names))
	for _, n := range names {
		if f := topdown.GetBuiltin(n); f != nil && ast.BuiltinMap[n] != nil {
			m[n] = f
		}
	}
	return m
}()

// guardEnv is what a guard reads: the compiler whose rules it follows,
// the input and the base documents under data (as the store holds them).
type guardEnv struct {
	c     *ast.Compiler
	input *ast.Term
	data  *ast.Term
	depth int
	steps int
	// stop is set by a built-in error, or when the budget is spent: the
	// whole evaluation is then unknown, whatever other paths say.
	stop bool
	bctx topdown.BuiltinContext
	// scratch space of built-in calls: operands, outputs (capture appends
	// to outs) and the single output most calls have.
	ops     []*ast.Term
	outs    []*ast.Term
	capture func(*ast.Term) error
	one     [1]*ast.Term
	top     frame    // the frame of the rules a guard starts with
	frames  []*frame // the frames of the rules it calls, by depth
	// opCache holds what each expression's operator is (see opOf).
	opCache map[opKey]*opInfo
}

// guardEnvs are reused: a guard runs for every asset.
var guardEnvs = sync.Pool{New: func() any {
	g := &guardEnv{ops: make([]*ast.Term, 0, 16), outs: make([]*ast.Term, 0, 2)}
	g.top = frame{vars: make([]ast.Var, 0, 16), vals: make([]*ast.Term, 0, 16)}
	g.bctx.Context = context.Background()
	g.capture = func(t *ast.Term) error {
		g.outs = append(g.outs, t)
		return nil
	}
	return g
}}

// frame holds the variable bindings of one rule body (comprehensions share
// their body's frame). Bodies bind a handful of variables: a slice beats a
// map.
type frame struct {
	vars []ast.Var
	vals []*ast.Term
	// What branchValue gathers from the paths through a rule body, kept
	// with the frame of its depth so that its continuation (collect) is
	// made once per depth rather than once per call: a closure per rule
	// call was half a gigabyte of garbage at a million assets.
	g           *guardEnv
	head, value *ast.Term
	constant    bool
	conflict    bool
	collect     cont
}

// newCallFrame makes the frame of a rule call at one depth.
func newCallFrame(g *guardEnv) *frame {
	f := &frame{g: g}
	f.collect = f.collectValue
	return f
}

// collectValue is what follows a path through a rule body that holds:
// its value must agree with the other paths'.
func (f *frame) collectValue() outcome {
	v, ok := f.g.plug(f.head, f)
	if !ok {
		return unknown
	}
	if f.value == nil {
		f.value = v
	} else if f.value.Value.Compare(v.Value) != 0 {
		f.conflict = true
		return unknown
	}
	if f.constant {
		return holds // every path gives the same value
	}
	return fails // go on: every path's value must agree
}

func (f *frame) get(v ast.Var) (*ast.Term, bool) {
	for i := len(f.vars) - 1; i >= 0; i-- {
		if f.vars[i] == v {
			return f.vals[i], true
		}
	}
	return nil, false
}

func (f *frame) push(v ast.Var, x *ast.Term) int {
	n := len(f.vars)
	f.vars = append(f.vars, v)
	f.vals = append(f.vals, x)
	return n
}

func (f *frame) pop(n int) {
	f.vars, f.vals = f.vars[:n], f.vals[:n]
}

// cont is what follows an expression: the rest of the body.
type cont func() outcome

// body evaluates the expressions of a body from i on, then k. Most
// expressions have at most one solution (a lookup with known keys, a
// built-in, a comparison): those are evaluated in a loop, binding in
// place; an expression that iterates continues the rest of the body for
// each of its solutions.
func (g *guardEnv) body(b ast.Body, i int, f *frame, k cont) outcome {
	mark := len(f.vars)
	defer f.pop(mark)
	for ; i < len(b); i++ {
		if g.stop {
			return unknown
		}
		if g.steps++; g.steps > guardBudget {
			g.stop = true
			return unknown
		}
		if g.total(b[i:], f) {
			return holds
		}
		r, det := g.exprDet(b[i], f)
		if !det {
			if i == len(b)-1 {
				return g.expr(b[i], f, k)
			}
			next := i + 1
			return g.expr(b[i], f, func() outcome { return g.body(b, next, f, k) })
		}
		if r != holds {
			return r
		}
	}
	if g.stop {
		return unknown
	}
	return k()
}

// totalBuiltins cannot fail but by raising an error (which OPA reports):
// their output bound to a fresh variable always holds.
var totalBuiltins = map[string]bool{
	"sprintf": true, "concat": true, "format_int": true, "sort": true, "count": true,
	"array.slice": true, "array.concat": true, "lower": true, "upper": true, "trim_space": true,
	"replace": true, "split": true, "object.get": true,
}

// total reports whether the rest of a body at the top level holds once
// reached: every expression is a total built-in whose output is a fresh
// variable, so that the rule produces its value (and OPA, which evaluates
// it, raises any error).
func (g *guardEnv) total(rest ast.Body, f *frame) bool {
	if g.depth > 0 || len(rest) > 8 {
		return false
	}
	for _, e := range rest {
		terms, ok := e.Terms.([]*ast.Term)
		if !ok || e.Negated || len(e.With) > 0 {
			return false
		}
		if in := g.opOf(e); in.kind != opBuiltin || !in.total || len(terms)-1 != in.arity+1 {
			return false
		}
		out, ok := terms[len(terms)-1].Value.(ast.Var)
		if !ok {
			return false
		}
		if _, bound := f.get(out); bound {
			return false
		}
	}
	return true
}

// exprDet evaluates an expression that has at most one solution, leaving
// its bindings on the frame; det is false when it has more (then nothing
// was bound, and it must be evaluated with expr).
func (g *guardEnv) exprDet(e *ast.Expr, f *frame) (r outcome, det bool) {
	if len(e.With) > 0 {
		return unknown, true
	}
	if e.Negated {
		mark := len(f.vars)
		r, det := g.positiveDet(e, f)
		f.pop(mark)
		if !det {
			return g.expr(e, f, alwaysHolds), true
		}
		switch r {
		case holds:
			return fails, true
		case fails:
			return holds, true
		}
		return unknown, true
	}
	return g.positiveDet(e, f)
}

// positiveDet is exprDet of the expression without its negation.
func (g *guardEnv) positiveDet(e *ast.Expr, f *frame) (r outcome, det bool) {
	switch t := e.Terms.(type) {
	case *ast.Term:
		v, r, det := g.termDet(t, f)
		if !det || r != holds {
			return r, det
		}
		if isFalse(v) {
			return fails, true
		}
		return holds, true
	case []*ast.Term:
		in := g.opOf(e)
		args := t[1:]
		switch in.kind {
		case opOther:
			return unknown, true
		case opUnify:
			if len(args) != 2 {
				return unknown, true
			}
			return g.unifyDet(args[0], args[1], f)
		case opFunction:
			return g.callFunction(in.rules, args, f, alwaysHolds), false
		}
		out, arity, r := g.builtin(e, args, f)
		if r != holds {
			return r, true
		}
		if len(out) > 1 {
			return unknown, false
		}
		if len(args) == arity {
			if isFalse(out[0]) {
				return fails, true
			}
			return holds, true
		}
		return g.unifyDet(args[arity], out[0], f)
	}
	return unknown, true // every, some declarations
}

func alwaysHolds() outcome { return holds }

// opInfo is what a guard needs to know of an expression's operator: a
// unification, a call of a function of data (its rules), or a built-in
// (OPA's implementation when it is pure, its arity, whether it is total).
// Finding out takes the operator's name as a string and lookups in the
// compiler's rule tree: done once per expression and compiler, not on
// every asset.
type opInfo struct {
	kind  opKind
	rules []*ast.Rule
	fn    topdown.BuiltinFunc // nil: not one a guard may call
	arity int
	total bool
}

type opKind uint8

const (
	opOther opKind = iota
	opUnify
	opFunction
	opBuiltin
)

type opKey struct {
	e *ast.Expr
	c *ast.Compiler
}

// opCacheSize bounds the cache of a guard environment: environments are
// pooled, and a server that reloads its policies must not keep every
// compiler's expressions alive.
const opCacheSize = 4096

func (g *guardEnv) opOf(e *ast.Expr) *opInfo {
	key := opKey{e, g.c}
	if in, ok := g.opCache[key]; ok {
		return in
	}
	in := &opInfo{}
	if terms, ok := e.Terms.([]*ast.Term); ok && len(terms) > 0 {
		if op, ok := terms[0].Value.(ast.Ref); ok && len(op) > 0 {
			switch {
			case op.Equal(eqRef) || op.Equal(assignRef):
				in.kind = opUnify
			case op[0].Equal(ast.DefaultRootDocument):
				in.kind, in.rules = opFunction, g.c.GetRulesExact(op)
			default:
				name := op.String()
				in.kind, in.fn, in.total = opBuiltin, pureBuiltins[name], totalBuiltins[name]
				if bi := ast.BuiltinMap[name]; bi != nil {
					in.arity = bi.Decl.Arity()
				} else {
					in.fn, in.total = nil, false
				}
			}
		}
	}
	if g.opCache == nil || len(g.opCache) >= opCacheSize {
		g.opCache = make(map[opKey]*opInfo, 64)
	}
	g.opCache[key] = in
	return in
}

// unifyDet unifies without iterating: a fresh variable binds (in place),
// two scalars compare; det is false when a side has several values.
func (g *guardEnv) unifyDet(a, b *ast.Term, f *frame) (outcome, bool) {
	for _, p := range [2][2]*ast.Term{{a, b}, {b, a}} {
		if v, ok := p[0].Value.(ast.Var); ok {
			if _, bound := f.get(v); !bound {
				x, r, det := g.termDet(p[1], f)
				if !det || r != holds {
					return r, det
				}
				f.push(v, x)
				return holds, true
			}
		}
	}
	x, r, det := g.termDet(a, f)
	if !det || r != holds {
		return r, det
	}
	y, r, det := g.termDet(b, f)
	if !det || r != holds {
		return r, det
	}
	if !ast.IsScalar(x.Value) || !ast.IsScalar(y.Value) {
		return unknown, true
	}
	if x.Equal(y) {
		return holds, true
	}
	return fails, true
}

// termDet is the value of a term with at most one value: holds with the
// value, fails when it is undefined; det is false when it has several.
func (g *guardEnv) termDet(t *ast.Term, f *frame) (*ast.Term, outcome, bool) {
	switch v := t.Value.(type) {
	case ast.Var:
		x, ok := f.get(v)
		if !ok {
			return nil, unknown, true
		}
		return x, holds, true
	case ast.Null, ast.Boolean, ast.Number, ast.String:
		return t, holds, true
	case ast.Ref:
		var base *ast.Term
		switch {
		case v[0].Equal(ast.InputRootDocument):
			base = g.input
		case v[0].Equal(ast.DefaultRootDocument):
			return nil, unknown, false
		default:
			h, ok := v[0].Value.(ast.Var)
			if !ok {
				return nil, unknown, true
			}
			if base, ok = f.get(h); !ok {
				return nil, unknown, true
			}
		}
		x := base
		for _, key := range v[1:] {
			if x == nil {
				return nil, fails, true
			}
			switch kv := key.Value.(type) {
			case ast.String, ast.Number, ast.Boolean, ast.Null:
			case ast.Var:
				bound, ok := f.get(kv)
				if !ok {
					return nil, unknown, false // iteration
				}
				key = bound
			default:
				return nil, unknown, true
			}
			if !ast.IsScalar(key.Value) {
				return nil, unknown, true
			}
			x = child(x, key)
		}
		if x == nil {
			return nil, fails, true
		}
		return x, holds, true
	}
	return nil, unknown, false
}

// child looks a key up in a collection, nil when it is not there.
func child(x, key *ast.Term) *ast.Term {
	switch c := x.Value.(type) {
	case ast.Object:
		return c.Get(key)
	case *ast.Array:
		n, ok := key.Value.(ast.Number)
		if !ok {
			return nil
		}
		i, ok := n.Int()
		if !ok || i < 0 || i >= c.Len() {
			return nil
		}
		return c.Elem(i)
	case ast.Set:
		if c.Contains(key) {
			return key
		}
	}
	return nil
}

// expr evaluates one expression, calling k for every way it holds.
func (g *guardEnv) expr(e *ast.Expr, f *frame, k cont) outcome {
	if len(e.With) > 0 {
		return unknown
	}
	if e.Negated {
		// The expression is evaluated on its own: its bindings do not
		// outlive it.
		switch g.positive(e, f, func() outcome { return holds }) {
		case holds:
			return fails
		case fails:
			if g.stop {
				return unknown
			}
			return k()
		}
		return unknown
	}
	return g.positive(e, f, k)
}

func (g *guardEnv) positive(e *ast.Expr, f *frame, k cont) outcome {
	switch t := e.Terms.(type) {
	case *ast.Term:
		// A term alone holds when it is defined and not false.
		return g.term(t, f, func(v *ast.Term) outcome {
			if isFalse(v) {
				return fails
			}
			return k()
		})
	case []*ast.Term:
		return g.call(e, t, f, k)
	}
	return unknown // every, some declarations
}

func isFalse(t *ast.Term) bool {
	b, ok := t.Value.(ast.Boolean)
	return ok && !bool(b)
}

var (
	eqRef     = ast.Equality.Ref()
	assignRef = ast.Assign.Ref()
)

func (g *guardEnv) call(e *ast.Expr, terms []*ast.Term, f *frame, k cont) outcome {
	in := g.opOf(e)
	args := terms[1:]
	switch in.kind {
	case opOther:
		return unknown
	case opUnify:
		if len(args) != 2 {
			return unknown
		}
		return g.unify(args[0], args[1], f, k)
	case opFunction:
		return g.callFunction(in.rules, args, f, k)
	}
	outs, arity, r := g.builtin(e, args, f)
	if r != holds {
		return r
	}
	r = fails
	for _, out := range outs {
		var x outcome
		if len(args) == arity {
			if isFalse(out) {
				x = fails
			} else {
				x = k()
			}
		} else {
			x = g.unify(args[arity], out, f, k)
		}
		if r = either(r, x); r == holds {
			return holds
		}
	}
	return r
}

// builtin calls a pure built-in with the plugged operands: holds with its
// outputs (none: undefined, fails), unknown when it may not be called
// here or raised an error.
func (g *guardEnv) builtin(e *ast.Expr, args []*ast.Term, f *frame) ([]*ast.Term, int, outcome) {
	in := g.opOf(e)
	fn := in.fn
	if fn == nil {
		return nil, 0, unknown
	}
	arity := in.arity
	if len(args) != arity && len(args) != arity+1 {
		return nil, 0, unknown
	}
	base := len(g.ops)
	defer func() { g.ops = g.ops[:base] }()
	for _, a := range args[:arity] {
		v, ok := g.plug(a, f)
		if !ok {
			return nil, 0, unknown
		}
		g.ops = append(g.ops, v)
	}
	if len(args) > arity {
		// the output, plugged as topdown passes it
		out := args[arity]
		if v, ok := g.plug(out, f); ok {
			out = v
		}
		g.ops = append(g.ops, out)
	}
	g.outs = g.outs[:0]
	g.bctx.Location = e.Location
	if err := fn(g.bctx, g.ops[base:], g.capture); err != nil {
		// OPA records a built-in error and takes the expression as
		// undefined: let it, so that the error is reported.
		g.stop = true
		return nil, 0, unknown
	}
	switch len(g.outs) {
	case 0:
		return nil, arity, fails
	case 1:
		g.one[0] = g.outs[0]
		return g.one[:], arity, holds
	}
	return append([]*ast.Term(nil), g.outs...), arity, holds
}

// callFunction calls a user function (a rule with arguments).
func (g *guardEnv) callFunction(rules []*ast.Rule, args []*ast.Term, f *frame, k cont) outcome {
	if len(rules) == 0 {
		return unknown
	}
	arity := len(rules[0].Head.Args)
	if len(args) != arity && len(args) != arity+1 {
		return unknown
	}
	vals := make([]*ast.Term, arity)
	for i := range vals {
		v, ok := g.plug(args[i], f)
		if !ok {
			return unknown
		}
		vals[i] = v
	}
	value, r := g.ruleValue(rules, vals)
	if r != holds {
		return r // fails: undefined; unknown
	}
	if len(args) == arity {
		if isFalse(value) {
			return fails
		}
		return k()
	}
	return g.unify(args[arity], value, f, k)
}

// ruleValue evaluates the rules of a complete document or a function with
// the given arguments: the value of the bodies that hold (which must
// agree, or OPA raises a conflict), else the default. A rule with else
// branches takes the value of the first branch whose body holds, as
// topdown does (evalFunc.eval, evalVirtualComplete).
func (g *guardEnv) ruleValue(rules []*ast.Rule, args []*ast.Term) (*ast.Term, outcome) {
	if g.depth >= guardDepth {
		return nil, unknown
	}
	g.depth++
	defer func() { g.depth-- }()
	// each depth has its frame, reused from one call to the next
	for len(g.frames) < g.depth {
		g.frames = append(g.frames, newCallFrame(g))
	}
	f := g.frames[g.depth-1]
	var value, def *ast.Term
	for _, r := range rules {
		if r.Default {
			if r.Else != nil {
				return nil, unknown
			}
			def = r.Head.Value
			continue
		}
		for branch := r; branch != nil; branch = branch.Else {
			v, out := g.branchValue(branch, args, f)
			if out == unknown {
				return nil, unknown
			}
			if v == nil {
				continue // the body fails: the next else branch decides
			}
			if value != nil && value.Value.Compare(v.Value) != 0 {
				return nil, unknown // a conflict: OPA's error to raise
			}
			value = v
			break
		}
	}
	if value == nil {
		if def != nil {
			return def, holds
		}
		return nil, fails
	}
	return value, holds
}

// branchValue evaluates one rule body (a rule or one of its else
// branches) with the arguments bound to the head's: the value every path
// through it gives, nil when none holds, unknown when the paths disagree
// (a conflict) or the guard cannot tell.
func (g *guardEnv) branchValue(r *ast.Rule, args []*ast.Term, f *frame) (*ast.Term, outcome) {
	if len(r.Head.Args) != len(args) || r.Head.RuleKind() != ast.SingleValue || !r.Head.Ref().IsGround() {
		return nil, unknown
	}
	f.pop(0)
	for i, a := range r.Head.Args {
		v, isVar := a.Value.(ast.Var)
		if !isVar {
			return nil, unknown
		}
		f.push(v, args[i])
	}
	f.head = headValue(r)
	f.constant = f.head.IsGround()
	f.value, f.conflict = nil, false
	out := g.body(r.Body, 0, f, f.collect)
	value := f.value
	f.head, f.value = nil, nil // keep no term of this asset's past the call
	if out == unknown || g.stop || f.conflict {
		return nil, unknown
	}
	return value, holds
}

func headValue(r *ast.Rule) *ast.Term {
	if r.Head.Value != nil {
		return r.Head.Value
	}
	return ast.InternedTerm(true)
}

// unify unifies two terms: a variable not bound yet takes the other's
// value, scalars compare. Anything else (patterns, composite values) is
// left to OPA.
func (g *guardEnv) unify(a, b *ast.Term, f *frame, k cont) outcome {
	if v, ok := a.Value.(ast.Var); ok {
		if _, bound := f.get(v); !bound {
			return g.bindTo(v, b, f, k)
		}
	}
	if v, ok := b.Value.(ast.Var); ok {
		if _, bound := f.get(v); !bound {
			return g.bindTo(v, a, f, k)
		}
	}
	return g.term(a, f, func(x *ast.Term) outcome {
		return g.term(b, f, func(y *ast.Term) outcome {
			if !ast.IsScalar(x.Value) || !ast.IsScalar(y.Value) {
				return unknown
			}
			if x.Equal(y) {
				return k()
			}
			return fails
		})
	})
}

func (g *guardEnv) bindTo(v ast.Var, t *ast.Term, f *frame, k cont) outcome {
	return g.term(t, f, func(x *ast.Term) outcome {
		mark := f.push(v, x)
		r := k()
		f.pop(mark)
		return r
	})
}

// term calls k with every value of a term.
func (g *guardEnv) term(t *ast.Term, f *frame, k func(*ast.Term) outcome) outcome {
	switch v := t.Value.(type) {
	case ast.Var:
		x, ok := f.get(v)
		if !ok {
			return unknown
		}
		return k(x)
	case ast.Ref:
		return g.ref(v, f, k)
	case ast.Null, ast.Boolean, ast.Number, ast.String:
		return k(t)
	case *ast.Array, ast.Object, ast.Set:
		x, ok := g.plug(t, f)
		if !ok {
			return unknown
		}
		return k(x)
	case *ast.ArrayComprehension:
		var out []*ast.Term
		r := g.collect(v.Body, f, func() outcome {
			x, ok := g.plug(v.Term, f)
			if !ok {
				return unknown
			}
			out = append(out, x)
			return fails
		})
		if r != fails {
			return unknown
		}
		return k(ast.ArrayTerm(out...))
	case *ast.SetComprehension:
		s := ast.NewSet()
		r := g.collect(v.Body, f, func() outcome {
			x, ok := g.plug(v.Term, f)
			if !ok {
				return unknown
			}
			s.Add(x)
			return fails
		})
		if r != fails {
			return unknown
		}
		return k(ast.NewTerm(s))
	}
	return unknown // object comprehensions, calls
}

// collect runs a comprehension body to the end of every path; k is called
// at each end (and returns fails to go on). The result is fails when every
// path was followed, unknown otherwise.
func (g *guardEnv) collect(b ast.Body, f *frame, k cont) outcome {
	r := g.body(b, 0, f, k)
	if g.stop {
		return unknown
	}
	return r
}

// ref calls k with every value a reference takes.
func (g *guardEnv) ref(r ast.Ref, f *frame, k func(*ast.Term) outcome) outcome {
	var base *ast.Term
	switch h := r[0].Value.(type) {
	case ast.Var:
		switch {
		case r[0].Equal(ast.InputRootDocument):
			base = g.input
			if base == nil {
				return fails
			}
		case r[0].Equal(ast.DefaultRootDocument):
			return g.dataRef(r, f, k)
		default:
			x, ok := f.get(h)
			if !ok {
				return unknown
			}
			base = x
		}
	default:
		return unknown
	}
	return g.walk(base, r[1:], f, k)
}

// dataRef reads data: a rule (complete documents only) or a base document
// with no rule at or under it.
func (g *guardEnv) dataRef(r ast.Ref, f *frame, k func(*ast.Term) outcome) outcome {
	node := g.c.RuleTree.Child(r[0].Value)
	if node == nil {
		return unknown
	}
	for i := 1; ; i++ {
		if len(node.Values) > 0 {
			if len(node.Children) > 0 {
				return unknown
			}
			value, out := g.ruleValue(node.Values, nil)
			if out != holds {
				return out
			}
			return g.walk(value, r[i:], f, k)
		}
		if i == len(r) {
			return unknown // a package, or data itself: rules and documents merged
		}
		key, ok := g.groundKey(r[i], f)
		if !ok {
			return unknown // iterating over packages or rules
		}
		child := node.Child(key.Value)
		if child == nil {
			// No rule at or under the rest: a base document.
			if g.data == nil {
				return unknown
			}
			return g.walk(g.data, r[1:], f, k)
		}
		node = child
	}
}

func (g *guardEnv) groundKey(t *ast.Term, f *frame) (*ast.Term, bool) {
	switch v := t.Value.(type) {
	case ast.String, ast.Number, ast.Boolean, ast.Null:
		return t, true
	case ast.Var:
		return f.get(v)
	}
	return nil, false
}

// walk follows the rest of a reference from a value.
func (g *guardEnv) walk(x *ast.Term, rest ast.Ref, f *frame, k func(*ast.Term) outcome) outcome {
	if len(rest) == 0 {
		return k(x)
	}
	key := rest[0]
	switch kv := key.Value.(type) {
	case ast.String, ast.Number, ast.Boolean, ast.Null:
		return g.lookup(x, key, rest, f, k)
	case ast.Var:
		if bound, ok := f.get(kv); ok {
			return g.lookup(x, bound, rest, f, k)
		}
	default:
		return unknown
	}
	// an unbound variable: every key of the collection
	v := key.Value.(ast.Var)
	r := fails
	each := func(kt, vt *ast.Term) bool {
		mark := f.push(v, kt)
		out := g.walk(vt, rest[1:], f, k)
		f.pop(mark)
		r = either(r, out)
		return r == holds || g.stop
	}
	switch c := x.Value.(type) {
	case ast.Object:
		c.Until(each)
	case *ast.Array:
		for i := 0; i < c.Len(); i++ {
			if each(ast.InternedTerm(i), c.Elem(i)) {
				break
			}
		}
	case ast.Set:
		c.Until(func(e *ast.Term) bool { return each(e, e) })
	default:
		return fails
	}
	if g.stop {
		return unknown
	}
	return r
}

func (g *guardEnv) lookup(x, key *ast.Term, rest ast.Ref, f *frame, k func(*ast.Term) outcome) outcome {
	if !ast.IsScalar(key.Value) {
		return unknown
	}
	switch c := x.Value.(type) {
	case ast.Object:
		v := c.Get(key)
		if v == nil {
			return fails
		}
		return g.walk(v, rest[1:], f, k)
	case *ast.Array:
		n, ok := key.Value.(ast.Number)
		if !ok {
			return fails
		}
		i, ok := n.Int()
		if !ok || i < 0 || i >= c.Len() {
			return fails
		}
		return g.walk(c.Elem(i), rest[1:], f, k)
	case ast.Set:
		if !c.Contains(key) {
			return fails
		}
		return g.walk(key, rest[1:], f, k)
	}
	return fails
}

// plug replaces the bound variables of a term; false when one is not bound
// or the term holds a reference or a comprehension.
func (g *guardEnv) plug(t *ast.Term, f *frame) (*ast.Term, bool) {
	switch v := t.Value.(type) {
	case ast.Null, ast.Boolean, ast.Number, ast.String:
		return t, true
	case ast.Var:
		return f.get(v)
	case *ast.Array:
		if v.IsGround() {
			return t, true
		}
		out := make([]*ast.Term, v.Len())
		for i := range out {
			e, ok := g.plug(v.Elem(i), f)
			if !ok {
				return nil, false
			}
			out[i] = e
		}
		return ast.ArrayTerm(out...), true
	case ast.Object:
		if v.IsGround() {
			return t, true
		}
		out := ast.NewObject()
		ok := true
		v.Foreach(func(kt, vt *ast.Term) {
			if !ok {
				return
			}
			pk, ok1 := g.plug(kt, f)
			pv, ok2 := g.plug(vt, f)
			if !ok1 || !ok2 {
				ok = false
				return
			}
			out.Insert(pk, pv)
		})
		return ast.NewTerm(out), ok
	case ast.Set:
		if v.IsGround() {
			return t, true
		}
		out := ast.NewSet()
		ok := true
		v.Foreach(func(e *ast.Term) {
			if !ok {
				return
			}
			pe, ok1 := g.plug(e, f)
			if !ok1 {
				ok = false
				return
			}
			out.Add(pe)
		})
		return ast.NewTerm(out), ok
	}
	return nil, false
}

// queryGuards are the guards of one prepared query: for each policy
// variable of the query, the rules of its set.
type queryGuards struct {
	c *ast.Compiler
	// rules[i] are the rules of q.vars[i]'s set; nil when the variable
	// is not guarded (it is always evaluated).
	rules [][]*ast.Rule
	exprs []*ast.Expr // the query expression of each variable
	all   uint64
	// stats say how often each variable's guards spared it; a guard that
	// seldom does (a policy most assets break, or rules past the budget)
	// costs more than it saves and is turned off.
	stats []guardStats
	// keep: never turn a guard off (tests)
	keep bool
	// subsets are the queries of the variables a mask keeps.
	subsets sync.Map // uint64 -> *kindQuery
}

// newGuards makes the guards of a partially evaluated query, or nil when
// it has none worth running.
func newGuards(q *kindQuery, keep bool) *queryGuards {
	if len(q.vars) == 0 || len(q.vars) > 64 {
		return nil
	}
	g := &queryGuards{c: q.compiler, rules: make([][]*ast.Rule, len(q.vars)), exprs: make([]*ast.Expr, len(q.vars)), stats: make([]guardStats, len(q.vars)), keep: keep}
	guarded := false
	for i, v := range q.vars {
		for _, e := range q.body {
			if !e.IsEquality() || len(e.Operands()) != 2 {
				continue
			}
			a, b := e.Operand(0), e.Operand(1)
			if _, ok := b.Value.(ast.Ref); ok {
				a, b = b, a
			}
			ref, ok1 := a.Value.(ast.Ref)
			name, ok2 := b.Value.(ast.Var)
			if !ok1 || !ok2 || string(name) != v.name {
				continue
			}
			g.exprs[i] = e
			if node := q.compiler.RuleTree.Find(ref); node != nil && len(node.Children) == 0 && ref.IsGround() {
				rs := node.Values
				ok := len(rs) > 0
				for _, r := range rs {
					ok = ok && r.Head.RuleKind() == ast.MultiValue && r.Else == nil && !r.Default
				}
				if ok {
					g.rules[i] = rs
					guarded = true
				}
			}
		}
		if g.exprs[i] == nil {
			return nil // not the query prepare builds
		}
		g.all |= 1 << i
	}
	if !guarded {
		return nil
	}
	return g
}

// needed returns the mask of the variables whose sets the guards cannot
// prove empty for the input.
func (qg *queryGuards) needed(input, data ast.Value) uint64 {
	var mask uint64
	g := guardEnvs.Get().(*guardEnv)
	defer guardEnvs.Put(g)
	g.c, g.input, g.data = qg.c, ast.NewTerm(input), ast.NewTerm(data)
	f := &g.top
	for i, rules := range qg.rules {
		st := &qg.stats[i]
		if rules == nil || st.off.Load() {
			mask |= 1 << i
			continue
		}
		spared := true
		for _, r := range rules {
			g.stop, g.steps = false, 0
			f.pop(0)
			out := g.body(r.Body, 0, f, alwaysHolds)
			if out != fails || g.stop {
				mask |= 1 << i
				spared = false
				break
			}
		}
		if !qg.keep {
			st.note(spared)
		}
	}
	return mask
}

// guardStats count a variable's guard runs and how many spared it.
type guardStats struct {
	runs, spared atomic.Int64
	off          atomic.Bool
}

const (
	guardTrial  = 512 // runs before a guard is judged
	guardWorthy = 20  // it must spare one in guardWorthy runs
)

func (s *guardStats) note(spared bool) {
	n := s.runs.Add(1)
	if spared {
		s.spared.Add(1)
	}
	if n == guardTrial && s.spared.Load()*guardWorthy < n {
		s.off.Store(true)
	}
}

// subset returns the query of the variables in mask.
func (qg *queryGuards) subset(q *kindQuery, mask uint64) (*kindQuery, error) {
	if v, ok := qg.subsets.Load(mask); ok {
		return v.(*kindQuery), nil
	}
	var body ast.Body
	for i, e := range qg.exprs {
		if mask&(1<<i) != 0 {
			body = append(body, e.Copy())
		}
	}
	compiled, err := q.compiler.QueryCompiler().Compile(body)
	if err != nil {
		return nil, fmt.Errorf("prepare policies: %w", err)
	}
	sub := *q
	sub.body = compiled
	sub.guards = nil
	v, _ := qg.subsets.LoadOrStore(mask, &sub)
	return v.(*kindQuery), nil
}
