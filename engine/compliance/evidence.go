package compliance

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/policy"
)

// Evidence counts, while a scan reads its assets, how many assets carried
// the facts each control's policies read (their custom.evidence): a
// control passes only when they were present on at least one asset of the
// benchmark's provider. Observe is safe for concurrent use.
type Evidence struct {
	// byKind lists the requirements that read assets of a kind ("*": all).
	byKind map[string][]*requirement
	all    map[string]*requirement // by text

	mu     sync.Mutex
	counts map[countKey]*count
}

type countKey struct {
	req      *requirement
	provider string
}

// count is what one requirement saw on one provider: the assets of its
// kind, and those of them carrying the fact.
type count struct{ inScope, present int64 }

// requirement is one fact: "kind", "kind.facet" or "kind.facet=value";
// the facet "name" is the asset's name (kind.name=default).
type requirement struct {
	text, kind, facet, value string
	field                    []int // index path of the facet in asset.Facets
}

// facetFields maps the JSON names of asset.Facets to their fields.
var facetFields = func() map[string][]int {
	out := map[string][]int{}
	t := reflect.TypeOf(asset.Facets{})
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = f.Index
		}
	}
	return out
}()

func parseRequirement(text string) (*requirement, error) {
	r := &requirement{text: text}
	spec, value, hasValue := strings.Cut(strings.TrimSpace(text), "=")
	r.kind, r.facet, _ = strings.Cut(spec, ".")
	if r.kind == "" {
		return nil, fmt.Errorf("evidence %q names no kind", text)
	}
	if r.facet != "" && r.facet != "name" {
		f, ok := facetFields[r.facet]
		if !ok {
			return nil, fmt.Errorf("evidence %q: %s is not a facet of the asset model", text, r.facet)
		}
		r.field = f
	}
	if hasValue {
		if r.facet == "" {
			return nil, fmt.Errorf("evidence %q: a value needs a facet (kind.facet=value)", text)
		}
		r.value = value
	}
	return r, nil
}

// holds reports whether an asset carries the fact.
func (r *requirement) holds(a *asset.Asset) bool {
	if a.Facets.Synthesized {
		return false // a placeholder the loader made: nothing is known of it
	}
	if r.facet == "" {
		return true
	}
	if r.facet == "name" { // the asset's own name, not a facet
		return a.Name != "" && (r.value == "" || a.Name == r.value)
	}
	v := reflect.ValueOf(&a.Facets).Elem().FieldByIndex(r.field)
	if v.IsZero() || (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0 {
		return false
	}
	if r.value == "" {
		return true
	}
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	return fmt.Sprint(v.Interface()) == r.value
}

// groups are a control's requirements for one policy: all groups must be
// met, each by any of its alternatives.
type groups [][]*requirement

// NewEvidence prepares the counts for the framework tags of policies.
func NewEvidence(policies []*policy.Policy) (*Evidence, error) {
	e := &Evidence{byKind: map[string][]*requirement{}, all: map[string]*requirement{}, counts: map[countKey]*count{}}
	for _, p := range policies {
		for _, tag := range p.Frameworks {
			if _, err := e.groupsFor(p, tag); err != nil {
				return nil, fmt.Errorf("policy %s (%s): %w", p.ID, p.File, err)
			}
		}
	}
	return e, nil
}

// groupsFor parses (once) the requirements of a policy for a tag: its
// custom.evidence, or else any asset of the kinds it reads.
func (e *Evidence) groupsFor(p *policy.Policy, tag string) (groups, error) {
	texts := p.EvidenceFor(tag)
	if len(texts) == 0 {
		texts = []string{strings.Join(p.Kinds, "|")}
	}
	var out groups
	for _, t := range texts {
		var g []*requirement
		for _, alt := range strings.Split(t, "|") {
			alt = strings.TrimSpace(alt)
			r, ok := e.all[alt]
			if !ok {
				var err error
				if r, err = parseRequirement(alt); err != nil {
					return nil, err
				}
				e.all[alt] = r
				e.byKind[r.kind] = append(e.byKind[r.kind], r)
			}
			g = append(g, r)
		}
		out = append(out, g)
	}
	return out, nil
}

// Observe counts what an asset contributes. It has the signature of
// scan.Options.Assets.
func (e *Evidence) Observe(a *asset.Asset) error {
	reqs, star := e.byKind[a.Kind], e.byKind["*"]
	if len(reqs) == 0 && len(star) == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, list := range [][]*requirement{reqs, star} {
		for _, r := range list {
			k := countKey{r, a.Provider}
			c := e.counts[k]
			if c == nil {
				c = &count{}
				e.counts[k] = c
			}
			c.inScope++
			if r.holds(a) {
				c.present++
			}
		}
	}
	return nil
}

func (e *Evidence) count(r *requirement, provider string) count {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.counts[countKey{r, provider}]; c != nil {
		return *c
	}
	return count{}
}

// assessed says whether every group of requirements was met on the
// provider's assets; when not, why; when met on only some assets of a
// scope-wide fact's kind, how many (note).
func (e *Evidence) assessed(g groups, provider string) (ok bool, missing, note string) {
	var notes []string
	for _, alts := range g {
		met := false
		var best count
		var bestReq *requirement
		for _, r := range alts {
			c := e.count(r, provider)
			if c.present > 0 {
				met = true
				if bestReq == nil || c.present > best.present {
					best, bestReq = c, r
				}
			}
		}
		if !met {
			texts := make([]string, len(alts))
			for i, r := range alts {
				texts[i] = r.describe()
			}
			return false, strings.Join(texts, " or "), ""
		}
		// How complete the fact is: only for facts without a value
		// (a value picks some assets of the kind on purpose).
		if bestReq.value == "" && best.present < best.inScope {
			notes = append(notes, fmt.Sprintf("%s known for %d of %d %s assets", bestReq.facetName(), best.present, best.inScope, bestReq.kind))
		}
	}
	sort.Strings(notes)
	return true, "", strings.Join(notes, "; ")
}

func (r *requirement) describe() string {
	switch {
	case r.facet == "":
		return "no " + r.kind
	case r.value != "":
		return fmt.Sprintf("no %s with %s=%s", r.kind, r.facet, r.value)
	}
	return fmt.Sprintf("no %s with %s", r.kind, r.facet)
}

func (r *requirement) facetName() string {
	if r.facet == "" {
		return r.kind
	}
	return r.facet
}
