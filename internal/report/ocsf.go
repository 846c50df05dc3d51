package report

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ir/vigil/engine/policy"
)

// OCSF, the Open Cybersecurity Schema Framework's Compliance Finding
// (class_uid 2003, schema 1.2.0), for SIEMs and data lakes: one event per
// line (JSON Lines), one event per finding, with the cloud profile (the
// account or project and region of the asset).

const ocsfVersion = "1.2.0"

// OCSF class and activity numbers: a Compliance Finding is class 3 of the
// Findings category (2), so class_uid 2003; type_uid is class_uid*100 +
// activity_id, and vigil reports every finding as Create (1).
const (
	ocsfCategoryUID = 2
	ocsfClassUID    = 2003
	ocsfActivityID  = 1
)

type ocsfEvent struct {
	ActivityID   int              `json:"activity_id"`
	ActivityName string           `json:"activity_name"`
	CategoryUID  int              `json:"category_uid"`
	CategoryName string           `json:"category_name"`
	ClassUID     int              `json:"class_uid"`
	ClassName    string           `json:"class_name"`
	TypeUID      int              `json:"type_uid"`
	TypeName     string           `json:"type_name"`
	SeverityID   int              `json:"severity_id"`
	Severity     string           `json:"severity"`
	StatusID     int              `json:"status_id"`
	Status       string           `json:"status"`
	Time         int64            `json:"time"`
	Message      string           `json:"message"`
	Metadata     ocsfMetadata     `json:"metadata"`
	FindingInfo  ocsfFindingInfo  `json:"finding_info"`
	Compliance   ocsfCompliance   `json:"compliance"`
	Resource     ocsfResource     `json:"resource"`
	Cloud        ocsfCloud        `json:"cloud"`
	Remediation  *ocsfRemediation `json:"remediation,omitempty"`
	Comment      string           `json:"comment,omitempty"`
}

type ocsfMetadata struct {
	Version  string      `json:"version"`
	Product  ocsfProduct `json:"product"`
	Profiles []string    `json:"profiles"`
	UID      string      `json:"uid"`
}

type ocsfProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version,omitempty"`
	URL        string `json:"url_string"`
}

type ocsfFindingInfo struct {
	UID         string       `json:"uid"`
	Title       string       `json:"title"`
	Desc        string       `json:"desc,omitempty"`
	Types       []string     `json:"types,omitempty"`
	CreatedTime int64        `json:"created_time"`
	Analytic    ocsfAnalytic `json:"analytic"`
}

type ocsfAnalytic struct {
	UID    string `json:"uid"`
	Name   string `json:"name"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
}

type ocsfCompliance struct {
	Standards    []string `json:"standards"`
	Requirements []string `json:"requirements,omitempty"`
	Control      string   `json:"control"`
	StatusID     int      `json:"status_id"`
	Status       string   `json:"status"`
}

type ocsfResource struct {
	UID    string   `json:"uid"`
	Name   string   `json:"name,omitempty"`
	Type   string   `json:"type,omitempty"`
	Region string   `json:"region,omitempty"`
	Labels []string `json:"labels,omitempty"`
}

type ocsfCloud struct {
	Provider   string       `json:"provider"`
	Region     string       `json:"region,omitempty"`
	Account    *ocsfAccount `json:"account,omitempty"`
	ProjectUID string       `json:"project_uid,omitempty"`
}

type ocsfAccount struct {
	UID    string `json:"uid"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
}

type ocsfRemediation struct {
	Desc string `json:"desc"`
}

// ocsfSeverity maps vigil's severities to OCSF's severity_id and caption.
func ocsfSeverity(sev string) (int, string) {
	switch sev {
	case "critical":
		return 5, "Critical"
	case "high":
		return 4, "High"
	case "medium":
		return 3, "Medium"
	case "low":
		return 2, "Low"
	}
	return 1, "Informational"
}

