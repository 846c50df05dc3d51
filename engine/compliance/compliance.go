package compliance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
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
	Pass = "pass"
	Fail = "fail"
	// NotAssessed: policies implement the control, but the facts they
	// read were on no asset of the benchmark's provider (not collected,
	// or no such asset), so no finding proves nothing.
	NotAssessed = "not assessed"
	// Partial: the policies implement only part of the control and found
	// nothing there; the rest is not checked.
	Partial    = "partial"
	NotCovered = "not covered"
)

// Row is the verdict on one control.
type Row struct {
	Control  string   `json:"control"`
	Title    string   `json:"title"`
	Manual   bool     `json:"manual,omitempty"`
	Status   string   `json:"status"`
	Policies []string `json:"policies,omitempty"`
	// Findings counts the open (unwaived) findings on the benchmark's
	// provider that break this control: a finding of a policy mapped to
	// several controls counts for those its details.controls name.
	Findings int `json:"findings"`
	// Waived counts the waived findings that break it. A waiver accepts
	// a risk, it does not fix it: the control still fails, and the note
	// says the failure is waived.
	Waived int `json:"waived,omitempty"`
	// Note says what a pass rests on, or why a control is not assessed
	// or only partly.
	Note string `json:"note,omitempty"`
}

// Table is a benchmark judged by one scan.
type Table struct {
	Benchmark   string `json:"benchmark"`
	Title       string `json:"title"`
	Rows        []Row  `json:"controls"`
	Pass        int    `json:"pass"`
	Fail        int    `json:"fail"`
	NotAssessed int    `json:"not_assessed"`
	Partial     int    `json:"partial"`
	NotCovered  int    `json:"not_covered"`
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

// Counts are a scan's open findings per control of a benchmark.
type Counts struct {
	// Definite counts the findings known to break each control.
	Definite map[string]int
	// Waived counts the waived findings known to break each control.
	Waived map[string]int
	// Ambiguous counts, per control and policy, findings of policies
	// mapped to several controls of the benchmark that do not say which
	// they break (no details.controls: a user policy, or findings read
	// back from history, which does not keep details).
	Ambiguous map[string]map[string]int
}

// Open counts findings on the benchmark's provider per control: a finding
// whose details carry "controls" (framework tags) counts for those of them
// its policy implements; one without, for the policy's only control of the
// benchmark, or as ambiguous for each of several. A waived finding counts
// apart (Waived), and as ambiguous like an open one: either way the
// control cannot pass.
func (b *Benchmark) Open(policies []*policy.Policy, findings func(yield func(policy.Finding) bool)) Counts {
	byID := map[string]*policy.Policy{}
	for _, p := range policies {
		byID[p.ID] = p
	}
	prefix := b.ID + ":"
	out := Counts{Definite: map[string]int{}, Waived: map[string]int{}, Ambiguous: map[string]map[string]int{}}
	for f := range findings {
		p := byID[f.PolicyID]
		if f.Provider != b.Provider || p == nil {
			continue
		}
		definite := out.Definite
		if f.Waived {
			definite = out.Waived
		}
		var mine []string
		for _, t := range p.Frameworks {
			if c, ok := strings.CutPrefix(t, prefix); ok {
				mine = append(mine, c)
			}
		}
		named, ok := findingControls(&f)
		switch {
		case ok:
			for _, t := range named {
				if c, ok := strings.CutPrefix(t, prefix); ok && slices.Contains(mine, c) {
					definite[c]++
				}
			}
		case len(mine) == 1:
			definite[mine[0]]++
		default:
			for _, c := range mine {
				if out.Ambiguous[c] == nil {
					out.Ambiguous[c] = map[string]int{}
				}
				out.Ambiguous[c][p.ID]++
			}
		}
	}
	return out
}

// FindingControls reads details.controls, when the policy set it: the
// framework tags of the controls the finding breaks (history keeps them,
// so that its compliance tables count as the scan's do).
func FindingControls(f *policy.Finding) ([]string, bool) { return findingControls(f) }

// findingControls reads details.controls, when the policy set it.
func findingControls(f *policy.Finding) ([]string, bool) {
	if len(f.Details) == 0 || !bytes.Contains(f.Details, []byte(`"controls"`)) {
		return nil, false
	}
	var d struct {
		Controls *[]string `json:"controls"`
	}
	if json.Unmarshal(f.Details, &d) != nil || d.Controls == nil {
		return nil, false
	}
	return *d.Controls, true
}

// Evaluate judges every control. open counts findings per control (see
// Open); ev is what the scan's assets showed of the facts the policies
// read (see Evidence). With ev nil (a scan recorded in history, whose
// assets are gone) a control without findings is not assessed.
//
// A control is covered when a loaded policy implements it. It fails when
// a finding breaks it. Otherwise it passes only when a policy that
// implements it in full found the facts it reads on the benchmark's
// provider; a control only partly implemented is "partial", one whose
// facts were absent "not assessed".
func (b *Benchmark) Evaluate(policies []*policy.Policy, open Counts, ev *Evidence) (*Table, error) {
	byID := map[string]*policy.Policy{}
	for _, p := range policies {
		byID[p.ID] = p
	}
	impl := b.Implemented(policies)
	t := &Table{Benchmark: b.ID, Title: b.Title}
	for _, c := range b.Controls {
		r := Row{Control: c.ID, Title: c.Title, Manual: c.Manual, Policies: impl[c.ID], Findings: open.Definite[c.ID], Waived: open.Waived[c.ID]}
		tag := Tag(b.ID, c.ID)
		var partial, missing, notes []string
		assessed, full := false, false
		for _, id := range r.Policies {
			p := byID[id]
			if what, ok := p.Partial[tag]; ok {
				partial = append(partial, fmt.Sprintf("%s checks %s", id, what))
				continue
			}
			full = true
			if ev == nil {
				continue
			}
			g, err := ev.groupsFor(p, tag)
			if err != nil {
				return nil, fmt.Errorf("policy %s (%s): %w", p.ID, p.File, err)
			}
			ok, why, note := ev.assessed(g, b.Provider)
			switch {
			case ok:
				assessed = true
				if note != "" {
					notes = append(notes, note)
				}
			default:
				missing = append(missing, fmt.Sprintf("%s: %s", id, why))
			}
		}
		switch {
		case len(r.Policies) == 0:
			r.Status = NotCovered
		case r.Findings > 0:
			r.Status = Fail
			if r.Waived > 0 {
				r.Note = fmt.Sprintf("and %d waived", r.Waived)
			}
		case r.Waived > 0:
			// an accepted risk is an exception, not compliance
			r.Status = Fail
			r.Note = fmt.Sprintf("waived: %d finding(s) break it, every one under a waiver", r.Waived)
		case len(open.Ambiguous[c.ID]) > 0:
			r.Status = NotAssessed
			var parts []string
			for _, id := range slices.Sorted(maps.Keys(open.Ambiguous[c.ID])) {
				parts = append(parts, fmt.Sprintf("%d of %s", open.Ambiguous[c.ID][id], id))
			}
			r.Note = fmt.Sprintf("findings (%s) break this control or another it maps to, and do not say which", strings.Join(parts, ", "))
		case assessed:
			r.Status = Pass
			r.Note = strings.Join(notes, "; ")
		case !full:
			r.Status = Partial
			r.Note = "only in part: " + strings.Join(partial, "; ")
		case ev == nil:
			r.Status = NotAssessed
			r.Note = "no open finding, but history does not record which facts the scan read; vigil scan --compliance judges it"
		default:
			r.Status = NotAssessed
			r.Note = "not in the inventory: " + strings.Join(missing, "; ")
		}
		switch r.Status {
		case Pass:
			t.Pass++
		case Fail:
			t.Fail++
		case NotAssessed:
			t.NotAssessed++
		case Partial:
			t.Partial++
		default:
			t.NotCovered++
		}
		t.Rows = append(t.Rows, r)
	}
	return t, nil
}

// FindingControls are the benchmark's controls a finding of policy p
// breaks, as Open counts them: none for another provider's finding; those
// its details.controls name among the policy's; else every control the
// policy implements (one, or several when the finding does not say which).
func (b *Benchmark) FindingControls(p *policy.Policy, f *policy.Finding) []string {
	if p == nil || f.Provider != b.Provider {
		return nil
	}
	prefix := b.ID + ":"
	var mine []string
	for _, t := range p.Frameworks {
		if c, ok := strings.CutPrefix(t, prefix); ok {
			mine = append(mine, c)
		}
	}
	named, ok := findingControls(f)
	if !ok {
		return mine
	}
	var out []string
	for _, t := range named {
		if c, ok := strings.CutPrefix(t, prefix); ok && slices.Contains(mine, c) && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}
