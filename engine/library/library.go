// Package library reads Config Validator policy libraries (Google's
// policy-library layout): ConstraintTemplate YAML whose Rego judges Cloud
// Asset Inventory assets for the target validation.gcp.forsetisecurity.org,
// and the constraints that instantiate them with parameters, a severity
// and the part of the resource hierarchy they apply to. The policy engine
// compiles the templates next to vigil's own policies and judges GCP
// assets with the constraints (see policy.Options.Libraries).
package library

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Target is the Config Validator target for GCP assets; templates for
// other targets (Kubernetes admission) are not vigil's.
const Target = "validation.gcp.forsetisecurity.org"

// Template is one ConstraintTemplate.
type Template struct {
	Name string // metadata.name
	Kind string // spec.crd.spec.names.kind: what constraints name
	File string
	Line int // of the kind
	// Rego is the template's policy; RegoLine is the file line of its
	// first line, so that Rego errors can name the YAML line.
	Rego     string
	RegoLine int
	// Libs are extra modules of the v1beta1 form (targets[].libs).
	Libs []string
	// Schema is spec.crd.spec.validation.openAPIV3Schema, for the
	// constraints' parameters.
	Schema map[string]any
}

// Package is the Rego package a template's policy must declare.
func (t *Template) Package() string { return "templates.gcp." + t.Kind }

// Constraint instantiates a template.
type Constraint struct {
	// ID names the constraint in findings and waivers: kind/name.
	ID          string
	Kind        string
	Name        string
	Description string
	Severity    string
	File        string
	Line        int
	// Dir is the library directory the constraint came from.
	Dir   string
	Match *Match
	// Object is the whole constraint, which templates read as
	// input.constraint.
	Object map[string]any
}

// Library is what a set of policy library directories hold.
type Library struct {
	Templates   map[string]*Template // by kind
	Constraints []*Constraint
	// Lib are the modules of data.validator.gcp.lib: the library's own
	// lib/*.rego when it has them, else vigil's (see lib/).
	Lib map[string]string
	// Warnings are problems that do not stop the scan.
	Warnings []string
}

// Error is a problem in a library file.
type Error struct {
	File    string
	Line    int
	Message string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Message)
}

// Errors are all the problems found in the libraries.
type Errors []error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

//go:embed lib/*.rego
var libFS embed.FS

// Load reads policy libraries: each directory's policies/templates and
// policies/constraints (or, without a policies directory, every YAML file
// under it), and its lib/*.rego.
func Load(dirs ...string) (*Library, error) {
	l := &Library{Templates: map[string]*Template{}, Lib: map[string]string{}}
	var errs Errors
	type pending struct {
		c    *Constraint
		spec map[string]any
		node *yaml.Node
	}
	var constraints []pending
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			return nil, &Error{File: dir, Message: "a policy library is a directory (with policies/templates and policies/constraints)"}
		}
		root := dir
		if st, err := os.Stat(filepath.Join(dir, "policies")); err == nil && st.IsDir() {
			root = filepath.Join(dir, "policies")
		}
		var files []string
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if ext := strings.ToLower(filepath.Ext(p)); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		for _, f := range files {
			docs, err := readYAML(f)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, d := range docs {
				switch {
				case d.obj["kind"] == "ConstraintTemplate":
					t, err := template(f, d)
					if err != nil {
						errs = append(errs, err)
						continue
					}
					if t == nil {
						continue // another target
					}
					if prev, dup := l.Templates[t.Kind]; dup {
						errs = append(errs, &Error{File: f, Line: t.Line, Message: fmt.Sprintf("template kind %s is already defined in %s:%d", t.Kind, prev.File, prev.Line)})
						continue
					}
					l.Templates[t.Kind] = t
				case strings.HasPrefix(str(d.obj, "apiVersion"), "constraints.gatekeeper.sh/"):
					c, spec, err := constraint(f, d, l)
					if err != nil {
						errs = append(errs, err)
						continue
					}
					c.Dir = dir
					constraints = append(constraints, pending{c, spec, d.node})
				}
			}
		}
		libs, err := filepath.Glob(filepath.Join(dir, "lib", "*.rego"))
		if err != nil {
			return nil, err
		}
		for _, p := range libs {
			if strings.HasSuffix(p, "_test.rego") {
				continue
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			l.Lib[p] = string(b)
		}
	}
	if len(l.Lib) == 0 {
		ents, _ := libFS.ReadDir("lib")
		for _, e := range ents {
			b, _ := libFS.ReadFile("lib/" + e.Name())
			l.Lib["vigil:validator/"+e.Name()] = string(b)
		}
	}
	// Constraints are checked once every template is known: a library
	// may list them in any order.
	seen := map[string]*Constraint{}
	for _, p := range constraints {
		t, ok := l.Templates[p.c.Kind]
		if !ok {
			errs = append(errs, &Error{File: p.c.File, Line: p.c.Line, Message: fmt.Sprintf("constraint %s is of kind %s, which no template in the library defines%s", p.c.Name, p.c.Kind, kindHint(l, p.c.Kind))})
			continue
		}
		if err := checkParameters(p.c, t, p.spec, p.node); err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := seen[p.c.ID]; dup {
			errs = append(errs, &Error{File: p.c.File, Line: p.c.Line, Message: fmt.Sprintf("constraint %s is already defined in %s:%d", p.c.ID, prev.File, prev.Line)})
			continue
		}
		seen[p.c.ID] = p.c
		l.Constraints = append(l.Constraints, p.c)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return l, nil
}

