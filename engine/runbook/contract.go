package runbook

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-ir/vigil/engine/action"
)

// The plan is a contract, as in Terraform: a plan pins every step instance
// (its address with the for_each key, its targets and a hash of its
// arguments), and apply runs exactly those. Instances whose keys were
// unknown at plan time (for_each over outputs only apply knows) are
// expanded at apply and journaled as such; anything else that would differ
// makes apply refuse.

// StaleError says apply would not do what the plan showed.
type StaleError struct {
	// New lists the instances that would run but are not in the plan; Gone
	// those of the plan that would not run now.
	New, Gone []string
}

func (e *StaleError) Error() string {
	var parts []string
	if len(e.New) > 0 {
		verb := "is"
		if len(e.New) > 1 {
			verb = "are"
		}
		parts = append(parts, fmt.Sprintf("%s would run but %s not in the plan", strings.Join(e.New, ", "), verb))
	}
	if len(e.Gone) > 0 {
		parts = append(parts, fmt.Sprintf("%s of the plan would not run now", strings.Join(e.Gone, ", ")))
	}
	return "Saved plan is stale: " + strings.Join(parts, "; ") +
		". What the steps act on changed since the plan was made (the inventory, the findings or a step's outputs): make a new plan, review it, and apply that."
}

// checkContract compares, before anything runs, the instances of every
// step whose for_each the plan knew and that does not wait for another
// step's outputs.
func (ex *execution) checkContract() error {
	var steps []*Step
	insts := map[string][]instance{}
	for _, s := range ex.rb.Steps {
		if s.ForEach == nil || ex.plan.Step(s.Name+"[*]") != nil || refersToSteps(s.ForEach) {
			continue
		}
		in, unknown, diags := ex.sc.expand(s)
		if diags.HasErrors() {
			return diagError(ex.red.diags(diags))
		}
		if unknown {
			continue
		}
		steps = append(steps, s)
		insts[s.Name] = in
	}
	return stale(ex.plan, steps, insts)
}

// stale compares expanded instances with the plan's.
func stale(plan *Plan, steps []*Step, insts map[string][]instance) error {
	e := &StaleError{}
	for _, s := range steps {
		planned := map[string]bool{}
		for _, ps := range plan.Steps {
			if ps.Step == s.Name {
				planned[ps.Address] = true
			}
		}
		now := map[string]bool{}
		for _, in := range insts[s.Name] {
			addr := Address(s.Name, in.key)
			now[addr] = true
			if !planned[addr] {
				e.New = append(e.New, "step."+addr)
			}
		}
		for _, addr := range slices.Sorted(maps.Keys(planned)) {
			if !now[addr] {
				e.Gone = append(e.Gone, "step."+addr)
			}
		}
	}
	if len(e.New) == 0 && len(e.Gone) == 0 {
		return nil
	}
	return e
}

func refersToSteps(e hcl.Expression) bool {
	for _, tr := range e.Variables() {
		if tr.RootName() == "step" {
			return true
		}
	}
	return false
}

// pinnedArgs holds an instance's arguments to the plan's: the hash when the
// plan knew them all, else every part it knew.
func pinnedArgs(ps *PlannedStep, now map[string]any) error {
	if ps == nil || (ps.ArgsHash != "" && HashValue(now) == ps.ArgsHash) {
		return nil
	}
	names := map[string]bool{}
	for k := range ps.Args {
		names[k] = true
	}
	for k := range now {
		names[k] = true
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if !consistent(ps.Args[name], now[name]) {
			return fmt.Errorf("the plan is stale: argument %s of step.%s was %s in the plan and is %s now; make a new plan",
				name, ps.Address, canonicalJSON(ps.Args[name]), canonicalJSON(now[name]))
		}
	}
	if ps.ArgsHash != "" {
		return fmt.Errorf("the plan is stale: the arguments of step.%s are not the plan's; make a new plan", ps.Address)
	}
	return nil
}

// checkPinned holds, before the first step runs, every planned instance
// that does not wait on other steps to the plan: its arguments (which the
// plan's variables make) and the targets its action would act on now. A
// saved plan edited by hand (a target, a variable) is then refused whole,
// instead of step by step after the earlier steps ran. Instances that read
// other steps' outputs are held to the plan when they start, as before.
func (ex *execution) checkPinned(ctx context.Context) error {
	for _, s := range ex.rb.Steps {
		if (s.ForEach != nil && refersToSteps(s.ForEach)) || (s.When != nil && refersToSteps(s.When)) {
			continue
		}
		late := false
		for _, ae := range s.ArgExprs {
			if refersToSteps(ae.Expr) {
				late = true
			}
		}
		if late {
			continue
		}
		a, _, ok := ex.x.Registry.Resolve(s.Action)
		if !ok {
			continue // reported when the step starts
		}
		spec := a.Spec()
		insts, unknown, diags := ex.sc.expand(s)
		if diags.HasErrors() {
			return diagError(ex.red.diags(diags))
		}
		if unknown {
			continue
		}
		for _, inst := range insts {
			addr := Address(s.Name, inst.key)
			ps := ex.plan.Step(addr)
			if ps == nil || ps.Skipped || ps.Unknown {
				continue
			}
			args, d := ex.sc.args(s, spec, ex.sc.ctx(inst.each))
			if d.HasErrors() {
				return diagError(ex.red.diags(d))
			}
			ex.red.learnAll(args)
			if !allKnown(args) {
				continue
			}
			if err := pinnedArgs(ps, EncodeMap(args)); err != nil {
				return err
			}
			if len(ps.Targets) == 0 {
				continue
			}
			req := &action.Request{Args: unmarkAll(args), Sensitive: sensitiveArgs(args), RunID: "plan", Step: addr, Env: ex.env, Incident: incidentOf(ex.vars)}
			ch, err := a.Plan(ctx, req)
			if err != nil {
				continue // the step reports it when it starts
			}
			if now := ex.red.texts(ch.Targets); !sameSet(now, ps.Targets) {
				return fmt.Errorf("the plan is stale: step.%s would act on %s, the plan showed %s; make a new plan",
					addr, strings.Join(now, ", "), strings.Join(ps.Targets, ", "))
			}
		}
	}
	return nil
}
