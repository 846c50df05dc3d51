package report

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/vigil-ir/vigil/engine/policy"
)

// Table prints findings grouped by severity, then a summary: what was read
// (assets per kind), how many policies ran and what they found.
func Table(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	// Findings come most severe first: print them as they come, a heading
	// where the severity changes, then the waived ones in a second pass.
	sev := ""
	for f := range r.Findings.All() {
		if f.Waived {
			continue
		}
		if f.Severity != sev {
			if sev != "" {
				fmt.Fprintln(bw)
			}
			sev = f.Severity
			fmt.Fprintf(bw, "%s (%d)\n", strings.ToUpper(sev), r.Summary.BySeverity[sev])
		}
		writeFinding(bw, f, where(r, f))
	}
	if sev != "" {
		fmt.Fprintln(bw)
	}
	if r.Summary.Waived > 0 {
		fmt.Fprintf(bw, "WAIVED (%d)\n", r.Summary.Waived)
		for f := range r.Findings.All() {
			if f.Waived {
				writeFinding(bw, f, where(r, f))
			}
		}
		fmt.Fprintln(bw)
	}
	if r.Summary.Expired > 0 {
		writeExpired(bw, r)
	}
	for _, w := range r.UnusedWaivers {
		fmt.Fprintf(bw, "note: waiver at %s (%s on %s) matched no finding; it can probably be removed\n", w.Range, w.Policy, w.Asset)
	}
	writeSummary(bw, r)
	for _, t := range r.Compliance {
		fmt.Fprintln(bw)
		ComplianceTable(bw, t)
	}
	return bw.Flush()
}

// writeExpired lists the waivers that have expired, each with the findings
// it used to cover (open again, and listed above by severity).
func writeExpired(w io.Writer, r *Report) {
	type waiver struct {
		reason, expires string
		covered         []string
	}
	var list []*waiver
	by := map[[2]string]*waiver{}
	for f := range r.Findings.All() {
		if !f.WaiverExpired {
			continue
		}
		k := [2]string{f.WaiverReason, f.WaiverExpires}
		if by[k] == nil {
			by[k] = &waiver{reason: f.WaiverReason, expires: f.WaiverExpires}
			list = append(list, by[k])
		}
		by[k].covered = append(by[k].covered, f.PolicyID+" "+f.AssetID)
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].expires < list[j].expires })
	fmt.Fprintf(w, "EXPIRED WAIVERS (%d, covering %s now open)\n", len(list), plural(r.Summary.Expired, "finding"))
	for _, x := range list {
		fmt.Fprintf(w, "  expired on %s: %s\n", x.expires, x.reason)
		for _, c := range x.covered {
			fmt.Fprintf(w, "    %s\n", c)
		}
	}
	fmt.Fprintln(w)
}

// where says where a placed finding is (vigil check: the .tf block, and
// the plan when several were checked), or "".
func where(r *Report, f policy.Finding) string {
	if r.Place == nil {
		return ""
	}
	p, ok := r.place(&f)
	if !ok || p.Primary.File == "" {
		return ""
	}
	cwd, _ := os.Getwd()
	at, _ := artifactURI(cwd, p.Primary.File)
	if p.Primary.Line > 0 {
		at += fmt.Sprintf(":%d", p.Primary.Line)
	}
	if p.Input != "" && len(p.Related) > 0 {
		at += " (plan " + p.Input + ")"
	}
	return at
}

