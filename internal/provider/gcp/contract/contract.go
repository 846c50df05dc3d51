package contract

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
)

//go:embed testdata/*.json
var files embed.FS

// discovery is the part of a discovery document the checks read.
type discovery struct {
	Name        string               `json:"name"`
	ServicePath string               `json:"servicePath"`
	Parameters  map[string]*param    `json:"parameters"`
	Resources   map[string]*resource `json:"resources"`
	Schemas     map[string]*schema   `json:"schemas"`
}

type resource struct {
	Methods   map[string]*method   `json:"methods"`
	Resources map[string]*resource `json:"resources"`
}

type method struct {
	ID                      string            `json:"id"`
	Path                    string            `json:"path"`
	HTTPMethod              string            `json:"httpMethod"`
	Parameters              map[string]*param `json:"parameters"`
	Request                 *schema           `json:"request"`
	UseMediaDownloadService bool              `json:"useMediaDownloadService"`
	doc                     *discovery
	re                      *regexp.Regexp
	vars                    []string
}

type param struct {
	Type     string   `json:"type"`
	Format   string   `json:"format"`
	Location string   `json:"location"`
	Required bool     `json:"required"`
	Pattern  string   `json:"pattern"`
	Enum     []string `json:"enum"`
	Repeated bool     `json:"repeated"`
}

type schema struct {
	Ref                  string             `json:"$ref"`
	Type                 string             `json:"type"`
	Format               string             `json:"format"`
	Description          string             `json:"description"`
	ReadOnly             bool               `json:"readOnly"`
	Enum                 []string           `json:"enum"`
	Properties           map[string]*schema `json:"properties"`
	Items                *schema            `json:"items"`
	AdditionalProperties *schema            `json:"additionalProperties"`
}

// documents are the discovery documents by API name, the name their
// "name" field gives and the fake's calls carry.
var documents = map[string]string{
	"compute":           "testdata/compute-v1.json",
	"iam":               "testdata/iam-v1.json",
	"storage":           "testdata/storage-v1.json",
	"osconfig":          "testdata/osconfig-v1.json",
	"logging":           "testdata/logging-v2.json",
	"containeranalysis": "testdata/containeranalysis-v1.json",
}

var (
	loadOnce sync.Once
	methods  []*method
	loadErr  error
)

func load() ([]*method, error) {
	loadOnce.Do(func() {
		for _, name := range documents {
			raw, err := files.ReadFile(name)
			if err != nil {
				loadErr = err
				return
			}
			d := &discovery{}
			if err := json.Unmarshal(raw, d); err != nil {
				loadErr = fmt.Errorf("read %s: %w", name, err)
				return
			}
			var walk func(r *resource)
			walk = func(r *resource) {
				for _, m := range r.Methods {
					m.doc = d
					m.re, m.vars = pathRegexp(m.Path)
					methods = append(methods, m)
				}
				for _, sub := range r.Resources {
					walk(sub)
				}
			}
			for _, r := range d.Resources {
				walk(r)
			}
		}
		slices.SortFunc(methods, func(a, b *method) int { return strings.Compare(a.ID, b.ID) })
	})
	return methods, loadErr
}

// pathRegexp turns a discovery path template into a regexp: {x} is one
// segment, {+x} (reserved expansion) may span several.
func pathRegexp(tmpl string) (*regexp.Regexp, []string) {
	var b strings.Builder
	var vars []string
	b.WriteString("^")
	for tmpl != "" {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(tmpl))
			break
		}
		b.WriteString(regexp.QuoteMeta(tmpl[:i]))
		j := strings.IndexByte(tmpl[i:], '}')
		name := tmpl[i+1 : i+j]
		if strings.HasPrefix(name, "+") {
			b.WriteString("(.+)")
			name = name[1:]
		} else {
			b.WriteString("([^/]+)")
		}
		vars = append(vars, name)
		tmpl = tmpl[i+j+1:]
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String()), vars
}

// match finds the discovery method a request calls, with its path
// parameters.
func match(r gcpfake.Request) (*method, map[string]string) {
	ms, _ := load()
	for _, m := range ms {
		// APIs on one host (the fake's) share path shapes: IAM's and OS
		// Config's are both v1/{+name}. The API the fake served decides.
		if m.HTTPMethod != r.HTTPMethod || r.API != "" && m.doc.Name != r.API {
			continue
		}
		prefixes := []string{"/" + m.doc.ServicePath}
		if m.UseMediaDownloadService && r.Query.Get("alt") == "media" {
			// Media is served at the API's path with alt=media, and at the
			// download service's.
			prefixes = append(prefixes, "/download/"+m.doc.ServicePath)
		}
		path := r.RawPath
		if path == "" {
			path = r.Path
		}
		var sub []string
		for _, prefix := range prefixes {
			if rest, ok := strings.CutPrefix(path, prefix); ok {
				if sub = m.re.FindStringSubmatch(rest); sub != nil {
					break
				}
			}
		}
		if sub == nil {
			continue
		}
		vals := map[string]string{}
		for i, v := range m.vars {
			if u, err := url.PathUnescape(sub[i+1]); err == nil {
				vals[v] = u
			} else {
				vals[v] = sub[i+1]
			}
		}
		return m, vals
	}
	return nil, nil
}

