package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/vigil-ir/vigil/engine/asset"
)

// BuiltinPrefix marks the file names of the embedded library in messages.
const BuiltinPrefix = "builtin/"

// Options say which policies to load and with which settings.
type Options struct {
	// Builtins is the embedded library (policies.FS); nil loads none.
	Builtins fs.FS
	// Dirs are user policy directories (or single .rego files).
	Dirs []string
	// Config is data.vigil.config.
	Config map[string]any
	// Only keeps just these policies (all when empty): ids, or globs of
	// ids ("VGL-NET-*"). Each must name at least one policy.
	Only []string
	// Libraries are Config Validator policy libraries (templates and
	// constraints) whose constraints judge GCP assets too.
	Libraries []string
	// Now is the time policies judge ages by (key age, last use), read as
	// data.vigil.clock; default time.Now at Load.
	Now func() time.Time
}

// clockData is data.vigil.clock: the time of the scan, fixed once so that
// every asset is judged by the same clock.
func clockData(now func() time.Time) map[string]any {
	t := time.Now()
	if now != nil {
		t = now()
	}
	t = t.UTC()
	return map[string]any{"now_ns": t.UnixNano(), "now": t.Format(time.RFC3339)}
}

// Engine holds compiled policies and evaluates assets against them. It is
// safe for concurrent use; compilation happens once, in Load.
type Engine struct {
	policies []*Policy
	byID     map[string]*Policy
	compiler *ast.Compiler
	store    storage.Store
	// sources are the raw modules by file, test files included, for `policy
	// test`.
	sources map[string]string

	// constraints are the policy library constraints, judged apart.
	constraints []*Policy
	warnings    []string

	queries sync.Map // queryKey -> *queryEntry
	bySet   sync.Map // policy ids -> *queryEntry
	// fullInput turns off input shaping, noGuards the guards (tests
	// compare the two ways).
	fullInput bool
	noGuards  bool
	// keepGuards stops guards from turning themselves off, so that tests
	// comparing guarded and plain judgements exercise every guard.
	keepGuards bool
	// base holds the base documents under data (settings, clock, the
	// cross-asset index) as the store does, for the guards.
	base atomic.Pointer[ast.Value]

	// builtinErrs counts builtin errors (to_number("x"), ...) by policy
	// location: they make an expression undefined rather than stopping the
	// scan, but they are reported, never dropped silently.
	errMu       sync.Mutex
	builtinErrs map[string]*BuiltinError

	stopped atomic.Pointer[StoppedError]
	// classLabels are the residency labels of the settings (the labels a
	// data class is read from), for the cross-asset index.
	classLabels []string
	// cancel is the evaluator's cancellation for the context evaluations
	// run under (a scan's): made once per context, not once per asset.
	cancel atomic.Pointer[ctxCancel]
}

type ctxCancel struct {
	ctx    context.Context
	cancel topdown.Cancel
}

// cancelFor returns a topdown.Cancel that is cancelled when ctx ends.
func (e *Engine) cancelFor(ctx context.Context) topdown.Cancel {
	if c := e.cancel.Load(); c != nil && c.ctx == ctx {
		return c.cancel
	}
	c := &ctxCancel{ctx: ctx, cancel: topdown.NewCancel()}
	// Registered until ctx ends (never, for context.Background, which
	// then costs nothing).
	context.AfterFunc(ctx, c.cancel.Cancel)
	e.cancel.Store(c)
	return c.cancel
}

// BuiltinError summarizes the builtin errors raised at one place of a policy.
type BuiltinError struct {
	Location string `json:"location"`
	Message  string `json:"message"` // the first one
	Count    int    `json:"count"`
	Asset    string `json:"asset"` // the first asset that raised it
}

