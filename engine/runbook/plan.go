package runbook

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/limits"
)

// PlanFormat is the version of the saved plan format.
const PlanFormat = "1"

// Plan is what a runbook would do: computed first, rendered after (human
// and JSON views of the same struct), saved with -out and applied later.
type Plan struct {
	FormatVersion string              `json:"format_version"`
	Runbook       PlanRunbook         `json:"runbook"`
	Provider      string              `json:"provider"`
	Inventory     []string            `json:"inventory,omitempty"`
	Variables     map[string]*PlanVar `json:"variables"`
	Steps         []*PlannedStep      `json:"steps"`
	Outputs       map[string]any      `json:"outputs,omitempty"`
	Summary       PlanSummary         `json:"summary"`
	Warnings      []string            `json:"warnings,omitempty"`
	CreatedAt     time.Time           `json:"created_at"`
	// ValueKey names the key its sensitive values and keys are hashed with
	// (ValueKeyID): apply needs the same journal key to match them.
	ValueKey string `json:"value_key,omitempty"`

	indexOnce sync.Once
	byAddr    map[string]*PlannedStep
}

// PlanRunbook identifies the runbook a plan was made from.
type PlanRunbook struct {
	ID    string `json:"id"`
	Title string `json:"title,omitempty"`
	// File is the runbook's path, or "builtin:<id>" for an embedded one.
	File string `json:"file"`
	Hash string `json:"sha256"`
}

// PlanVar is a variable as the plan records it. Sensitive values are not
// stored: only their HMAC under the value key (see ValueKey), so that apply
// can check that the same value is given while the plan, the runs row and
// the journal offer nothing to brute force.
type PlanVar struct {
	Value     json.RawMessage `json:"value,omitempty"`
	Type      json.RawMessage `json:"type,omitempty"`
	Sensitive bool            `json:"sensitive,omitempty"`
	HMAC      string          `json:"hmac_sha256,omitempty"`
	Source    string          `json:"source"`
}

// PlannedStep is one step (or one instance of a for_each step).
type PlannedStep struct {
	Address string `json:"address"` // snapshot, revoke["sg-1"], revoke[*] when unknown
	Step    string `json:"step"`
	Key     string `json:"key,omitempty"`
	Phase   string `json:"phase"`
	Action  string `json:"action"`
	// Provider implements the action in this plan (sim, aws, gcp, core).
	Provider    string         `json:"provider"`
	Effect      action.Effect  `json:"effect"`
	Description string         `json:"description,omitempty"`
	Args        map[string]any `json:"args"`
	// ArgsHash pins the arguments when all are known at plan time: apply
	// refuses to run the instance with different ones.
	ArgsHash      string   `json:"args_sha256,omitempty"`
	Summary       string   `json:"summary,omitempty"`
	Details       []string `json:"details,omitempty"`
	Targets       []string `json:"targets,omitempty"`
	Deletes       []string `json:"deletes,omitempty"`
	NeedsApproval bool     `json:"needs_approval,omitempty"`
	// DistinctApprover: the approver must be another person than the
	// run's starter, signed in to vigil serve (the two-person rule).
	DistinctApprover bool     `json:"distinct_approver,omitempty"`
	ApprovalReason   string   `json:"approval_reason,omitempty"`
	Approvers        []string `json:"approvers,omitempty"`
	Evidence         bool     `json:"evidence,omitempty"`
	DependsOn        []string `json:"depends_on,omitempty"`
	Skipped          bool     `json:"skipped,omitempty"`
	SkipReason       string   `json:"skip_reason,omitempty"`
	// Unknown: the step's instances or condition are known only at apply.
	Unknown bool           `json:"unknown,omitempty"`
	NoOp    bool           `json:"no_op,omitempty"`
	Outputs map[string]any `json:"outputs,omitempty"`
	Timeout string         `json:"timeout,omitempty"`
	Line    int            `json:"line"`
}