// Method names the discovery method a request calls ("" when none does).
func Method(r gcpfake.Request) string {
	if m, _ := match(r); m != nil {
		return m.ID
	}
	return ""
}

// Check returns what is wrong with one request, each problem a sentence.
func Check(r gcpfake.Request) []string {
	if _, err := load(); err != nil {
		return []string{"cannot read the discovery documents: " + err.Error()}
	}
	m, vars := match(r)
	if m == nil {
		return []string{fmt.Sprintf("%s %s: no method of the Compute, IAM, Storage, OS Config, Logging or Container Analysis discovery documents serves it", r.HTTPMethod, r.Path)}
	}
	c := &checker{m: m}
	for name, v := range vars {
		if p := m.Parameters[name]; p != nil && p.Pattern != "" && !anchored(p.Pattern).MatchString(v) {
			c.add("path parameter %s=%q does not match %s", name, v, p.Pattern)
		}
	}
	for name, vs := range r.Query {
		p := m.Parameters[name]
		if p == nil || p.Location != "query" {
			p = m.doc.Parameters[name]
		}
		if p == nil {
			c.add("query parameter %q is not a parameter of %s", name, m.ID)
			continue
		}
		if len(vs) > 1 && !p.Repeated {
			c.add("query parameter %s is given %d times", name, len(vs))
		}
		for _, v := range vs {
			if msg := scalar(p.Type, p.Format, p.Enum, v); msg != "" {
				c.add("query parameter %s=%q: %s", name, v, msg)
			}
			if p.Pattern != "" && !anchored(p.Pattern).MatchString(v) {
				c.add("query parameter %s=%q does not match %s", name, v, p.Pattern)
			}
			if msg := documentedFormat(m, name, v); msg != "" {
				c.add("query parameter %s=%q: %s", name, v, msg)
			}
		}
	}
	for name, p := range m.Parameters {
		if p.Required && p.Location == "query" && !r.Query.Has(name) {
			c.add("required query parameter %s is missing", name)
		}
	}
	for _, name := range r.Requires {
		if !r.Query.Has(name) {
			c.add("query parameter %s is missing, and the documentation requires it here: %s", name, describe(m, name))
		}
	}
	var body any
	if m.Request == nil {
		if len(bytes.TrimSpace(r.Body)) > 0 {
			c.add("the method takes no request body, yet one was sent")
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(r.Body))
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			c.add("the request body is not JSON: %v", err)
		} else if _, ok := body.(map[string]any); !ok {
			c.add("the request body is %s, not the %s object the method takes", bytes.TrimSpace(r.Body), m.Request.Ref)
		} else {
			c.value("", body, m.Request)
		}
	}
	obj, _ := body.(map[string]any)
	for _, in := range intents[m.ID] {
		in(c, r, obj)
	}
	return c.out
}

var anchoredRes sync.Map // pattern -> *regexp.Regexp

// anchored compiles a discovery pattern to match the whole value: the
// documents write them unanchored ("[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?|
// [1-9][0-9]{0,19}"), and matched as they are any value containing a good
// name passes.
func anchored(pattern string) *regexp.Regexp {
	if re, ok := anchoredRes.Load(pattern); ok {
		return re.(*regexp.Regexp)
	}
	re := regexp.MustCompile(`\A(?:` + pattern + `)\z`)
	anchoredRes.Store(pattern, re)
	return re
}

var uuidRe = regexp.MustCompile(`\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\z`)

// documentedFormat checks what a parameter's description requires and its
// schema does not say: requestId "must be a valid UUID with the exception
// that zero UUID is not supported (00000000-0000-0000-0000-000000000000)".
func documentedFormat(m *method, name, v string) string {
	if !strings.Contains(describe(m, name), "must be a valid UUID") {
		return ""
	}
	if !uuidRe.MatchString(v) {
		return "the documentation requires a valid UUID"
	}
	if strings.Trim(v, "0-") == "" {
		return "the documentation does not support the zero UUID"
	}
	return ""
}

// CheckAll checks every request and returns the problems, each once, with
// the method and how many requests had it.
func CheckAll(reqs []gcpfake.Request) []string {
	count := map[string]int{}
	var order []string
	for _, r := range reqs {
		for _, p := range Check(r) {
			key := p
			if m := Method(r); m != "" {
				key = m + ": " + p
			}
			if count[key] == 0 {
				order = append(order, key)
			}
			count[key]++
		}
	}
	out := make([]string, len(order))
	for i, k := range order {
		out[i] = k
		if count[k] > 1 {
			out[i] += fmt.Sprintf(" (%d requests)", count[k])
		}
	}
	return out
}

var descriptions sync.Map // method id + parameter -> description

func describe(m *method, name string) string {
	if d, ok := descriptions.Load(m.ID + " " + name); ok {
		return d.(string)
	}
	d := m.doc.paramDescription(m, name)
	if d == "" {
		d = "see the method's documentation"
	}
	descriptions.Store(m.ID+" "+name, d)
	return d
}

