package gcpfake

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Cloud Logging's entries.list (POST /v2/entries:list), over the entries
// the fake holds (AddLogEntries; the scenario's are the samples in
// testdata/audit-entries.json). The request is the documented
// ListLogEntriesRequest: resourceNames required, filter in the Logging
// query language, orderBy "timestamp asc" (default) or "timestamp desc",
// pageSize default 50 and at most 1000, pageToken from the previous page.
// The fake evaluates the part of the query language vigil and most
// responders write: comparisons (=, !=, :, <, <=, >, >=) of a field path
// with a quoted or bare value, AND (or juxtaposition), OR, NOT and
// parentheses, with NOT binding tightest, then OR, then AND, as the
// language documents; anything else is a 400, as a filter the API cannot
// parse is.

//go:embed testdata/audit-entries.json
var auditEntries []byte

// Scenario times and addresses of the audit log samples.
var (
	// AlertTime is when the scenario's alert on web-1 fired.
	AlertTime = time.Date(2026, 11, 27, 8, 30, 0, 0, time.UTC)
)

// AttackerIP is where the leaked key was used from.
const AttackerIP = "203.0.113.77"

// ScenarioEntries are the scenario's audit log entries.
func ScenarioEntries() []Doc {
	var out []Doc
	dec := json.NewDecoder(bytes.NewReader(auditEntries))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		panic("gcpfake: testdata/audit-entries.json: " + err.Error())
	}
	return out
}

// AddLogEntries adds log entries (LogEntry documents) (under With).
func (f *Fake) AddLogEntries(es ...Doc) { f.logEntries = append(f.logEntries, es...) }

func (f *Fake) listEntries(w http.ResponseWriter, r *http.Request, body []byte) Call {
	call := Call{API: "logging", Operation: "entries.list", Permissions: []string{"logging.logEntries.list"}}
	if r.Method != http.MethodPost {
		apiError(w, 404, "NOT_FOUND", "notFound", "entries:list is POST")
		return call
	}
	in, err := decodeObject(body)
	if err != nil {
		badRequest(w, err.Error())
		return call
	}
	names := in.Strs("resourceNames")
	call.Target = strings.Join(names, ",")
	if hit, _ := f.faultHTTP(w, &call, "logging", "logging.logEntries.list", call.Target); hit {
		return call
	}
	if len(names) == 0 {
		badRequest(w, "resourceNames: Required")
		return call
	}
	var projects []string
	for _, n := range names {
		p, ok := strings.CutPrefix(n, "projects/")
		if !ok || strings.Contains(p, "/") {
			badRequest(w, fmt.Sprintf("Invalid resource name %q (the fake serves projects/PROJECT_ID)", n))
			return call
		}
		if f.projects[p] == nil {
			apiError(w, 403, "PERMISSION_DENIED", "forbidden", fmt.Sprintf("The caller does not have permission (project %s)", p))
			return call
		}
		projects = append(projects, p)
	}
	size := int64(50)
	if v, ok := in.Int("pageSize"); ok {
		if v < 0 || v > 1000 {
			badRequest(w, "pageSize must be between 0 and 1000")
			return call
		}
		if v > 0 {
			size = v
		}
	}
	desc := false
	switch strings.Join(strings.Fields(in.Str("orderBy")), " ") {
	case "", "timestamp asc":
	case "timestamp desc":
		desc = true
	default:
		badRequest(w, "orderBy: the only permitted values are \"timestamp asc\" and \"timestamp desc\"")
		return call
	}
	match := func(Doc) (bool, error) { return true, nil }
	if flt := strings.TrimSpace(in.Str("filter")); flt != "" {
		ex, err := parseFilter(flt)
		if err != nil {
			badRequest(w, "Invalid filter: "+err.Error())
			return call
		}
		match = ex.eval
	}
	var hits []Doc
	for _, e := range f.logEntries {
		if !slices.ContainsFunc(projects, func(p string) bool { return strings.HasPrefix(e.Str("logName"), "projects/"+p+"/") }) {
			continue
		}
		ok, err := match(e)
		if err != nil {
			badRequest(w, "Invalid filter: "+err.Error())
			return call
		}
		if ok {
			hits = append(hits, e)
		}
	}
	slices.SortStableFunc(hits, func(a, b Doc) int {
		c := strings.Compare(normTime(a.Str("timestamp")), normTime(b.Str("timestamp")))
		if desc {
			return -c
		}
		return c
	})
	offset := 0
	if tok := in.Str("pageToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "offset:"))
		if err != nil || err2 != nil || n < 0 || n > len(hits) {
			badRequest(w, "Invalid pageToken")
			return call
		}
		offset = n
	}
	end := min(len(hits), offset+int(size))
	out := map[string]any{"entries": list(hits[offset:end])}
	if end < len(hits) {
		out["nextPageToken"] = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(end)))
	}
	writeJSON(w, out)
	return call
}

