package compliance

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vigil-ir/vigil/engine/policy"
)

// Benchmark is a list of controls for one provider.
type Benchmark struct {
	ID, Title string
	// Provider is the cloud whose assets the controls are about.
	Provider string
	Controls []Control
}

// Control is one recommendation of a benchmark.
type Control struct {
	ID, Title string
	// Manual controls are assessed by hand in the benchmark; vigil may
	// still check part of them.
	Manual bool
}

// IDs are the benchmarks --compliance accepts.
func IDs() []string {
	out := make([]string, len(benchmarks))
	for i, b := range benchmarks {
		out[i] = b.ID
	}
	return out
}

// Get returns a benchmark by id.
func Get(id string) (*Benchmark, error) {
	for _, b := range benchmarks {
		if b.ID == id {
			return b, nil
		}
	}
	return nil, fmt.Errorf("unknown benchmark %q: use %s", id, strings.Join(IDs(), " or "))
}

// Tag is how a policy's # METADATA names a control it implements:
// frameworks: ["cis-aws-3.0:5.2"].
func Tag(benchmark, control string) string { return benchmark + ":" + control }

// Statuses of a control.
const (
	Pass       = "pass"
	Fail       = "fail"
	NotCovered = "not covered"
)

// Row is the verdict on one control.
type Row struct {
	Control  string   `json:"control"`
	Title    string   `json:"title"`
	Manual   bool     `json:"manual,omitempty"`
	Status   string   `json:"status"`
	Policies []string `json:"policies,omitempty"`
	// Findings counts the open (unwaived) findings of the control's
	// policies on the benchmark's provider.
	Findings int `json:"findings"`
	// Note says why a covered control is not judged.
	Note string `json:"note,omitempty"`
}

// Table is a benchmark judged by one scan.
type Table struct {
	Benchmark  string `json:"benchmark"`
	Title      string `json:"title"`
	Rows       []Row  `json:"controls"`
	Pass       int    `json:"pass"`
	Fail       int    `json:"fail"`
	NotCovered int    `json:"not_covered"`
}

// Implemented lists, per control, the policies whose frameworks name it.
func (b *Benchmark) Implemented(policies []*policy.Policy) map[string][]string {
	out := map[string][]string{}
	prefix := b.ID + ":"
	for _, p := range policies {
		for _, f := range p.Frameworks {
			if c, ok := strings.CutPrefix(f, prefix); ok {
				out[c] = append(out[c], p.ID)
			}
		}
	}
	for _, ids := range out {
		sort.Strings(ids)
	}
	return out
}

// Evaluate judges every control. open counts the unwaived findings on the
// benchmark's provider by policy id; judged tells whether a policy had any
// asset to judge (nil: assume it had). A control is covered when a loaded
// policy implements it; it passes when those policies judged assets and
// found nothing, and fails when any of them found something.
func (b *Benchmark) Evaluate(policies []*policy.Policy, open map[string]int, judged func(*policy.Policy) bool) *Table {
	byID := map[string]*policy.Policy{}
	for _, p := range policies {
		byID[p.ID] = p
	}
	impl := b.Implemented(policies)
	t := &Table{Benchmark: b.ID, Title: b.Title}
	for _, c := range b.Controls {
		r := Row{Control: c.ID, Title: c.Title, Manual: c.Manual, Policies: impl[c.ID]}
		ran := false
		for _, id := range r.Policies {
			r.Findings += open[id]
			if judged == nil || judged(byID[id]) {
				ran = true
			}
		}
		switch {
		case len(r.Policies) == 0:
			r.Status = NotCovered
		case r.Findings > 0:
			r.Status = Fail
		case !ran:
			r.Status = NotCovered
			r.Note = "no asset its policies read was in the inventory"
		default:
			r.Status = Pass
		}
		switch r.Status {
		case Pass:
			t.Pass++
		case Fail:
			t.Fail++
		default:
			t.NotCovered++
		}
		t.Rows = append(t.Rows, r)
	}
	return t
}

// JudgedBy says whether a policy judged any asset of a scan that read
// assets of these kinds, on a provider the scan read.
func JudgedBy(provider string, byProvider, byKind map[string]int64) func(*policy.Policy) bool {
	return func(p *policy.Policy) bool {
		if p == nil || byProvider[provider] == 0 {
			return false
		}
		for k, n := range byKind {
			if n > 0 && p.Matches(k) {
				return true
			}
		}
		return false
	}
}
