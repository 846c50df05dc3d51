package inventory

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// A bucket policy written as jsonencode({...}) or as JSON text that names
// the new bucket's ARN ("${aws_s3_bucket.b.arn}/*") is unknown as a whole
// until apply, although who it lets in is plain in the .tf source: the
// ARN is only its Resource. policyFromSource evaluates the expression with
// every reference unknown (root variables take their plan values), and
// judges the statements on what decides publicness: Effect, Principal,
// NotPrincipal and Condition. An unknown in any of those leaves the
// verdict unknown.

// unknownValue marks a part of a policy document known only after apply.
type unknownValue struct{}

// placeholder stands for an interpolation known only after apply in JSON
// text (valid inside a JSON string); a string holding it is unknown.
const placeholder = "vigil-known-after-apply-9f2c41"

// policyFromSource judges a policy argument from its expression in the
// .tf source; from names where the expression is.
func (m *tfMapper) policyFromSource(r *tfResource, key string) (tristate, string) {
	body := r.src.body(r.addr)
	if body == nil {
		return tUnknown, ""
	}
	content, _, _ := body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: key}}})
	if content == nil || content.Attributes[key] == nil {
		return tUnknown, ""
	}
	attr := content.Attributes[key]
	doc, ok := m.sourceDocument(r, attr.Expr)
	if !ok {
		return tUnknown, ""
	}
	return documentVerdict(doc), fmt.Sprintf("its .tf source, %s:%d", attr.Range.Filename, attr.Range.Start.Line)
}

// sourceDocument evaluates a policy expression into a JSON-like value with
// unknownValue where apply decides: jsonencode(object), or a string
// template of JSON text.
func (m *tfMapper) sourceDocument(r *tfResource, expr hcl.Expression) (any, bool) {
	ctx := m.evalContext(r, expr)
	switch e := expr.(type) {
	case *hclsyntax.FunctionCallExpr:
		if e.Name != "jsonencode" || len(e.Args) != 1 || e.ExpandFinal {
			return nil, false
		}
		v, _ := e.Args[0].Value(ctx) // errors leave their part unknown
		return ctyGo(v), true
	case *hclsyntax.TemplateExpr, *hclsyntax.TemplateWrapExpr, *hclsyntax.LiteralValueExpr:
		text, ok := templateText(expr, ctx)
		if !ok {
			return nil, false
		}
		var doc any
		if json.Unmarshal([]byte(text), &doc) != nil {
			return nil, false // the unknown parts are structure, not strings
		}
		return markPlaceholders(doc), true
	}
	return nil, false
}

// evalContext gives every root the expression references an unknown
// value, except root-module variables, which the plan records.
func (m *tfMapper) evalContext(r *tfResource, expr hcl.Expression) *hcl.EvalContext {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: policyFunctions}
	for _, t := range expr.Variables() {
		root := t.RootName()
		if _, done := ctx.Variables[root]; done {
			continue
		}
		ctx.Variables[root] = cty.DynamicVal
		if root == "var" && r.cfg != nil && r.cfg.module == "" && len(m.p.Variables) > 0 {
			vars := map[string]cty.Value{}
			for name, v := range m.p.Variables {
				vars[name] = jsonCty(v.Value)
			}
			ctx.Variables[root] = cty.ObjectVal(vars)
		}
	}
	return ctx
}

// policyFunctions are the functions a policy expression commonly calls;
// any other is an error, and its result unknown.
var policyFunctions = map[string]function.Function{
	"format": stdlib.FormatFunc, "join": stdlib.JoinFunc, "concat": stdlib.ConcatFunc,
	"lower": stdlib.LowerFunc, "upper": stdlib.UpperFunc, "jsonencode": stdlib.JSONEncodeFunc,
}

func jsonCty(raw json.RawMessage) cty.Value {
	t, err := ctyjson.ImpliedType(raw)
	if err != nil {
		return cty.DynamicVal
	}
	v, err := ctyjson.Unmarshal(raw, t)
	if err != nil {
		return cty.DynamicVal
	}
	return v
}

