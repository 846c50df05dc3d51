package runbook

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/limits"
)

// sensitive is the cty mark on values derived from sensitive variables;
// they are shown as (sensitive) and never written in clear.
const sensitive = action.SensitiveMark

// VarValue is a variable's value and where it came from.
type VarValue struct {
	Value     cty.Value
	Source    string // "default", "-var", "env VIGIL_VAR_x", "vars.hcl:3", "alert", "plan"
	Sensitive bool
}

// Inputs are the variable values a user gave, in Terraform's precedence:
// environment < alert < var files (in order) < -var flags (in order).
type Inputs struct {
	// Vars are -var name=value flags, in order.
	Vars []string
	// VarFiles are -var-file paths (HCL or .json), in order.
	VarFiles []string
	// Environ is os.Environ(); VIGIL_VAR_<name> sets <name>.
	Environ []string
	// Alert holds values mapped from an alert (from_alert).
	Alert map[string]cty.Value
	// Plan holds values recorded in a saved plan.
	Plan map[string]cty.Value
}

// EnvPrefix is the prefix of variable environment variables.
const EnvPrefix = "VIGIL_VAR_"

// ResolveVariables gives every variable its value, checks types and
// validation conditions, and reports every problem at once. Values of
// sensitive variables are marked.
func (rb *Runbook) ResolveVariables(in Inputs) (map[string]*VarValue, map[string]*hcl.File, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	files := map[string]*hcl.File{}
	type raw struct {
		val    cty.Value
		text   string // unparsed (-var, env): parsed per the variable's type
		expr   hcl.Expression
		source string
		rng    *hcl.Range
	}
	given := map[string]raw{}
	for _, kv := range in.Environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) {
			continue
		}
		name := strings.TrimPrefix(k, EnvPrefix)
		if rb.Variable(name) != nil { // undeclared ones are ignored, as Terraform does
			given[name] = raw{text: v, source: "env " + k}
		}
	}
	for name, v := range in.Plan {
		given[name] = raw{val: v, source: "plan"}
	}
	for name, v := range in.Alert {
		given[name] = raw{val: v, source: "alert"}
	}
	for _, path := range in.VarFiles {
		src, d := limits.ReadHCLFile(path, "variables file")
		if d.HasErrors() {
			diags = append(diags, d...)
			continue
		}
		var f *hcl.File
		if strings.HasSuffix(path, ".json") {
			f, d = limits.ParseHCLJSON(src, path)
		} else {
			f, d = limits.ParseHCL(src, path)
		}
		diags = append(diags, d...)
		if f == nil {
			continue
		}
		// Diagnostics quote the file's lines: not those of a sensitive
		// variable's value (an unclosed quote, a bad expression).
		files[path] = &hcl.File{Body: f.Body, Bytes: maskSensitiveLines(src, rb), Nav: f.Nav}
		attrs, d := f.Body.JustAttributes()
		diags = append(diags, d...)
		for name, a := range attrs {
			if rb.Variable(name) == nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Undeclared variable",
					Detail: fmt.Sprintf("Runbook %s has no variable %q%s.", rb.ID, name, suggestion(name, rb.varNames())), Subject: a.NameRange.Ptr()})
				continue
			}
			rng := a.NameRange
			given[name] = raw{expr: a.Expr, source: fmt.Sprintf("%s:%d", path, a.NameRange.Start.Line), rng: &rng}
		}
	}
	for _, kv := range in.Vars {
		name, v, ok := strings.Cut(kv, "=")
		if !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid -var",
				Detail: fmt.Sprintf("-var %q must be name=value.", kv)})
			continue
		}
		if rb.Variable(name) == nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Undeclared variable",
				Detail: fmt.Sprintf("-var %s: runbook %s has no variable %q%s.", kv, rb.ID, name, suggestion(name, rb.varNames()))})
			continue
		}
		given[name] = raw{text: v, source: "-var"}
	}

	out := map[string]*VarValue{}
	for _, v := range rb.Variables {
		g, ok := given[v.Name]
		var val cty.Value
		src := g.source
		switch {
		case !ok && v.Required():
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No value for required variable",
				Detail:  fmt.Sprintf("Variable %q has no default; set it with -var %s=..., in a -var-file, or with %s%s.", v.Name, v.Name, EnvPrefix, v.Name),
				Subject: v.DeclRange.Ptr()})
			continue
		case !ok:
			val, src = v.Default, "default"
		case g.expr != nil:
			var d hcl.Diagnostics
			val, d = g.expr.Value(nil)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
		case g.val != cty.NilVal:
			val = g.val
		default:
			// Text from -var or the environment: a string variable takes it as
			// it is; others parse it as an HCL expression, as Terraform does.
			if v.Type == cty.String || v.Type == cty.DynamicPseudoType {
				val = cty.StringVal(g.text)
			} else {
				expr, d := limits.ParseExpression([]byte(g.text), src)
				if !d.HasErrors() {
					val, d = expr.Value(nil)
				}
				if d.HasErrors() {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid variable value",
						Detail: fmt.Sprintf("Value of %q from %s is not a valid %s: %s.", v.Name, src, v.Type.FriendlyName(), d[0].Summary), Subject: v.DeclRange.Ptr()})
					continue
				}
			}
		}
		conv, err := convert.Convert(val, v.Type)
		if err != nil {
			subject := v.DeclRange.Ptr()
			if g.rng != nil {
				subject = g.rng
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid variable value",
				Detail: fmt.Sprintf("Value of %q from %s is not a %s: %s.", v.Name, src, v.Type.FriendlyName(), err), Subject: subject})
			continue
		}
		if v.Sensitive {
			conv = conv.Mark(sensitive)
		}
		out[v.Name] = &VarValue{Value: conv, Source: src, Sensitive: v.Sensitive}
	}
	if diags.HasErrors() {
		return out, files, diags
	}
	// validation conditions
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": varObject(out)}, Functions: functions(nil, nil, false)}
	red := newRedactor(out)
	for _, v := range rb.Variables {
		for _, val := range v.Validations {
			if val.Condition == nil {
				continue
			}
			res, d := val.Condition.Value(ctx)
			diags = append(diags, red.diags(d)...)
			if d.HasErrors() {
				continue
			}
			res, _ = res.Unmark()
			if res.IsNull() || res.Type() != cty.Bool || !res.IsKnown() {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid validation condition",
					Detail: "The condition must be true or false.", Subject: val.Condition.Range().Ptr()})
				continue
			}
			if res.False() {
				msg := "the value is not valid"
				if val.ErrorMessage != nil {
					if m, d := val.ErrorMessage.Value(ctx); !d.HasErrors() {
						// As Terraform does: a message made from a sensitive
						// value is not shown at all.
						if m.ContainsMarked() {
							msg = "the error message includes a sensitive value, so it is not shown"
						} else if m.Type() == cty.String && !m.IsNull() && m.IsKnown() {
							msg = m.AsString()
						}
					}
				}
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for variable",
					Detail: fmt.Sprintf("Variable %q (from %s): %s", v.Name, out[v.Name].Source, msg), Subject: val.DeclRange.Ptr()})
			}
		}
	}
	return out, files, diags
}

