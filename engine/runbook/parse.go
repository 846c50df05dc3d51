package runbook

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/vigil-ir/vigil/engine/limits"
)

var fileSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "runbook", LabelNames: []string{"id"}}},
}

var runbookSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "title"}, {Name: "description"}, {Name: "tags"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "phase", LabelNames: []string{"name"}},
		{Type: "output", LabelNames: []string{"name"}},
		{Type: "from_alert"},
	},
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "condition", Required: true}, {Name: "error_message", Required: true}},
}

var phaseSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "description"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "step", LabelNames: []string{"name"}}},
}

var stepSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "action", Required: true}, {Name: "args"}, {Name: "depends_on"}, {Name: "when"},
		{Name: "for_each"}, {Name: "timeout"}, {Name: "on_error"}, {Name: "evidence"}, {Name: "description"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "approval"}, {Type: "retry"}},
}

var outputSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "value", Required: true}, {Name: "description"}, {Name: "sensitive"}},
}

// ParseFile reads and decodes a runbook file.
func ParseFile(path string) (*Runbook, *hcl.File, hcl.Diagnostics) {
	src, diags := limits.ReadHCLFile(path, "runbook")
	if diags.HasErrors() {
		return nil, nil, diags
	}
	return Parse(src, path)
}

// Parse decodes a runbook. It keeps going after the first problem and
// reports every one it finds, each at its source range.
func Parse(src []byte, filename string) (*Runbook, *hcl.File, hcl.Diagnostics) {
	file, diags := limits.ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, file, diags
	}
	content, d := file.Body.Content(fileSchema)
	diags = append(diags, d...)
	if len(content.Blocks) == 0 {
		return nil, file, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No runbook block",
			Detail: `A runbook file holds one block: runbook "<id>" { ... }.`, Subject: file.Body.MissingItemRange().Ptr()})
	}
	if len(content.Blocks) > 1 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "More than one runbook",
			Detail: "Put each runbook in a file of its own.", Subject: content.Blocks[1].DefRange.Ptr()})
	}
	blk := content.Blocks[0]
	rb := &Runbook{ID: blk.Labels[0], File: filename, Source: src, DeclRange: blk.DefRange}
	if !validName(rb.ID) {
		diags = append(diags, nameDiag("runbook", rb.ID, blk.LabelRanges[0]))
	}
	diags = append(diags, rb.decodeBody(blk.Body)...)
	return rb, file, diags
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-' || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

func nameDiag(what, name string, rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Invalid %s name", what),
		Detail: fmt.Sprintf("%q is not a valid %s name: use letters, digits, underscores and dashes, starting with a letter.", name, what), Subject: rng.Ptr()}
}

func (rb *Runbook) decodeBody(body hcl.Body) hcl.Diagnostics {
	content, diags := body.Content(runbookSchema)
	if a, ok := content.Attributes["title"]; ok {
		diags = append(diags, gohcl.DecodeExpression(a.Expr, nil, &rb.Title)...)
	}
	if a, ok := content.Attributes["description"]; ok {
		diags = append(diags, gohcl.DecodeExpression(a.Expr, nil, &rb.Description)...)
	}
	if a, ok := content.Attributes["tags"]; ok {
		diags = append(diags, gohcl.DecodeExpression(a.Expr, nil, &rb.Tags)...)
	}
	names := map[string]map[string]hcl.Range{"variable": {}, "local": {}, "step": {}, "output": {}, "phase": {}}
	dup := func(kind, name string, rng hcl.Range) bool {
		if prev, ok := names[kind][name]; ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Duplicate %s", kind),
				Detail: fmt.Sprintf("A %s named %q was already declared at %s.", kind, name, prev), Subject: rng.Ptr()})
			return true
		}
		names[kind][name] = rng
		return false
	}
	lastPhase := -1
	for _, blk := range content.Blocks {
		switch blk.Type {
		case "variable":
			v, d := decodeVariable(blk)
			diags = append(diags, d...)
			if v != nil && !dup("variable", v.Name, blk.DefRange) {
				rb.Variables = append(rb.Variables, v)
			}
		case "locals":
			attrs, d := blk.Body.JustAttributes()
			diags = append(diags, d...)
			for _, a := range sortedAttrs(attrs) {
				if !dup("local", a.Name, a.NameRange) {
					rb.Locals = append(rb.Locals, &Local{Name: a.Name, Expr: a.Expr, DeclRange: a.NameRange})
				}
			}
		case "phase":
			name := blk.Labels[0]
			idx := phaseIndex(name)
			if idx < 0 {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown phase",
					Detail:  fmt.Sprintf("%q is not an incident-response phase%s. Phases, in order: %s.", name, suggestion(name, Phases), strings.Join(Phases, ", ")),
					Subject: blk.LabelRanges[0].Ptr()})
				continue
			}
			if dup("phase", name, blk.DefRange) {
				continue
			}
			if idx < lastPhase {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Phases out of order",
					Detail:  fmt.Sprintf("Phase %q comes before %q in incident response; phases run in the order %s.", name, Phases[lastPhase], strings.Join(Phases, ", ")),
					Subject: blk.LabelRanges[0].Ptr()})
			}
			lastPhase = max(lastPhase, idx)
			ph := &Phase{Name: name, Index: idx, DeclRange: blk.DefRange}
			pc, d := blk.Body.Content(phaseSchema)
			diags = append(diags, d...)
			for _, sb := range pc.Blocks {
				st, d := decodeStep(sb, ph)
				diags = append(diags, d...)
				if st != nil && !dup("step", st.Name, sb.DefRange) {
					ph.Steps = append(ph.Steps, st)
					rb.Steps = append(rb.Steps, st)
				}
			}
			rb.Phases = append(rb.Phases, ph)
		case "output":
			oc, d := blk.Body.Content(outputSchema)
			diags = append(diags, d...)
			o := &Output{Name: blk.Labels[0], DeclRange: blk.DefRange}
			if a, ok := oc.Attributes["value"]; ok {
				o.Value = a.Expr
			}
			if a, ok := oc.Attributes["description"]; ok {
				diags = append(diags, gohcl.DecodeExpression(a.Expr, nil, &o.Description)...)
			}
			if a, ok := oc.Attributes["sensitive"]; ok {
				diags = append(diags, gohcl.DecodeExpression(a.Expr, nil, &o.Sensitive)...)
			}
			if !dup("output", o.Name, blk.DefRange) {
				rb.Outputs = append(rb.Outputs, o)
			}
		case "from_alert":
			attrs, d := blk.Body.JustAttributes()
			diags = append(diags, d...)
			rb.FromAlert = map[string]hcl.Expression{}
			for name, a := range attrs {
				rb.FromAlert[name] = a.Expr
			}
		}
	}
	if len(rb.Steps) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No steps",
			Detail: `A runbook needs at least one phase with a step: phase "containment" { step "isolate" { action = "..." } }.`, Subject: rb.DeclRange.Ptr()})
	}
	for name, expr := range rb.FromAlert {
		if rb.Variable(name) == nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown variable in from_alert",
				Detail: fmt.Sprintf("from_alert sets %q, which is not a variable of this runbook.", name), Subject: expr.Range().Ptr()})
		}
	}
	return diags
}

