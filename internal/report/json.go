package report

import (
	"encoding/json"
	"io"

	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
)

// jsonReport is the machine-readable scan output; its keys are a contract
// for scripts (see README "Output").
type jsonReport struct {
	Findings []policy.Finding `json:"findings"`
	Summary  jsonSummary      `json:"summary"`
}

type jsonSummary struct {
	scan.Summary
	FailOn        string   `json:"fail_on"`
	Failing       int      `json:"failing"`
	UnusedWaivers []string `json:"unused_waivers,omitempty"`
}

// JSON prints {"findings": [...], "summary": {...}}.
func JSON(w io.Writer, r *Report) error {
	out := jsonReport{Findings: r.Findings, Summary: jsonSummary{
		Summary: r.Summary, FailOn: r.FailOn, Failing: Failing(r.Findings, r.FailOn),
	}}
	if out.Findings == nil {
		out.Findings = []policy.Finding{}
	}
	for _, w := range r.UnusedWaivers {
		out.Summary.UnusedWaivers = append(out.Summary.UnusedWaivers, w.Range.String())
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
