package awsfake

import (
	"encoding/xml"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// form is a query-protocol request body: flattened lists are "Name.N",
// nested structures "Name.N.Member".
type form struct{ v url.Values }

func parseForm(body []byte) form {
	v, _ := url.ParseQuery(string(body))
	return form{v}
}

func (f form) get(k string) string { return f.v.Get(k) }

// list returns Name.1, Name.2, ... in order.
func (f form) list(name string) []string {
	var out []string
	for i := 1; ; i++ {
		k := name + "." + strconv.Itoa(i)
		if !f.v.Has(k) {
			return out
		}
		out = append(out, f.v.Get(k))
	}
}

// items returns the structures Name.1.*, Name.2.*, ... as forms of their
// members.
func (f form) items(name string) []form {
	var out []form
	for i := 1; ; i++ {
		prefix := name + "." + strconv.Itoa(i) + "."
		sub := url.Values{}
		for k, vs := range f.v {
			if strings.HasPrefix(k, prefix) {
				sub[strings.TrimPrefix(k, prefix)] = vs
			}
		}
		if len(sub) == 0 {
			return out
		}
		out = append(out, form{sub})
	}
}

// tags reads TagSpecification.N (for resource type rt) or Tag.N.
func (f form) tagSpec(rt string) map[string]string {
	out := map[string]string{}
	for _, spec := range f.items("TagSpecification") {
		if spec.get("ResourceType") != rt {
			continue
		}
		for _, t := range spec.items("Tag") {
			out[t.get("Key")] = t.get("Value")
		}
	}
	return out
}

// filters reads Filter.N.Name / Filter.N.Value.M.
func (f form) filters() map[string][]string {
	out := map[string][]string{}
	for _, it := range f.items("Filter") {
		out[it.get("Name")] = append(out[it.get("Name")], it.list("Value")...)
	}
	return out
}

// matches applies filters to a resource whose filterable values attr gives.
func matches(filters map[string][]string, attr func(name string) []string) bool {
	for name, want := range filters {
		have := attr(name)
		hit := false
		for _, w := range want {
			for _, h := range have {
				if w == h {
					hit = true
				}
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

func tagAttr(tags map[string]string, name string) []string {
	if k, ok := strings.CutPrefix(name, "tag:"); ok {
		if v, ok := tags[k]; ok {
			return []string{v}
		}
		return nil
	}
	if name == "tag-key" {
		var keys []string
		for k := range tags {
			keys = append(keys, k)
		}
		return keys
	}
	return nil
}

// xb builds XML responses.
type xb struct{ strings.Builder }

func (b *xb) open(name string)  { b.WriteString("<" + name + ">") }
func (b *xb) close(name string) { b.WriteString("</" + name + ">") }
func (b *xb) el(name, value string) {
	b.open(name)
	xml.EscapeText(b, []byte(value))
	b.close(name)
}
func (b *xb) elIf(name, value string) {
	if value != "" {
		b.el(name, value)
	}
}
func (b *xb) bool(name string, v bool) { b.el(name, strconv.FormatBool(v)) }
func (b *xb) int(name string, v int)   { b.el(name, strconv.Itoa(v)) }

// tagSet writes EC2's tagSet.
func (b *xb) tagSet(tags map[string]string) {
	if len(tags) == 0 {
		return
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.open("tagSet")
	for _, k := range keys {
		b.open("item")
		b.el("key", k)
		b.el("value", tags[k])
		b.close("item")
	}
	b.close("tagSet")
}

// page cuts a list by MaxResults/NextToken (an offset).
func page(f form, n int) (from, to int, next string) {
	from, _ = strconv.Atoi(f.get("NextToken"))
	if from > n {
		from = n
	}
	to = n
	if max, err := strconv.Atoi(f.get("MaxResults")); err == nil && max > 0 && from+max < n {
		to = from + max
		next = strconv.Itoa(to)
	}
	return from, to, next
}