// PlanSummary counts the planned steps.
type PlanSummary struct {
	Steps       int `json:"steps"`
	Read        int `json:"read"`
	Reversible  int `json:"reversible"`
	Destructive int `json:"destructive"`
	Approvals   int `json:"approvals"`
	Skipped     int `json:"skipped"`
	Unknown     int `json:"unknown"`
}

// Step returns a planned step by address.
// The index is built on first use; steps must not be added after.
func (p *Plan) Step(addr string) *PlannedStep {
	p.indexOnce.Do(func() {
		p.byAddr = map[string]*PlannedStep{}
		for _, s := range p.Steps {
			p.byAddr[s.Address] = s
		}
	})
	return p.byAddr[addr]
}

// Canonical is the plan as runs store it; its SHA-256 is the plan's hash,
// which approvals and the journal's first entry record.
func (p *Plan) Canonical() []byte {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return b
}

// Hash is the SHA-256 of the canonical plan. A plan read back from its file
// has the hash it was saved with.
func (p *Plan) Hash() string { return planHash(p.Canonical()) }

// Address is a step instance's address: name, or name["key"].
func Address(step, key string) string {
	if key == "" {
		return step
	}
	return step + "[" + strconv.Quote(key) + "]"
}

// Planner makes plans.
type Planner struct {
	Registry *action.Registry
	Env      *action.Env
	Data     *Data
	// Provider names the provider mode for the plan view ("sim", "cloud").
	Provider  string
	Inventory []string
	Now       func() time.Time
	// Key is the journal key the plan will be applied with: sensitive values
	// and for_each keys are hashed with the value key derived from it. Nil:
	// a random key, which makes a plan to look at but not to apply.
	Key ed25519.PrivateKey
}