// templateText renders a string template, with placeholder for the parts
// known only after apply.
func templateText(expr hcl.Expression, ctx *hcl.EvalContext) (string, bool) {
	if w, ok := expr.(*hclsyntax.TemplateWrapExpr); ok {
		expr = w.Wrapped
	}
	if t, ok := expr.(*hclsyntax.TemplateExpr); ok {
		var b strings.Builder
		for _, part := range t.Parts {
			v, diags := part.Value(ctx)
			if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() || !v.Type().Equals(cty.String) {
				if !diags.HasErrors() && v.IsWhollyKnown() && !v.IsNull() && (v.Type().Equals(cty.Number) || v.Type().Equals(cty.Bool)) {
					b.WriteString(fmt.Sprint(ctyGo(v)))
					continue
				}
				b.WriteString(placeholder)
				continue
			}
			b.WriteString(v.AsString())
		}
		return b.String(), true
	}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() || !v.Type().Equals(cty.String) {
		return "", false
	}
	return v.AsString(), true
}

// markPlaceholders turns strings holding the placeholder into unknownValue.
func markPlaceholders(v any) any {
	switch x := v.(type) {
	case string:
		if strings.Contains(x, placeholder) {
			return unknownValue{}
		}
	case []any:
		for i := range x {
			x[i] = markPlaceholders(x[i])
		}
	case map[string]any:
		for k, e := range x {
			if strings.Contains(k, placeholder) {
				return unknownValue{}
			}
			x[k] = markPlaceholders(e)
		}
	}
	return v
}

// ctyGo converts a cty value to the shape encoding/json decodes into, with
// unknownValue for unknown parts.
func ctyGo(v cty.Value) any {
	if !v.IsKnown() {
		return unknownValue{}
	}
	if v.IsNull() {
		return nil
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString()
	case t == cty.Number:
		f, _ := v.AsBigFloat().Float64()
		return f
	case t == cty.Bool:
		return v.True()
	case t.IsObjectType() || t.IsMapType():
		out := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			out[k.AsString()] = ctyGo(e)
		}
		return out
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		out := []any{}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, ctyGo(e))
		}
		return out
	}
	return unknownValue{}
}

// knownConditionValues stands in for condition values known only after
// apply: which condition keys a statement has decides whether it
// restricts Principal "*", not their values.
func knownConditionValues(c any) any {
	ops, ok := c.(map[string]any)
	if !ok {
		return c
	}
	out := map[string]any{}
	for op, keys := range ops {
		km, ok := keys.(map[string]any)
		if !ok {
			out[op] = keys
			continue
		}
		vals := map[string]any{}
		for k, v := range km {
			if hasUnknown(v) {
				v = placeholder
			}
			vals[k] = v
		}
		out[op] = vals
	}
	return out
}

func hasUnknown(v any) bool {
	switch x := v.(type) {
	case unknownValue:
		return true
	case []any:
		for _, e := range x {
			if hasUnknown(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasUnknown(e) {
				return true
			}
		}
	}
	return false
}

// documentVerdict judges a policy document some of whose parts are
// unknown: public when a statement that is known where it matters is
// public (PolicyIsPublic decides); not public when every statement is
// known where it matters or plainly not public (a Deny, or known
// principals that are not everyone); unknown otherwise.
func documentVerdict(doc any) tristate {
	m, ok := doc.(map[string]any)
	if !ok {
		return tUnknown
	}
	var stmts []any
	switch st := m["Statement"].(type) {
	case nil:
		return tNo
	case []any:
		stmts = st
	case map[string]any:
		stmts = []any{st}
	default:
		return tUnknown
	}
	verdict := tNo
	for _, x := range stmts {
		s, ok := x.(map[string]any)
		if !ok {
			verdict = tUnknown
			continue
		}
		if e, ok := s["Effect"].(string); ok && strings.EqualFold(e, "Deny") {
			continue
		}
		decides := map[string]any{}
		for _, k := range []string{"Effect", "Principal", "NotPrincipal", "Condition"} {
			if v, ok := s[k]; ok {
				decides[k] = v
			}
		}
		if c, ok := decides["Condition"]; ok {
			decides["Condition"] = knownConditionValues(c)
		}
		if !hasUnknown(decides) {
			raw, err := json.Marshal(map[string]any{"Statement": []any{decides}})
			if err != nil {
				verdict = tUnknown
				continue
			}
			if public, err := PolicyIsPublic(raw); err != nil {
				verdict = tUnknown
			} else if public {
				return tYes
			}
			continue
		}
		// Known principals that are not everyone are not public, whatever
		// the rest.
		if p, ok := decides["Principal"]; ok && !hasUnknown(p) && decides["NotPrincipal"] == nil {
			raw, _ := json.Marshal(map[string]any{"Statement": []any{map[string]any{"Effect": "Allow", "Principal": p}}})
			if public, err := PolicyIsPublic(raw); err == nil && !public {
				continue
			}
		}
		verdict = tUnknown
	}
	return verdict
}
