package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/library"
)

// constraintEval is how a Config Validator constraint is judged: its
// template's deny rule, with input.constraint set to the constraint.
type constraintEval struct {
	c     *library.Constraint
	value ast.Value // the constraint, as input.constraint
	query *kindQuery
}

// loadLibraries adds the templates and library helpers of policy
// libraries to the modules to compile, and one policy per constraint.
func (e *Engine) loadLibraries(dirs []string, modules map[string]*ast.Module) error {
	lib, err := library.Load(dirs...)
	if err != nil {
		if es, ok := err.(library.Errors); ok {
			var out Errors
			for _, x := range es {
				out = append(out, libError(x))
			}
			return out
		}
		return libError(err)
	}
	e.warnings = append(e.warnings, lib.Warnings...)
	var errs Errors
	parse := func(file, key string, line int, src string) *ast.Module {
		// Rows of the Rego are made the rows of the YAML it sits in.
		padded := strings.Repeat("\n", max(line-1, 0)) + src
		m, err := parseAnyVersion(file, padded)
		if err != nil {
			errs = append(errs, regoErrors(err)...)
			return nil
		}
		modules[key] = m
		return m
	}
	for name, src := range lib.Lib {
		parse(name, name, 1, src)
	}
	for _, t := range lib.Templates {
		m := parse(t.File, t.File+"#"+t.Kind, t.RegoLine, t.Rego)
		if m == nil {
			continue
		}
		if got := strings.TrimPrefix(m.Package.Path.String(), "data."); got != t.Package() {
			errs = append(errs, &Error{File: t.File, Line: m.Package.Location.Row, Message: fmt.Sprintf("template %s declares package %s; Config Validator requires package %s", t.Kind, got, t.Package())})
		}
		for i, src := range t.Libs {
			parse(t.File, fmt.Sprintf("%s#%s.lib%d", t.File, t.Kind, i), t.RegoLine, src)
		}
	}
	for _, c := range lib.Constraints {
		v, err := ast.InterfaceToValue(c.Object)
		if err != nil {
			errs = append(errs, &Error{File: c.File, Line: c.Line, Message: err.Error()})
			continue
		}
		t := lib.Templates[c.Kind]
		title := c.Description
		if title == "" {
			title = fmt.Sprintf("%s constraint %s", c.Kind, c.Name)
		}
		p := &Policy{
			ID: c.ID, Title: title, Severity: c.Severity, Phase: "preparation",
			Package: t.Package(), File: c.File, Line: c.Line, Library: c.Dir,
			constraint: &constraintEval{c: c, value: v},
		}
		if prev, dup := e.byID[p.ID]; dup {
			errs = append(errs, &Error{File: c.File, Line: c.Line, Message: fmt.Sprintf("constraint id %s is already used by %s:%d", p.ID, prev.File, prev.Line)})
			continue
		}
		e.byID[p.ID] = p
		e.policies = append(e.policies, p)
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func libError(err error) error {
	if le, ok := err.(*library.Error); ok {
		return &Error{File: le.File, Line: le.Line, Message: le.Message}
	}
	return err
}

// parseAnyVersion parses a module written for OPA before 1.0 (the
// policy-library's templates are) or after.
func parseAnyVersion(file, src string) (*ast.Module, error) {
	m, err := ast.ParseModuleWithOpts(file, src, ast.ParserOptions{RegoVersion: ast.RegoV0})
	if err == nil {
		return m, nil
	}
	if m1, err1 := ast.ParseModuleWithOpts(file, src, ast.ParserOptions{RegoVersion: ast.RegoV1}); err1 == nil {
		return m1, nil
	}
	return nil, err
}

// prepareConstraints compiles the query of each constraint's template.
func (e *Engine) prepareConstraints() error {
	byKind := map[string]*kindQuery{}
	for _, p := range e.policies {
		ce := p.constraint
		if ce == nil {
			continue
		}
		if q, ok := byKind[p.Package]; ok {
			ce.query = q
			continue
		}
		body, err := ast.ParseBody("d0 = data." + p.Package + ".deny")
		if err != nil {
			return err
		}
		compiled, err := e.compiler.QueryCompiler().Compile(body)
		if err != nil {
			return &Error{File: p.File, Line: p.Line, Message: fmt.Sprintf("template %s: %v", p.Package, err)}
		}
		q := &kindQuery{compiler: e.compiler, body: compiled, shape: fullShape, vars: []queryVar{{name: "d0", level: "deny"}}}
		byKind[p.Package] = q
		ce.query = q
	}
	return nil
}

// evaluateConstraints judges a GCP asset, in its Cloud Asset Inventory
// shape, with every constraint whose match covers its ancestry.
func (e *Engine) evaluateConstraints(ctx context.Context, a *asset.Asset) ([]Finding, error) {
	if len(e.constraints) == 0 || a.Provider != asset.GCP {
		return nil, nil
	}
	rec, ok := CAIDocument(a)
	if !ok {
		return nil, nil
	}
	path, _ := rec["ancestry_path"].(string)
	paths := []string{path}
	if alt := library.WithProjectID(path, a.Scope); alt != "" && !strings.Contains(a.Scope, "/") {
		paths = append(paths, alt)
	}
	var assetValue ast.Value
	var out []Finding
	for _, p := range e.constraints {
		ce := p.constraint
		if !ce.c.Match.Matches(paths...) {
			continue
		}
		if assetValue == nil {
			v, err := ast.InterfaceToValue(rec)
			if err != nil {
				return nil, fmt.Errorf("asset %s: %w", a.ID, err)
			}
			assetValue = v
		}
		input := ast.NewObject(ast.Item(kAsset, ast.NewTerm(assetValue)), ast.Item(ast.StringTerm("constraint"), ast.NewTerm(ce.value)))
		result, err := e.run(ctx, ce.query, a, input)
		if se, ok := cancelled(ctx, nil, a, err).(*StoppedError); ok {
			se.Policy, se.Running = p, []string{p.ID}
			return nil, e.noteStopped(se)
		}
		if err != nil {
			return nil, fmt.Errorf("constraint %s (%s) on %s: %w", p.ID, p.File, a.ID, err)
		}
		results, err := decodeResultTerm(result[ast.Var("d0")])
		if err != nil {
			return nil, fmt.Errorf("constraint %s (%s) on %s: %w", p.ID, p.File, a.ID, err)
		}
		for _, r := range results {
			out = append(out, NewFinding(p, "deny", r.Message, r.Details, a))
		}
	}
	return out, nil
}

// caiKeys are the camelCase names of CAI record fields (the API's and
// `gcloud asset list`'s) Config Validator reads in snake_case.
var caiKeys = map[string]string{
	"assetType": "asset_type", "iamPolicy": "iam_policy", "orgPolicy": "org_policy",
	"accessPolicy": "access_policy", "osInventory": "os_inventory", "updateTime": "update_time",
	"servicePerimeter": "service_perimeter", "accessLevel": "access_level",
}

var caiResourceKeys = map[string]string{
	"discoveryDocumentUri": "discovery_document_uri", "discoveryName": "discovery_name", "resourceUrl": "resource_url",
}

// CAIDocument is an asset as Config Validator templates read it
// (input.asset): the Cloud Asset Inventory record in snake_case, with its
// ancestors and ancestry_path. Assets read from Terraform plans are
// converted (see inventory.PlanCAI). ok is false for assets that have no
// CAI record.
func CAIDocument(a *asset.Asset) (map[string]any, bool) {
	var rec map[string]any
	if a.Source == asset.SourceTerraformPlan {
		r, ok := inventory.PlanCAI(a)
		if !ok {
			return nil, false
		}
		rec = r
	} else {
		if len(a.Data) == 0 || json.Unmarshal(a.Data, &rec) != nil {
			return nil, false
		}
		for camel, snake := range caiKeys {
			if v, ok := rec[camel]; ok {
				if _, has := rec[snake]; !has {
					rec[snake] = v
				}
				delete(rec, camel)
			}
		}
		if res, ok := rec["resource"].(map[string]any); ok {
			for camel, snake := range caiResourceKeys {
				if v, ok := res[camel]; ok {
					if _, has := res[snake]; !has {
						res[snake] = v
					}
					delete(res, camel)
				}
			}
		}
		if _, ok := rec["asset_type"].(string); !ok {
			return nil, false // not a CAI record (a vigil asset of another origin)
		}
	}
	var ancestors []string
	if list, ok := rec["ancestors"].([]any); ok {
		for _, x := range list {
			if s, ok := x.(string); ok {
				ancestors = append(ancestors, s)
			}
		}
	}
	if len(ancestors) == 0 {
		ancestors = a.Facets.Ancestors
	}
	if len(ancestors) == 0 && a.Scope != "" && !strings.Contains(a.Scope, "/") {
		ancestors = []string{"projects/" + a.Scope}
	}
	if len(ancestors) > 0 {
		list := make([]any, len(ancestors))
		for i, s := range ancestors {
			list[i] = s
		}
		rec["ancestors"] = list
	}
	if _, ok := rec["ancestry_path"].(string); !ok {
		rec["ancestry_path"] = library.AncestryPath(ancestors)
	}
	return rec, true
}
