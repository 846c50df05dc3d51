package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/runbook"
)

// effectSymbol marks steps by what they do, as Terraform marks resources:
// <= reads, ~ changes reversibly, - destroys.
func effectSymbol(e action.Effect) string {
	switch e {
	case action.Read:
		return "<="
	case action.Destructive:
		return " -"
	}
	return " ~"
}

// PlanText prints a plan for people: per phase, per step, the action, the
// resolved arguments, the targets, what it would do, approvals, and a
// summary line.
func PlanText(w io.Writer, p *runbook.Plan) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Runbook %s", p.Runbook.ID)
	if p.Runbook.Title != "" {
		fmt.Fprintf(bw, ": %s", p.Runbook.Title)
	}
	fmt.Fprintf(bw, "\nProvider: %s", p.Provider)
	if len(p.Inventory) > 0 {
		fmt.Fprintf(bw, " (inventory %s)", strings.Join(p.Inventory, ", "))
	}
	fmt.Fprintln(bw)
	if len(p.Variables) > 0 {
		fmt.Fprintln(bw, "\nVariables:")
		for _, name := range slices.Sorted(maps.Keys(p.Variables)) {
			v := p.Variables[name]
			val := string(v.Value)
			if v.Sensitive {
				val = runbook.SensitiveText
			}
			fmt.Fprintf(bw, "  %-20s = %s  (%s)\n", name, val, v.Source)
		}
	}
	fmt.Fprintln(bw, "\nSymbols: <= read, ~ reversible change, - destructive. Steps marked [approval] wait for a responder.")
	phase := ""
	for _, s := range p.Steps {
		if s.Phase != phase {
			phase = s.Phase
			fmt.Fprintf(bw, "\n# %s\n", phase)
		}
		marks := []string{}
		if s.NeedsApproval {
			marks = append(marks, "approval")
		}
		if s.Evidence {
			marks = append(marks, "evidence")
		}
		if s.Skipped {
			marks = append(marks, "skipped: "+s.SkipReason)
		}
		if s.NoOp {
			marks = append(marks, "nothing to do")
		}
		m := ""
		if len(marks) > 0 {
			m = "  [" + strings.Join(marks, "] [") + "]"
		}
		fmt.Fprintf(bw, "%s step.%s  %s%s\n", effectSymbol(s.Effect), s.Address, s.Action, m)
		if s.Skipped {
			continue
		}
		if s.Summary != "" {
			fmt.Fprintf(bw, "      will: %s\n", s.Summary)
		}
		for _, d := range s.Details {
			fmt.Fprintf(bw, "            %s\n", d)
		}
		keys := slices.Sorted(maps.Keys(s.Args))
		width := 0
		for _, k := range keys {
			if s.Args[k] != nil && len(k) > width {
				width = len(k)
			}
		}
		for _, k := range keys {
			if s.Args[k] == nil {
				continue
			}
			fmt.Fprintf(bw, "      %-*s = %s\n", width, k, renderValue(s.Args[k]))
		}
		if len(s.Targets) > 0 {
			fmt.Fprintf(bw, "      targets: %s\n", strings.Join(s.Targets, ", "))
		}
		if s.NeedsApproval && s.ApprovalReason != "" {
			fmt.Fprintf(bw, "      approval: %s", s.ApprovalReason)
			if len(s.Approvers) > 0 {
				fmt.Fprintf(bw, " (approvers: %s)", strings.Join(s.Approvers, ", "))
			}
			fmt.Fprintln(bw)
		}
		for _, k := range slices.Sorted(maps.Keys(s.Outputs)) {
			if v := s.Outputs[k]; v == runbook.UnknownText {
				fmt.Fprintf(bw, "      outputs.%s = %s\n", k, runbook.UnknownText)
			}
		}
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(bw, "\nWarning: %s\n", w)
	}
	if len(p.Outputs) > 0 {
		fmt.Fprintln(bw, "\nOutputs:")
		for _, k := range slices.Sorted(maps.Keys(p.Outputs)) {
			fmt.Fprintf(bw, "  %s = %s\n", k, renderValue(p.Outputs[k]))
		}
	}
	s := p.Summary
	fmt.Fprintf(bw, "\nPlan: %d steps (%d read, %d reversible, %d destructive), %d need approval, %d skipped",
		s.Steps, s.Read, s.Reversible, s.Destructive, s.Approvals, s.Skipped)
	if s.Unknown > 0 {
		fmt.Fprintf(bw, ", %d known only at apply", s.Unknown)
	}
	fmt.Fprintln(bw, ".")
	return bw.Flush()
}

// renderValue prints a value in HCL-like syntax.
func renderValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if x == runbook.UnknownText || x == runbook.SensitiveText {
			return x
		}
		return fmt.Sprintf("%q", x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = renderValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + " = " + renderValue(x[k])
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// PlanJSON prints the plan as data.
func PlanJSON(w io.Writer, p *runbook.Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(p)
}

// RenderValueForCLI prints a plain value as the plan view does.
func RenderValueForCLI(v any) string { return renderValue(v) }
