package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// JUnit prints one test case per policy: it fails when the policy has
// findings at or above the --fail-on severity; waived findings are listed in
// system-out.
func JUnit(w io.Writer, r *Report) error {
	// The lines of each policy's case, in one pass over the findings.
	type lines struct{ failing, other []string }
	byPolicy := map[string]*lines{}
	for f := range r.Findings.All() {
		l := byPolicy[f.PolicyID]
		if l == nil {
			l = &lines{}
			byPolicy[f.PolicyID] = l
		}
		line := fmt.Sprintf("%s [%s] %s", f.AssetID, f.Severity, f.Message)
		switch {
		case f.Counts(r.FailOn):
			l.failing = append(l.failing, line)
		case f.Waived:
			l.other = append(l.other, line+" (waived: "+f.WaiverReason+")")
		default:
			l.other = append(l.other, line)
		}
	}
	secs := fmt.Sprintf("%.3f", r.Summary.Duration.Seconds())
	suite := junitSuite{Name: "vigil", Time: secs}
	for _, p := range r.Policies {
		c := junitCase{Name: fmt.Sprintf("%s: %s", p.ID, p.Title), Classname: "vigil." + p.Package}
		var failing, other []string
		if l := byPolicy[p.ID]; l != nil {
			failing, other = l.failing, l.other
		}
		if len(failing) > 0 {
			c.Failure = &junitFailure{
				Message: fmt.Sprintf("%d findings", len(failing)),
				Type:    p.Severity,
				Text:    strings.Join(failing, "\n"),
			}
			suite.Failures++
		}
		if len(other) > 0 {
			c.SystemOut = strings.Join(other, "\n")
		}
		suite.Cases = append(suite.Cases, c)
	}
	suite.Tests = len(suite.Cases)
	out := junitSuites{Name: "vigil", Tests: suite.Tests, Failures: suite.Failures, Time: secs, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
