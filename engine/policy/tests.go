package policy

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestResult is the outcome of one Rego test rule.
type TestResult struct {
	Package  string        `json:"package"`
	Name     string        `json:"name"`
	File     string        `json:"file"`
	Line     int           `json:"line"`
	Pass     bool          `json:"pass"`
	Skip     bool          `json:"skip,omitempty"`
	Error    string        `json:"error,omitempty"`
	Output   string        `json:"output,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// RunTests runs the test_ rules of the built-in library and of the given
// directories, with data.vigil.config set from opts.Config and an empty
// data.vigil.inventory (tests override both with `with`). filter, if set, is
// a regular expression on test names.
func RunTests(ctx context.Context, opts Options, filter string) ([]TestResult, error) {
	files, err := collectSources(opts)
	if err != nil {
		return nil, err
	}
	modules := map[string]*ast.Module{}
	var errs Errors
	for _, f := range files {
		m, err := ast.ParseModuleWithOpts(f.name, f.src, ast.ParserOptions{ProcessAnnotation: true, RegoVersion: ast.RegoV1})
		if err != nil {
			errs = append(errs, regoErrors(err)...)
			continue
		}
		modules[f.name] = m
	}
	if len(errs) > 0 {
		return nil, errs
	}
	cfg := opts.Config
	if cfg == nil {
		cfg = map[string]any{}
	}
	store := inmem.NewFromObject(map[string]any{"vigil": map[string]any{"config": cfg, "inventory": emptyInventory(), "clock": clockData(opts.Now)}})
	runner := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithCapabilities(Capabilities())).
		SetStore(store).
		SetModules(modules).
		CapturePrintOutput(true).
		SetTimeout(30 * time.Second)
	if filter != "" {
		runner = runner.Filter(filter)
	}
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return nil, regoErrors(err)
	}
	var out []TestResult
	for r := range ch {
		tr := TestResult{Package: strings.TrimPrefix(r.Package, "data."), Name: r.Name, Pass: r.Pass(), Skip: r.Skip, Duration: r.Duration, Output: string(r.Output)}
		if r.Location != nil {
			tr.File, tr.Line = r.Location.File, r.Location.Row
		}
		if r.Error != nil {
			tr.Error = r.Error.Error()
		}
		out = append(out, tr)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Line < out[j].Line
	})
	return out, nil
}
