package runbook

import (
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// redactor removes the values of sensitive variables from text an action
// produced (summaries, details, outputs, errors): actions see real values,
// and may echo them, but plans and journals never hold them in clear.
type redactor struct{ secrets []string }

func newRedactor(vars map[string]*VarValue) *redactor {
	r := &redactor{}
	for _, v := range vars {
		if !v.Sensitive {
			continue
		}
		val, _ := v.Value.UnmarkDeep()
		collectStrings(val, &r.secrets)
	}
	// longest first, so a secret containing another is replaced whole
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	return r
}

func collectStrings(v cty.Value, out *[]string) {
	if !v.IsKnown() || v.IsNull() {
		return
	}
	switch {
	case v.Type() == cty.String:
		// very short values would redact ordinary words
		if s := v.AsString(); len(s) >= 4 {
			*out = append(*out, s)
		}
	case v.CanIterateElements():
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			collectStrings(e, out)
		}
	}
}

func (r *redactor) text(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, SensitiveText)
	}
	return s
}

func (r *redactor) texts(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = r.text(s)
	}
	return out
}

// value redacts the strings of an encoded value.
func (r *redactor) value(v any) any {
	if len(r.secrets) == 0 {
		return v
	}
	switch x := v.(type) {
	case string:
		return r.text(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.value(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = r.value(e)
		}
		return out
	}
	return v
}