// plural is "1 resource", "2 resources"; "1 policy", "2 policies".
func plural[N int | int64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func writeFinding(w io.Writer, f policy.Finding, at string) {
	fmt.Fprintf(w, "  %-12s %-9s %s\n", f.PolicyID, f.Kind, f.AssetID)
	fmt.Fprintf(w, "               %s\n", f.Message)
	if at != "" {
		fmt.Fprintf(w, "               at %s\n", at)
	}
	switch {
	case f.Waived:
		fmt.Fprintf(w, "               waived until %s: %s\n", f.WaiverExpires, f.WaiverReason)
	case f.WaiverExpired:
		fmt.Fprintf(w, "               waiver expired on %s (was: %s)\n", f.WaiverExpires, f.WaiverReason)
	}
	if f.Remediation != "" && !f.Waived {
		fmt.Fprintf(w, "               runbook: %s\n", f.Remediation)
	}
}

func writeSummary(w io.Writer, r *Report) {
	s := r.Summary
	kinds := map[string]int64{}
	for k, v := range s.ByKind {
		if k != "other" {
			kinds[k] = v
		}
	}
	if len(s.Changes) > 0 || s.Deleted > 0 || s.DataSources > 0 || s.Unchanged > 0 || s.Forgotten > 0 || s.Deferred > 0 {
		// a Terraform plan
		var judged int64
		for _, n := range s.Changes {
			judged += n
		}
		fmt.Fprintf(w, "Judged %s", plural(judged, "planned resource"))
		if len(s.Changes) > 0 {
			fmt.Fprintf(w, " (%s)", sortedCounts(s.Changes))
		}
		fmt.Fprintln(w, ".")
		var not []string
		for _, n := range []struct {
			n    int64
			what string
		}{
			{s.Unchanged, "unchanged (no-op)"}, {s.Deleted, "planned for deletion"}, {s.Forgotten, "forgotten (removed from state, not destroyed)"},
			{s.Deferred, "deferred to a later plan"},
		} {
			if n.n > 0 {
				not = append(not, fmt.Sprintf("%s %s", plural(n.n, "resource"), n.what))
			}
		}
		if s.DataSources > 0 {
			not = append(not, plural(s.DataSources, "data source"))
		}
		if len(not) > 0 {
			fmt.Fprintf(w, "Not judged: %s.\n", strings.Join(not, ", "))
		}
	} else {
		fmt.Fprintf(w, "Read %s", plural(s.Assets, "asset"))
		if len(kinds) > 0 {
			fmt.Fprintf(w, " (%s)", sortedCounts(kinds))
		}
		fmt.Fprintln(w, ".")
	}
	if len(s.Unmapped) > 0 {
		var n int64
		types := make([]string, 0, len(s.Unmapped))
		for t, c := range s.Unmapped {
			types = append(types, t)
			n += c
		}
		sort.Strings(types)
		fmt.Fprintf(w, "%s of %s not understood (judged only for residency): %s.\n", plural(n, "resource"), plural(int64(len(types)), "type"), strings.Join(types, ", "))
	} else if n := s.ByKind["other"]; n > 0 {
		types := make([]string, 0, len(s.UnknownTypes))
		for t := range s.UnknownTypes {
			types = append(types, t)
		}
		sort.Strings(types)
		shown := types
		if len(shown) > 5 {
			shown = append(shown[:5:5], fmt.Sprintf("and %d more", len(types)-5))
		}
		fmt.Fprintf(w, "%s of %s no policy models were kept as kind \"other\": %s.\n", plural(n, "asset"), plural(len(types), "type"), strings.Join(shown, ", "))
	}
	for _, e := range s.EvalErrors {
		fmt.Fprintf(w, "warning: %s: %s (%d times, first on %s); the expression was treated as undefined\n", e.Location, e.Message, e.Count, e.Asset)
	}
	for reason, n := range s.Skipped {
		fmt.Fprintf(w, "Skipped %d records: %s.\n", n, reason)
	}
	open := 0
	for _, n := range s.BySeverity {
		open += n
	}
	fmt.Fprintf(w, "Ran %s: %s", plural(s.Policies, "policy"), plural(open, "finding"))
	var parts []string
	for _, sev := range policy.Severities {
		if n := s.BySeverity[sev]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, sev))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	if s.Waived > 0 {
		fmt.Fprintf(w, ", %d waived", s.Waived)
	}
	if s.Expired > 0 {
		fmt.Fprintf(w, ", %d with expired waivers", s.Expired)
	}
	failing := r.Summary.Failing(r.FailOn)
	switch {
	case r.FailOn == "none":
		fmt.Fprintln(w, ".")
	case failing > 0:
		verb := "fail"
		if failing == 1 {
			verb = "fails"
		}
		fmt.Fprintf(w, "; %d at or above %s %s the scan.\n", failing, r.FailOn, verb)
	default:
		fmt.Fprintf(w, "; none at or above %s.\n", r.FailOn)
	}
}
