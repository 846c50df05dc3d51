package logfilter

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Cloud Logging queries (the filter of a log-based metric), as the Logging
// query language documents them: comparisons FIELD OP VALUE with the
// operators = != : (has: a case-insensitive substring; :* the field
// exists) =~ !~ (RE2) and < <= > >=, a value quoted or bare, or a
// parenthesized list of values joined by AND/OR; joined by AND, OR or mere
// juxtaposition (AND), negated by NOT or a leading -, grouped by
// parentheses. NOT binds tightest, then OR, then AND (the documented
// order, unlike most languages). A bare value (a "global restriction",
// matched against every field) and a field the event does not fix are
// Unknown, so a query covers an event only when it matches whatever the
// event's other fields are.

// GCPQuery is a parsed Logging query.
type GCPQuery struct{ root cwNode }

// Match says whether the query matches an event of which some fields are
// known (keys are field paths: resource.type, protoPayload.methodName).
func (q *GCPQuery) Match(e Event) Tri { return q.root.eval(e) }

type gNot struct{ x cwNode }

func (n gNot) eval(e Event) Tri { return -n.x.eval(e) }

type gTerm struct{ field, op, value string }

func (t *gTerm) eval(e Event) Tri {
	v, known := e[t.field]
	if !known {
		return Unknown
	}
	switch t.op {
	case "=":
		return tri(v == t.value)
	case "!=":
		return tri(v != t.value)
	case ":":
		if t.value == "*" {
			return True
		}
		return tri(strings.Contains(strings.ToLower(v), strings.ToLower(t.value)))
	case "=~", "!~":
		re, err := regexp.Compile(t.value)
		if err != nil {
			return Unknown
		}
		if t.op == "!~" {
			return tri(!re.MatchString(v))
		}
		return tri(re.MatchString(v))
	}
	return Unknown // an ordering comparison of a string
}

// ParseGCP parses a Logging query. An empty query matches every entry.
func ParseGCP(q string) (*GCPQuery, error) {
	p := &gParser{toks: gTokens(q)}
	if len(p.toks) == 0 {
		return &GCPQuery{root: constNode(True)}, nil
	}
	root, err := p.and()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, fmt.Errorf("logging query: unexpected %q", p.toks[p.i].s)
	}
	return &GCPQuery{root: root}, nil
}

type constNode Tri

func (c constNode) eval(Event) Tri { return Tri(c) }

type gTok struct {
	s      string
	quoted bool
}

// gTokens splits a query: quoted strings, parentheses, operators, and
// bare words (which keep dots, slashes, stars and the like).
func gTokens(q string) []gTok {
	var out []gTok
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(q) && q[j] != '"'; j++ {
				if q[j] == '\\' && j+1 < len(q) {
					j++
				}
				b.WriteByte(q[j])
			}
			out = append(out, gTok{s: b.String(), quoted: true})
			i = j + 1
		case c == '(' || c == ')':
			out = append(out, gTok{s: string(c)})
			i++
		case strings.ContainsRune("=!<>:~", rune(c)):
			j := i + 1
			if j < len(q) && strings.ContainsRune("=~", rune(q[j])) {
				j++
			}
			out = append(out, gTok{s: q[i:j]})
			i = j
		default:
			j := i
			for j < len(q) && !strings.ContainsRune(" \t\r\n\"()=!<>:~", rune(q[j])) {
				j++
			}
			out = append(out, gTok{s: q[i:j]})
			i = j
		}
	}
	return out
}

type gParser struct {
	toks []gTok
	i    int
}

func (p *gParser) peek() (gTok, bool) {
	if p.i < len(p.toks) {
		return p.toks[p.i], true
	}
	return gTok{}, false
}

func (p *gParser) word(w string) bool {
	t, ok := p.peek()
	if ok && !t.quoted && t.s == w {
		p.i++
		return true
	}
	return false
}

// and: terms joined by AND or juxtaposed, the loosest binding.
func (p *gParser) and() (cwNode, error) {
	left, err := p.or()
	if err != nil {
		return nil, err
	}
	for {
		t, ok := p.peek()
		if !ok || (!t.quoted && t.s == ")") {
			return left, nil
		}
		p.word("AND")
		right, err := p.or()
		if err != nil {
			return nil, err
		}
		left = &cwBool{and: true, left: left, right: right}
	}
}

func (p *gParser) or() (cwNode, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.word("OR") {
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		left = &cwBool{left: left, right: right}
	}
	return left, nil
}

func (p *gParser) unary() (cwNode, error) {
	if p.word("NOT") {
		x, err := p.unary()
		return gNot{x}, err
	}
	if t, ok := p.peek(); ok && !t.quoted && strings.HasPrefix(t.s, "-") && len(t.s) > 1 {
		p.toks[p.i].s = t.s[1:]
		x, err := p.unary()
		return gNot{x}, err
	}
	return p.primary()
}

