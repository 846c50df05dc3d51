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
	// Place, when set, says where a finding is shown (the JSON, SARIF and
	// GitHub views): a Terraform plan's finding on the .tf block that
	// declares its resource, with the plan as a related location. It
	// returns false to keep the finding's own file and line.
	Place func(f *policy.Finding) (Placement, bool)
	// Compliance holds the per-control tables --compliance asked for.
	Compliance []*compliance.Table
	// Warnings are what vigil assumed where its input could not tell (a
	// plan judged without its .tf source): JSON and SARIF carry them with
	// the findings, as stderr does for the other formats.
	Warnings []Warning
	// SecurityHub is where --format asff findings are imported.
	SecurityHub SecurityHub
}

// Warning is an assumption behind a report that vigil could not check.
type Warning struct {
	// Title is a short name of the warning, Message says it in full.
	Title   string `json:"title,omitempty"`
	Message string `json:"message"`
	// File and Line are where the input says what the warning is about
	// (a plan's resource change); Subject names it (a resource address).
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Subject string `json:"subject,omitempty"`
}

// Location is a place in a file.
type Location struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	EndLine int    `json:"end_line,omitempty"`
	Message string `json:"message,omitempty"`
}

// Placement is where a finding is shown.
type Placement struct {
	// Primary is where a reader should look (a .tf block).
	Primary Location
	// Related are other places that explain the finding (the plan entry).
	Related []Location
	// Unplaced, when set, says why the finding could not be put on the
	// source that declares it; Primary is then the plan entry.
	Unplaced string
	// Input names the input the finding was read from (the plan as given
	// on the command line) when several inputs can hold the same asset id:
	// SARIF fingerprints then tell their findings apart.
	Input string
}

// place applies r.Place to a finding: its file and line become the
// primary location's.
func (r *Report) place(f *policy.Finding) (Placement, bool) {
	if r.Place == nil {
		return Placement{}, false
	}
	p, ok := r.Place(f)
	if ok {
		f.File, f.Line = p.Primary.File, p.Primary.Line
	}
	return p, ok
}

// Formats lists the output formats.
var Formats = []string{"table", "json", "sarif", "junit", "github", "csv", "asff", "ocsf"}

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
	case "csv":
		return CSV(w, r)
	case "asff":
		return ASFF(w, r)
	case "ocsf":
		return OCSF(w, r)
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
