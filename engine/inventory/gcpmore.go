package inventory

import (
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
// vulnerabilities of one VM) or an Artifact Analysis occurrence of kind
// VULNERABILITY (one vulnerability of one image); the collector writes the
// VM's asset name or the image URI as the record's resource.
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
	ResourceURI   string `json:"resourceUri"`
	Kind          string `json:"kind"`
	Vulnerability *struct {
		ShortDescription  string `json:"shortDescription"`
		EffectiveSeverity string `json:"effectiveSeverity"`
		Severity          string `json:"severity"`
		FixAvailable      bool   `json:"fixAvailable"`
		PackageIssue      []struct {
			AffectedPackage string `json:"affectedPackage"`
			FixedVersion    *struct {
				FullName string `json:"fullName"`
				Kind     string `json:"kind"`
			} `json:"fixedVersion"`
		} `json:"packageIssue"`
	} `json:"vulnerability"`
	NoteName string `json:"noteName"`
	// Resource is the asset the report is about, as vigil's collector
	// wrote it before the record's name linked the two (cai.go reportVM);
	// read for inventories collected then, written no more.
	Resource string `json:"vigilResource"`
}

func (r *gcpVulnerabilities) apply(a *asset.Asset, _ *GCPIAMPolicy) error {
	a.Facets.Resource = firstNonEmpty(r.Resource, r.ResourceURI)
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
	if o := r.Vulnerability; o != nil {
		v := asset.Vulnerability{ID: firstNonEmpty(o.ShortDescription, lastSegment(r.NoteName)),
			Severity: strings.ToLower(firstNonEmpty(o.EffectiveSeverity, o.Severity)), Fixable: o.FixAvailable}
		if len(o.PackageIssue) > 0 {
			v.Package = o.PackageIssue[0].AffectedPackage
			if fv := o.PackageIssue[0].FixedVersion; fv != nil && fv.Kind != "MAXIMUM" {
				v.Fixed = fv.FullName
			}
		}
		a.Facets.Vulnerabilities = append(a.Facets.Vulnerabilities, v)
	}
	return nil
}