// OCSF prints one Compliance Finding event per finding.
func OCSF(w io.Writer, r *Report) error {
	when := r.Summary.Started
	if when.IsZero() {
		when = time.Now()
	}
	ms := when.UnixMilli()
	frameworks := map[string][]string{}
	for _, p := range r.Policies {
		frameworks[p.ID] = p.Frameworks
	}
	bw := bufio.NewWriter(w)
	var buf bytes.Buffer
	for f := range r.Findings.All() {
		p, placed := r.place(&f)
		fp := f.Fingerprint()
		if placed && p.Input != "" {
			fp = f.FingerprintIn(p.Input)
		}
		b, err := compactJSON(&buf, ocsfEventOf(f, fp, r.Version, ms, frameworksFor(f.Provider, frameworks[f.PolicyID])))
		if err != nil {
			return err
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	if err := r.Findings.Err(); err != nil {
		return err
	}
	return bw.Flush()
}

func ocsfEventOf(f policy.Finding, fingerprint, version string, ms int64, frameworks []string) ocsfEvent {
	sevID, sev := ocsfSeverity(f.Severity)
	ev := ocsfEvent{
		ActivityID: ocsfActivityID, ActivityName: "Create",
		CategoryUID: ocsfCategoryUID, CategoryName: "Findings",
		ClassUID: ocsfClassUID, ClassName: "Compliance Finding",
		TypeUID: ocsfClassUID*100 + ocsfActivityID, TypeName: "Compliance Finding: Create",
		SeverityID: sevID, Severity: sev,
		StatusID: 1, Status: "New",
		Time:    ms,
		Message: f.Message,
		Metadata: ocsfMetadata{
			Version:  ocsfVersion,
			Product:  ocsfProduct{Name: "vigil", VendorName: "vigil", Version: version, URL: "https://github.com/vigil-ir/vigil"},
			Profiles: []string{"cloud"},
			// the same finding in every scan: SIEMs deduplicate on it
			UID: "vigil/" + f.PolicyID + "/" + fingerprint,
		},
		FindingInfo: ocsfFindingInfo{
			UID: "vigil/" + f.PolicyID + "/" + fingerprint, Title: f.Title, Desc: f.Message, CreatedTime: ms,
			Analytic: ocsfAnalytic{UID: f.PolicyID, Name: f.Title, TypeID: 1, Type: "Rule"},
		},
		Compliance: ocsfCompliance{Control: f.PolicyID, StatusID: 3, Status: "Fail"},
		Resource:   ocsfResource{UID: f.AssetID, Name: f.AssetName, Type: f.AssetType, Region: f.Region},
		Cloud:      ocsfCloud{Provider: ocsfProvider(f.Provider), Region: f.Region},
	}
	if ev.FindingInfo.Title == "" {
		ev.FindingInfo.Title = f.PolicyID
	}
	if f.Phase != "" {
		ev.FindingInfo.Types = []string{f.Phase}
	}
	// a framework tag is "benchmark:control" (cis-aws-3.0:5.4): the
	// benchmarks are the standards, the tags the requirements
	for _, fw := range frameworks {
		std, _, _ := strings.Cut(fw, ":")
		if !slices.Contains(ev.Compliance.Standards, std) {
			ev.Compliance.Standards = append(ev.Compliance.Standards, std)
		}
		ev.Compliance.Requirements = append(ev.Compliance.Requirements, fw)
	}
	if len(ev.Compliance.Standards) == 0 {
		// standards is required: the policy belongs to no benchmark,
		// only to vigil's own checks
		ev.Compliance.Standards = []string{"vigil"}
	}
	switch f.Provider {
	case "aws":
		if awsAccountID.MatchString(f.Scope) {
			ev.Cloud.Account = &ocsfAccount{UID: f.Scope, TypeID: 10, Type: "AWS Account"}
		}
	case "gcp":
		ev.Cloud.ProjectUID = f.Scope
	}
	if f.Kind != "" {
		ev.Resource.Labels = []string{"kind:" + f.Kind}
	}
	if f.Remediation != "" {
		ev.Remediation = &ocsfRemediation{Desc: fmt.Sprintf("Plan the fix with the runbook %s: vigil runbook plan %s (see vigil runbook show %s for its variables).", f.Remediation, f.Remediation, f.Remediation)}
	}
	if f.Waived {
		ev.StatusID, ev.Status = 3, "Suppressed"
		ev.Comment = fmt.Sprintf("Waived until %s: %s", f.WaiverExpires, f.WaiverReason)
	}
	return ev
}

// ocsfProvider is the cloud provider's name as OCSF's examples write it.
func ocsfProvider(p string) string {
	switch p {
	case "aws":
		return "AWS"
	case "gcp":
		return "GCP"
	case "":
		return "unknown"
	}
	return p
}
