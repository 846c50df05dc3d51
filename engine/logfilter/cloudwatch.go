package logfilter

import (
	"fmt"
	"strings"
	"unicode"
)

// CloudWatch Logs filter patterns for JSON log events (what CloudTrail
// delivers to a log group), as documented in "Filter pattern syntax for
// metric filters": { SELECTOR OP VALUE } terms such as
// ($.eventName = CreatePolicy), joined by && and || (&& binding tighter)
// and grouped by parentheses; = and != compare strings, where * is a
// wildcard; IS NULL, NOT EXISTS, IS TRUE/FALSE and numeric comparisons
// test fields. Patterns that are not JSON patterns (terms matched in the
// raw text) never cover an event: the text is not known.

// CloudWatchPattern is a parsed filter pattern.
type CloudWatchPattern struct{ root cwNode }

type cwNode interface{ eval(Event) Tri }

type cwBool struct {
	and         bool
	left, right cwNode
}

func (n *cwBool) eval(e Event) Tri {
	if n.and {
		return and(n.left.eval(e), n.right.eval(e))
	}
	return or(n.left.eval(e), n.right.eval(e))
}

// cwTerm is one comparison of a field (the selector without "$.").
type cwTerm struct {
	field, op, value string
	quoted           bool
}

func (t *cwTerm) eval(e Event) Tri {
	v, known := e[t.field]
	if !known {
		return Unknown
	}
	switch t.op {
	case "=", "!=":
		if !t.quoted && strings.HasPrefix(t.value, "%") && strings.HasSuffix(t.value, "%") && len(t.value) > 1 {
			return Unknown // a regular expression: not evaluated
		}
		ok := wildcard(t.value, v)
		if t.op == "!=" {
			return tri(!ok)
		}
		return tri(ok)
	case "IS NULL", "NOT EXISTS":
		return False // the field is there, with a value
	case "EXISTS":
		return True
	}
	return Unknown // numeric comparisons, IS TRUE/FALSE: not on string fields
}

// wildcard matches v against a value in which * stands for any run of
// characters, as CloudWatch Logs compares strings.
func wildcard(pattern, v string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == v
	}
	if !strings.HasPrefix(v, parts[0]) {
		return false
	}
	v = v[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(v, mid)
		if i < 0 {
			return false
		}
		v = v[i+len(mid):]
	}
	return strings.HasSuffix(v, last)
}

// ParseCloudWatch parses a metric filter pattern. A pattern that is not a
// JSON pattern ({ ... }) gives a pattern that covers nothing.
func ParseCloudWatch(pattern string) (*CloudWatchPattern, error) {
	s := strings.TrimSpace(pattern)
	if !strings.HasPrefix(s, "{") {
		return &CloudWatchPattern{root: unknownNode{}}, nil
	}
	if !strings.HasSuffix(s, "}") {
		return nil, fmt.Errorf("filter pattern %q: a JSON pattern ends with }", pattern)
	}
	p := &cwParser{s: s[1 : len(s)-1]}
	n, err := p.or()
	if err != nil {
		return nil, fmt.Errorf("filter pattern %q: %w", pattern, err)
	}
	if p.skip(); p.i < len(p.s) {
		return nil, fmt.Errorf("filter pattern %q: unexpected %q", pattern, p.s[p.i:])
	}
	return &CloudWatchPattern{root: n}, nil
}

// Match says whether the pattern matches an event of which e is known.
func (p *CloudWatchPattern) Match(e Event) Tri { return p.root.eval(e) }

type unknownNode struct{}

func (unknownNode) eval(Event) Tri { return Unknown }

type cwParser struct {
	s string
	i int
}

func (p *cwParser) skip() {
	for p.i < len(p.s) && unicode.IsSpace(rune(p.s[p.i])) {
		p.i++
	}
}

func (p *cwParser) eat(tok string) bool {
	p.skip()
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

func (p *cwParser) or() (cwNode, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.eat("||") {
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		left = &cwBool{left: left, right: right}
	}
	return left, nil
}

func (p *cwParser) and() (cwNode, error) {
	left, err := p.primary()
	if err != nil {
		return nil, err
	}
	for p.eat("&&") {
		right, err := p.primary()
		if err != nil {
			return nil, err
		}
		left = &cwBool{and: true, left: left, right: right}
	}
	return left, nil
}

func (p *cwParser) primary() (cwNode, error) {
	if p.eat("(") {
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.eat(")") {
			return nil, fmt.Errorf("missing ) at %d", p.i)
		}
		return n, nil
	}
	p.skip()
	if !strings.HasPrefix(p.s[p.i:], "$.") {
		return nil, fmt.Errorf("want a selector ($.field) at %q", p.s[p.i:])
	}
	start := p.i + 2
	p.i = start
	for p.i < len(p.s) && (isIdent(p.s[p.i]) || p.s[p.i] == '.' || p.s[p.i] == '[' || p.s[p.i] == ']') {
		p.i++
	}
	t := &cwTerm{field: p.s[start:p.i]}
	p.skip()
	rest := p.s[p.i:]
	for _, op := range []string{"IS NULL", "NOT EXISTS", "EXISTS", "IS TRUE", "IS FALSE"} {
		if strings.HasPrefix(rest, op) {
			t.op = op
			p.i += len(op)
			return t, nil
		}
	}
	for _, op := range []string{"!=", ">=", "<=", "=", ">", "<"} {
		if strings.HasPrefix(rest, op) {
			t.op = op
			p.i += len(op)
			break
		}
	}
	if t.op == "" {
		return nil, fmt.Errorf("want an operator after $.%s", t.field)
	}
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == '"' {
		end := strings.IndexByte(p.s[p.i+1:], '"')
		if end < 0 {
			return nil, fmt.Errorf("unterminated string after $.%s", t.field)
		}
		t.value, t.quoted = p.s[p.i+1:p.i+1+end], true
		p.i += end + 2
		return t, nil
	}
	start = p.i
	for p.i < len(p.s) && !unicode.IsSpace(rune(p.s[p.i])) && p.s[p.i] != ')' && p.s[p.i] != '&' && p.s[p.i] != '|' {
		p.i++
	}
	t.value = p.s[start:p.i]
	if t.value == "" {
		return nil, fmt.Errorf("want a value after $.%s %s", t.field, t.op)
	}
	return t, nil
}

func isIdent(c byte) bool {
	return c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
