package report

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// GitHub prints workflow commands that annotate the files of a pull
// request: ::error for high and critical, ::warning for medium, ::notice
// otherwise. Waived findings are not annotated.
func GitHub(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	cwd, _ := os.Getwd()
	for f := range r.Findings.All() {
		if f.Waived {
			continue
		}
		cmd := "notice"
		switch f.Severity {
		case "critical", "high":
			cmd = "error"
		case "medium":
			cmd = "warning"
		}
		r.place(&f)
		var props []string
		if f.File != "" && f.File != "-" { // "-": standard input, no file to annotate
			uri, _ := artifactURI(cwd, f.File)
			props = append(props, "file="+escapeProperty(uri))
			if f.Line > 0 {
				props = append(props, fmt.Sprintf("line=%d", f.Line))
			}
		}
		props = append(props, "title="+escapeProperty(fmt.Sprintf("%s %s", f.PolicyID, f.Title)))
		fmt.Fprintf(bw, "::%s %s::%s\n", cmd, strings.Join(props, ","), escapeData(fmt.Sprintf("%s: %s", f.AssetID, f.Message)))
	}
	for _, w := range r.Warnings {
		var props []string
		if w.File != "" && w.File != "-" {
			uri, _ := artifactURI(cwd, w.File)
			props = append(props, "file="+escapeProperty(uri))
			if w.Line > 0 {
				props = append(props, fmt.Sprintf("line=%d", w.Line))
			}
		}
		props = append(props, "title="+escapeProperty(firstNonEmpty(w.Title, "vigil")))
		fmt.Fprintf(bw, "::warning %s::%s\n", strings.Join(props, ","), escapeData(w.Message))
	}
	s := r.Summary
	fmt.Fprintf(bw, "vigil: %s, %s, %s (%d failing at %s), %d waived\n",
		plural(s.Assets, "asset"), plural(s.Policies, "policy"), plural(s.Findings-s.Waived, "finding"), s.Failing(r.FailOn), r.FailOn, s.Waived)
	return bw.Flush()
}

// escapeData and escapeProperty follow the workflow command encoding.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
