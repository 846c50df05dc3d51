package policy

import (
	"strings"

	"github.com/agext/levenshtein"
)

// Closest returns the option nearest to name, for "did you mean": within
// two edits (case-insensitive), or "" when none is that close. HCL's own
// suggestions use the same library.
func Closest(name string, options []string) string {
	best, bestD := "", 3
	for _, o := range options {
		if d := levenshtein.Distance(strings.ToUpper(name), strings.ToUpper(o), nil); d < bestD {
			best, bestD = o, d
		}
	}
	return best
}
