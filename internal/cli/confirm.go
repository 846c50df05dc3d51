package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/runbook"
)

// confirmHint is what a run without a terminal is told: the interactive
// path first; --auto-approve confirms the plan and nothing else.
const confirmHint = `runbook apply acts on the real cloud and asks to confirm the plan, but stdin is not a terminal.
  Review the plan above, then either:
    run it from a terminal and answer 'yes' (steps that need an approval ask there, one at a time),
    save the plan and apply it (vigil runbook plan NAME ... -out plan.json; vigil runbook apply plan.json --approve STEP),
    pass --auto-approve (CI): it confirms this plan only; steps that need an approval still need --approve STEP
      (or stop in awaiting_approval for 'vigil runbook resume RUN --approve STEP'),
    or rehearse with --provider sim`

// confirmApply asks for "yes" before a runbook changes the real cloud, the
// way terraform apply does: after the plan, before the first step. Step
// approvals are separate: a "yes" here approves none of them. A saved plan
// is applied without asking (it was reviewed when it was made), and so is
// a rehearsal (--provider sim), a plan that changes nothing in the cloud
// (core steps, reads) or --auto-approve.
func (a *app) confirmApply(ctx context.Context, f *runbookFlags, plan *runbook.Plan) error {
	if f.provider == "sim" || f.autoApprove || !changesCloud(plan) {
		return nil
	}
	if !a.stdinIsTerminal() {
		return &exitError{code: ExitError, err: errors.New(confirmHint)}
	}
	fmt.Fprint(a.stdout, `Do you want to run this runbook against the real cloud?
  vigil will run the steps planned above. Steps that need an approval still ask.
  Only 'yes' will be accepted to confirm.

  Enter a value: `)
	line, err := a.stdinLines().next(ctx)
	if errors.Is(err, io.EOF) {
		return &exitError{code: ExitError, err: errors.New("no answer: stdin was closed; nothing was run")}
	}
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "yes" {
		fmt.Fprintln(a.stdout, "\nApply cancelled: nothing was run.")
		return exit(ExitFindings)
	}
	fmt.Fprintln(a.stdout)
	return nil
}

// changesCloud reports whether a plan has a step that would act on a cloud
// provider with more than a read.
func changesCloud(plan *runbook.Plan) bool {
	for _, st := range plan.Steps {
		if st.Skipped || st.NoOp || st.Effect == action.Read {
			continue
		}
		if st.Provider != "core" && st.Provider != "sim" {
			return true
		}
	}
	return false
}

// stdinIsTerminal reports whether someone can answer at the keyboard.
func (a *app) stdinIsTerminal() bool {
	if a.terminal != nil {
		return a.terminal()
	}
	in, ok := a.stdin.(*os.File)
	return ok && isTerminal(in)
}

// stdinLines is the one reader of stdin's lines, shared by the
// confirmation and the step approvals so neither swallows the other's
// answer.
func (a *app) stdinLines() *lineReader {
	if a.lines == nil {
		a.lines = newLineReader(a.stdin)
	}
	return a.lines
}