// Plan evaluates the runbook in dependency order and asks every action what
// it would do. Nothing is changed: actions only read in Plan.
func (p *Planner) Plan(ctx context.Context, rb *Runbook, file string, vars map[string]*VarValue) (*Plan, hcl.Diagnostics) {
	g, diags := validate(rb, p.Registry)
	if diags.HasErrors() {
		return nil, diags
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	key := p.Key
	if key == nil {
		_, key, _ = ed25519.GenerateKey(rand.Reader)
	}
	vkey := ValueKey(key)
	plan := &Plan{
		FormatVersion: PlanFormat, Provider: p.Provider, Inventory: p.Inventory,
		Runbook:   PlanRunbook{ID: rb.ID, Title: rb.Title, File: file, Hash: rb.Hash()},
		Variables: map[string]*PlanVar{}, CreatedAt: now().UTC(), ValueKey: ValueKeyID(vkey),
	}
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning {
			plan.Warnings = append(plan.Warnings, d.Summary+": "+d.Detail)
		}
	}
	for name, v := range vars {
		pv, err := planVar(v, vkey)
		if err != nil {
			return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot record variable", Detail: fmt.Sprintf("%s: %v", name, err)})
		}
		plan.Variables[name] = pv
	}
	red := newRedactor(vars)
	sc, d := newScope(ctx, rb, vars, p.Data, vkey)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return nil, diags
	}
	for _, s := range g.order {
		a, provider, ok := p.Registry.Resolve(s.Action)
		if !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Action not available",
				Detail:  fmt.Sprintf("No provider in this run implements %s. Rehearse with --provider sim --inventory FILE, or enable the provider that implements it.", s.Action),
				Subject: s.ActionRange.Ptr()})
			continue
		}
		spec := a.Spec()
		instances, unknown, d := sc.expand(s)
		diags = append(diags, red.diags(d)...)
		if d.HasErrors() {
			continue
		}
		if unknown {
			ps := p.newPlanned(s, "", spec, provider, g)
			ps.Address = s.Name + "[*]"
			ps.Unknown = true
			ps.Summary = "instances known after apply (for_each depends on values only apply can know)"
			plan.Steps = append(plan.Steps, ps)
			sc.setStep(s, nil, true, spec)
			continue
		}
		outputs := map[string]cty.Value{}
		for _, inst := range instances {
			ps := p.newPlanned(s, inst.key, spec, provider, g)
			ectx := sc.ctx(inst.each)
			if s.When != nil {
				w, d := s.When.Value(ectx)
				diags = append(diags, red.diags(d)...)
				if d.HasErrors() {
					continue
				}
				w, _ = w.Unmark()
				switch {
				case !w.IsKnown():
					ps.Unknown = true
				case w.IsNull() || w.False():
					ps.Skipped, ps.SkipReason = true, "when is false"
					plan.Steps = append(plan.Steps, ps)
					outputs[inst.key] = cty.ObjectVal(map[string]cty.Value{"outputs": cty.UnknownVal(spec.OutputsType())})
					continue
				}
			}
			args, d := sc.args(s, spec, ectx)
			diags = append(diags, red.diags(d)...)
			if d.HasErrors() {
				continue
			}
			red.learnAll(args)
			ps.Args = EncodeMap(args)
			if allKnown(args) {
				ps.ArgsHash = HashValue(ps.Args)
			}
			if r := approvalReason(s, ectx); r != "" {
				ps.ApprovalReason = red.text(r)
			}
			outs := spec.Unknowns()
			if allKnown(args) && !ps.Unknown {
				req := &action.Request{Args: unmarkAll(args), Sensitive: sensitiveArgs(args), RunID: "plan", Step: ps.Address, Env: p.Env, Incident: incidentOf(vars)}
				ch, err := a.Plan(ctx, req)
				if err != nil {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Step cannot be planned",
						Detail: red.text(fmt.Sprintf("step.%s (%s): %v", ps.Address, s.Action, err)), Subject: s.DeclRange.Ptr()})
					continue
				}
				ps.Summary, ps.Details, ps.Targets, ps.Deletes, ps.NoOp = red.text(ch.Summary), red.texts(ch.Details), red.texts(ch.Targets), red.texts(ch.Deletes), ch.NoOp
				for k, v := range ch.Outputs {
					if _, ok := outs[k]; ok {
						if cv, err := convert.Convert(v, spec.Outputs[k]); err == nil {
							outs[k] = cv
						}
					}
				}
			} else {
				ps.Summary = UnknownText
			}
			ps.Outputs = red.value(EncodeMap(outs)).(map[string]any)
			outputs[inst.key] = cty.ObjectVal(map[string]cty.Value{"outputs": cty.ObjectVal(outs)})
			plan.Steps = append(plan.Steps, ps)
		}
		if s.ForEach != nil {
			sc.setInstances(s, outputs)
		} else if o, ok := outputs[""]; ok {
			sc.steps[s.Name] = o
		} else {
			sc.setStep(s, nil, true, spec)
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	plan.Outputs = map[string]any{}
	for _, o := range rb.Outputs {
		v, d := o.Value.Value(sc.ctx(nil))
		diags = append(diags, red.diags(d)...)
		if o.Sensitive {
			v = v.Mark(sensitive)
		}
		red.learn(v)
		plan.Outputs[o.Name] = red.value(Encode(v))
	}
	plan.summarize()
	return plan, diags
}

func (p *Planner) newPlanned(s *Step, key string, spec *action.Spec, provider string, g *graph) *PlannedStep {
	ps := &PlannedStep{
		Address: Address(s.Name, key), Step: s.Name, Key: key, Phase: s.Phase.Name, Action: s.Action,
		Provider: provider, Effect: spec.Effect, Description: s.Description, Evidence: s.Evidence,
		DependsOn: g.deps[s.Name], Line: s.DeclRange.Start.Line, Args: map[string]any{},
	}
	if s.Timeout > 0 {
		ps.Timeout = s.Timeout.String()
	}
	if s.Approval != nil || spec.Effect == action.Destructive || spec.Gate {
		ps.NeedsApproval = true
		if s.Approval != nil {
			ps.Approvers = s.Approval.Approvers
		}
		if ps.ApprovalReason == "" && spec.Effect == action.Destructive {
			ps.ApprovalReason = "destructive: cannot be undone"
		}
		ps.DistinctApprover = NeedsDistinctApprover(s, spec, p.Provider)
	}
	return ps
}

