package library

import (
	"fmt"
	"strings"

	"github.com/gobwas/glob"
)

// Match is where in the resource hierarchy a constraint applies: globs
// over an asset's ancestry path ("organizations/1/folders/2/projects/p"),
// "*" standing for one segment and "**" for any number of them.
type Match struct {
	Ancestries, Excluded []string
	include, exclude     []*glob.Pattern
}

// parseMatch reads spec.match: ancestries and excludedAncestries, or their
// older names target and exclude (not both). No match applies everywhere.
func parseMatch(m map[string]any) (*Match, error) {
	out := &Match{}
	var err error
	if out.Ancestries, err = patterns(m, "ancestries", "target"); err != nil {
		return nil, err
	}
	if out.Excluded, err = patterns(m, "excludedAncestries", "exclude"); err != nil {
		return nil, err
	}
	if out.Ancestries == nil {
		out.Ancestries = []string{"**"}
	}
	for _, p := range out.Ancestries {
		out.include = append(out.include, glob.MustCompile(p, '/'))
	}
	for _, p := range out.Excluded {
		out.exclude = append(out.exclude, glob.MustCompile(p, '/'))
	}
	return out, nil
}

func patterns(m map[string]any, key, legacy string) ([]string, error) {
	v, ok := m[key]
	lv, lok := m[legacy]
	if ok && lok {
		return nil, fmt.Errorf("spec.match has both %s and %s (its older name): keep %s", key, legacy, key)
	}
	if !ok {
		v, ok, key = lv, lok, legacy
	}
	if !ok || v == nil {
		return nil, nil
	}
	list, isList := v.([]any)
	if !isList {
		return nil, fmt.Errorf("spec.match.%s must be a list of ancestry patterns, not %v", key, v)
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, isStr := x.(string)
		if !isStr {
			return nil, fmt.Errorf("spec.match.%s: %v is not a string", key, x)
		}
		if err := checkPattern(s); err != nil {
			return nil, fmt.Errorf("spec.match.%s: %w", key, err)
		}
		if _, err := glob.Compile(s, '/'); err != nil {
			return nil, fmt.Errorf("spec.match.%s: pattern %q: %v", key, s, err)
		}
		out = append(out, s)
	}
	return out, nil
}

var hierarchyRank = map[string]int{"organizations": 0, "folders": 1, "projects": 2}

// checkPattern accepts ancestry patterns the resource hierarchy can match:
// type/id pairs in hierarchy order (organization, folders, project), with
// "*" and "**" anywhere.
func checkPattern(p string) error {
	toks := strings.Split(p, "/")
	last, lastType := -1, ""
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t {
		case "**":
			continue
		case "*":
			i++ // any type, and its id
			continue
		}
		rank, ok := hierarchyRank[t]
		if !ok {
			return fmt.Errorf("pattern %q: %q is not organizations, folders or projects", p, t)
		}
		if rank < last {
			return fmt.Errorf("pattern %q: %s cannot come after %s", p, t, lastType)
		}
		last, lastType = rank, t
		i++ // its id
	}
	return nil
}

// Matches reports whether an asset with the ancestry path is in scope.
// An asset may be given several paths, the same ancestry spelt with its
// project's number and with its id: people write either in patterns. It
// is in scope when a path is included and none is excluded.
func (m *Match) Matches(paths ...string) bool {
	in := false
	for _, p := range paths {
		for _, g := range m.include {
			if g.Match(p) {
				in = true
				break
			}
		}
	}
	if !in {
		return false
	}
	for _, p := range paths {
		for _, g := range m.exclude {
			if g.Match(p) {
				return false
			}
		}
	}
	return true
}

// WithProjectID is the ancestry path with its project number replaced by
// the project's id, or "" when that changes nothing.
func WithProjectID(path, projectID string) string {
	i := strings.LastIndex(path, "projects/")
	if i < 0 || projectID == "" {
		return ""
	}
	rest := path[i+len("projects/"):]
	num, tail, _ := strings.Cut(rest, "/")
	if num == projectID {
		return ""
	}
	if tail != "" {
		tail = "/" + tail
	}
	return path[:i] + "projects/" + projectID + tail
}

// UnknownOrg stands for the organization of an asset whose ancestry the
// inventory does not trace to one: patterns naming no particular
// organization ("organizations/**", "**/projects/p") still apply to it,
// patterns naming one do not.
const UnknownOrg = "organizations/unknown"

// AncestryPath is Config Validator's ancestry path of an asset with CAI
// ancestors (itself first, organization last): organization first, "/"
// between. Ancestors that stop short of an organization are placed under
// UnknownOrg.
func AncestryPath(ancestors []string) string {
	parts := make([]string, 0, len(ancestors)+1)
	for i := len(ancestors) - 1; i >= 0; i-- {
		parts = append(parts, ancestors[i])
	}
	if len(parts) == 0 || !strings.HasPrefix(parts[0], "organizations/") {
		parts = append([]string{UnknownOrg}, parts...)
	}
	return strings.Join(parts, "/")
}
