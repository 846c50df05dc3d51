package runbook

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
)

// Timeline is a run as the lessons-learned review reads it: every step
// with its times, actor, arguments, outputs, approvals and evidence hashes,
// and whether the journal's hash chain is intact.
type Timeline struct {
	Run      *Run               `json:"run"`
	Verified bool               `json:"journal_intact"`
	Tamper   string             `json:"tamper,omitempty"`
	Steps    []*TimelineStep    `json:"steps"`
	Events   []TimelineEvent    `json:"events"`
	Evidence []TimelineEvidence `json:"evidence"`
	// Activity is what the provider's logs say happened before and after
	// the detection, from the run's log steps (aws.cloudtrail.lookup_events,
	// gcp.logging.list_entries), merged in time order.
	Activity *Activity      `json:"activity,omitempty"`
	Outputs  map[string]any `json:"outputs,omitempty"`
}

// Activity is the timeline of the malicious activity the logs show,
// before and after the detection.
type Activity struct {
	// Detection is the alert time the log steps were asked about.
	Detection *time.Time      `json:"detection,omitempty"`
	Events    []ActivityEvent `json:"events"`
	Notes     []string        `json:"notes,omitempty"`
}

// ActivityEvent is one log event, with the step that read it and whether
// it came before or after the detection.
type ActivityEvent struct {
	Time     time.Time `json:"time"`
	When     string    `json:"when"` // before, after
	Actor    string    `json:"actor"`
	SourceIP string    `json:"source_ip,omitempty"`
	Service  string    `json:"service,omitempty"`
	Call     string    `json:"call"`
	Result   string    `json:"result,omitempty"`
	Resource string    `json:"resource,omitempty"`
	Region   string    `json:"region,omitempty"`
	ID       string    `json:"id,omitempty"`
	Log      string    `json:"log,omitempty"`
	Step     string    `json:"step"`
}

// TimelineStep summarizes one step instance.
type TimelineStep struct {
	Address   string             `json:"address"`
	Phase     string             `json:"phase,omitempty"`
	Action    string             `json:"action,omitempty"`
	Status    string             `json:"status"`
	Started   *time.Time         `json:"started,omitempty"`
	Ended     *time.Time         `json:"ended,omitempty"`
	Duration  string             `json:"duration,omitempty"`
	Actor     string             `json:"actor,omitempty"`
	Attempts  int                `json:"attempts,omitempty"`
	Args      json.RawMessage    `json:"args,omitempty"`
	Outputs   json.RawMessage    `json:"outputs,omitempty"`
	Summary   string             `json:"summary,omitempty"`
	Error     string             `json:"error,omitempty"`
	Approvals []TimelineApproval `json:"approvals,omitempty"`
}

// TimelineApproval records who approved a step and how.
type TimelineApproval struct {
	Actor string    `json:"actor"`
	At    time.Time `json:"at"`
	Via   string    `json:"via"`
}

// TimelineEvent is one journal entry, in order.
type TimelineEvent struct {
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Step    string    `json:"step,omitempty"`
	Actor   string    `json:"actor"`
	Message string    `json:"message,omitempty"`
	Hash    string    `json:"hash"`
}

// TimelineEvidence is one chain-of-custody item.
type TimelineEvidence struct {
	Step   string         `json:"step"`
	At     time.Time      `json:"at"`
	Actor  string         `json:"actor"`
	Item   string         `json:"item"`
	SHA256 string         `json:"sha256"`
	Note   string         `json:"note,omitempty"`
	Kind   string         `json:"kind,omitempty"`
	Of     []string       `json:"of,omitempty"`
	Ref    string         `json:"ref,omitempty"`
	Verify string         `json:"verify,omitempty"`
	Args   map[string]any `json:"args,omitempty"`
	Bytes  int64          `json:"bytes,omitempty"`
	Detail map[string]any `json:"detail,omitempty"`
}

