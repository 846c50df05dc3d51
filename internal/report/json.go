package report

import (
	"io"

	"github.com/vigil-ir/vigil/engine/compliance"
	"github.com/vigil-ir/vigil/engine/scan"
)

// jsonReport is the machine-readable scan output; its keys are a contract
// for scripts (see README "Output"). The findings are streamed.
type jsonReport struct {
	Findings   any                 `json:"findings"`
	Summary    jsonSummary         `json:"summary"`
	Compliance []*compliance.Table `json:"compliance,omitempty"`
}

type jsonSummary struct {
	scan.Summary
	FailOn        string   `json:"fail_on"`
	Failing       int      `json:"failing"`
	UnusedWaivers []string `json:"unused_waivers,omitempty"`
}

// JSON prints {"findings": [...], "summary": {...}}.
func JSON(w io.Writer, r *Report) error {
	out := jsonReport{Findings: streamMark, Compliance: r.Compliance, Summary: jsonSummary{
		Summary: r.Summary, FailOn: r.FailOn, Failing: r.Summary.Failing(r.FailOn),
	}}
	for _, w := range r.UnusedWaivers {
		out.Summary.UnusedWaivers = append(out.Summary.UnusedWaivers, w.Range.String())
	}
	var buf []byte
	return streamJSON(w, out, func(yield func([]byte) bool) {
		for f := range r.Findings.All() {
			buf = appendFinding(buf[:0], &f)
			if !yield(buf) {
				return
			}
		}
	})
}
