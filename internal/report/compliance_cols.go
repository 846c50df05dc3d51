package report

import (
	"github.com/vigil-ir/vigil/engine/compliance"
	"github.com/vigil-ir/vigil/engine/policy"
)

// findingBenchmarks gives, for the benchmarks --compliance asked for, the
// controls each finding breaks: the CSV's per-benchmark column and the
// SARIF result's property, so that a finding row names its CIS controls
// as Prowler's CSV does.
type findingBenchmarks struct {
	ids   []string
	marks []*compliance.Benchmark
	byID  map[string]*policy.Policy
}

func newFindingBenchmarks(r *Report) *findingBenchmarks {
	if len(r.Compliance) == 0 {
		return nil
	}
	fb := &findingBenchmarks{byID: map[string]*policy.Policy{}}
	for _, p := range r.Policies {
		fb.byID[p.ID] = p
	}
	for _, t := range r.Compliance {
		b, err := compliance.Get(t.Benchmark)
		if err != nil {
			continue // the tables were made from these ids: cannot happen
		}
		fb.ids = append(fb.ids, t.Benchmark)
		fb.marks = append(fb.marks, b)
	}
	return fb
}

// controls are the controls of each benchmark a finding breaks, in the
// order of ids.
func (fb *findingBenchmarks) controls(f *policy.Finding) [][]string {
	out := make([][]string, len(fb.marks))
	for i, b := range fb.marks {
		out[i] = b.FindingControls(fb.byID[f.PolicyID], f)
	}
	return out
}