func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	// file order
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Range.Start.Byte < out[j-1].Range.Start.Byte; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func phaseIndex(name string) int {
	for i, p := range Phases {
		if p == name {
			return i
		}
	}
	return -1
}

// suggestion returns ` (did you mean "x"?)` for the closest name, or "".
func suggestion(name string, options []string) string {
	best, bestD := "", 1<<30
	for _, o := range options {
		if d := editDistance(name, o); d < bestD {
			best, bestD = o, d
		}
	}
	if bestD <= 3 || strings.Contains(best, name) || strings.Contains(name, best) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func decodeVariable(blk *hcl.Block) (*Variable, hcl.Diagnostics) {
	v := &Variable{Name: blk.Labels[0], Type: cty.DynamicPseudoType, Default: cty.NilVal, DeclRange: blk.DefRange}
	var diags hcl.Diagnostics
	if !validName(v.Name) {
		diags = append(diags, nameDiag("variable", v.Name, blk.LabelRanges[0]))
	}
	content, d := blk.Body.Content(variableSchema)
	diags = append(diags, d...)
	if a, ok := content.Attributes["type"]; ok {
		t, d := typeexpr.TypeConstraint(a.Expr)
		diags = append(diags, d...)
		if !d.HasErrors() {
			v.Type = t
		}
	}
	if a, ok := content.Attributes["description"]; ok {
		diags = append(diags, gohcl.DecodeExpression(a.Expr, nil, &v.Description)...)
	}
	if a, ok := content.Attributes["sensitive"]; ok {
		diags = append(diags, gohcl.DecodeExpression(a.Expr, nil, &v.Sensitive)...)
	}
	if a, ok := content.Attributes["default"]; ok {
		val, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() {
			conv, err := convert.Convert(val, v.Type)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid default value",
					Detail: fmt.Sprintf("The default of variable %q is not a %s: %s.", v.Name, v.Type.FriendlyName(), err), Subject: a.Expr.Range().Ptr()})
			} else {
				v.Default = conv
			}
		}
	}
	for _, vb := range content.Blocks {
		vc, d := vb.Body.Content(validationSchema)
		diags = append(diags, d...)
		val := &Validation{DeclRange: vb.DefRange}
		if a, ok := vc.Attributes["condition"]; ok {
			val.Condition = a.Expr
			for _, tr := range a.Expr.Variables() {
				if tr.RootName() != "var" {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid validation condition",
						Detail: "A validation condition can only refer to var.*.", Subject: tr.SourceRange().Ptr()})
				}
			}
		}
		if a, ok := vc.Attributes["error_message"]; ok {
			val.ErrorMessage = a.Expr
		}
		v.Validations = append(v.Validations, val)
	}
	return v, diags
}

