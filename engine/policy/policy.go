package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/vigil-ir/vigil/engine/asset"
)

// Severities, most severe first.
var Severities = []string{"critical", "high", "medium", "low", "info"}

// SeverityRank orders severities: higher is more severe; unknown is -1.
func SeverityRank(s string) int {
	for i, v := range Severities {
		if v == s {
			return len(Severities) - i
		}
	}
	return -1
}

// Phases of the incident-response lifecycle a policy prepares for.
var Phases = []string{"preparation", "identification", "triage", "investigation", "containment", "recovery", "lessons_learned"}

// PolicyPrefix is the package prefix of policies; other packages are
// helpers.
const PolicyPrefix = "vigil.policies."

// Policy is a compiled policy's metadata.
type Policy struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Severity    string   `json:"severity"`
	Kinds       []string `json:"kinds"`
	Phase       string   `json:"phase,omitempty"`
	// Remediation names the runbook that fixes a finding; Remediations, when
	// set, names one per provider (custom.remediation: {gcp: ..., aws: ...}).
	Remediation  string            `json:"remediation,omitempty"`
	Remediations map[string]string `json:"remediations,omitempty"`
	Frameworks   []string          `json:"frameworks,omitempty"`
	// Evidence says, per framework tag (or "*" for all of them), which
	// facts a control's pass rests on (custom.evidence): a list of
	// requirements that must all be met, each "kind", "kind.facet" or
	// "kind.facet=value", alternatives joined by "|". engine/compliance
	// reads it; without it a control is assessed by any asset of the
	// policy's kinds.
	Evidence map[string][]string `json:"evidence,omitempty"`
	// Partial names the framework tags the policy implements only in part,
	// with what it does check (custom.partial): such a control never
	// passes on this policy alone.
	Partial map[string]string `json:"partial,omitempty"`
	// Package is the Rego package, e.g. "vigil.policies.network.open_admin_ports".
	Package string `json:"package"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Builtin bool   `json:"builtin"`
	// Library names the policy library a constraint came from, if any.
	Library string `json:"library,omitempty"`

	hasDeny, hasWarn bool
	// usesInventory: the policy reads data.vigil.inventory, so assets of its
	// kinds are judged after the whole inventory has been read.
	usesInventory bool
	// readsData: the policy may read input.asset.data (the native payload),
	// so the input must include it.
	readsData bool
	// constraint is set for a Config Validator constraint, judged by its
	// template apart from vigil's policies (see library.go).
	constraint *constraintEval
}

// IsConstraint reports whether the policy is a policy library constraint.
func (p *Policy) IsConstraint() bool { return p.constraint != nil }

// RemediationFor returns the runbook that fixes the policy's findings on a
// provider's assets.
func (p *Policy) RemediationFor(provider string) string {
	if r, ok := p.Remediations[provider]; ok {
		return r
	}
	return p.Remediation
}

// Matches reports whether the policy reads assets of the kind.
func (p *Policy) Matches(kind string) bool {
	for _, k := range p.Kinds {
		if k == "*" || k == kind {
			return true
		}
	}
	return false
}

// metadataFromModule validates a policy module's # METADATA and returns the
// policy. Title, id, severity and kinds are required.
func metadataFromModule(file string, m *ast.Module) (*Policy, error) {
	pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
	line := m.Package.Location.Row
	var ann *ast.Annotations
	for _, a := range m.Annotations {
		if a.Scope == "package" || a.Scope == "subpackages" {
			ann = a
			break
		}
	}
	fail := func(format string, args ...any) error {
		return &Error{File: file, Line: line, Message: fmt.Sprintf("policy package %s: ", pkg) + fmt.Sprintf(format, args...)}
	}
	if ann == nil {
		return nil, fail("no # METADATA block above the package line; a policy needs title and custom.id, custom.severity and custom.kinds")
	}
	p := &Policy{Package: pkg, File: file, Line: line, Title: ann.Title, Description: strings.TrimSpace(ann.Description)}
	str := func(key string) string {
		v, _ := ann.Custom[key].(string)
		return strings.TrimSpace(v)
	}
	list := func(key string) ([]string, error) {
		switch v := ann.Custom[key].(type) {
		case nil:
			return nil, nil
		case string:
			return []string{v}, nil
		case []any:
			out := make([]string, 0, len(v))
			for _, x := range v {
				s, ok := x.(string)
				if !ok {
					return nil, fail("custom.%s must be a list of strings", key)
				}
				out = append(out, s)
			}
			return out, nil
		}
		return nil, fail("custom.%s must be a list of strings", key)
	}
	p.ID = str("id")
	p.Severity = strings.ToLower(str("severity"))
	p.Phase = str("phase")
	switch r := ann.Custom["remediation"].(type) {
	case string:
		p.Remediation = strings.TrimSpace(r)
	case map[string]any:
		p.Remediations = map[string]string{}
		for k, v := range r {
			s, ok := v.(string)
			if !ok {
				return nil, fail("custom.remediation.%s must be a runbook name", k)
			}
			p.Remediations[k] = s
		}
	case nil:
	default:
		return nil, fail("custom.remediation must be a runbook name or a map of provider to runbook name")
	}
	var err error
	if p.Kinds, err = list("kinds"); err != nil {
		return nil, err
	}
	if p.Frameworks, err = list("frameworks"); err != nil {
		return nil, err
	}
	if err := p.frameworkFacts(ann.Custom, fail); err != nil {
		return nil, err
	}
	var missing []string
	if p.Title == "" {
		missing = append(missing, "title")
	}
	if p.ID == "" {
		missing = append(missing, "custom.id")
	}
	if p.Severity == "" {
		missing = append(missing, "custom.severity")
	}
	if len(p.Kinds) == 0 {
		missing = append(missing, "custom.kinds")
	}
	if len(missing) > 0 {
		return nil, fail("# METADATA lacks %s", strings.Join(missing, ", "))
	}
	if SeverityRank(p.Severity) < 0 || p.Severity == "info" {
		return nil, fail("custom.severity %q is not one of critical, high, medium, low", p.Severity)
	}
	if p.Phase != "" && !slices.Contains(Phases, p.Phase) {
		return nil, fail("custom.phase %q is not one of %s", p.Phase, strings.Join(Phases, ", "))
	}
	for _, r := range m.Rules {
		switch r.Head.Name.String() {
		case "deny":
			p.hasDeny = true
		case "warn":
			p.hasWarn = true
		}
		if len(r.Head.Reference) > 0 {
			switch r.Head.Reference[0].Value.String() {
			case "deny":
				p.hasDeny = true
			case "warn":
				p.hasWarn = true
			}
		}
	}
	if !p.hasDeny && !p.hasWarn {
		return nil, fail("defines neither deny nor warn; a policy reports findings as `deny contains {\"msg\": ...}`")
	}
	sort.Strings(p.Kinds)
	return p, nil
}