// BuildTimeline assembles a timeline from a run and its journal; v is the
// journal's verification (nil: the chain and signatures are checked here).
func BuildTimeline(run *Run, entries []*Entry, v *Verification) *Timeline {
	plan, err := DecodePlan(run.Plan)
	if err != nil {
		plan = &Plan{}
	}
	r := *run
	r.Plan = nil
	tl := &Timeline{Run: &r, Verified: true}
	if v == nil {
		v = VerifyRun(run, entries, nil, nil, "")
	}
	if v.Tamper != nil {
		tl.Verified, tl.Tamper = false, v.Tamper.Error()
	}
	steps := map[string]*TimelineStep{}
	var order []string
	step := func(addr string) *TimelineStep {
		s, ok := steps[addr]
		if !ok {
			s = &TimelineStep{Address: addr, Status: "pending"}
			if ps := plan.Step(addr); ps != nil {
				s.Phase, s.Action = ps.Phase, ps.Action
			}
			steps[addr] = s
			order = append(order, addr)
		}
		return s
	}
	for _, e := range entries {
		ev := TimelineEvent{Seq: e.Seq, At: e.At, Kind: e.Kind, Step: e.Step, Actor: e.Actor, Message: e.Error, Hash: e.Hash}
		at := e.At
		switch e.Kind {
		case EntryStepSkipped:
			s := step(e.Step)
			s.Status = "skipped"
			var d struct{ Reason string }
			_ = json.Unmarshal(e.Detail, &d)
			s.Summary, ev.Message = d.Reason, d.Reason
		case EntryApprovalRequired:
			step(e.Step).Status = "awaiting approval"
		case EntryApproved:
			var d struct{ Via string }
			_ = json.Unmarshal(e.Detail, &d)
			s := step(e.Step)
			s.Approvals = append(s.Approvals, TimelineApproval{Actor: e.Actor, At: e.At, Via: d.Via})
			s.Status = "approved"
			ev.Message = "via " + d.Via
		case EntryRejected:
			step(e.Step).Status = "rejected"
		case EntryStepStarted:
			s := step(e.Step)
			if s.Started == nil {
				s.Started = &at
			}
			s.Status, s.Attempts, s.Actor, s.Args = "running", e.Attempt, e.Actor, shownJSON(e.Args)
		case EntryStepRetry:
			step(e.Step).Status = "retrying"
		case EntryOutcomeUnknown:
			step(e.Step).Status = "outcome unknown"
		case EntryStepRecovered:
			ev.Message = "the attempt had taken effect"
		case EntryStepExpanded:
			var d struct {
				Keys    []string `json:"keys"`
				AtApply bool     `json:"expanded_at_apply"`
			}
			_ = json.Unmarshal(e.Detail, &d)
			ev.Message = fmt.Sprintf("%d instances", len(d.Keys))
			if d.AtApply {
				ev.Message += ", known only at apply"
			}
		case EntryRunStarted:
			var b Binding
			if json.Unmarshal(e.Detail, &b) == nil {
				if pub, err := DecodePublicKey(b.PublicKey); err == nil {
					ev.Message = "journal signed with key " + KeyID(pub)
				}
			}
		case EntryRunResumed:
			var d struct {
				Holder   Holder `json:"holder"`
				TookOver *struct {
					Holder Holder `json:"holder"`
				} `json:"took_over"`
			}
			_ = json.Unmarshal(e.Detail, &d)
			ev.Message = "by " + d.Holder.String()
			if d.TookOver != nil {
				ev.Message += ", taking over the lease of " + d.TookOver.Holder.String() + " (its process was gone)"
			}
		case EntryRunReanchored:
			var d struct {
				Reason string `json:"reason"`
				By     Holder `json:"by"`
				Anchor string `json:"anchor"`
			}
			_ = json.Unmarshal(e.Detail, &d)
			ev.Message = fmt.Sprintf("%s re-anchored the journal in %s, which had no record of it: %q; the anchor does not vouch for the entries before this one", d.By.String(), d.Anchor, d.Reason)
		case EntryRunUnlocked:
			var d struct {
				Broken *Lease `json:"broken"`
				Status string `json:"status"`
			}
			_ = json.Unmarshal(e.Detail, &d)
			if d.Broken != nil {
				ev.Message = "broke the lease of " + d.Broken.Holder.String() + "; the run is " + d.Status
			}
		case EntryStepSucceeded, EntryStepFailed:
			s := step(e.Step)
			s.Ended = &at
			if s.Started != nil {
				s.Duration = at.Sub(*s.Started).Round(time.Millisecond).String()
			}
			if e.Kind == EntryStepSucceeded {
				var d struct{ Summary string }
				_ = json.Unmarshal(e.Detail, &d)
				s.Status, s.Outputs, s.Summary = "succeeded", shownJSON(e.Outputs), d.Summary
				ev.Message = d.Summary
			} else {
				s.Status, s.Error = "failed", e.Error
			}
			if e.Attempt > s.Attempts {
				s.Attempts = e.Attempt
			}
		case EntryEvidence:
			var d evidenceDetail
			_ = json.Unmarshal(e.Detail, &d)
			for _, it := range d.Items {
				tl.Evidence = append(tl.Evidence, TimelineEvidence{Step: e.Step, At: e.At, Actor: e.Actor, Item: it.Item, SHA256: it.SHA256, Note: it.Note,
					Kind: it.Kind, Of: it.Of, Ref: it.Ref, Verify: it.Verify, Args: it.Args, Bytes: it.Bytes, Detail: it.Detail})
			}
		case EntryStepCheckpoint:
			var d struct {
				Message string `json:"message"`
			}
			_ = json.Unmarshal(e.Detail, &d)
			ev.Message = d.Message
		case EntryRunFinished:
			var d struct {
				Status  string         `json:"status"`
				Outputs map[string]any `json:"outputs"`
			}
			_ = json.Unmarshal(e.Detail, &d)
			ev.Message = d.Status
			if d.Outputs != nil {
				tl.Outputs = d.Outputs
			}
		}
		tl.Events = append(tl.Events, ev)
	}
	tl.Activity = activity(plan, tl, entries)
	// Steps in plan order, then any others.
	seen := map[string]bool{}
	for _, ps := range plan.Steps {
		if s, ok := steps[ps.Address]; ok {
			tl.Steps = append(tl.Steps, s)
			seen[ps.Address] = true
		} else if !ps.Unknown {
			tl.Steps = append(tl.Steps, &TimelineStep{Address: ps.Address, Phase: ps.Phase, Action: ps.Action, Status: "not run"})
			seen[ps.Address] = true
		}
	}
	for _, addr := range order {
		if !seen[addr] {
			tl.Steps = append(tl.Steps, steps[addr])
		}
	}
	return tl
}

