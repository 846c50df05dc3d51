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
//
// It also returns the index's size as JSON (len(json.Marshal(x)), a shared
// map counted wherever it appears), measured on the way rather than by
// a second walk.
//
// With consume, the entries of x and of the maps directly under it are
// deleted once converted, so that the collector can take back the Go
// index while its Rego copy grows: at a million assets the two side by
// side were a scan's peak heap. Deeper maps are only read: the caller's
// own state may share them (watch.State's index does).
func dataValue(x any, consume bool) (ast.Value, int64, error) {
	c := &dataConv{strs: map[string]*ast.Term{}, maps: map[uintptr]memo{}, consume: consume}
	return c.value(x, 0)
}

type dataConv struct {
	strs    map[string]*ast.Term
	maps    map[uintptr]memo
	consume bool
}

// memo is a converted map and its JSON size. The key is the map's address:
// every map of the document exists before the conversion starts, so an
// address is never reused for another map of it, even once a consumed
// one is collected.
type memo struct {
	v    ast.Value
	size int64
}

func (c *dataConv) str(s string) *ast.Term {
	if t, ok := c.strs[s]; ok {
		return t
	}
	t := ast.StringTerm(s)
	c.strs[s] = t
	return t
}

func (c *dataConv) term(x any, depth int) (*ast.Term, int64, error) {
	if s, ok := x.(string); ok {
		return c.str(s), jsonStringSize(s), nil
	}
	v, n, err := c.value(x, depth)
	if err != nil {
		return nil, 0, err
	}
	return ast.NewTerm(v), n, nil
}

func (c *dataConv) value(x any, depth int) (ast.Value, int64, error) {
	switch x := x.(type) {
	case string:
		return c.str(x).Value, jsonStringSize(x), nil
	case []any:
		if x == nil {
			return ast.NewArray(), jsonNullSize, nil
		}
		terms := make([]*ast.Term, len(x))
		var inner int64
		for i, e := range x {
			t, n, err := c.term(e, depth+1)
			if err != nil {
				return nil, 0, err
			}
			terms[i], inner = t, inner+n
		}
		return ast.NewArray(terms...), jsonCollectionSize(len(x), inner), nil
	case []string:
		if x == nil {
			return ast.NewArray(), jsonNullSize, nil
		}
		terms := make([]*ast.Term, len(x))
		var inner int64
		for i, e := range x {
			terms[i] = c.str(e)
			inner += jsonStringSize(e)
		}
		return ast.NewArray(terms...), jsonCollectionSize(len(x), inner), nil
	case map[string]any:
		if x == nil {
			return ast.NewObject(), jsonNullSize, nil
		}
		key := reflect.ValueOf(x).Pointer()
		if m, ok := c.maps[key]; ok {
			return m.v, m.size, nil
		}
		n := len(x) // before consuming empties it
		kvs := make([][2]*ast.Term, 0, n)
		var inner int64
		for k, e := range x {
			t, m, err := c.term(e, depth+1)
			if err != nil {
				return nil, 0, err
			}
			kvs = append(kvs, [2]*ast.Term{c.str(k), t})
			inner += jsonStringSize(k) + 1 + m
			if c.consume && depth < 2 {
				delete(x, k)
			}
		}
		v := ast.NewObject(kvs...)
		size := jsonCollectionSize(n, inner)
		c.maps[key] = memo{v, size}
		return v, size, nil
	default:
		// numbers, booleans, null and anything else: OPA's own conversion
		v, err := ast.InterfaceToValue(x)
		if err != nil {
			return nil, 0, err
		}
		n, err := JSONSize(x)
		return v, n, err
	}
}
