package report

import (
	"encoding/json"
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
	Warnings   []Warning           `json:"warnings,omitempty"`
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
	}, Warnings: r.Warnings}
	for _, w := range r.UnusedWaivers {
		out.Summary.UnusedWaivers = append(out.Summary.UnusedWaivers, w.Range.String())
	}
	var buf []byte
	return streamJSON(w, out, func(yield func([]byte) bool) {
		for f := range r.Findings.All() {
			p, placed := r.place(&f)
			buf = appendFinding(buf[:0], &f)
			if placed {
				buf = appendPlacement(buf, &p)
			}
			if !yield(buf) {
				return
			}
		}
	})
}

// appendPlacement adds a placed finding's related locations ("the plan
// entry") and, for a finding vigil could not put on its source, why, to
// the finding's JSON object: file and line already hold the primary
// location.
func appendPlacement(b []byte, p *Placement) []byte {
	if len(p.Related) == 0 && p.Unplaced == "" && p.Primary.Column == 0 {
		return b
	}
	b = b[:len(b)-1] // the closing brace
	if p.Primary.Column > 0 {
		b = append(b, `,"column":`...)
		b, _ = appendJSON(b, p.Primary.Column)
		if p.Primary.EndLine > 0 {
			b = append(b, `,"end_line":`...)
			b, _ = appendJSON(b, p.Primary.EndLine)
		}
	}
	if len(p.Related) > 0 {
		b = append(b, `,"related_locations":`...)
		b, _ = appendJSON(b, p.Related)
	}
	if p.Unplaced != "" {
		b = append(b, `,"unplaced":`...)
		b = appendString(b, p.Unplaced)
	}
	return append(b, '}')
}

func appendJSON(b []byte, v any) ([]byte, error) {
	enc, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, enc...), nil
}
