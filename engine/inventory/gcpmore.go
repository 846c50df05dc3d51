package inventory

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
)

// The GCP types of issue 19: project and instance metadata, log sinks,
// log-based metrics, alert policies, enabled services and vulnerability
// reports (OS Config for VMs, Artifact Analysis for images).

// gcpMetadata is Compute Engine metadata ({"items": [{key, value}]}).
type gcpMetadata struct {
	Items []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"items"`
}

// metadataKeys are the metadata items policies read; others (startup
// scripts, secrets people put there) are not copied into the facets, and
// ssh-keys only say that they are set.
var metadataKeys = map[string]bool{
	"enable-oslogin": true, "enable-oslogin-2fa": true, "block-project-ssh-keys": true,
	"enable-osconfig": true, "serial-port-enable": true, "ssh-keys": true, "sshKeys": true,
	"enable-guest-attributes": true,
}

func (m gcpMetadata) facet() map[string]string {
	var out map[string]string
	for _, it := range m.Items {
		if !metadataKeys[it.Key] {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		v := it.Value
		if it.Key == "ssh-keys" || it.Key == "sshKeys" {
			v = "(set)"
		}
		out[it.Key] = v
	}
	return out
}

// gcpProjectMetadata is compute.googleapis.com/Project: the project's
// common instance metadata.
type gcpProjectMetadata struct {
	gcpCommon
	CommonInstanceMetadata gcpMetadata `json:"commonInstanceMetadata"`
}

func (p *gcpProjectMetadata) apply(a *asset.Asset, _ *GCPIAMPolicy) error {
	a.Facets.Metadata = p.CommonInstanceMetadata.facet()
	return nil
}

type gcpLogSink struct {
	gcpCommon
	Destination     string `json:"destination"`
	Filter          string `json:"filter"`
	Disabled        bool   `json:"disabled"`
	IncludeChildren bool   `json:"includeChildren"`
}

func (s *gcpLogSink) apply(a *asset.Asset, _ *GCPIAMPolicy) error {
	a.Facets.Destination = s.Destination
	a.Facets.Filter = s.Filter
	a.Facets.Enabled = asset.Bool(!s.Disabled)
	a.Facets.IncludeChildren = asset.Bool(s.IncludeChildren)
	return nil
}

type gcpLogMetric struct {
	gcpCommon
	Filter   string `json:"filter"`
	Disabled bool   `json:"disabled"`
}

func (m *gcpLogMetric) apply(a *asset.Asset, _ *GCPIAMPolicy) error {
	a.Facets.Filter = m.Filter
	a.Facets.Enabled = asset.Bool(!m.Disabled)
	a.Facets.Metrics = []string{"logging.googleapis.com/user/" + lastSegment(firstNonEmpty(m.Name, a.ID))}
	return nil
}

type gcpAlertPolicy struct {
	gcpCommon
	DisplayName string `json:"displayName"`
	Enabled     *bool  `json:"enabled"`
	Conditions  []struct {
		ConditionThreshold *struct {
			Filter string `json:"filter"`
		} `json:"conditionThreshold"`
		ConditionAbsent *struct {
			Filter string `json:"filter"`
		} `json:"conditionAbsent"`
	} `json:"conditions"`
	NotificationChannels []string `json:"notificationChannels"`
}

// metricTypeRe finds the metric types an alert condition's filter names.
var metricTypeRe = regexp.MustCompile(`metric\.type\s*=\s*"([^"]+)"`)

func (p *gcpAlertPolicy) apply(a *asset.Asset, _ *GCPIAMPolicy) error {
	a.Name = firstNonEmpty(p.DisplayName, a.Name)
	a.Facets.Enabled = asset.Bool(p.Enabled == nil || *p.Enabled)
	for _, c := range p.Conditions {
		for _, f := range []string{condFilter(c.ConditionThreshold), condFilter(c.ConditionAbsent)} {
			for _, m := range metricTypeRe.FindAllStringSubmatch(f, -1) {
				a.Facets.Metrics = appendUnique(a.Facets.Metrics, m[1])
			}
		}
	}
	a.Facets.Targets = p.NotificationChannels
	return nil
}