// approvalReason evaluates a step's approval reason; a value only apply
// can know leaves the expression's text.
func approvalReason(s *Step, ctx *hcl.EvalContext) string {
	if s.Approval == nil || s.Approval.Reason == nil {
		return ""
	}
	v, d := s.Approval.Reason.Value(ctx)
	if d.HasErrors() {
		return ""
	}
	if v.ContainsMarked() {
		// Made from a sensitive value (marks survive functions such as
		// lower): no spelling of it may show in the plan or the journal.
		return SensitiveReason
	}
	if !v.IsKnown() || v.IsNull() {
		return UnknownText
	}
	if sv, err := convert.Convert(v, cty.String); err == nil {
		return sv.AsString()
	}
	return ""
}

func (p *Plan) summarize() {
	s := PlanSummary{}
	for _, st := range p.Steps {
		s.Steps++
		switch {
		case st.Skipped:
			s.Skipped++
			continue
		case st.Unknown:
			s.Unknown++
		}
		switch st.Effect {
		case action.Read:
			s.Read++
		case action.Reversible:
			s.Reversible++
		case action.Destructive:
			s.Destructive++
		}
		if st.NeedsApproval {
			s.Approvals++
		}
	}
	p.Summary = s
}

func planVar(v *VarValue, valueKey []byte) (*PlanVar, error) {
	val, _ := v.Value.UnmarkDeep()
	pv := &PlanVar{Source: v.Source, Sensitive: v.Sensitive}
	raw, err := ctyjson.Marshal(val, val.Type())
	if err != nil {
		return nil, err
	}
	if v.Sensitive {
		pv.HMAC = valueHash(valueKey, canonicalJSON(json.RawMessage(raw)))
		return pv, nil
	}
	t, err := ctyjson.MarshalType(val.Type())
	if err != nil {
		return nil, err
	}
	pv.Value, pv.Type = raw, t
	return pv, nil
}

// PlanValues returns the non-sensitive variable values recorded in a plan.
func (p *Plan) PlanValues() (map[string]cty.Value, error) {
	out := map[string]cty.Value{}
	for name, pv := range p.Variables {
		if pv.Sensitive {
			continue
		}
		t, err := ctyjson.UnmarshalType(pv.Type)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", name, err)
		}
		v, err := ctyjson.Unmarshal(pv.Value, t)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

// CheckVariables compares the variables of an apply with those the plan was
// made with: a plan applies only to the same values. Values are compared as
// values, not as JSON text; sensitive ones by their HMAC under valueKey,
// which must be the key the plan was made with.
func (p *Plan) CheckVariables(vars map[string]*VarValue, valueKey []byte) error {
	if err := p.CheckValueKey(valueKey); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(p.Variables)) {
		pv := p.Variables[name]
		v, ok := vars[name]
		if !ok {
			return fmt.Errorf("variable %s of the plan has no value now", name)
		}
		if pv.Sensitive {
			if pv.HMAC == "" {
				return fmt.Errorf("the plan records sensitive variable %s by an unkeyed hash (an older vigil made it): make a new plan", name)
			}
			now, err := planVar(v, valueKey)
			if err != nil {
				return err
			}
			if now.HMAC != pv.HMAC {
				if v.Source == "default" || v.Source == "plan" {
					return fmt.Errorf("sensitive variable %s is not stored in the plan: give it again (-var %s=... or %s%s)", name, name, EnvPrefix, name)
				}
				return fmt.Errorf("sensitive variable %s differs from the value the plan was made with", name)
			}
			continue
		}
		t, err := ctyjson.UnmarshalType(pv.Type)
		if err != nil {
			return fmt.Errorf("variable %s of the plan: %w", name, err)
		}
		planned, err := ctyjson.Unmarshal(pv.Value, t)
		if err != nil {
			return fmt.Errorf("variable %s of the plan: %w", name, err)
		}
		now, _ := v.Value.UnmarkDeep()
		if conv, err := convert.Convert(now, t); err == nil {
			now = conv
		}
		if eq := now.Equals(planned); !eq.IsKnown() || eq.False() {
			return fmt.Errorf("variable %s is %s now but %s in the plan; make a new plan", name, canonicalJSON(Encode(now)), canonicalJSON(Encode(planned)))
		}
	}
	return nil
}