// paramDescription reads a parameter's description from the raw document
// (the typed one drops it).
func (d *discovery) paramDescription(m *method, name string) string {
	raw, err := files.ReadFile(documents[d.Name])
	if err != nil {
		return ""
	}
	var doc struct {
		Resources map[string]json.RawMessage `json:"resources"`
	}
	_ = json.Unmarshal(raw, &doc)
	parts := strings.Split(m.ID, ".")
	cur := doc.Resources
	for i, part := range parts[1 : len(parts)-1] {
		var r struct {
			Methods   map[string]json.RawMessage `json:"methods"`
			Resources map[string]json.RawMessage `json:"resources"`
		}
		_ = json.Unmarshal(cur[part], &r)
		if i == len(parts)-3 {
			var mm struct {
				Parameters map[string]struct {
					Description string `json:"description"`
				} `json:"parameters"`
			}
			_ = json.Unmarshal(r.Methods[parts[len(parts)-1]], &mm)
			return strings.ReplaceAll(mm.Parameters[name].Description, "\n", " ")
		}
		cur = r.Resources
	}
	return ""
}

type checker struct {
	m   *method
	out []string
}

func (c *checker) add(format string, args ...any) {
	c.out = append(c.out, fmt.Sprintf(format, args...))
}

func (c *checker) resolve(s *schema) *schema {
	for s != nil && s.Ref != "" {
		s = c.m.doc.Schemas[s.Ref]
	}
	return s
}

func field(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// value checks a JSON value against a schema.
func (c *checker) value(path string, v any, s *schema) {
	s = c.resolve(s)
	if s == nil || v == nil { // null: a field the caller clears (NullFields)
		return
	}
	switch s.Type {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			c.add("body field %s is %s, want an object", orBody(path), kind(v))
			return
		}
		for k, fv := range obj {
			prop := s.Properties[k]
			if prop == nil {
				prop = s.AdditionalProperties
				if prop == nil {
					c.add("body field %s is not in the schema", field(path, k))
					continue
				}
			} else if prop.ReadOnly || strings.HasPrefix(strings.TrimSpace(prop.Description), "[Output Only]") {
				c.add("body field %s is output only", field(path, k))
			}
			c.value(field(path, k), fv, prop)
		}
	case "array":
		l, ok := v.([]any)
		if !ok {
			c.add("body field %s is %s, want an array", orBody(path), kind(v))
			return
		}
		for i, e := range l {
			c.value(fmt.Sprintf("%s[%d]", path, i), e, s.Items)
		}
	case "any", "":
	default:
		var str string
		switch x := v.(type) {
		case string:
			if s.Type != "string" {
				c.add("body field %s is a string, want %s", path, s.Type)
				return
			}
			str = x
		case json.Number:
			if s.Type != "integer" && s.Type != "number" {
				c.add("body field %s is a number, want %s%s", path, s.Type, formatNote(s.Format))
				return
			}
			str = x.String()
		case bool:
			if s.Type != "boolean" {
				c.add("body field %s is a boolean, want %s", path, s.Type)
				return
			}
			return
		default:
			c.add("body field %s is %s, want %s", path, kind(v), s.Type)
			return
		}
		if msg := scalar(s.Type, s.Format, s.Enum, str); msg != "" {
			c.add("body field %s=%q: %s", path, str, msg)
		}
	}
}

func orBody(path string) string {
	if path == "" {
		return "(the body)"
	}
	return path
}

func formatNote(f string) string {
	if f == "" {
		return ""
	}
	return " (" + f + ", sent as a JSON string)"
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

// scalar checks a string, integer, number or boolean in its text form
// (query parameters, and body values once their JSON kind is checked).
func scalar(typ, format string, enum []string, v string) string {
	switch typ {
	case "boolean":
		if v != "true" && v != "false" {
			return "want true or false"
		}
	case "integer":
		i, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "want an integer"
		}
		switch format {
		case "int32":
			if i < math.MinInt32 || i > math.MaxInt32 {
				return "out of the int32 range"
			}
		case "uint32":
			if i < 0 || i > math.MaxUint32 {
				return "out of the uint32 range"
			}
		}
	case "number":
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return "want a number"
		}
	case "string":
		switch format {
		case "int64":
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return "want an int64 in a string"
			}
		case "uint64":
			if _, err := strconv.ParseUint(v, 10, 64); err != nil {
				return "want a uint64 in a string"
			}
		case "byte":
			if _, err := base64.StdEncoding.DecodeString(v); err != nil {
				if _, err := base64.URLEncoding.DecodeString(v); err != nil {
					return "want base64"
				}
			}
		case "date-time", "google-datetime":
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				return "want an RFC 3339 time"
			}
		}
		if len(enum) > 0 && !slices.Contains(enum, v) {
			return "want one of " + strings.Join(enum, ", ")
		}
	}
	return ""
}

// Methods lists the discovery methods the documents describe.
func Methods() []string {
	ms, _ := load()
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}