func condFilter(c *struct {
	Filter string `json:"filter"`
}) string {
	if c == nil {
		return ""
	}
	return c.Filter
}

// gcpService is an API of a project (serviceusage): osconfig, SCC, ...
type gcpService struct {
	gcpCommon
	State string `json:"state"`
}

func (s *gcpService) apply(a *asset.Asset, _ *GCPIAMPolicy) error {
	a.Name = lastSegment(firstNonEmpty(s.Name, a.ID))
	a.Facets.Enabled = asset.Bool(strings.EqualFold(s.State, "ENABLED"))
	return nil
}

// gcpVulnerabilities reads an OS Config vulnerability report (the
// vulnerabilities of one VM), an Artifact Analysis occurrence of kind
// VULNERABILITY (one vulnerability of one image, as the Container Analysis
// API and its exports give it), or the occurrences of one image as vigil's
// collector groups them (asset type
// containeranalysis.googleapis.com/ImageVulnerabilities: the image's
// resourceUri and its occurrences, one report per image as OS Config and
// Inspector give one per VM).
type gcpVulnerabilities struct {
	gcpCommon
	Vulnerabilities []struct {
		Details struct {
			CVE      string `json:"cve"`
			Severity string `json:"severity"`
		} `json:"details"`
		AvailableInventoryItemIDs []string `json:"availableInventoryItemIds"`
		Items                     []struct {
			AvailableInventoryItemID string `json:"availableInventoryItemId"`
			FixedCpeURI              string `json:"fixedCpeUri"`
			UpstreamFix              string `json:"upstreamFix"`
		} `json:"items"`
	} `json:"vulnerabilities"`
	// Occurrence fields.
	ResourceURI   string                   `json:"resourceUri"`
	Kind          string                   `json:"kind"`
	Vulnerability *occurrenceVulnerability `json:"vulnerability"`
	NoteName      string                   `json:"noteName"`
	// Occurrences of one image (ImageVulnerabilities).
	Occurrences []struct {
		Kind          string                   `json:"kind"`
		NoteName      string                   `json:"noteName"`
		Vulnerability *occurrenceVulnerability `json:"vulnerability"`
	} `json:"occurrences"`
	// Resource is the asset the report is about, as vigil's collector
	// wrote it before the record's name linked the two (cai.go reportVM);
	// read for inventories collected then, written no more.
	Resource string `json:"vigilResource"`
}

// occurrenceVulnerability is an occurrence's VulnerabilityOccurrence
// (Container Analysis v1), the fields vigil reads.
type occurrenceVulnerability struct {
	ShortDescription  string `json:"shortDescription"`
	EffectiveSeverity string `json:"effectiveSeverity"`
	Severity          string `json:"severity"`
	FixAvailable      bool   `json:"fixAvailable"`
	// VexAssessment is the image publisher's VEX statement about this
	// vulnerability: NOT_AFFECTED or FIXED says it does not apply.
	VexAssessment *struct {
		State string `json:"state"`
	} `json:"vexAssessment"`
	PackageIssue []struct {
		AffectedPackage   string `json:"affectedPackage"`
		EffectiveSeverity string `json:"effectiveSeverity"`
		FixAvailable      bool   `json:"fixAvailable"`
		FixedVersion      *struct {
			FullName string `json:"fullName"`
			Kind     string `json:"kind"`
		} `json:"fixedVersion"`
	} `json:"packageIssue"`
}

// severityRank orders the Container Analysis severities.
var severityRank = map[string]int{"MINIMAL": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4, "CRITICAL": 5}