func decodeStep(blk *hcl.Block, ph *Phase) (*Step, hcl.Diagnostics) {
	st := &Step{Name: blk.Labels[0], Phase: ph, OnError: "stop", DeclRange: blk.DefRange, ArgExprs: map[string]*ArgExpr{}}
	var diags hcl.Diagnostics
	if !validName(st.Name) {
		diags = append(diags, nameDiag("step", st.Name, blk.LabelRanges[0]))
	}
	content, d := blk.Body.Content(stepSchema)
	diags = append(diags, d...)
	if a, ok := content.Attributes["action"]; ok {
		diags = append(diags, gohcl.DecodeExpression(a.Expr, nil, &st.Action)...)
		st.ActionRange = a.Expr.Range()
	}
	if a, ok := content.Attributes["description"]; ok {
		diags = append(diags, gohcl.DecodeExpression(a.Expr, nil, &st.Description)...)
	}
	if a, ok := content.Attributes["args"]; ok {
		st.Args = a.Expr
		pairs, d := hcl.ExprMap(a.Expr)
		if d.HasErrors() {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid args",
				Detail: "args must be an object: args = { name = value, ... }.", Subject: a.Expr.Range().Ptr()})
		}
		for _, p := range pairs {
			name := hcl.ExprAsKeyword(p.Key)
			if name == "" {
				kv, d := p.Key.Value(nil)
				if d.HasErrors() || kv.Type() != cty.String {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid argument name",
						Detail: "Argument names must be plain words.", Subject: p.Key.Range().Ptr()})
					continue
				}
				name = kv.AsString()
			}
			if prev, ok := st.ArgExprs[name]; ok {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate argument",
					Detail: fmt.Sprintf("Argument %q was already set at %s.", name, prev.KeyRange), Subject: p.Key.Range().Ptr()})
				continue
			}
			st.ArgExprs[name] = &ArgExpr{Name: name, Expr: p.Value, KeyRange: p.Key.Range()}
		}
	}
	if a, ok := content.Attributes["depends_on"]; ok {
		exprs, d := hcl.ExprList(a.Expr)
		diags = append(diags, d...)
		for _, e := range exprs {
			tr, d := hcl.AbsTraversalForExpr(e)
			if d.HasErrors() || tr.RootName() != "step" || len(tr) < 2 {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid depends_on",
					Detail: "depends_on lists steps: depends_on = [step.snapshot].", Subject: e.Range().Ptr()})
				continue
			}
			st.DependsOn = append(st.DependsOn, tr)
		}
	}
	if a, ok := content.Attributes["when"]; ok {
		st.When = a.Expr
	}
	if a, ok := content.Attributes["for_each"]; ok {
		st.ForEach = a.Expr
	}
	if a, ok := content.Attributes["timeout"]; ok {
		var s string
		d := gohcl.DecodeExpression(a.Expr, nil, &s)
		diags = append(diags, d...)
		if !d.HasErrors() {
			dur, err := time.ParseDuration(s)
			if err != nil || dur <= 0 {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid timeout",
					Detail: fmt.Sprintf("timeout = %q is not a duration such as \"30s\" or \"10m\".", s), Subject: a.Expr.Range().Ptr()})
			}
			st.Timeout = dur
		}
	}
	if a, ok := content.Attributes["on_error"]; ok {
		diags = append(diags, gohcl.DecodeExpression(a.Expr, nil, &st.OnError)...)
		if st.OnError != "stop" && st.OnError != "continue" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid on_error",
				Detail: fmt.Sprintf("on_error = %q: use \"stop\" or \"continue\".", st.OnError), Subject: a.Expr.Range().Ptr()})
		}
	}
	if a, ok := content.Attributes["evidence"]; ok {
		diags = append(diags, gohcl.DecodeExpression(a.Expr, nil, &st.Evidence)...)
	}
	for _, b := range content.Blocks {
		switch b.Type {
		case "approval":
			var ab struct {
				Reason           hcl.Expression `hcl:"reason,optional"`
				Approvers        []string       `hcl:"approvers,optional"`
				DistinctApprover *bool          `hcl:"distinct_approver,optional"`
			}
			diags = append(diags, gohcl.DecodeBody(b.Body, nil, &ab)...)
			st.Approval = &Approval{Reason: ab.Reason, Approvers: ab.Approvers, DistinctApprover: ab.DistinctApprover, DeclRange: b.DefRange}
		case "retry":
			var rb struct {
				Attempts int    `hcl:"attempts"`
				Backoff  string `hcl:"backoff,optional"`
			}
			d := gohcl.DecodeBody(b.Body, nil, &rb)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
			r := &Retry{Attempts: rb.Attempts, Backoff: time.Second}
			if rb.Attempts < 1 || rb.Attempts > 20 {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid retry attempts",
					Detail: "attempts must be between 1 and 20.", Subject: b.DefRange.Ptr()})
			}
			if rb.Backoff != "" {
				dur, err := time.ParseDuration(rb.Backoff)
				if err != nil || dur < 0 {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid retry backoff",
						Detail: fmt.Sprintf("backoff = %q is not a duration such as \"5s\".", rb.Backoff), Subject: b.DefRange.Ptr()})
				}
				r.Backoff = dur
			}
			st.Retry = r
		}
	}
	return st, diags
}
