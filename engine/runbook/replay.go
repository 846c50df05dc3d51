package runbook

import (
	"encoding/json"
	"sort"

	"github.com/vigil-ir/vigil/engine/action"
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
	// checkpoints are what its attempts saved, oldest first.
	checkpoints []json.RawMessage
}

// replayed is a run's state rebuilt from its journal.
type replayed struct {
	units    map[string]*unitState
	expanded map[string][]string
	// evidence holds, by asset, the kinds of evidence the run recorded of
	// it.
	evidence custody
}

// custody is the evidence a run recorded: asset -> kinds.
type custody map[string]map[string]bool

func (c custody) add(asset, kind string) {
	if c[asset] == nil {
		c[asset] = map[string]bool{}
	}
	c[asset][kind] = true
}

// has reports whether one of kinds was recorded of asset.
func (c custody) has(asset string, kinds []string) bool {
	for _, k := range kinds {
		if c[asset][k] {
			return true
		}
	}
	return false
}

// evidenceDetail is an evidence entry's detail.
type evidenceDetail struct {
	Items   []action.Evidence `json:"items"`
	Targets []string          `json:"targets"`
}

// record adds an evidence entry's items. Only an entry written before
// items had kinds (none of its items has one: since then, every entry
// carries at least its outputs item, of kind "outputs") counts as a
// record of each of its targets. An entry of today whose items say
// nothing of an asset is no evidence of it, whatever its targets: a step
// that changed a firewall rule with evidence = true hashed its outputs,
// not the rule's record.
func (c custody) record(d evidenceDetail) {
	legacy := true
	for _, it := range d.Items {
		if it.Kind == "" {
			continue
		}
		legacy = false
		for _, of := range it.Of {
			c.add(of, it.Kind)
		}
	}
	if legacy {
		for _, t := range d.Targets {
			c.add(t, action.EvidenceRecord)
		}
	}
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
	r := &replayed{units: map[string]*unitState{}, expanded: map[string][]string{}, evidence: custody{}}
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
		case EntryStepCheckpoint:
			s := r.unit(e.Step)
			s.checkpoints = append(s.checkpoints, e.Detail)
		case EntryEvidence:
			var d evidenceDetail
			_ = json.Unmarshal(e.Detail, &d)
			r.evidence.record(d)
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
