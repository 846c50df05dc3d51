package report

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigil-ir/vigil/engine/policy"
)

// SARIF 2.1.0, the subset GitHub code scanning reads: rules from policy
// metadata, results with a physical location and a logical location (the
// asset id or resource address), stable fingerprints, and suppressions for
// waived findings. The physical location is the inventory file and line,
// or for a Terraform plan placed on its configuration (Report.Place) the
// .tf block, with the plan entry as a related location. Paths are relative
// to the working directory (the repository root in CI) under the uriBaseId
// %SRCROOT%, which run.originalUriBaseIds resolves; files outside it are
// absolute file: URIs.

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool                `json:"tool"`
	Invocations        []sarifInvocation        `json:"invocations,omitempty"`
	OriginalURIBaseIDs map[string]sarifArtifact `json:"originalUriBaseIds,omitempty"`
	// Properties carry --compliance's per-control tables, as in JSON.
	Properties map[string]any `json:"properties,omitempty"`
	Results    any            `json:"results"` // streamed []sarifResult
}

// sarifInvocation carries the report's warnings as tool execution
// notifications.
type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

// srcRoot is the uriBaseId of paths relative to the working directory.
const srcRoot = "%SRCROOT%"

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	Help                 sarifText      `json:"help"`
	DefaultConfiguration sarifLevel     `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

type sarifLevel struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID              string             `json:"ruleId"`
	RuleIndex           int                `json:"ruleIndex"`
	Level               string             `json:"level"`
	Message             sarifText          `json:"message"`
	Locations           []sarifLocation    `json:"locations"`
	RelatedLocations    []sarifLocation    `json:"relatedLocations,omitempty"`
	PartialFingerprints map[string]string  `json:"partialFingerprints"`
	Suppressions        []sarifSuppression `json:"suppressions,omitempty"`
	Properties          map[string]any     `json:"properties,omitempty"`
}

type sarifLocation struct {
	ID               int            `json:"id,omitempty"`
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
	Message          *sarifText     `json:"message,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
	EndLine     int `json:"endLine,omitempty"`
}

type sarifLogical struct {
	Name               string `json:"name,omitempty"`
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

type sarifSuppression struct {
	Kind          string `json:"kind"`
	Status        string `json:"status"`
	Justification string `json:"justification"`
}

// sarifLevelOf maps severities to SARIF levels.
func sarifLevelOf(sev string) string {
	switch sev {
	case "critical", "high":
		return "error"
	case "medium":
		return "warning"
	}
	return "note"
}

// securitySeverity is GitHub's numeric severity (critical >= 9, high >= 7,
// medium >= 4, low > 0).
func securitySeverity(sev string) string {
	switch sev {
	case "critical":
		return "9.5"
	case "high":
		return "8.0"
	case "medium":
		return "5.5"
	case "low":
		return "3.0"
	}
	return "1.0"
}

// SARIF prints a SARIF 2.1.0 log; the results are streamed.
func SARIF(w io.Writer, r *Report) error {
	driver := sarifDriver{Name: "vigil", Version: r.Version, InformationURI: "https://github.com/vigil-ir/vigil"}
	index := map[string]int{}
	for _, p := range r.Policies {
		index[p.ID] = len(driver.Rules)
		driver.Rules = append(driver.Rules, ruleOf(p))
	}
	// A finding of a policy not in the list (should not happen) is kept,
	// with a minimal rule.
	for f := range r.Findings.All() {
		if _, ok := index[f.PolicyID]; !ok {
			index[f.PolicyID] = len(driver.Rules)
			driver.Rules = append(driver.Rules, ruleOf(&policy.Policy{ID: f.PolicyID, Title: f.Title, Severity: f.Severity}))
		}
	}
	run := sarifRun{Results: streamMark}
	run.Tool.Driver = driver
	fb := newFindingBenchmarks(r)
	if fb != nil {
		run.Properties = map[string]any{"compliance": r.Compliance}
	}
	cwd, _ := os.Getwd()
	if cwd != "" {
		run.OriginalURIBaseIDs = map[string]sarifArtifact{srcRoot: {URI: fileURI(cwd) + "/"}}
	}
	if len(r.Warnings) > 0 {
		inv := sarifInvocation{ExecutionSuccessful: true}
		for _, w := range r.Warnings {
			n := sarifNotification{Level: "warning", Message: sarifText{Text: w.Message}}
			if ph := sarifPhysicalOf(cwd, Location{File: w.File, Line: w.Line}); ph != nil || w.Subject != "" {
				loc := sarifLocation{PhysicalLocation: ph}
				if w.Subject != "" {
					loc.LogicalLocations = []sarifLogical{{FullyQualifiedName: w.Subject, Kind: "resource"}}
				}
				n.Locations = []sarifLocation{loc}
			}
			inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, n)
		}
		run.Invocations = []sarifInvocation{inv}
	}
	log := sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}}
	var encErr error
	err := streamJSON(w, log, func(yield func([]byte) bool) {
		var buf bytes.Buffer
		for f := range r.Findings.All() {
			p, placed := r.place(&f)
			res := sarifResultOf(f, index[f.PolicyID], cwd)
			if fb != nil {
				// the controls the result breaks, by benchmark
				for i, cs := range fb.controls(&f) {
					if len(cs) > 0 {
						res.Properties[fb.ids[i]] = cs
					}
				}
			}
			if placed {
				placeSARIF(&res, &p, cwd)
				if p.Input != "" {
					// the same address in two plans is two resources
					res.PartialFingerprints["vigilFinding/v1"] = f.FingerprintIn(p.Input)
				}
			}
			b, err := compactJSON(&buf, res)
			if err != nil {
				encErr = err
				return
			}
			if !yield(b) {
				return
			}
		}
	})
	if encErr != nil {
		return encErr
	}
	return err
}

