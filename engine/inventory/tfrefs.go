package inventory

import (
	"strings"
)

// Instance-aware references. A configuration reference names a resource
// block (aws_s3_bucket.this), sometimes one instance of it
// (google_storage_bucket.b["pub"]), in the scope of the module instance
// that holds the expression (module.m["a"]). Resolving it against the
// plan's resource instances, rather than against block addresses, keeps
// the instances of a count or for_each block apart: the public access
// block of module.m["b"] must not protect the bucket of module.m["a"].

// addrStep is one step of an address or reference: a name with an
// optional instance key, kept as written ("0", `"pub"`).
type addrStep struct {
	name   string
	key    string
	hasKey bool
}

// splitSteps splits an address or reference at the dots outside instance
// keys: module.a["x.y"].aws_vpc.v[0] -> module, a["x.y"], aws_vpc, v[0].
func splitSteps(s string) []addrStep {
	var out []addrStep
	var cur addrStep
	var name strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '.':
			cur.name = name.String()
			out = append(out, cur)
			cur, name = addrStep{}, strings.Builder{}
		case '[':
			// the key runs to the matching ], strings may hold ] and dots
			j, inString := i+1, false
			for ; j < len(s); j++ {
				if inString {
					if s[j] == '\\' {
						j++
					} else if s[j] == '"' {
						inString = false
					}
					continue
				}
				if s[j] == '"' {
					inString = true
				} else if s[j] == ']' {
					break
				}
			}
			cur.key, cur.hasKey = s[i+1:min(j, len(s))], true
			i = j // past the end when the key is not closed
		default:
			name.WriteByte(c)
		}
	}
	cur.name = name.String()
	return append(out, cur)
}

// instAddr is a resource instance's address taken apart.
type instAddr struct {
	modules []addrStep // module calls with their instance keys
	data    bool
	typ     string
	name    string
	key     string
	hasKey  bool
}

func parseInstAddr(addr string) instAddr {
	var a instAddr
	steps := splitSteps(addr)
	i := 0
	for i+1 < len(steps) && steps[i].name == "module" {
		a.modules = append(a.modules, steps[i+1])
		i += 2
	}
	if i < len(steps) && steps[i].name == "data" {
		a.data = true
		i++
	}
	if i+1 < len(steps) {
		a.typ = steps[i].name
		a.name, a.key, a.hasKey = steps[i+1].name, steps[i+1].key, steps[i+1].hasKey
	}
	return a
}

// modPattern is a module instance as a reference determines it: each call
// with its key, or any key when the reference goes through a call without
// naming one.
type modPattern []modStep

type modStep struct {
	name, key string
	anyKey    bool
}

func exactModules(steps []addrStep) modPattern {
	out := make(modPattern, len(steps))
	for i, s := range steps {
		out[i] = modStep{name: s.name, key: s.key, anyKey: !s.hasKey}
	}
	return out
}

func (p modPattern) matches(steps []addrStep) bool {
	if len(p) != len(steps) {
		return false
	}
	for i, s := range steps {
		if p[i].name != s.name || (!p[i].anyKey && (p[i].key != s.key || !s.hasKey)) {
			return false
		}
	}
	return true
}

func (p modPattern) child(s addrStep) modPattern {
	out := append(modPattern(nil), p...)
	return append(out, modStep{name: s.name, key: s.key, anyKey: !s.hasKey})
}

// refTarget is what one reference names: a resource block in a module
// instance, and the instance key when the reference gives one.
type refTarget struct {
	mods   modPattern
	block  string // address without instance keys: module.m.aws_s3_bucket.this
	key    string
	hasKey bool
}

// resolveTargets resolves the references of an expression of r (in the
// module instance that holds r) to the resource blocks and instances they
// name, following module outputs. A reference that Terraform also lists
// with an instance key (b["pub"].name, b["pub"], b) names that instance.
func (p *tfPlan) resolveTargets(r *tfResource, refs []string) []refTarget {
	var out []refTarget
	var resolve func(mods modPattern, prefix, ref string, depth int)
	resolve = func(mods modPattern, prefix, ref string, depth int) {
		if depth > 8 {
			return
		}
		steps := splitSteps(ref)
		switch {
		case len(steps) >= 3 && steps[0].name == "module":
			child := joinAddr(prefix, "module."+steps[1].name)
			for _, r := range p.outputsByModule[child][steps[2].name] {
				resolve(mods.child(steps[1]), child, r, depth+1)
			}
		case len(steps) >= 3 && steps[0].name == "data":
			out = append(out, refTarget{mods: mods, block: joinAddr(prefix, "data."+steps[1].name+"."+steps[2].name), key: steps[2].key, hasKey: steps[2].hasKey})
		case len(steps) >= 2 && !notResource[steps[0].name]:
			out = append(out, refTarget{mods: mods, block: joinAddr(prefix, steps[0].name+"."+steps[1].name), key: steps[1].key, hasKey: steps[1].hasKey})
		}
	}
	prefix := ""
	if r.cfg != nil {
		prefix = r.cfg.module
	}
	mods := exactModules(parseInstAddr(r.addr).modules)
	for _, ref := range refs {
		resolve(mods, prefix, ref, 0)
	}
	// Terraform lists b["pub"].name, b["pub"] and b for one reference:
	// the keyless form adds nothing when a keyed one names the block.
	keyed := map[string]bool{}
	for _, t := range out {
		if t.hasKey {
			keyed[t.block] = true
		}
	}
	kept := out[:0]
	seen := map[string]bool{}
	for _, t := range out {
		if !t.hasKey && keyed[t.block] {
			continue
		}
		id := t.block + "\x00" + t.key + "\x00" + modKey(t.mods)
		if !seen[id] {
			seen[id] = true
			kept = append(kept, t)
		}
	}
	return kept
}

func modKey(p modPattern) string {
	var b strings.Builder
	for _, s := range p {
		b.WriteString(s.name)
		if !s.anyKey {
			b.WriteString("[" + s.key + "]")
		}
		b.WriteByte('.')
	}
	return b.String()
}

// notResource are the reference roots that do not name resources.
var notResource = map[string]bool{"var": true, "local": true, "each": true, "count": true, "path": true, "self": true, "terraform": true}

// iterates reports whether an expression depends on the instance it is
// evaluated for (count.index, each.key, each.value).
func iterates(refs []string) bool {
	for _, r := range refs {
		if r == "count.index" || r == "each" || strings.HasPrefix(r, "each.") {
			return true
		}
	}
	return false
}
