package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ir/vigil/engine/runbook"
)

// TimelineJSON prints a run's timeline as data.
func TimelineJSON(w io.Writer, t *runbook.Timeline) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(t)
}

// TimelineMarkdown prints a run's timeline for the lessons-learned review:
// a summary, every step with its times, actor, approvals, arguments and
// outputs, the chain-of-custody record and the full journal.
func TimelineMarkdown(w io.Writer, t *runbook.Timeline) error {
	bw := bufio.NewWriter(w)
	r := t.Run
	fmt.Fprintf(bw, "# Run %s — %s\n\n", r.ID, r.Runbook)
	fmt.Fprintf(bw, "| | |\n|---|---|\n")
	fmt.Fprintf(bw, "| Runbook | %s (`%s`, sha256 %.12s) |\n", r.Runbook, r.File, r.Hash)
	fmt.Fprintf(bw, "| Provider | %s |\n| Started by | %s |\n| Started | %s |\n| Last change | %s |\n| Status | **%s** |\n",
		r.Provider, r.Actor, r.CreatedAt.Format(time.RFC3339), r.UpdatedAt.Format(time.RFC3339), r.Status)
	if t.Verified {
		fmt.Fprintf(bw, "| Journal | intact: %d entries, hash chain verified |\n", len(t.Events))
	} else {
		fmt.Fprintf(bw, "| Journal | **NOT INTACT**: %s |\n", t.Tamper)
	}
	fmt.Fprintln(bw, "\n## Steps")
	fmt.Fprintln(bw, "\n| Step | Phase | Action | Status | Started | Duration | Actor | Approved by |")
	fmt.Fprintln(bw, "|---|---|---|---|---|---|---|---|")
	for _, s := range t.Steps {
		started := ""
		if s.Started != nil {
			started = s.Started.Format("15:04:05")
		}
		var appr []string
		for _, a := range s.Approvals {
			appr = append(appr, fmt.Sprintf("%s (%s, %s)", a.Actor, a.Via, a.At.Format("15:04:05")))
		}
		fmt.Fprintf(bw, "| `%s` | %s | %s | %s | %s | %s | %s | %s |\n", s.Address, s.Phase, s.Action, s.Status, started, s.Duration, s.Actor, strings.Join(appr, "; "))
	}
	for _, s := range t.Steps {
		if s.Args == nil && s.Outputs == nil && s.Error == "" {
			continue
		}
		fmt.Fprintf(bw, "\n### step.%s\n\n", s.Address)
		if s.Summary != "" {
			fmt.Fprintf(bw, "%s\n\n", s.Summary)
		}
		if s.Attempts > 1 {
			fmt.Fprintf(bw, "Attempts: %d\n\n", s.Attempts)
		}
		if s.Args != nil {
			fmt.Fprintf(bw, "Arguments:\n\n```json\n%s\n```\n\n", indentJSON(s.Args))
		}
		if s.Outputs != nil {
			fmt.Fprintf(bw, "Outputs:\n\n```json\n%s\n```\n\n", indentJSON(s.Outputs))
		}
		if s.Error != "" {
			fmt.Fprintf(bw, "Error: %s\n\n", s.Error)
		}
	}
	if a := t.Activity; a != nil {
		activityMarkdown(bw, a)
	}
	fmt.Fprintln(bw, "\n## Chain of custody")
	if len(t.Evidence) == 0 {
		fmt.Fprintln(bw, "\nNo evidence was recorded.")
	} else {
		fmt.Fprintln(bw, "\n| Time | Step | Kind | Item | SHA-256 | Recorded by |")
		fmt.Fprintln(bw, "|---|---|---|---|---|---|")
		for _, e := range t.Evidence {
			fmt.Fprintf(bw, "| %s | `%s` | %s | %s | `%s` | %s |\n", e.At.Format(time.RFC3339), e.Step, e.Kind, cell(e.Item), e.SHA256, e.Actor)
		}
	}
	if len(t.Outputs) > 0 {
		fmt.Fprintln(bw, "\n## Outputs")
		fmt.Fprintln(bw)
		for _, k := range slices.Sorted(maps.Keys(t.Outputs)) {
			fmt.Fprintf(bw, "- `%s` = %s\n", k, renderValue(t.Outputs[k]))
		}
	}
	fmt.Fprintln(bw, "\n## Journal")
	fmt.Fprintln(bw, "\n| # | Time | Event | Step | Actor | Note | Hash |")
	fmt.Fprintln(bw, "|---|---|---|---|---|---|---|")
	for _, e := range t.Events {
		fmt.Fprintf(bw, "| %d | %s | %s | %s | %s | %s | `%.12s` |\n", e.Seq, e.At.Format(time.RFC3339), e.Kind, e.Step, e.Actor, strings.ReplaceAll(e.Message, "|", "\\|"), e.Hash)
	}
	return bw.Flush()
}

func indentJSON(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// activityMarkdown prints what the provider's logs show before and after
// the detection.
func activityMarkdown(bw *bufio.Writer, a *runbook.Activity) {
	fmt.Fprintln(bw, "\n## Before and after the detection")
	if a.Detection != nil {
		fmt.Fprintf(bw, "\nDetection: %s. Events from the provider's logs, in time order.\n", a.Detection.Format(time.RFC3339))
	}
	for _, n := range a.Notes {
		fmt.Fprintf(bw, "\n> %s\n", n)
	}
	if len(a.Events) == 0 {
		fmt.Fprintln(bw, "\nThe logs hold no events for the window.")
		return
	}
	fmt.Fprintln(bw, "\n| Time | | Actor | Source IP | API call | Result | Resource | Read by |")
	fmt.Fprintln(bw, "|---|---|---|---|---|---|---|---|")
	marked := false
	for _, e := range a.Events {
		if e.When == "after" && !marked && a.Detection != nil {
			fmt.Fprintf(bw, "| **%s** | **detection** | | | | | | |\n", a.Detection.Format(time.RFC3339))
			marked = true
		}
		call := e.Call
		if e.Service != "" {
			call = e.Service + " " + e.Call
		}
		fmt.Fprintf(bw, "| %s | %s | %s | %s | %s | %s | %s | `%s` |\n", e.Time.Format(time.RFC3339), e.When, cell(e.Actor), e.SourceIP,
			cell(call), cell(e.Result), cell(e.Resource), e.Step)
	}
	if !marked && a.Detection != nil {
		fmt.Fprintf(bw, "| **%s** | **detection** | | | | | | |\n", a.Detection.Format(time.RFC3339))
	}
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
