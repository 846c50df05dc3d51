package report

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/vigil-ir/vigil/engine/compliance"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
)

// Report is what a renderer prints.
type Report struct {
	Tool     string // "vigil"
	Version  string
	Findings *scan.FindingSet
	Summary  scan.Summary
	Policies []*policy.Policy
	// FailOn is the severity threshold of the exit code.
	FailOn string
	// Unused waivers, reported so they can be cleaned up.
	UnusedWaivers []*policy.Waiver
	// Compliance holds the per-control tables --compliance asked for.
	Compliance []*compliance.Table
}

// Formats lists the output formats.
var Formats = []string{"table", "json", "sarif", "junit", "github"}

// Render prints the report in a format.
func Render(w io.Writer, format string, r *Report) error {
	switch format {
	case "table", "":
		return Table(w, r)
	case "json":
		return JSON(w, r)
	case "sarif":
		return SARIF(w, r)
	case "junit":
		return JUnit(w, r)
	case "github":
		return GitHub(w, r)
	}
	return fmt.Errorf("unknown format %q (use %s)", format, strings.Join(Formats, ", "))
}

// sortedCounts renders "a 3, b 2" ordered by count, then name.
func sortedCounts[V int | int64](m map[string]V) string {
	type kv struct {
		k string
		v V
	}
	var list []kv
	for k, v := range m {
		list = append(list, kv{k, v})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].v != list[j].v {
			return list[i].v > list[j].v
		}
		return list[i].k < list[j].k
	})
	parts := make([]string, len(list))
	for i, e := range list {
		parts[i] = fmt.Sprintf("%s %d", e.k, e.v)
	}
	return strings.Join(parts, ", ")
}
