package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/report"
)

// progressView prints a run's events, one line each. The executor calls it
// from one goroutine at a time.
func (a *app) progressView() func(runbook.Event) {
	return func(ev runbook.Event) {
		switch ev.Kind {
		case "started":
			fmt.Fprintf(a.stdout, "step.%s: running %s...\n", ev.Step, ev.Message)
		case "succeeded":
			fmt.Fprintf(a.stdout, "step.%s: done in %s: %s\n", ev.Step, ev.Elapsed.Round(time.Millisecond), ev.Message)
		default:
			fmt.Fprintf(a.stdout, "step.%s: %s\n", ev.Step, ev.Message)
		}
	}
}

// lineReader reads stdin on one goroutine, so that a prompt can give up
// when the run is interrupted.
type lineReader struct{ lines chan string }

func newLineReader(r io.Reader) *lineReader {
	l := &lineReader{lines: make(chan string)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.lines <- sc.Text()
		}
		close(l.lines)
	}()
	return l
}

func (l *lineReader) next(ctx context.Context) (string, error) {
	select {
	case s, ok := <-l.lines:
		if !ok {
			return "", io.EOF
		}
		return s, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// approvalPrompt asks at the terminal. The executor asks one instance at a
// time, so each answer belongs to the address it was typed under.
func (a *app) approvalPrompt(in *lineReader) func(context.Context, *runbook.ApprovalRequest) (bool, error) {
	return func(ctx context.Context, req *runbook.ApprovalRequest) (bool, error) {
		fmt.Fprint(a.stdout, approvalText(req))
		line, err := in.next(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return false, errors.New("no answer: stdin was closed")
			}
			return false, err
		}
		return strings.TrimSpace(line) == "yes", nil
	}
}

// approvalText is the prompt: the full address, what it will do, to which
// targets, under which plan.
func approvalText(req *runbook.ApprovalRequest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nstep.%s (%s, %s) needs an approval\n", req.Address, req.Action, req.Effect)
	if req.Reason != "" {
		fmt.Fprintf(&b, "  reason:  %s\n", req.Reason)
	}
	if len(req.Approvers) > 0 {
		fmt.Fprintf(&b, "  approvers: %s\n", strings.Join(req.Approvers, ", "))
	}
	if req.Summary != "" {
		fmt.Fprintf(&b, "  it will: %s\n", req.Summary)
	}
	for _, d := range req.Details {
		fmt.Fprintf(&b, "           %s\n", d)
	}
	targets := runbook.UnknownText
	if len(req.Targets) > 0 {
		targets = strings.Join(req.Targets, ", ")
	}
	fmt.Fprintf(&b, "  targets: %s\n", targets)
	fmt.Fprintf(&b, "  plan:    sha256 %s\n", req.PlanHash)
	if req.AtApply {
		b.WriteString("  (this instance was expanded at apply: the plan showed its step, not it)\n")
	}
	fmt.Fprintf(&b, "  Approve step.%s? Only 'yes' approves: ", req.Address)
	return b.String()
}

// finishRun reports how a run ended and picks the exit code.
func (a *app) finishRun(ctx context.Context, f *runbookFlags, s *rbSession, res *runbook.Result, runErr error) error {
	if res != nil && s != nil && s.cloud != nil && f.inventoryOut != "" {
		if err := s.cloud.WriteInventory(f.inventoryOut); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Wrote the simulated cloud's inventory to %s.\n", f.inventoryOut)
	}
	if res == nil {
		var de *runbook.DiagError
		var je *runbook.JournalError
		switch {
		case errors.As(runErr, &de):
			a.printDiags(nil, de.Diags)
			return exit(ExitError)
		case errors.As(runErr, &je):
			// The run stopped because what it did next could not be recorded.
			return &exitError{code: ExitFindings, err: runErr}
		}
		return &exitError{code: ExitError, err: runErr}
	}
	fmt.Fprintf(a.stdout, "\nRun %s: %s.\n", res.Run.ID, res.Status)
	for _, k := range sortedNames(res.Outputs) {
		fmt.Fprintf(a.stdout, "  %s = %s\n", k, report.RenderValueForCLI(res.Outputs[k]))
	}
	switch res.Status {
	case runbook.RunCompleted:
		if len(res.Failed) > 0 {
			fmt.Fprintf(a.stdout, "Steps that failed (on_error = \"continue\"): %s\n", strings.Join(res.Failed, ", "))
		}
		return nil
	case runbook.RunAwaitingApproval:
		fmt.Fprintf(a.stdout, "Waiting for approval of: %s\nContinue with: %s\n", strings.Join(res.Waiting, ", "), a.resumeCommand(f, res))
		fmt.Fprintf(a.stdout, "A step that needs a second person (distinct_approver) is approved in vigil serve (the run's page, or POST /api/runs/%s/approvals); resume then reads the approval.\n", res.Run.ID)
		return exit(ExitWaiting)
	case runbook.RunInterrupted:
		fmt.Fprintf(a.stdout, "Interrupted; nothing is lost. Continue with: %s\n", a.resumeCommand(f, res))
		return exit(ExitWaiting)
	default:
		fmt.Fprintf(a.stdout, "Failed steps: %s\nSee: vigil runbook timeline %s\n", strings.Join(res.Failed, ", "), res.Run.ID)
		return exit(ExitFindings)
	}
}

// resumeCommand is the resume command that continues a run, as it runs
// when pasted: the flags given here that say where the run and its key,
// anchor and clouds are (--state, --journal-key, -c, the provider flags),
// and --approve for the waiting steps this process can approve (a step
// that needs a second person is approved in vigil serve). -var values
// are left out: they may be secrets, and the run's plan has the others.
func (a *app) resumeCommand(f *runbookFlags, res *runbook.Result) string {
	args := []string{"vigil", "runbook", "resume", res.Run.ID}
	if res.Status == runbook.RunAwaitingApproval {
		plan, _ := runbook.DecodePlan(res.Run.Plan)
		for _, w := range res.Waiting {
			if plan != nil && needsSecondPerson(plan, w) {
				continue
			}
			args = append(args, "--approve", shellQuote(w))
		}
	}
	if f.given != nil {
		resume := a.rbResumeCmd().Flags()
		skip := map[string]bool{"approve": true, "auto-approve": true, "var": true, "from-alert": true, "reanchor": true, "help": true}
		f.given.Visit(func(fl *pflag.Flag) {
			if skip[fl.Name] || resume.Lookup(fl.Name) == nil {
				return
			}
			vals := []string{fl.Value.String()}
			if sv, ok := fl.Value.(pflag.SliceValue); ok {
				vals = sv.GetSlice()
			}
			for _, v := range vals {
				if fl.Value.Type() == "bool" {
					args = append(args, "--"+fl.Name+"="+v)
				} else {
					args = append(args, "--"+fl.Name, shellQuote(v))
				}
			}
		})
	}
	return strings.Join(args, " ")
}

// needsSecondPerson reports whether a waiting instance's step needs a
// distinct approver (instances expanded at apply go by their step).
func needsSecondPerson(plan *runbook.Plan, addr string) bool {
	step, _, _ := strings.Cut(addr, "[")
	for _, ps := range plan.Steps {
		if ps.Address == addr || ps.Step == step {
			return ps.DistinctApprover
		}
	}
	return false
}

func shellQuote(s string) string {
	if s == "" || strings.ContainsAny(s, "[]\"' *()$`\\;&|<>!?{}~#\t\n") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}