// CheckValueKey says whether the plan's sensitive values and keys were
// hashed with valueKey. A plan without sensitive values needs no key.
func (p *Plan) CheckValueKey(valueKey []byte) error {
	if p.ValueKey == "" || p.ValueKey == ValueKeyID(valueKey) || !p.hasSensitive() {
		return nil
	}
	return fmt.Errorf("the plan's sensitive values were hashed with value key %s, and this process's journal key gives %s: apply it with the journal key it was planned with (--journal-key or VIGIL_JOURNAL_KEY), or make a new plan",
		p.ValueKey, ValueKeyID(valueKey))
}

// hasSensitive reports whether the plan holds sensitive variables or
// instances addressed by a sensitive key.
func (p *Plan) hasSensitive() bool {
	for _, v := range p.Variables {
		if v.Sensitive {
			return true
		}
	}
	for _, s := range p.Steps {
		if strings.HasPrefix(s.Key, "(sensitive ") {
			return true
		}
	}
	return false
}

// ReadPlan loads a saved plan.
func ReadPlan(path string) (*Plan, error) {
	raw, err := limits.ReadFile(path, limits.MaxJSONFile)
	if err != nil {
		return nil, err
	}
	if le := limits.JSON(raw); le != nil {
		le.File = path
		return nil, le
	}
	p, err := DecodePlan(raw)
	if err != nil {
		return nil, fmt.Errorf("%s is not a vigil plan: %w", path, err)
	}
	if p.FormatVersion != PlanFormat || p.Runbook.ID == "" {
		return nil, fmt.Errorf("%s is not a vigil runbook plan (format_version %q)", path, p.FormatVersion)
	}
	return p, nil
}

// DecodePlan reads a plan's JSON. Numbers keep their text, so that the plan
// has the hash it was saved with.
func DecodePlan(raw []byte) (*Plan, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// IsPlanFile reports whether a file looks like a saved plan.
func IsPlanFile(path string) bool {
	if !strings.HasSuffix(path, ".json") {
		return false
	}
	_, err := ReadPlan(path)
	return err == nil
}

func allKnown(args map[string]cty.Value) bool {
	for _, v := range args {
		if !v.IsWhollyKnown() {
			return false
		}
	}
	return true
}

// sensitiveArgs names the arguments holding a sensitive value anywhere.
func sensitiveArgs(args map[string]cty.Value) map[string]bool {
	var out map[string]bool
	for k, v := range args {
		if markedSensitive(v) {
			if out == nil {
				out = map[string]bool{}
			}
			out[k] = true
		}
	}
	return out
}

func unmarkAll(args map[string]cty.Value) map[string]cty.Value {
	out := make(map[string]cty.Value, len(args))
	for k, v := range args {
		out[k], _ = v.UnmarkDeep()
	}
	return out
}

func incidentOf(vars map[string]*VarValue) string {
	if v, ok := vars["incident"]; ok {
		val, _ := v.Value.Unmark()
		if val.Type() == cty.String && val.IsKnown() && !val.IsNull() {
			return val.AsString()
		}
	}
	return ""
}