// activity merges the events the run's log steps read, in time order,
// each marked before or after the detection they were asked about.
func activity(plan *Plan, tl *Timeline, entries []*Entry) *Activity {
	var act *Activity
	args := map[string]json.RawMessage{}
	for _, e := range entries {
		if e.Kind == EntryStepStarted {
			args[e.Step] = e.Args
		}
	}
	for _, e := range entries {
		if e.Kind != EntryStepSucceeded {
			continue
		}
		ps := plan.Step(e.Step)
		if ps == nil {
			ps = plan.Step(stepOf(e.Step) + "[*]")
		}
		if ps == nil {
			continue
		}
		spec := action.Catalog[ps.Action]
		if spec == nil || !spec.Outputs["events"].Equals(cty.List(action.ActivityEvent)) {
			continue
		}
		var outs struct {
			Events []struct {
				Time     string `json:"time"`
				Actor    string `json:"actor"`
				SourceIP string `json:"source_ip"`
				Service  string `json:"service"`
				Call     string `json:"call"`
				Result   string `json:"result"`
				Resource string `json:"resource"`
				Region   string `json:"region"`
				ID       string `json:"id"`
				Log      string `json:"log"`
			} `json:"events"`
			Notes []string `json:"notes"`
		}
		if json.Unmarshal(e.Outputs, &outs) != nil {
			continue
		}
		var a struct {
			At string `json:"at"`
		}
		_ = json.Unmarshal(args[e.Step], &a)
		if act == nil {
			act = &Activity{Events: []ActivityEvent{}}
		}
		at, err := time.Parse(time.RFC3339, a.At)
		if err == nil && act.Detection == nil {
			at = at.UTC()
			act.Detection = &at
		}
		for _, n := range outs.Notes {
			act.Notes = append(act.Notes, "step."+e.Step+": "+n)
		}
		for _, ev := range outs.Events {
			t, err := time.Parse(time.RFC3339Nano, ev.Time)
			if err != nil {
				continue
			}
			x := ActivityEvent{Time: t.UTC(), Actor: ev.Actor, SourceIP: ev.SourceIP, Service: ev.Service, Call: ev.Call, Result: ev.Result,
				Resource: ev.Resource, Region: ev.Region, ID: ev.ID, Log: ev.Log, Step: e.Step}
			act.Events = append(act.Events, x)
		}
	}
	if act == nil {
		return nil
	}
	// The same event read by two lookups (the resource's, the
	// principal's) is shown once.
	seen := map[string]bool{}
	var events []ActivityEvent
	for _, ev := range act.Events {
		key := ev.ID
		if key == "" {
			key = ev.Time.String() + ev.Call + ev.Actor + ev.Resource
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		events = append(events, ev)
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].Time.Before(events[j].Time) })
	for i := range events {
		events[i].When = "after"
		if act.Detection != nil && events[i].Time.Before(*act.Detection) {
			events[i].When = "before"
		}
	}
	act.Events = events
	if act.Events == nil {
		act.Events = []ActivityEvent{}
	}
	return act
}

// shownJSON is a journal column as the timeline shows it: a column that is
// not one JSON value (an edit verify reports) is shown as the text it
// holds, so that the timeline of a tampered journal can still be written.
func shownJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || strictJSON(raw) == nil {
		return raw
	}
	b, _ := json.Marshal("(not JSON, as stored: " + string(raw) + ")")
	return b
}