// vulnerability reads one occurrence: the CVE from its short description,
// else its note's id; the effective severity (the occurrence's, else the
// highest of its packages', else the provider's); fixable when the
// occurrence or one of its packages says a fix is available or names a
// fixed version (a fixedVersion of kind MAXIMUM is the reference's "no
// fix"); the package and version of the first issue with a fix, else the
// first. Occurrences of another kind than VULNERABILITY give none, nor do
// those a VEX assessment says are not affected or fixed.
func (o *occurrenceVulnerability) vulnerability(kind, note string) (asset.Vulnerability, bool) {
	if o == nil || (kind != "" && kind != "VULNERABILITY") {
		return asset.Vulnerability{}, false
	}
	if vex := o.VexAssessment; vex != nil && (vex.State == "NOT_AFFECTED" || vex.State == "FIXED") {
		return asset.Vulnerability{}, false
	}
	v := asset.Vulnerability{ID: firstNonEmpty(o.ShortDescription, lastSegment(note)), Fixable: o.FixAvailable}
	sev, pkgSev := "", ""
	if severityRank[o.EffectiveSeverity] > 0 {
		sev = o.EffectiveSeverity
	}
	fixedAt := -1
	for i, pi := range o.PackageIssue {
		if severityRank[pi.EffectiveSeverity] > severityRank[pkgSev] {
			pkgSev = pi.EffectiveSeverity
		}
		fixed := pi.FixedVersion != nil && pi.FixedVersion.Kind == "NORMAL" && pi.FixedVersion.FullName != ""
		if (fixed || pi.FixAvailable) && fixedAt < 0 {
			fixedAt = i
		}
		v.Fixable = v.Fixable || fixed || pi.FixAvailable
	}
	if sev == "" {
		sev = pkgSev
	}
	if sev == "" && severityRank[o.Severity] > 0 {
		sev = o.Severity
	}
	v.Severity = strings.ToLower(sev)
	if len(o.PackageIssue) > 0 {
		pi := o.PackageIssue[max(fixedAt, 0)]
		v.Package = pi.AffectedPackage
		if fv := pi.FixedVersion; fv != nil && fv.Kind != "MAXIMUM" {
			v.Fixed = fv.FullName
		}
	}
	return v, true
}

// registryImage says whether an occurrence's resourceUri is an image in
// Artifact Registry (https://LOCATION-docker.pkg.dev/...) or Container
// Registry (https://gcr.io/..., https://eu.gcr.io/...), the artifacts
// Artifact Analysis scans: any other URL (a VM's self-link) is not taken
// for what the report is about.
func registryImage(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Path == "" || u.Path == "/" {
		return false
	}
	h := u.Host
	return strings.HasSuffix(h, ".pkg.dev") || h == "gcr.io" || strings.HasSuffix(h, ".gcr.io")
}

func (r *gcpVulnerabilities) apply(a *asset.Asset, _ *GCPIAMPolicy) error {
	a.Facets.Resource = r.Resource
	if r.ResourceURI != "" || r.Vulnerability != nil || r.Occurrences != nil {
		// An occurrence's resourceUri is free text that whoever may write
		// occurrences in the project sets: only an image's URL is taken as
		// what it is about, never an asset name (//compute...), which
		// would point the finding, and its remediation, at another asset.
		a.Facets.Resource = a.ID
		if registryImage(r.ResourceURI) {
			a.Facets.Resource = r.ResourceURI
		}
	}
	if a.Facets.Resource != "" {
		a.Name = lastSegment(a.Facets.Resource) // the VM or image, not "vulnerabilityReport"
	}
	a.Facets.Vulnerabilities = []asset.Vulnerability{}
	for _, v := range r.Vulnerabilities {
		fix := len(v.AvailableInventoryItemIDs) > 0
		for _, it := range v.Items {
			fix = fix || it.AvailableInventoryItemID != "" || it.FixedCpeURI != "" || it.UpstreamFix != ""
		}
		a.Facets.Vulnerabilities = append(a.Facets.Vulnerabilities, asset.Vulnerability{
			ID: v.Details.CVE, Severity: strings.ToLower(v.Details.Severity), Fixable: fix})
	}
	if v, ok := r.Vulnerability.vulnerability(r.Kind, r.NoteName); ok {
		a.Facets.Vulnerabilities = append(a.Facets.Vulnerabilities, v)
	}
	for _, o := range r.Occurrences {
		if v, ok := o.Vulnerability.vulnerability(o.Kind, o.NoteName); ok {
			a.Facets.Vulnerabilities = append(a.Facets.Vulnerabilities, v)
		}
	}
	return nil
}
