package inventory

import "encoding/json"

// grouped gathers the records of a scanner's export by the asset they are
// about (Inspector findings by instance, Artifact Analysis occurrences by
// image) over all the files of a scan. A record listed twice (on two
// pages, in two exports) keeps its later copy, which may move it to
// another group.
type grouped[G any] struct {
	seen   map[string]int // a record's name → its index in recs
	recs   []groupedRecord
	groups map[string]*G
	order  []string // the groups' keys, as first met
}

type groupedRecord struct {
	raw json.RawMessage
	key string // its group
}

func newGrouped[G any]() grouped[G] {
	return grouped[G]{seen: map[string]int{}, groups: map[string]*G{}}
}

// group returns the group of key, made by mk when it is new.
func (x *grouped[G]) group(key string, mk func() *G) *G {
	g := x.groups[key]
	if g == nil {
		g = mk()
		x.groups[key] = g
		x.order = append(x.order, key)
	}
	return g
}

// add keeps a copy of the record named name in the group of key; again
// says the name was listed before (this later copy replaces that one).
func (x *grouped[G]) add(name, key string, raw json.RawMessage) (again bool) {
	r := groupedRecord{raw: append(json.RawMessage(nil), raw...), key: key}
	if i, ok := x.seen[name]; ok {
		x.recs[i] = r
		return true
	}
	x.seen[name] = len(x.recs)
	x.recs = append(x.recs, r)
	return false
}

// each calls fn for every group that has records, in the order the groups
// were first met, with its records in the order they were.
func (x *grouped[G]) each(fn func(g *G, recs []json.RawMessage) error) error {
	by := map[string][]json.RawMessage{}
	for _, r := range x.recs {
		by[r.key] = append(by[r.key], r.raw)
	}
	for _, key := range x.order {
		if len(by[key]) == 0 {
			continue // its only record moved to another group in a later copy
		}
		if err := fn(x.groups[key], by[key]); err != nil {
			return err
		}
	}
	return nil
}