// normTime makes timestamps compare as times.
func normTime(s string) string {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC().Format("2006-01-02T15:04:05.000000000Z")
	}
	return s
}

// A filter expression.
type filterExpr interface{ eval(Doc) (bool, error) }

type andExpr []filterExpr
type orExpr []filterExpr
type notExpr struct{ x filterExpr }
type cmpExpr struct{ field, op, value string }

func (a andExpr) eval(d Doc) (bool, error) {
	for _, x := range a {
		if ok, err := x.eval(d); err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func (o orExpr) eval(d Doc) (bool, error) {
	for _, x := range o {
		if ok, err := x.eval(d); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func (n notExpr) eval(d Doc) (bool, error) {
	ok, err := n.x.eval(d)
	return !ok, err
}

// fieldValue follows a dotted path through the entry.
func fieldValue(d Doc, path string) (string, bool) {
	var cur any = map[string]any(d)
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			if dd, ok2 := cur.(Doc); ok2 {
				m = dd
			} else {
				return "", false
			}
		}
		if cur, ok = m[part]; !ok {
			return "", false
		}
	}
	switch v := cur.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	case nil:
		return "", false
	}
	raw, _ := json.Marshal(cur)
	return string(raw), true
}

func (c cmpExpr) eval(d Doc) (bool, error) {
	got, ok := fieldValue(d, c.field)
	if !ok {
		return c.op == "!=", nil
	}
	want := c.value
	if c.field == "timestamp" || c.field == "receiveTimestamp" {
		if _, err := time.Parse(time.RFC3339Nano, want); err != nil {
			return false, fmt.Errorf("%s %s %q: not a timestamp", c.field, c.op, want)
		}
		got, want = normTime(got), normTime(want)
	}
	switch c.op {
	case "=":
		return got == want, nil
	case "!=":
		return got != want, nil
	case ":":
		// "has": a substring, case-insensitive.
		return strings.Contains(strings.ToLower(got), strings.ToLower(want)), nil
	case "<":
		return got < want, nil
	case "<=":
		return got <= want, nil
	case ">":
		return got > want, nil
	case ">=":
		return got >= want, nil
	}
	return false, fmt.Errorf("operator %s", c.op)
}

type filterParser struct {
	toks []string
	i    int
}

func parseFilter(s string) (filterExpr, error) {
	toks, err := lexFilter(s)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks}
	x, err := p.and()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.i])
	}
	return x, nil
}

func (p *filterParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

// and: or { [AND] or } (AND binds loosest).
func (p *filterParser) and() (filterExpr, error) {
	var xs andExpr
	for {
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		xs = append(xs, x)
		switch t := p.peek(); t {
		case "AND":
			p.i++
		case "", ")":
			if len(xs) == 1 {
				return xs[0], nil
			}
			return xs, nil
		}
	}
}

func (p *filterParser) or() (filterExpr, error) {
	var xs orExpr
	for {
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		xs = append(xs, x)
		if p.peek() != "OR" {
			if len(xs) == 1 {
				return xs[0], nil
			}
			return xs, nil
		}
		p.i++
	}
}

func (p *filterParser) unary() (filterExpr, error) {
	switch t := p.peek(); t {
	case "NOT", "-":
		p.i++
		x, err := p.unary()
		return notExpr{x}, err
	case "(":
		p.i++
		x, err := p.and()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.i++
		return x, nil
	case "":
		return nil, fmt.Errorf("the filter ends early")
	}
	field := p.toks[p.i]
	if strings.HasPrefix(field, `"`) || isOp(field) || field == ")" || field == "AND" || field == "OR" {
		return nil, fmt.Errorf("want a field at %q (the fake does not serve global text search)", field)
	}
	p.i++
	op := p.peek()
	if !isOp(op) {
		return nil, fmt.Errorf("want a comparison after %s, got %q", field, op)
	}
	p.i++
	v := p.peek()
	if v == "" || v == "(" || v == ")" || isOp(v) {
		return nil, fmt.Errorf("want a value after %s%s (the fake does not serve value lists)", field, op)
	}
	p.i++
	if strings.HasPrefix(v, `"`) {
		var s string
		if err := json.Unmarshal([]byte(v), &s); err != nil {
			return nil, fmt.Errorf("bad string %s", v)
		}
		v = s
	}
	return cmpExpr{field: field, op: op, value: v}, nil
}

func isOp(t string) bool {
	switch t {
	case "=", "!=", ":", "<", "<=", ">", ">=":
		return true
	}
	return false
}

func lexFilter(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == ':' || c == '=':
			out = append(out, string(c))
			i++
		case c == '!' || c == '<' || c == '>':
			if i+1 < len(s) && s[i+1] == '=' {
				out = append(out, s[i:i+2])
				i += 2
			} else if c == '!' {
				return nil, fmt.Errorf("unexpected ! at %d", i)
			} else {
				out = append(out, string(c))
				i++
			}
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			out = append(out, s[i:j+1])
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()=:!<>\"", rune(s[j])) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out, nil
}
