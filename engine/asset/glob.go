package asset

import (
	"fmt"

	"github.com/gobwas/glob"
)

// Glob matches ids, regions and network names. It has exactly the semantics of
// Rego's glob.match(pattern, null, s) (no delimiters: "*" also matches "/"),
// so a pattern means the same in vigil.hcl, a waiver file and a policy.
type Glob struct {
	pattern string
	g       *glob.Pattern
}

// CompileGlob compiles a pattern.
func CompileGlob(pattern string) (Glob, error) {
	g, err := glob.Compile(pattern)
	if err != nil {
		return Glob{}, fmt.Errorf("compile glob %q: %w", pattern, err)
	}
	return Glob{pattern: pattern, g: g}, nil
}

// Match reports whether s matches.
func (g Glob) Match(s string) bool { return g.g != nil && g.g.Match(s) }

// String returns the pattern.
func (g Glob) String() string { return g.pattern }