type yamlDoc struct {
	obj  map[string]any
	node *yaml.Node
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// readYAML reads every document of a YAML file.
func readYAML(path string) ([]yamlDoc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []yamlDoc
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			line := 0
			if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
				line, _ = strconv.Atoi(m[1])
			}
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			msg = yamlLine.ReplaceAllString(msg, "")
			return nil, &Error{File: path, Line: line, Message: "invalid YAML: " + strings.TrimLeft(msg, ": ")}
		}
		var obj map[string]any
		if err := n.Decode(&obj); err != nil {
			return nil, &Error{File: path, Line: n.Line, Message: "a document must be a mapping: " + err.Error()}
		}
		if obj == nil {
			continue // empty document
		}
		root := &n
		if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
			root = root.Content[0]
		}
		out = append(out, yamlDoc{obj, root})
	}
}

// at returns the node at a path of mapping keys, or nil.
func at(n *yaml.Node, path ...string) *yaml.Node {
	for _, k := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

func lineOf(n *yaml.Node, path ...string) int {
	if m := at(n, path...); m != nil {
		return m.Line
	}
	if n != nil {
		return n.Line
	}
	return 0
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func obj(m map[string]any, path ...string) map[string]any {
	for _, k := range path {
		next, _ := m[k].(map[string]any)
		m = next
	}
	return m
}

// template reads a ConstraintTemplate; it returns nil for one that has no
// GCP target.
func template(file string, d yamlDoc) (*Template, error) {
	t := &Template{File: file, Name: str(obj(d.obj, "metadata"), "name")}
	t.Kind = str(obj(d.obj, "spec", "crd", "spec", "names"), "kind")
	t.Line = lineOf(d.node, "spec", "crd", "spec", "names", "kind")
	if t.Kind == "" {
		return nil, &Error{File: file, Line: lineOf(d.node, "spec"), Message: "ConstraintTemplate has no spec.crd.spec.names.kind: constraints name their template by it"}
	}
	t.Schema = obj(d.obj, "spec", "crd", "spec", "validation", "openAPIV3Schema")
	spec := obj(d.obj, "spec")
	var regoNode *yaml.Node
	switch targets := spec["targets"].(type) {
	case map[string]any: // v1alpha1: targets: {validation.gcp.forsetisecurity.org: {rego: ...}}
		tg, ok := targets[Target].(map[string]any)
		if !ok {
			return nil, nil
		}
		t.Rego = str(tg, "rego")
		regoNode = at(d.node, "spec", "targets", Target, "rego")
	case []any: // v1beta1: targets: [{target: ..., rego: ..., libs: [...]}]
		found := false
		tn := at(d.node, "spec", "targets")
		for i, x := range targets {
			tg, _ := x.(map[string]any)
			if str(tg, "target") != Target {
				continue
			}
			found = true
			t.Rego = str(tg, "rego")
			if tn != nil && i < len(tn.Content) {
				regoNode = at(tn.Content[i], "rego")
			}
			libs, _ := tg["libs"].([]any)
			for _, l := range libs {
				if s, ok := l.(string); ok {
					t.Libs = append(t.Libs, s)
				}
			}
		}
		if !found {
			return nil, nil
		}
	default:
		return nil, &Error{File: file, Line: lineOf(d.node, "spec"), Message: fmt.Sprintf("template %s has no spec.targets", t.Kind)}
	}
	if strings.TrimSpace(t.Rego) == "" {
		return nil, &Error{File: file, Line: lineOf(d.node, "spec", "targets"), Message: fmt.Sprintf("template %s has no rego for target %s", t.Kind, Target)}
	}
	if regoNode != nil {
		t.RegoLine = regoNode.Line
		if regoNode.Style == yaml.LiteralStyle || regoNode.Style == yaml.FoldedStyle {
			t.RegoLine++ // the text starts below the "|"
		}
	}
	return t, nil
}

// constraint reads a constraint.
func constraint(file string, d yamlDoc, l *Library) (*Constraint, map[string]any, error) {
	c := &Constraint{File: file, Kind: str(d.obj, "kind"), Object: d.obj, Line: lineOf(d.node, "kind")}
	meta := obj(d.obj, "metadata")
	c.Name = str(meta, "name")
	if c.Name == "" {
		// Named after its file, as the file names it in the library
		// (policy-library's own fixtures have a constraint whose
		// "metadata" key is misspelt).
		base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		if base == "data" || base == "constraint" {
			base = filepath.Base(filepath.Dir(file))
		}
		c.Name = base
		l.Warnings = append(l.Warnings, fmt.Sprintf("%s:%d: constraint has no metadata.name; it is named %q", file, c.Line, base))
	}
	if c.Kind == "" {
		return nil, nil, &Error{File: file, Line: d.node.Line, Message: "constraint has no kind: it names its template's kind"}
	}
	c.ID = c.Kind + "/" + c.Name
	if ann := obj(meta, "annotations"); ann != nil {
		c.Description = str(ann, "description")
	}
	spec := obj(d.obj, "spec")
	c.Severity = strings.ToLower(strings.TrimSpace(str(spec, "severity")))
	switch c.Severity {
	case "":
		c.Severity = "medium"
	case "critical", "high", "medium", "low", "info":
	default:
		return nil, nil, &Error{File: file, Line: lineOf(d.node, "spec", "severity"), Message: fmt.Sprintf("severity %q is not one of critical, high, medium, low, info", c.Severity)}
	}
	m, err := parseMatch(obj(spec, "match"))
	if err != nil {
		return nil, nil, &Error{File: file, Line: lineOf(d.node, "spec", "match"), Message: err.Error()}
	}
	c.Match = m
	return c, spec, nil
}

// kindHint suggests a template kind close to an unknown one.
func kindHint(l *Library, kind string) string {
	var kinds []string
	for k := range l.Templates {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	lower := strings.ToLower(kind)
	for _, k := range kinds {
		if strings.EqualFold(k, kind) || strings.HasPrefix(strings.ToLower(k), strings.TrimRight(lower, "v0123456789")) {
			return fmt.Sprintf(" (did you mean %s?)", k)
		}
	}
	if len(kinds) == 0 {
		return " (the library has no templates: is policies/templates there?)"
	}
	return ""
}
