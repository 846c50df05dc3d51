package runbook

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/vigil-ir/vigil/engine/action"
)

// scope holds what expressions can refer to while a plan or run proceeds:
// var.*, local.*, the functions, and step.<name> for the steps done so far.
type scope struct {
	mu     sync.Mutex
	rb     *Runbook
	vars   cty.Value
	locals cty.Value
	funcs  map[string]function.Function
	steps  map[string]cty.Value
	// valueKey keys the hashes that name instances with sensitive keys.
	valueKey []byte
}

type eachVal struct{ key, value cty.Value }

type instance struct {
	key  string
	each *eachVal
}

func newScope(ctx context.Context, rb *Runbook, vars map[string]*VarValue, data *Data, valueKey []byte) (*scope, hcl.Diagnostics) {
	sc := &scope{rb: rb, vars: varObject(vars), funcs: functions(ctx, data, false), steps: map[string]cty.Value{}, valueKey: valueKey}
	var diags hcl.Diagnostics
	sc.locals, diags = evalLocals(rb, sc.vars, sc.funcs)
	return sc, diags
}

func (sc *scope) ctx(each *eachVal) *hcl.EvalContext {
	sc.mu.Lock()
	steps := make(map[string]cty.Value, len(sc.steps))
	for k, v := range sc.steps {
		steps[k] = v
	}
	sc.mu.Unlock()
	vars := map[string]cty.Value{"var": sc.vars, "local": sc.locals, "step": cty.ObjectVal(steps)}
	if each != nil {
		vars["each"] = cty.ObjectVal(map[string]cty.Value{"key": each.key, "value": each.value})
	}
	return &hcl.EvalContext{Variables: vars, Functions: sc.funcs}
}

// expand evaluates for_each into instances with stable keys: map keys; for
// lists, the element itself when it is a string, else its asset_id or id
// field (findings() and assets() elements), else its index. A key made
// from a sensitive value is shown as SensitiveKey(valueKey, key) in the instance's
// address; each.key keeps the value, marked.
func (sc *scope) expand(st *Step) ([]instance, bool, hcl.Diagnostics) {
	if st.ForEach == nil {
		return []instance{{}}, false, nil
	}
	v, diags := st.ForEach.Value(sc.ctx(nil))
	if diags.HasErrors() {
		return nil, false, diags
	}
	v, marks := v.Unmark()
	_, allSensitive := marks[sensitive]
	if !v.IsWhollyKnown() {
		return nil, true, nil
	}
	if v.IsNull() || !isCollection(v.Type()) {
		return nil, false, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid for_each",
			Detail: fmt.Sprintf("for_each must be a list, set or map, not %s.", v.Type().FriendlyName()), Subject: st.ForEach.Range().Ptr()}}
	}
	var out []instance
	seen := map[string]bool{}
	keyed := v.Type().IsMapType() || v.Type().IsObjectType()
	i := 0
	for it := v.ElementIterator(); it.Next(); i++ {
		k, e := it.Element()
		if allSensitive {
			e = e.Mark(sensitive)
		}
		var key string
		secret := allSensitive
		switch {
		case keyed:
			key = k.AsString()
		default:
			var keyMarked bool
			key, keyMarked = elementKey(e, i)
			secret = secret || keyMarked
		}
		display := key
		if secret {
			display = SensitiveKey(sc.valueKey, key)
		}
		if seen[display] {
			detail := fmt.Sprintf("for_each gives two elements the key %q; instances need distinct keys.", display)
			return nil, false, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Duplicate for_each key", Detail: detail, Subject: st.ForEach.Range().Ptr()}}
		}
		seen[display] = true
		kv := cty.StringVal(key)
		if secret {
			kv = kv.Mark(sensitive)
		}
		out = append(out, instance{key: display, each: &eachVal{key: kv, value: e}})
	}
	return out, false, nil
}

// elementKey is a list element's key, and whether it comes from a
// sensitive value.
func elementKey(e cty.Value, i int) (string, bool) {
	e, marks := e.Unmark()
	_, marked := marks[sensitive]
	if e.Type() == cty.String && !e.IsNull() && e.IsKnown() {
		return e.AsString(), marked
	}
	if !e.IsNull() && (e.Type().IsObjectType() || e.Type().IsMapType()) {
		for _, f := range []string{"asset_id", "id", "name"} {
			if e.Type().IsObjectType() && !e.Type().HasAttribute(f) {
				continue
			}
			if e.Type().IsMapType() && !e.HasIndex(cty.StringVal(f)).True() {
				continue
			}
			var fv cty.Value
			if e.Type().IsObjectType() {
				fv = e.GetAttr(f)
			} else {
				fv = e.Index(cty.StringVal(f))
			}
			fv, fmarks := fv.Unmark()
			if fv.Type() == cty.String && fv.IsKnown() && !fv.IsNull() {
				_, fm := fmarks[sensitive]
				return fv.AsString(), marked || fm
			}
		}
	}
	return strconv.Itoa(i), marked
}

// args evaluates a step's arguments and converts them to the action's types.
// Omitted optional arguments are null.
func (sc *scope) args(st *Step, spec *action.Spec, ectx *hcl.EvalContext) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	out := map[string]cty.Value{}
	for name, a := range spec.Args {
		ae, ok := st.ArgExprs[name]
		if !ok {
			out[name] = cty.NullVal(a.Type)
			continue
		}
		v, d := ae.Expr.Value(ectx)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		cv, err := convert.Convert(v, a.Type)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid argument type",
				Detail: fmt.Sprintf("Argument %q of %s must be %s: %s.", name, spec.Name, a.Type.FriendlyName(), err), Subject: ae.Expr.Range().Ptr()})
			continue
		}
		if a.Required && cv.IsKnown() && cv.IsNull() {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing required argument",
				Detail: fmt.Sprintf("Argument %q of %s is null.", name, spec.Name), Subject: ae.Expr.Range().Ptr()})
			continue
		}
		out[name] = cv
	}
	return out, diags
}

// setStep records a single step's outputs (or unknown ones).
func (sc *scope) setStep(st *Step, outputs map[string]cty.Value, unknown bool, spec *action.Spec) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if unknown {
		if st.ForEach != nil {
			sc.steps[st.Name] = cty.DynamicVal
			return
		}
		sc.steps[st.Name] = cty.ObjectVal(map[string]cty.Value{"outputs": cty.UnknownVal(spec.OutputsType())})
		return
	}
	sc.steps[st.Name] = cty.ObjectVal(map[string]cty.Value{"outputs": outputsObject(spec, outputs)})
}

// setInstances records a for_each step's instances: step.<name>["key"].
func (sc *scope) setInstances(st *Step, byKey map[string]cty.Value) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.steps[st.Name] = cty.ObjectVal(byKey)
}

// outputsObject fills in missing outputs with nulls of their types.
func outputsObject(spec *action.Spec, outputs map[string]cty.Value) cty.Value {
	m := map[string]cty.Value{}
	for name, t := range spec.Outputs {
		v, ok := outputs[name]
		if !ok {
			m[name] = cty.NullVal(t)
			continue
		}
		if cv, err := convert.Convert(v, t); err == nil {
			m[name] = cv
		} else {
			m[name] = cty.NullVal(t)
		}
	}
	return cty.ObjectVal(m)
}