func (p *gParser) primary() (cwNode, error) {
	t, ok := p.peek()
	if !ok {
		return nil, fmt.Errorf("logging query: ends too soon")
	}
	if !t.quoted && t.s == "(" {
		p.i++
		x, err := p.and()
		if err != nil {
			return nil, err
		}
		if !p.word(")") {
			return nil, fmt.Errorf("logging query: a ( is not closed")
		}
		return x, nil
	}
	if !t.quoted && (t.s == ")" || isGOp(t.s)) {
		return nil, fmt.Errorf("logging query: unexpected %q", t.s)
	}
	p.i++
	op, ok := p.peek()
	if t.quoted || !ok || op.quoted || !isGOp(op.s) {
		return constNode(Unknown), nil // a global restriction: any field may hold it
	}
	p.i++
	return p.values(t.s, op.s)
}

func isGOp(s string) bool {
	return slices.Contains([]string{"=", "!=", ":", "=~", "!~", "<", "<=", ">", ">="}, s)
}

// values reads the right side of a comparison: one value, or a
// parenthesized list (field:("a" OR "b") is field:"a" OR field:"b").
func (p *gParser) values(field, op string) (cwNode, error) {
	t, ok := p.peek()
	if !ok {
		return nil, fmt.Errorf("logging query: %s%s has no value", field, op)
	}
	if t.quoted || t.s != "(" {
		p.i++
		return &gTerm{field: field, op: op, value: t.s}, nil
	}
	p.i++
	var node cwNode
	join := false
	for {
		if p.word(")") {
			if node == nil {
				return nil, fmt.Errorf("logging query: %s%s() is empty", field, op)
			}
			return node, nil
		}
		and := true
		switch {
		case p.word("OR"):
			and = false
		case p.word("AND"):
		}
		v, ok := p.peek()
		if !ok {
			return nil, fmt.Errorf("logging query: a ( is not closed")
		}
		p.i++
		term := cwNode(&gTerm{field: field, op: op, value: v.s})
		if node == nil {
			node = term
		} else {
			node = &cwBool{and: and && join, left: node, right: term}
		}
		join = true
	}
}

// GCPChanges are the changes of CIS GCP Foundations 3.0 2.4, 2.7, 2.8 and
// 2.9 as audit log entries (the Admin Activity entries of each method the
// benchmark's filters name): a metric covers a change when its filter
// matches every one of them.
var GCPChanges = map[string][]Event{
	"project ownership changes": {
		ownerDelta("ADD"), ownerDelta("REMOVE"),
	},
	"firewall rule changes": computeEvents("gce_firewall_rule", "firewalls", "insert", "patch", "delete"),
	"route changes":         computeEvents("gce_route", "routes", "insert", "delete"),
	"network changes":       computeEvents("gce_network", "networks", "insert", "patch", "delete", "addPeering", "removePeering"),
}

func ownerDelta(action string) Event {
	return Event{"resource.type": "project", "protoPayload.serviceName": "cloudresourcemanager.googleapis.com",
		"protoPayload.methodName":                                   "SetIamPolicy",
		"protoPayload.serviceData.policyDelta.bindingDeltas.action": action,
		"protoPayload.serviceData.policyDelta.bindingDeltas.role":   "roles/owner"}
}

func computeEvents(typ, collection string, methods ...string) []Event {
	var out []Event
	for _, m := range methods {
		out = append(out, Event{"resource.type": typ, "protoPayload.serviceName": "compute.googleapis.com",
			"protoPayload.methodName": "v1.compute." + collection + "." + m})
	}
	return out
}

// gcpUnrelated are entries no alerting metric should match: a filter that
// matches one matches (nearly) everything.
var gcpUnrelated = []Event{
	{"resource.type": "gce_instance", "protoPayload.serviceName": "compute.googleapis.com", "protoPayload.methodName": "v1.compute.instances.insert"},
	{"resource.type": "gcs_bucket", "protoPayload.serviceName": "storage.googleapis.com", "protoPayload.methodName": "storage.buckets.create"},
}

// Covers lists the GCPChanges (sorted) the query matches in every entry,
// and whether it matches an unrelated entry too (catchAll).
func (q *GCPQuery) Covers() (changes []string, catchAll bool) {
	for name, events := range GCPChanges {
		all := true
		for _, e := range events {
			if q.Match(e) != True {
				all = false
				break
			}
		}
		if all {
			changes = append(changes, name)
		}
	}
	slices.Sort(changes)
	for _, e := range gcpUnrelated {
		if q.Match(e) == True {
			catchAll = true
		}
	}
	return changes, catchAll
}