// frameworkFacts reads custom.evidence and custom.partial: maps keyed by
// framework tags the policy names ("*" for all of them, in evidence).
func (p *Policy) frameworkFacts(custom map[string]any, fail func(string, ...any) error) error {
	known := func(key, tag string, star bool) error {
		if (star && tag == "*") || slices.Contains(p.Frameworks, tag) {
			return nil
		}
		return fail("custom.%s names %q, which is not one of custom.frameworks", key, tag)
	}
	switch ev := custom["evidence"].(type) {
	case nil:
	case map[string]any:
		p.Evidence = map[string][]string{}
		for tag, v := range ev {
			if err := known("evidence", tag, true); err != nil {
				return err
			}
			var reqs []string
			switch l := v.(type) {
			case string:
				reqs = []string{l}
			case []any:
				for _, x := range l {
					s, ok := x.(string)
					if !ok {
						return fail("custom.evidence[%q] must be a list of strings (kind, kind.facet or kind.facet=value)", tag)
					}
					reqs = append(reqs, s)
				}
			default:
				return fail("custom.evidence[%q] must be a list of strings (kind, kind.facet or kind.facet=value)", tag)
			}
			for _, r := range reqs {
				for _, alt := range strings.Split(r, "|") {
					if kind, _, _ := strings.Cut(alt, "."); strings.TrimSpace(kind) == "" {
						return fail("custom.evidence[%q]: %q names no kind (want kind, kind.facet or kind.facet=value)", tag, r)
					}
				}
			}
			p.Evidence[tag] = reqs
		}
	default:
		return fail("custom.evidence must map framework tags to lists of facts (kind.facet)")
	}
	switch pa := custom["partial"].(type) {
	case nil:
	case map[string]any:
		p.Partial = map[string]string{}
		for tag, v := range pa {
			if err := known("partial", tag, false); err != nil {
				return err
			}
			s, _ := v.(string)
			p.Partial[tag] = strings.TrimSpace(s)
		}
	default:
		return fail("custom.partial must map framework tags to what the policy checks of them")
	}
	return nil
}

// EvidenceFor returns the facts a framework tag's verdict rests on.
func (p *Policy) EvidenceFor(tag string) []string {
	if r, ok := p.Evidence[tag]; ok {
		return r
	}
	return p.Evidence["*"]
}

// Error is a problem with a policy file.
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

// Errors are all the problems found while loading policies.
type Errors []error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// selectPolicies keeps the policies whose ids match one of patterns (ids
// or globs). A pattern that matches none is an error naming it: a typo
// must not turn into a scan that checks nothing.
func selectPolicies(all []*Policy, patterns []string) ([]*Policy, error) {
	globs := make([]asset.Glob, len(patterns))
	for i, p := range patterns {
		g, err := asset.CompileGlob(p)
		if err != nil {
			return nil, fmt.Errorf("select policies: %w", err)
		}
		globs[i] = g
	}
	matched := make([]bool, len(patterns))
	var keep []*Policy
	for _, p := range all {
		hit := false
		for i, g := range globs {
			if g.Match(p.ID) {
				matched[i], hit = true, true
			}
		}
		if hit {
			keep = append(keep, p)
		}
	}
	var missing []string
	for i, p := range patterns {
		switch {
		case matched[i]:
		case strings.ContainsAny(p, "*?[{"):
			missing = append(missing, fmt.Sprintf("no policy id matches %q", p))
		default:
			m := "unknown policy id " + p
			ids := make([]string, len(all))
			for i, pol := range all {
				ids[i] = pol.ID
			}
			if s := Closest(p, ids); s != "" {
				m += " (did you mean " + s + "?)"
			}
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s (see `vigil policy list`)", strings.Join(missing, "; "))
	}
	return keep, nil
}