func sarifResultOf(f policy.Finding, rule int, cwd string) sarifResult {
	loc := sarifLocation{LogicalLocations: []sarifLogical{{Name: f.AssetName, FullyQualifiedName: f.AssetID, Kind: "resource"}}}
	loc.PhysicalLocation = sarifPhysicalOf(cwd, Location{File: f.File, Line: f.Line})
	res := sarifResult{
		RuleID: f.PolicyID, RuleIndex: rule, Level: sarifLevelOf(f.Severity),
		Message:             sarifText{Text: fmt.Sprintf("%s: %s", f.AssetID, f.Message)},
		Locations:           []sarifLocation{loc},
		PartialFingerprints: map[string]string{"vigilFinding/v1": f.Fingerprint()},
		Properties:          map[string]any{"asset_id": f.AssetID, "kind": f.Kind, "provider": f.Provider, "scope": f.Scope, "region": f.Region, "severity": f.Severity},
	}
	if f.Change != "" {
		res.Properties["change"] = f.Change
	}
	if f.Waived {
		res.Suppressions = []sarifSuppression{{Kind: "external", Status: "accepted", Justification: fmt.Sprintf("%s (waived until %s)", f.WaiverReason, f.WaiverExpires)}}
	}
	return res
}

func ruleOf(p *policy.Policy) sarifRule {
	desc := p.Description
	if desc == "" {
		desc = p.Title
	}
	help := desc
	if p.Remediation != "" {
		help += fmt.Sprintf("\n\nRemediation runbook: `vigil runbook plan %s`", p.Remediation)
	}
	tags := []string{"security"}
	if p.Phase != "" {
		tags = append(tags, p.Phase)
	}
	tags = append(tags, p.Frameworks...)
	return sarifRule{
		ID: p.ID, Name: ruleName(p.Title),
		ShortDescription:     sarifText{Text: p.Title},
		FullDescription:      sarifText{Text: desc},
		Help:                 sarifText{Text: help},
		DefaultConfiguration: sarifLevel{Level: sarifLevelOf(p.Severity)},
		Properties:           map[string]any{"security-severity": securitySeverity(p.Severity), "tags": tags, "precision": "high", "kinds": p.Kinds},
	}
}

// ruleName makes a PascalCase identifier of a title, as SARIF rule names are.
func ruleName(title string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(title, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

// placeSARIF puts a result on its placement: the primary location's
// region, the related locations, and a note when it could not be placed.
func placeSARIF(res *sarifResult, p *Placement, cwd string) {
	res.Locations[0].PhysicalLocation = sarifPhysicalOf(cwd, p.Primary)
	if p.Primary.Message != "" {
		res.Locations[0].Message = &sarifText{Text: p.Primary.Message}
	}
	for i, l := range p.Related {
		rl := sarifLocation{ID: i + 1, PhysicalLocation: sarifPhysicalOf(cwd, l)}
		if l.Message != "" {
			rl.Message = &sarifText{Text: l.Message}
		}
		res.RelatedLocations = append(res.RelatedLocations, rl)
	}
	if p.Unplaced != "" {
		res.Properties["unplaced"] = p.Unplaced
		res.Message.Text += " (not placed on the configuration: " + p.Unplaced + ")"
	}
}

func sarifPhysicalOf(cwd string, l Location) *sarifPhysical {
	if l.File == "" {
		return nil
	}
	uri, rel := artifactURI(cwd, l.File)
	ph := &sarifPhysical{ArtifactLocation: sarifArtifact{URI: uri}}
	if rel {
		// a URI reference: "infra/my plan.json" is infra/my%20plan.json
		ph.ArtifactLocation.URI = (&url.URL{Path: uri}).String()
		ph.ArtifactLocation.URIBaseID = srcRoot
	} else {
		ph.ArtifactLocation.URI = fileURI(uri)
	}
	if l.Line > 0 {
		ph.Region = &sarifRegion{StartLine: l.Line, StartColumn: l.Column}
		if l.EndLine >= l.Line {
			ph.Region.EndLine = l.EndLine
		}
	}
	return ph
}

// artifactURI makes a file path relative to the working directory (the
// repository root in CI), with forward slashes, as code scanning expects;
// rel is false for a file outside it, given as an absolute path.
func artifactURI(cwd, file string) (uri string, rel bool) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return filepath.ToSlash(file), !filepath.IsAbs(file)
	}
	if cwd != "" {
		if r, err := filepath.Rel(cwd, abs); err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return filepath.ToSlash(r), true
		}
	}
	return filepath.ToSlash(abs), false
}

// fileURI is the file: URI of an absolute path.
func fileURI(abs string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter
	}
	return (&url.URL{Scheme: "file", Path: p}).String()
}