// Capabilities are OPA's, minus builtins that reach the network or the host:
// a policy judges an inventory, it never calls out.
func Capabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	banned := map[string]bool{
		"http.send": true, "net.lookup_ip_addr": true, "opa.runtime": true,
		"trace": false,
	}
	kept := caps.Builtins[:0]
	for _, b := range caps.Builtins {
		if !banned[b.Name] {
			kept = append(kept, b)
		}
	}
	caps.Builtins = kept
	return caps
}

// Load reads, validates and compiles the policies.
func Load(ctx context.Context, opts Options) (*Engine, error) {
	e := &Engine{byID: map[string]*Policy{}, sources: map[string]string{}, builtinErrs: map[string]*BuiltinError{}}
	var errs Errors
	modules := map[string]*ast.Module{}
	add := func(name, src string, builtin bool) {
		e.sources[name] = src
		if strings.HasSuffix(name, "_test.rego") {
			return
		}
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{ProcessAnnotation: true, RegoVersion: ast.RegoV1})
		if err != nil {
			errs = append(errs, regoErrors(err)...)
			return
		}
		modules[name] = m
		if !strings.HasPrefix(m.Package.Path.String(), "data."+PolicyPrefix) {
			return
		}
		p, err := metadataFromModule(name, m)
		if err != nil {
			errs = append(errs, err)
			return
		}
		p.Builtin = builtin
		if prev, dup := e.byID[p.ID]; dup {
			errs = append(errs, &Error{File: name, Line: p.Line, Message: fmt.Sprintf("policy id %s is already used by %s:%d", p.ID, prev.File, prev.Line)})
			return
		}
		e.byID[p.ID] = p
		e.policies = append(e.policies, p)
	}
	files, err := collectSources(opts)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		add(f.name, f.src, f.builtin)
	}
	if len(opts.Libraries) > 0 {
		if err := e.loadLibraries(opts.Libraries, modules); err != nil {
			if more, ok := err.(Errors); ok {
				errs = append(errs, more...)
			} else {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if len(opts.Only) > 0 {
		keep, err := selectPolicies(e.policies, opts.Only)
		if err != nil {
			return nil, err
		}
		e.policies = keep
	}

	e.compiler = ast.NewCompiler().WithCapabilities(Capabilities())
	e.compiler.Compile(modules)
	if e.compiler.Failed() {
		return nil, regoErrors(e.compiler.Errors)
	}
	analyze(e.compiler, e.policies)
	sort.Slice(e.policies, func(i, j int) bool { return e.policies[i].ID < e.policies[j].ID })
	if err := e.prepareConstraints(); err != nil {
		return nil, err
	}
	for _, p := range e.policies {
		if p.constraint != nil {
			e.constraints = append(e.constraints, p)
		}
	}

	cfg := opts.Config
	if cfg == nil {
		cfg = map[string]any{}
	}
	e.classLabels = classLabels(cfg)
	// The store keeps Rego values: policies read the settings and the
	// cross-asset index for every asset, and converting them from Go values
	// on each read would cost more than the evaluation.
	e.store = inmem.NewFromObjectWithOpts(map[string]any{
		"vigil": map[string]any{"config": cfg, "inventory": emptyInventory(), "clock": clockData(opts.Now)},
	}, inmem.OptReturnASTValuesOnRead(true))
	if err := e.readBase(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// readBase takes the base documents from the store for the guards.
func (e *Engine) readBase(ctx context.Context) error {
	v, err := storage.ReadOne(ctx, e.store, storage.Path{})
	if err != nil {
		return fmt.Errorf("read policy data: %w", err)
	}
	base, ok := v.(ast.Value)
	if !ok {
		if base, err = ast.InterfaceToValue(v); err != nil {
			return fmt.Errorf("read policy data: %w", err)
		}
	}
	e.base.Store(&base)
	return nil
}

// ClassLabels are the labels data classes are read from (the residency
// blocks' label), sorted: the cross-asset index records which networks
// hold an instance carrying one (VGL-NET-008).
func (e *Engine) ClassLabels() []string { return e.classLabels }

func classLabels(cfg map[string]any) []string {
	res, _ := cfg["residency"].(map[string]any)
	seen := map[string]bool{}
	var out []string
	for _, r := range res {
		m, _ := r.(map[string]any)
		if l, ok := m["label"].(string); ok && l != "" && !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

func emptyInventory() map[string]any {
	return map[string]any{"scopes": map[string]any{}, "nodes": map[string]any{}}
}

type sourceFile struct {
	name, src string
	builtin   bool
}

// collectSources reads every .rego file of the built-in library and of the
// user's directories, tests included.
func collectSources(opts Options) ([]sourceFile, error) {
	var out []sourceFile
	if opts.Builtins != nil {
		err := fs.WalkDir(opts.Builtins, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rego") {
				return err
			}
			src, err := fs.ReadFile(opts.Builtins, p)
			if err != nil {
				return err
			}
			out = append(out, sourceFile{name: BuiltinPrefix + p, src: string(src), builtin: true})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read built-in policies: %w", err)
		}
	}
	for _, dir := range opts.Dirs {
		files, err := regoFiles(dir)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("read policies: %s has no .rego files", dir)
		}
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("read policies: %w", err)
			}
			out = append(out, sourceFile{name: f, src: string(src)})
		}
	}
	return out, nil
}

// regoFiles lists .rego files under a directory, or the file itself.
func regoFiles(dir string) ([]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}
	if !st.IsDir() {
		return []string{dir}, nil
	}
	var out []string
	root := dir
	if lst, err := os.Lstat(dir); err == nil && lst.Mode()&fs.ModeSymlink != 0 {
		// a symlinked directory: WalkDir does not follow its root
		root = dir + string(filepath.Separator)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".rego") {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// regoErrors turns OPA's parse and compile errors into Errors with file and
// line.
func regoErrors(err error) Errors {
	var asts ast.Errors
	if errors.As(err, &asts) {
		out := make(Errors, 0, len(asts))
		for _, ae := range asts {
			e := &Error{Message: ae.Message}
			if ae.Location != nil {
				e.File, e.Line = ae.Location.File, ae.Location.Row
			}
			out = append(out, e)
		}
		return out
	}
	return Errors{err}
}

// Warnings are problems found while loading that do not stop a scan.
func (e *Engine) Warnings() []string { return e.warnings }

// Policies returns the loaded policies ordered by id.
func (e *Engine) Policies() []*Policy { return e.policies }

// Policy returns a policy by id, or nil.
func (e *Engine) Policy(id string) *Policy { return e.byID[id] }

// Deferred reports whether assets of the kind must wait until the whole
// inventory has been read, because a policy that judges them looks across
// assets (data.vigil.inventory).
func (e *Engine) Deferred(kind string) bool {
	for _, p := range e.policies {
		if p.usesInventory && p.Matches(kind) {
			return true
		}
	}
	return false
}

// ReadsData reports whether a policy that judges the kind reads the
// native payload (input.asset.data); when none does, callers holding
// assets of the kind need not keep it.
func (e *Engine) ReadsData(kind string) bool {
	for _, p := range e.policies {
		if p.readsData && p.Matches(kind) {
			return true
		}
	}
	return false
}

// SetInventory replaces data.vigil.inventory, the cross-asset index, and
// returns the index's size as JSON. Call it only while no evaluation runs.
//
// It empties index and the maps directly under it (its sections) as it
// converts them, so that the caller's copy is given back while the
// engine's grows; the maps deeper down are only read. Pass a document
// built for the call (scan.Index.Data builds one).
func (e *Engine) SetInventory(ctx context.Context, index map[string]any) (int64, error) {
	v, size, err := dataValue(index, true)
	if err != nil {
		return 0, err
	}
	if err := storage.WriteOne(ctx, e.store, storage.ReplaceOp, storage.MustParsePath("/vigil/inventory"), v); err != nil {
		return 0, err
	}
	return size, e.readBase(ctx)
}

// analyze works out, for every policy, whether it (or any rule it calls)
// reads data.vigil.inventory or the native payload input.asset.data. It
// follows the compiler's rule dependency graph, so a policy that calls one
// helper of vigil.lib is not charged with what other helpers read.
func analyze(c *ast.Compiler, policies []*Policy) {
	inventoryRef := ast.MustParseRef("data.vigil.inventory")
	dataRef := ast.MustParseRef("input.asset.data")
	type facts struct{ inventory, data bool }
	memo := map[*ast.Rule]facts{}
	ruleFacts := func(r *ast.Rule) facts {
		if f, ok := memo[r]; ok {
			return f
		}
		var f facts
		ast.WalkRefs(r, func(ref ast.Ref) bool {
			switch {
			case ref.HasPrefix(ast.DefaultRootRef):
				if ref.HasPrefix(inventoryRef) || inventoryRef.HasPrefix(ref.ConstantPrefix()) {
					f.inventory = true
				}
			case ref.HasPrefix(ast.InputRootRef):
				// input, input.asset and input.asset[x] may reach data;
				// input.asset.facets does not.
				if len(ref) < 3 || ref.HasPrefix(dataRef) {
					f.data = true
				} else if _, ok := ref[2].Value.(ast.String); !ok {
					f.data = true
				}
			}
			return false
		})
		memo[r] = f
		return f
	}
	for _, p := range policies {
		var queue []*ast.Rule
		for _, m := range c.Modules {
			if strings.TrimPrefix(m.Package.Path.String(), "data.") == p.Package {
				queue = append(queue, m.Rules...)
			}
		}
		seen := map[*ast.Rule]bool{}
		for len(queue) > 0 {
			r := queue[0]
			queue = queue[1:]
			if seen[r] {
				continue
			}
			seen[r] = true
			f := ruleFacts(r)
			p.usesInventory = p.usesInventory || f.inventory
			p.readsData = p.readsData || f.data
			for dep := range c.Graph.Dependencies(r) {
				if dr, ok := dep.(*ast.Rule); ok {
					queue = append(queue, dr)
				}
			}
		}
	}
}

// kindQuery evaluates every policy that reads one kind, in one query.
type kindQuery struct {
	// The query, compiled against compiler: the policies' modules and,
	// after partial evaluation, its support modules.
	compiler *ast.Compiler
	body     ast.Body
	shape    inputShape
	policies []*Policy
	vars     []queryVar
	withData bool
	// guards skip the policies that cannot judge an asset (see guard.go);
	// nil for queries not partially evaluated.
	guards *queryGuards
}

type queryVar struct {
	name   string
	policy *Policy
	level  string
}

// Part selects the policies of a kind that an evaluation runs.
type Part int

const (
	// All policies that judge the kind.
	All Part = iota
	// Streamed: those that judge an asset on its own, which a scan runs as
	// the asset is read.
	Streamed
	// CrossAsset: those that read data.vigil.inventory, which a scan runs
	// once the whole inventory has been read.
	CrossAsset
)

type queryKey struct {
	kind string
	part Part
}

// queryEntry is a query prepared once, by its first user; the others wait
// for it, while queries of other kinds go on being evaluated.
type queryEntry struct {
	once sync.Once
	q    *kindQuery
	err  error
}

// queryFor returns the prepared query for a kind, preparing it on first use.
func (e *Engine) queryFor(ctx context.Context, kind string, part Part) (*kindQuery, error) {
	key := queryKey{kind, part}
	for {
		v, ok := e.queries.Load(key)
		if !ok {
			v, _ = e.queries.LoadOrStore(key, &queryEntry{})
		}
		qe := v.(*queryEntry)
		// Preparation evaluates what it can of the policies, which may
		// take as long as a policy does: the caller's context stops it.
		// A failure is not kept, so that a later call tries again, and a
		// caller whose context is alive retries one that another's
		// context stopped.
		qe.once.Do(func() { qe.q, qe.err = e.prepareFor(ctx, kind, part) })
		if qe.err == nil {
			return qe.q, nil
		}
		e.queries.CompareAndDelete(key, qe)
		if !topdown.IsCancel(qe.err) || ctx.Err() != nil {
			return nil, qe.err
		}
	}
}

// policiesFor lists the policies that judge a part of a kind.
func (e *Engine) policiesFor(kind string, part Part) []*Policy {
	var ps []*Policy
	for _, p := range e.policies {
		if !p.Matches(kind) || (part == Streamed && p.usesInventory) || (part == CrossAsset && !p.usesInventory) {
			continue
		}
		ps = append(ps, p)
	}
	return ps
}

// Prepare readies the query of a kind's policies ahead of its first use.
func (e *Engine) Prepare(ctx context.Context, kind string, part Part) error {
	_, err := e.queryFor(ctx, kind, part)
	return err
}

func (e *Engine) prepareFor(ctx context.Context, kind string, part Part) (*kindQuery, error) {
	ps := e.policiesFor(kind, part)
	if len(ps) == 0 {
		return nil, nil
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	// Kinds judged by the same policies (most by the "*" ones alone) share
	// one prepared query: preparing costs milliseconds.
	key := strings.Join(ids, ",")
	for {
		v, _ := e.bySet.LoadOrStore(key, &queryEntry{})
		qe := v.(*queryEntry)
		qe.once.Do(func() { qe.q, qe.err = e.prepare(ctx, ps) })
		if qe.err == nil {
			return qe.q, nil
		}
		e.bySet.CompareAndDelete(key, qe)
		if !topdown.IsCancel(qe.err) || ctx.Err() != nil {
			return nil, qe.err
		}
	}
}

// partialUnknowns are what partial evaluation leaves open: the asset, and
// the cross-asset index, which is filled in per scan.
var partialUnknowns = []*ast.Term{ast.MustParseTerm("input"), ast.MustParseTerm("data.vigil.inventory")}

func (e *Engine) prepare(ctx context.Context, ps []*Policy) (*kindQuery, error) {
	q := &kindQuery{policies: ps}
	var exprs []string
	for i, p := range ps {
		if p.hasDeny {
			v := fmt.Sprintf("d%d", i)
			exprs = append(exprs, fmt.Sprintf("%s = data.%s.deny", v, p.Package))
			q.vars = append(q.vars, queryVar{name: v, policy: p, level: "deny"})
		}
		if p.hasWarn {
			v := fmt.Sprintf("w%d", i)
			exprs = append(exprs, fmt.Sprintf("%s = data.%s.warn", v, p.Package))
			q.vars = append(q.vars, queryVar{name: v, policy: p, level: "warn"})
		}
		q.withData = q.withData || p.readsData
	}
	body, err := ast.ParseBody(strings.Join(exprs, "; "))
	if err != nil {
		return nil, fmt.Errorf("build query: %w", err)
	}
	// The policies are partially evaluated once, with the organization
	// settings known and the asset and the cross-asset index unknown:
	// settings lookups and the rules they decide are done here, not per
	// asset. Should that fail or not give one query, the policies are
	// evaluated as written.
	c, query, shape, err := e.partial(ctx, body)
	if err != nil {
		return nil, err
	}
	if c != nil {
		q.compiler, q.body, q.shape = c, query, shape
		q.guards = newGuards(q, e.keepGuards)
		return q, nil
	}
	compiled, err := e.compiler.QueryCompiler().Compile(body)
	if err != nil {
		return nil, fmt.Errorf("prepare policies: %w", err)
	}
	q.compiler, q.body, q.shape = e.compiler, compiled, fullShape
	return q, nil
}

// withDependencies adds to the support modules of a partial evaluation
// the policy modules they refer to, and theirs in turn: compiling those
// alone, not every module loaded, makes preparing a query a fraction of a
// millisecond instead of several.
func (e *Engine) withDependencies(support map[string]*ast.Module) map[string]*ast.Module {
	out := make(map[string]*ast.Module, len(support))
	queue := make([]*ast.Module, 0, len(support))
	for name, m := range support {
		out[name] = m
		queue = append(queue, m)
	}
	added := map[string]bool{}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		ast.WalkRefs(m, func(r ast.Ref) bool {
			if !r.HasPrefix(ast.DefaultRootRef) {
				return false
			}
			ground := r.GroundPrefix()
			for name, dep := range e.compiler.Modules {
				if added[name] {
					continue
				}
				pkg := dep.Package.Path
				if ground.HasPrefix(pkg) || pkg.HasPrefix(ground) {
					added[name] = true
					out[name] = dep
					queue = append(queue, dep)
				}
			}
			return false
		})
	}
	return out
}

// conflictable lists the complete rules defined more than once. Inlined
// by partial evaluation, two definitions that disagree for some asset
// would no longer fail ("complete rules must not produce multiple
// outputs"); kept as references, they fail as written.
func (e *Engine) conflictable() []string {
	seen := map[string]int{}
	for _, m := range e.compiler.Modules {
		for _, r := range m.Rules {
			if r.Head.RuleKind() == ast.SingleValue && len(r.Head.Args) == 0 && !r.Default {
				seen[r.Path().String()]++
			}
		}
	}
	var out []string
	for ref, n := range seen {
		if n > 1 {
			out = append(out, ref)
		}
	}
	sort.Strings(out)
	return out
}

// partial evaluates the policies of a query with the asset unknown. The
// compiler is nil when that does not work out (the policies are then run
// as written); the error is set only when ctx stopped it.
func (e *Engine) partial(ctx context.Context, body ast.Body) (*ast.Compiler, ast.Body, inputShape, error) {
	none, noShape := ast.Body(nil), inputShape{}
	res, err := rego.New(rego.ParsedQuery(body), rego.Compiler(e.compiler), rego.Store(e.store),
		rego.ParsedUnknowns(partialUnknowns), rego.DisableInlining(e.conflictable()),
		rego.StrictBuiltinErrors(false), rego.StackTraces(true)).Partial(ctx)
	if err != nil && topdown.IsCancel(err) {
		return nil, none, noShape, err
	}
	if err != nil || len(res.Queries) != 1 {
		return nil, none, noShape, nil
	}
	modules := make(map[string]*ast.Module, len(res.Support))
	for i, m := range res.Support {
		// Terms that partial evaluation rebuilt have no location; give
		// them their expression's, so that errors still name file and line.
		for _, r := range m.Rules {
			for _, expr := range r.Body {
				ast.WalkTerms(expr, func(t *ast.Term) bool {
					if t.Location == nil {
						t.Location = expr.Location
					}
					return false
				})
			}
		}
		modules[fmt.Sprintf("__vigil_partial_%d__", i)] = m
	}
	c := ast.NewCompiler().WithCapabilities(Capabilities())
	if c.Compile(e.withDependencies(modules)); c.Failed() {
		return nil, none, noShape, nil
	}
	query, err := c.QueryCompiler().Compile(res.Queries[0])
	if err != nil {
		return nil, none, noShape, nil
	}
	shape := fullShape
	if !e.fullInput {
		shape = shapeOf(c, query)
	}
	return c, query, shape, nil
}

// Result is one deny or warn result of a policy for an asset, before it is
// turned into a Finding.
type Result struct {
	Policy  *Policy
	Level   string
	Message string
	Details map[string]any
}

// Evaluate judges one asset against every policy that reads its kind.
func (e *Engine) Evaluate(ctx context.Context, a *asset.Asset) ([]Finding, error) {
	return e.EvaluatePart(ctx, a, All)
}

// EvaluatePart judges one asset against a part of the policies that read
// its kind (see Part).
func (e *Engine) EvaluatePart(ctx context.Context, a *asset.Asset, part Part) ([]Finding, error) {
	out, err := e.evaluateKind(ctx, a, part)
	if err != nil || part == CrossAsset || len(e.constraints) == 0 {
		return out, err
	}
	more, err := e.evaluateConstraints(ctx, a)
	if err != nil {
		return nil, err
	}
	return append(out, more...), nil
}

// evaluateKind runs vigil's policies of the asset's kind.
func (e *Engine) evaluateKind(ctx context.Context, a *asset.Asset, part Part) ([]Finding, error) {
	q, err := e.queryFor(ctx, a.Kind, part)
	if err != nil {
		if stopped := cancelled(ctx, e.policiesFor(a.Kind, part), a, err); stopped != nil {
			return nil, e.noteStopped(stopped)
		}
		return nil, err
	}
	if q == nil {
		return nil, nil
	}
	input, err := inputValue(a, q.withData, q.shape)
	if err != nil {
		return nil, fmt.Errorf("asset %s: %w", a.ID, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", a.ID, context.Cause(ctx))
	}
	run := q
	if q.guards != nil && !e.noGuards {
		mask := q.guards.needed(input, *e.base.Load())
		if mask == 0 {
			return nil, nil
		}
		if mask != q.guards.all {
			if run, err = q.guards.subset(q, mask); err != nil {
				return nil, err
			}
		}
	}
	result, err := e.run(ctx, run, a, input)
	if err != nil {
		if stopped := cancelled(ctx, q.policies, a, err); stopped != nil {
			return nil, e.noteStopped(stopped)
		}
		full, ferr := InputValue(a, q.withData) // policies are run as written
		if ferr != nil {
			return nil, fmt.Errorf("asset %s: %w", a.ID, ferr)
		}
		return nil, e.attribute(ctx, q, a, full, err)
	}
	if result == nil {
		return nil, nil
	}
	var out []Finding
	for _, v := range q.vars {
		results, err := decodeResultTerm(result[ast.Var(v.name)])
		if err != nil {
			return nil, fmt.Errorf("policy %s (%s) on %s: %w", v.policy.ID, v.policy.File, a.ID, err)
		}
		for _, r := range results {
			out = append(out, NewFinding(v.policy, v.level, r.Message, r.Details, a))
		}
	}
	return out, nil
}

// run evaluates a prepared query with an input. Per asset, the evaluation
// is a few microseconds: what the rego package does around it (a
// goroutine watching ctx, metric timers, every binding converted to Go
// values) costs as much, so the query runs on topdown directly, without
// metrics (topdown would make a fresh set of timers for every asset), and
// results stay Rego terms until a set turns out not to be empty.
//
// The context reaches the evaluator: when it ends, topdown stops at its
// next expression, so a policy that would run for hours stops within
// moments of a timeout or a signal. Stack traces are kept so that the
// error can say which policy was running; they cost nothing until an
// error is raised. Each query has its own virtual cache: a rule or a
// function called again with the same arguments within one asset's
// evaluation (reach.open_ports for each vulnerability of a report) is
// evaluated once; at 100k this cut a tenth of a scan's CPU time.
func (e *Engine) run(ctx context.Context, q *kindQuery, a *asset.Asset, input ast.Value) (topdown.QueryResult, error) {
	var berrs []topdown.Error
	var result topdown.QueryResult
	txn, err := e.store.NewTransaction(ctx)
	if err != nil {
		return nil, err
	}
	err = topdown.NewQuery(q.body).
		WithCompiler(q.compiler).
		WithStore(e.store).
		WithTransaction(txn).
		WithInput(ast.NewTerm(input)).
		WithStrictBuiltinErrors(false).
		WithBuiltinErrorList(&berrs).
		WithCancel(e.cancelFor(ctx)).
		WithStackTraces(true).
		WithIndexing(true).
		WithEarlyExit(true).
		WithVirtualCache(topdown.NewVirtualCache()).
		WithMetrics(metrics.NoOp()).
		Iter(ctx, func(qr topdown.QueryResult) error {
			result = qr
			return nil
		})
	e.store.Abort(ctx, txn)
	if err != nil {
		return nil, err
	}
	if len(berrs) > 0 {
		e.noteBuiltinErrors(a, berrs)
	}
	return result, nil
}

func (e *Engine) noteBuiltinErrors(a *asset.Asset, errs []topdown.Error) {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	for _, be := range errs {
		loc := "policy"
		if be.Location != nil {
			loc = fmt.Sprintf("%s:%d", be.Location.File, be.Location.Row)
		}
		if x, ok := e.builtinErrs[loc]; ok {
			x.Count++
			continue
		}
		e.builtinErrs[loc] = &BuiltinError{Location: loc, Message: be.Message, Count: 1, Asset: a.ID}
	}
}

// BuiltinErrors returns the builtin errors seen so far, by location.
func (e *Engine) BuiltinErrors() []BuiltinError {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	out := make([]BuiltinError, 0, len(e.builtinErrs))
	for _, x := range e.builtinErrs {
		out = append(out, *x)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Location < out[j].Location })
	return out
}

// attribute finds which policy failed on an asset, so the error can name it.
func (e *Engine) attribute(ctx context.Context, q *kindQuery, a *asset.Asset, input ast.Value, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("evaluate %s: %w", a.ID, context.Cause(ctx))
	}
	for _, v := range q.vars {
		_, perr := rego.New(
			rego.Query(fmt.Sprintf("data.%s.%s", v.policy.Package, v.level)),
			rego.Compiler(e.compiler), rego.Store(e.store),
			rego.ParsedInput(input),
		).Eval(ctx)
		if perr != nil {
			return fmt.Errorf("policy %s (%s) on %s: %w", v.policy.ID, v.policy.File, a.ID, perr)
		}
	}
	return fmt.Errorf("evaluate %s: %w", a.ID, err)
}

// decodeResultTerm reads a deny/warn set, nil when undefined.
func decodeResultTerm(t *ast.Term) ([]rawResult, error) {
	if t == nil {
		return nil, nil
	}
	set, ok := t.Value.(ast.Set)
	if !ok {
		return nil, fmt.Errorf("deny/warn must be a set, got %v", t)
	}
	if set.Len() == 0 {
		return nil, nil
	}
	x, err := ast.JSON(set)
	if err != nil {
		return nil, err
	}
	return decodeResults(x)
}

type rawResult struct {
	Message string
	Details json.RawMessage
}

// decodeResults reads a deny/warn set: each element is {"msg", "details"} or
// a plain string.
func decodeResults(v any) ([]rawResult, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("deny/warn must be a set, got %T", v)
	}
	out := make([]rawResult, 0, len(list))
	for _, x := range list {
		switch r := x.(type) {
		case string:
			out = append(out, rawResult{Message: r})
		case map[string]any:
			msg, _ := r["msg"].(string)
			if msg == "" {
				return nil, fmt.Errorf("result %v has no \"msg\" string", r)
			}
			var details json.RawMessage
			if d, _ := r["details"].(map[string]any); len(d) > 0 {
				b, err := json.Marshal(d)
				if err != nil {
					return nil, fmt.Errorf("result details %v: %w", d, err)
				}
				details = b
			}
			out = append(out, rawResult{Message: msg, Details: details})
		default:
			return nil, fmt.Errorf("result %v is neither a string nor {\"msg\": ...}", x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Message < out[j].Message })
	return out, nil
}

// Sources returns the raw policy sources (tests included) by file name.
func (e *Engine) Sources() map[string]string { return e.sources }
