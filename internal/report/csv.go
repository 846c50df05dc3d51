package report

import (
	"encoding/csv"
	"io"
	"slices"
	"strconv"
	"strings"
)

// csvHeader is the CSV report's columns, a contract for spreadsheets and
// scripts like the JSON keys.
var csvHeader = []string{"policy_id", "severity", "title", "asset_id", "asset_name", "kind", "provider", "scope", "region",
	"message", "failing", "waived", "waiver_reason", "waiver_expires", "file", "line", "remediation"}

// CSV prints one row per finding (RFC 4180, header first), waived ones
// included and marked. failing says whether the finding counts at
// --fail-on. With --compliance, a column per benchmark, named by its id
// (cis-aws-3.0), lists the controls the finding breaks, separated by ";"
// (empty: none of that benchmark's); the per-control table itself, with
// the controls that pass or are not covered, is in the table and JSON.
func CSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	fb := newFindingBenchmarks(r)
	header := csvHeader
	if fb != nil {
		header = append(slices.Clone(csvHeader), fb.ids...)
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	for f := range r.Findings.All() {
		file, line := f.File, f.Line
		if p, ok := r.place(&f); ok {
			file, line = p.Primary.File, p.Primary.Line
		}
		ln := ""
		if line > 0 {
			ln = strconv.Itoa(line)
		}
		row := []string{f.PolicyID, f.Severity, f.Title, f.AssetID, f.AssetName, f.Kind, f.Provider, f.Scope, f.Region,
			f.Message, strconv.FormatBool(f.Counts(r.FailOn)), strconv.FormatBool(f.Waived), f.WaiverReason, f.WaiverExpires, file, ln, f.Remediation}
		if fb != nil {
			for _, cs := range fb.controls(&f) {
				row = append(row, strings.Join(cs, ";"))
			}
		}
		for i, v := range row {
			row[i] = defuseFormula(v)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// defuseFormula keeps a spreadsheet from running a cell as a formula: asset
// names and messages come from the cloud, where anyone who can name a
// resource can write "=HYPERLINK(...)". A leading quote makes it text
// (OWASP's advice for CSV injection).
func defuseFormula(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
