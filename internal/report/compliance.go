package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/vigil-ir/vigil/engine/compliance"
	"github.com/vigil-ir/vigil/engine/policy"
)

// ComplianceTable prints one benchmark's controls: status, control, title,
// the policies that implement it and their open findings.
func ComplianceTable(w io.Writer, t *compliance.Table) {
	fmt.Fprintf(w, "%s: %d pass, %d fail, %d not assessed, %d partial, %d not covered (of %d controls)\n",
		t.Title, t.Pass, t.Fail, t.NotAssessed, t.Partial, t.NotCovered, len(t.Rows))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  STATUS\tCONTROL\tTITLE\tPOLICIES\tFINDINGS")
	for _, r := range t.Rows {
		pol, n := strings.Join(r.Policies, ","), fmt.Sprint(r.Findings)
		if len(r.Policies) == 0 {
			pol, n = "-", "-"
		}
		title := r.Title
		if r.Manual {
			title += " (manual)"
		}
		if r.Note != "" {
			title += " [" + r.Note + "]"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", strings.ToUpper(r.Status), r.Control, title, pol, n)
	}
	tw.Flush()
}

// ComplianceTables judges the benchmarks with a scan's findings and the
// evidence its assets showed (nil: none recorded).
func ComplianceTables(ids []string, policies []*policy.Policy, findings func(yield func(policy.Finding) bool), ev *compliance.Evidence) ([]*compliance.Table, error) {
	var out []*compliance.Table
	for _, id := range ids {
		b, err := compliance.Get(id)
		if err != nil {
			return nil, err
		}
		t, err := b.Evaluate(policies, b.Open(policies, findings), ev)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// frameworksFor keeps the framework tags of a policy that apply to a
// provider's finding: a policy tagged cis-gcp-3.0:5.1 and cis-aws-3.0:2.1.4
// judges buckets of both clouds, and a GCP bucket fails only the first.
func frameworksFor(provider string, tags []string) []string {
	var out []string
	for _, t := range tags {
		std, _, _ := strings.Cut(t, ":")
		other := false
		for _, p := range []string{"aws", "gcp", "azure"} {
			if p != provider && slices.Contains(strings.Split(std, "-"), p) {
				other = true
			}
		}
		if !other {
			out = append(out, t)
		}
	}
	return out
}