func (rb *Runbook) varNames() []string {
	out := make([]string, len(rb.Variables))
	for i, v := range rb.Variables {
		out[i] = v.Name
	}
	sort.Strings(out)
	return out
}

func varObject(vals map[string]*VarValue) cty.Value {
	m := map[string]cty.Value{}
	for k, v := range vals {
		m[k] = v.Value
	}
	return cty.ObjectVal(m)
}

// sensitiveAttr finds a variables file line that starts an attribute: NAME =
// (HCL) or "NAME": (JSON).
var sensitiveAttr = regexp.MustCompile(`^\s*"?([A-Za-z_][A-Za-z0-9_-]*)"?\s*[=:]`)

// maskSensitiveLines returns a copy of a variables file with the values of
// sensitive variables masked (byte offsets kept, so diagnostics still point
// where they should): from the attribute's = to the next attribute, which
// covers values spread over lines. A JSON line that names a sensitive
// variable anywhere is masked whole, since JSON may hold every value on
// one line.
func maskSensitiveLines(src []byte, rb *Runbook) []byte {
	out := slices.Clone(src)
	sens := map[string]bool{}
	for _, v := range rb.Variables {
		if v.Sensitive {
			sens[v.Name] = true
		}
	}
	if len(sens) == 0 {
		return out
	}
	mask := func(b []byte) {
		for i := range b {
			if b[i] != '\n' && b[i] != '\r' {
				b[i] = '*'
			}
		}
	}
	masking := false
	for start := 0; start < len(out); {
		end := bytes.IndexByte(out[start:], '\n')
		if end < 0 {
			end = len(out)
		} else {
			end += start
		}
		line := out[start:end]
		if m := sensitiveAttr.FindSubmatchIndex(line); m != nil {
			masking = sens[string(line[m[2]:m[3]])]
			if masking {
				mask(line[m[1]:])
			}
		} else if masking {
			mask(line)
		}
		for name := range sens {
			if i := bytes.Index(line, []byte(`"`+name+`"`)); i >= 0 {
				mask(line[i+len(name)+2:])
			}
		}
		start = end + 1
	}
	return out
}
