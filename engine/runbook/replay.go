package runbook

import (
	"encoding/json"
	"sort"
)

// unitState is what the journal says of one step instance.
type unitState struct {
	status   string // "", succeeded, failed, skipped, rejected
	attempts int
	approved bool
	awaiting bool
	// inFlight: an attempt started and nothing says how it ended (a
	// crash); unknown: an attempt ended with its outcome unknown. Either
	// way the action's Recover is asked before the step runs again.
	inFlight bool
	unknown  bool
	outputs  json.RawMessage
}

// replayed is a run's state rebuilt from its journal.
type replayed struct {
	units    map[string]*unitState
	expanded map[string][]string
	// evidence holds the targets of evidence recorded by the run.
	evidence map[string]bool
}

func (r *replayed) unit(addr string) *unitState {
	s, ok := r.units[addr]
	if !ok {
		s = &unitState{}
		r.units[addr] = s
	}
	return s
}

func replay(entries []*Entry) *replayed {
	r := &replayed{units: map[string]*unitState{}, expanded: map[string][]string{}, evidence: map[string]bool{}}
	for _, e := range entries {
		switch e.Kind {
		case EntryStepExpanded:
			var d struct {
				Keys []string `json:"keys"`
			}
			_ = json.Unmarshal(e.Detail, &d)
			r.expanded[e.Step] = d.Keys
		case EntryStepSkipped:
			r.unit(e.Step).status = "skipped"
		case EntryApprovalRequired:
			r.unit(e.Step).awaiting = true
		case EntryApproved:
			s := r.unit(e.Step)
			s.approved, s.awaiting = true, false
			if s.status == "rejected" {
				s.status = ""
			}
		case EntryRejected:
			r.unit(e.Step).status = "rejected"
		case EntryStepStarted:
			s := r.unit(e.Step)
			s.inFlight, s.unknown, s.attempts = true, false, e.Attempt
		case EntryStepRetry:
			r.unit(e.Step).inFlight = false
		case EntryOutcomeUnknown:
			s := r.unit(e.Step)
			s.inFlight, s.unknown = false, true
		case EntryStepSucceeded:
			s := r.unit(e.Step)
			s.status, s.inFlight, s.unknown, s.outputs = "succeeded", false, false, e.Outputs
		case EntryStepFailed:
			s := r.unit(e.Step)
			s.status, s.inFlight = "failed", false
		case EntryEvidence:
			var d struct {
				Targets []string `json:"targets"`
			}
			_ = json.Unmarshal(e.Detail, &d)
			for _, t := range d.Targets {
				r.evidence[t] = true
			}
		}
	}
	return r
}

// Waiting returns the steps of a run that wait for approval, per the
// journal.
func Waiting(entries []*Entry) []string {
	st := replay(entries)
	var out []string
	for addr, u := range st.units {
		if u.awaiting && !u.approved && u.status == "" {
			out = append(out, addr)
		}
	}
	sort.Strings(out)
	return out
}
