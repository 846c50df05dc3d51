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
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"` // required by the schema; vigil has none
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// JUnit prints one test case per policy, its classname the policy's Rego
// package: it fails when the policy has findings at or above the --fail-on
// severity, and is skipped when every finding of it is waived (CI shows
// waived checks as skipped, not passed); waived and lesser findings are
// listed in system-out.
func JUnit(w io.Writer, r *Report) error {
	// The lines of each policy's case, in one pass over the findings.
	type lines struct {
		failing, other []string
		waived, open   int
	}
	byPolicy := map[string]*lines{}
	for f := range r.Findings.All() {
		l := byPolicy[f.PolicyID]
		if l == nil {
			l = &lines{}
			byPolicy[f.PolicyID] = l
		}
		line := fmt.Sprintf("%s [%s] %s", f.AssetID, f.Severity, f.Message)
		if f.Waived {
			l.waived++
		} else {
			l.open++
		}
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
		// p.Package is the full Rego package (vigil.policies.network...):
		// prefixing it again doubled it.
		c := junitCase{Name: fmt.Sprintf("%s: %s", p.ID, p.Title), Classname: p.Package}
		var failing, other []string
		l := byPolicy[p.ID]
		if l != nil {
			failing, other = l.failing, l.other
		}
		if len(failing) == 0 && l != nil && l.waived > 0 && l.open == 0 {
			c.Skipped = &junitSkipped{Message: plural(l.waived, "finding") + " waived"}
			suite.Skipped++
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
