package library

import (
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// checkParameters holds a constraint's spec.parameters to its template's
// openAPIV3Schema: types, enums and array items, as Gatekeeper does when a
// constraint is created. Parameters the schema does not name are let
// through: templates often read more than they declare.
func checkParameters(c *Constraint, t *Template, spec map[string]any, node *yaml.Node) error {
	params, _ := spec["parameters"].(map[string]any)
	if len(params) == 0 || t.Schema == nil {
		return nil
	}
	props, _ := t.Schema["properties"].(map[string]any)
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		schema, _ := props[k].(map[string]any)
		if schema == nil {
			continue
		}
		if err := checkValue(k, params[k], schema); err != nil {
			return &Error{File: c.File, Line: lineOf(node, "spec", "parameters", k), Message: fmt.Sprintf("constraint %s: parameter %s (template %s in %s)", c.Name, err, t.Kind, t.File)}
		}
	}
	return nil
}

func checkValue(path string, v any, schema map[string]any) error {
	typ, _ := schema["type"].(string)
	ok := true
	switch typ {
	case "string":
		_, ok = v.(string)
	case "boolean":
		_, ok = v.(bool)
	case "integer":
		switch n := v.(type) {
		case int, int64, uint64:
		case float64:
			ok = n == float64(int64(n))
		default:
			ok = false
		}
	case "number":
		switch v.(type) {
		case int, int64, uint64, float64:
		default:
			ok = false
		}
	case "array":
		list, isList := v.([]any)
		ok = isList
		if isList {
			if items, _ := schema["items"].(map[string]any); items != nil {
				for i, e := range list {
					if err := checkValue(fmt.Sprintf("%s[%d]", path, i), e, items); err != nil {
						return err
					}
				}
			}
		}
	case "object":
		m, isMap := v.(map[string]any)
		ok = isMap
		if isMap {
			props, _ := schema["properties"].(map[string]any)
			for k, e := range m {
				if s, _ := props[k].(map[string]any); s != nil {
					if err := checkValue(path+"."+k, e, s); err != nil {
						return err
					}
				}
			}
		}
	}
	if !ok {
		return fmt.Errorf("%s: %v is not of type %s", path, v, typ)
	}
	if enum, _ := schema["enum"].([]any); len(enum) > 0 {
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				return nil
			}
		}
		vals := make([]string, len(enum))
		for i, e := range enum {
			vals[i] = fmt.Sprint(e)
		}
		return fmt.Errorf("%s: %q is not one of %s", path, fmt.Sprint(v), strings.Join(vals, ", "))
	}
	return nil
}
