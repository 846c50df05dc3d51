package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
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
	// Only keeps just these policy ids (all when empty).
	Only []string
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

	mu      sync.Mutex
	queries map[string]*kindQuery

	// builtinErrs counts builtin errors (to_number("x"), ...) by policy
	// location: they make an expression undefined rather than stopping the
	// scan, but they are reported, never dropped silently.
	errMu       sync.Mutex
	builtinErrs map[string]*BuiltinError
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
	e := &Engine{byID: map[string]*Policy{}, sources: map[string]string{}, queries: map[string]*kindQuery{}, builtinErrs: map[string]*BuiltinError{}}
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
	if len(errs) > 0 {
		return nil, errs
	}
	if len(opts.Only) > 0 {
		keep := e.policies[:0]
		for _, p := range e.policies {
			if contains(opts.Only, p.ID) {
				keep = append(keep, p)
			}
		}
		for _, id := range opts.Only {
			if _, ok := e.byID[id]; !ok {
				return nil, fmt.Errorf("unknown policy id %s (see `vigil policy list`)", id)
			}
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

	cfg := opts.Config
	if cfg == nil {
		cfg = map[string]any{}
	}
	e.store = inmem.NewFromObject(map[string]any{
		"vigil": map[string]any{"config": cfg, "inventory": emptyInventory()},
	})
	return e, nil
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
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && strings.HasPrefix(d.Name(), ".") {
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

// SetInventory replaces data.vigil.inventory, the cross-asset index.
// Call it only while no evaluation runs.
func (e *Engine) SetInventory(ctx context.Context, index map[string]any) error {
	return storage.WriteOne(ctx, e.store, storage.ReplaceOp, storage.MustParsePath("/vigil/inventory"), index)
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
	pq       rego.PreparedEvalQuery
	policies []*Policy
	vars     []queryVar
	withData bool
}

type queryVar struct {
	name   string
	policy *Policy
	level  string
}

// queryFor returns the prepared query for a kind, preparing it on first use.
func (e *Engine) queryFor(ctx context.Context, kind string) (*kindQuery, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if q, ok := e.queries[kind]; ok {
		return q, nil
	}
	var ps []*Policy
	for _, p := range e.policies {
		if p.Matches(kind) {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		e.queries[kind] = nil
		return nil, nil
	}
	q, err := e.prepare(ctx, ps)
	if err != nil {
		return nil, err
	}
	e.queries[kind] = q
	return q, nil
}

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
	pq, err := rego.New(
		rego.ParsedQuery(body),
		rego.Compiler(e.compiler),
		rego.Store(e.store),
		rego.StrictBuiltinErrors(false),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare policies: %w", err)
	}
	q.pq = pq
	return q, nil
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
	q, err := e.queryFor(ctx, a.Kind)
	if err != nil || q == nil {
		return nil, err
	}
	input, err := InputValue(a, q.withData)
	if err != nil {
		return nil, fmt.Errorf("asset %s: %w", a.ID, err)
	}
	var berrs []topdown.Error
	rs, err := q.pq.Eval(ctx, rego.EvalParsedInput(input), rego.EvalBuiltinErrorList(&berrs))
	if err != nil {
		return nil, e.attribute(ctx, q, a, input, err)
	}
	if len(berrs) > 0 {
		e.noteBuiltinErrors(a, berrs)
	}
	if len(rs) == 0 {
		return nil, nil
	}
	var out []Finding
	for _, v := range q.vars {
		results, err := decodeResults(rs[0].Bindings[v.name])
		if err != nil {
			return nil, fmt.Errorf("policy %s (%s) on %s: %w", v.policy.ID, v.policy.File, a.ID, err)
		}
		for _, r := range results {
			out = append(out, NewFinding(v.policy, v.level, r.Message, r.Details, a))
		}
	}
	return out, nil
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

type rawResult struct {
	Message string
	Details map[string]any
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
			d, _ := r["details"].(map[string]any)
			out = append(out, rawResult{Message: msg, Details: d})
		default:
			return nil, fmt.Errorf("result %v is neither a string nor {\"msg\": ...}", x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Message < out[j].Message })
	return out, nil
}

// Sources returns the raw policy sources (tests included) by file name.
func (e *Engine) Sources() map[string]string { return e.sources }
