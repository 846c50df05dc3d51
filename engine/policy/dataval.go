package policy

import (
	"reflect"

	"github.com/open-policy-agent/opa/v1/ast"
)

// dataValue converts the cross-asset index to the Rego value the store
// keeps, as ast.InterfaceToValue would, but sharing what repeats: every
// distinct string is one term, and a map that appears under several keys
// (an instance indexed by its id and by its name) is converted once. At a
// million assets the index is tens of megabytes of JSON that the store
// holds as Rego terms through the whole cross-asset phase, where every
// collection marks it again; each shared term is memory the collector
// does not walk. Stored values are never changed in place (OPA's own
// interned terms are shared the same way).
func dataValue(x any) (ast.Value, error) {
	c := &dataConv{strs: map[string]*ast.Term{}, maps: map[uintptr]ast.Value{}}
	return c.value(x)
}

type dataConv struct {
	strs map[string]*ast.Term
	maps map[uintptr]ast.Value
}

func (c *dataConv) str(s string) *ast.Term {
	if t, ok := c.strs[s]; ok {
		return t
	}
	t := ast.StringTerm(s)
	c.strs[s] = t
	return t
}

func (c *dataConv) term(x any) (*ast.Term, error) {
	if s, ok := x.(string); ok {
		return c.str(s), nil
	}
	v, err := c.value(x)
	if err != nil {
		return nil, err
	}
	return ast.NewTerm(v), nil
}

func (c *dataConv) value(x any) (ast.Value, error) {
	switch x := x.(type) {
	case string:
		return c.str(x).Value, nil
	case []any:
		terms := make([]*ast.Term, len(x))
		for i, e := range x {
			t, err := c.term(e)
			if err != nil {
				return nil, err
			}
			terms[i] = t
		}
		return ast.NewArray(terms...), nil
	case []string:
		terms := make([]*ast.Term, len(x))
		for i, e := range x {
			terms[i] = c.str(e)
		}
		return ast.NewArray(terms...), nil
	case map[string]any:
		key := reflect.ValueOf(x).Pointer()
		if v, ok := c.maps[key]; ok && x != nil {
			return v, nil
		}
		kvs := make([][2]*ast.Term, 0, len(x))
		for k, e := range x {
			t, err := c.term(e)
			if err != nil {
				return nil, err
			}
			kvs = append(kvs, [2]*ast.Term{c.str(k), t})
		}
		v := ast.NewObject(kvs...)
		if x != nil {
			c.maps[key] = v
		}
		return v, nil
	default:
		// numbers, booleans, null and anything else: OPA's own conversion
		return ast.InterfaceToValue(x)
	}
}
