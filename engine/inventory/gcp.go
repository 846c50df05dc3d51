package inventory

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
)

// gcpKinds maps Cloud Asset Inventory asset types to normalized kinds.
var gcpKinds = map[string]string{
	"compute.googleapis.com/Network":                              asset.KindNetwork,
	"compute.googleapis.com/Subnetwork":                           asset.KindSubnet,
	"compute.googleapis.com/Firewall":                             asset.KindFirewall,
	"compute.googleapis.com/Instance":                             asset.KindInstance,
	"compute.googleapis.com/Disk":                                 asset.KindDisk,
	"compute.googleapis.com/RegionDisk":                           asset.KindDisk,
	"compute.googleapis.com/Snapshot":                             asset.KindSnapshot,
	"compute.googleapis.com/Image":                                asset.KindImage,
	"compute.googleapis.com/Project":                              asset.KindProjectMetadata,
	"compute.googleapis.com/VpnTunnel":                            asset.KindVPNTunnel,
	"compute.googleapis.com/Interconnect":                         asset.KindInterconnect,
	"compute.googleapis.com/InterconnectAttachment":               asset.KindInterconnect,
	"storage.googleapis.com/Bucket":                               asset.KindBucket,
	"cloudresourcemanager.googleapis.com/Project":                 asset.KindProject,
	"cloudresourcemanager.googleapis.com/Folder":                  asset.KindFolder,
	"cloudresourcemanager.googleapis.com/Organization":            asset.KindOrganization,
	"iam.googleapis.com/ServiceAccount":                           asset.KindServiceAccount,
	"iam.googleapis.com/ServiceAccountKey":                        asset.KindServiceAccountKey,
	"iam.googleapis.com/Role":                                     asset.KindRole,
	"logging.googleapis.com/LogSink":                              asset.KindLogSink,
	"sqladmin.googleapis.com/Instance":                            asset.KindDatabase,
	"bigquery.googleapis.com/Dataset":                             asset.KindDataset,
	"container.googleapis.com/Cluster":                            asset.KindCluster,
	"cloudkms.googleapis.com/CryptoKey":                           asset.KindKey,
	"securitycenter.googleapis.com/SecurityHealthAnalyticsModule": asset.KindDetector,
	"logging.googleapis.com/LogMetric":                            asset.KindLogMetric,
	"monitoring.googleapis.com/AlertPolicy":                       asset.KindAlertPolicy,
	"serviceusage.googleapis.com/Service":                         asset.KindService,
	// Not Cloud Asset Inventory types: what vigil's collector reads from OS
	// Config and Artifact Analysis, written in CAI's record shape (an
	// Occurrence as the API gives it; ImageVulnerabilities, the
	// occurrences of one image as the collector groups them).
	"osconfig.googleapis.com/VulnerabilityReport":           asset.KindVulnerabilityReport,
	"containeranalysis.googleapis.com/Occurrence":           asset.KindVulnerabilityReport,
	"containeranalysis.googleapis.com/ImageVulnerabilities": asset.KindVulnerabilityReport,
}

// GCPKind returns the normalized kind of a CAI asset type.
func GCPKind(assetType string) string {
	if k, ok := gcpKinds[assetType]; ok {
		return k
	}
	return asset.KindOther
}

// gcpCommon holds the fields most Google API resources share.
type gcpCommon struct {
	Name     string            `json:"name"`
	Labels   map[string]string `json:"labels"`
	Location string            `json:"location"`
	Zone     string            `json:"zone"`
	Region   string            `json:"region"`
	SelfLink string            `json:"selfLink"`
}

// GCPIAMPolicy is an IAM policy as CAI exports it (camelCase, as the API
// returns it) or as some tools write it (snake_case).
type GCPIAMPolicy struct {
	Bindings []struct {
		Role    string   `json:"role"`
		Members []string `json:"members"`
	} `json:"bindings"`
	AuditConfigs      []gcpAuditConfig `json:"auditConfigs"`
	AuditConfigsSnake []gcpAuditConfig `json:"audit_configs"`
}

type gcpAuditConfig struct {
	Service              string        `json:"service"`
	AuditLogConfigs      []gcpLogTypes `json:"auditLogConfigs"`
	AuditLogConfigsSnake []gcpLogTypes `json:"audit_log_configs"`
}

type gcpLogTypes struct {
	LogType              string   `json:"logType"`
	LogTypeSnake         string   `json:"log_type"`
	ExemptedMembers      []string `json:"exemptedMembers"`
	ExemptedMembersSnake []string `json:"exempted_members"`
}

// facets converts the policy into binding and audit-config facets.
func (p *GCPIAMPolicy) facets() ([]asset.Binding, []asset.AuditConfig) {
	var bs []asset.Binding
	for _, b := range p.Bindings {
		bs = append(bs, asset.Binding{Role: b.Role, Members: b.Members})
	}
	var acs []asset.AuditConfig
	for _, ac := range append(p.AuditConfigs, p.AuditConfigsSnake...) {
		c := asset.AuditConfig{Service: ac.Service}
		for _, lc := range append(ac.AuditLogConfigs, ac.AuditLogConfigsSnake...) {
			t := lc.LogType
			if t == "" {
				t = lc.LogTypeSnake
			}
			c.LogTypes = append(c.LogTypes, t)
			for _, m := range append(lc.ExemptedMembers, lc.ExemptedMembersSnake...) {
				c.Exempted = appendUnique(c.Exempted, m)
			}
		}
		acs = append(acs, c)
	}
	return bs, acs
}

// gcpData is a resource's data decoded into the struct of its kind; it
// sets the asset's facets.
type gcpData interface {
	base() *gcpCommon
	apply(a *asset.Asset, iam *GCPIAMPolicy) error
}

func (c *gcpCommon) base() *gcpCommon                        { return c }
func (c *gcpCommon) apply(*asset.Asset, *GCPIAMPolicy) error { return nil }

// newGCPData returns the struct a kind's resource data decodes into, so a
// record is decoded in one pass.
func newGCPData(kind string) gcpData {
	switch kind {
	case asset.KindFirewall:
		return &gcpFirewall{}
	case asset.KindInstance:
		return &gcpInstance{}
	case asset.KindNetwork:
		return &gcpNetwork{}
	case asset.KindSubnet:
		return &gcpSubnet{}
	case asset.KindBucket:
		return &gcpBucket{}
	case asset.KindProject:
		return &gcpProject{}
	case asset.KindFolder, asset.KindOrganization:
		return &gcpNode{}
	case asset.KindServiceAccountKey:
		return &gcpServiceAccountKey{}
	case asset.KindDisk:
		return &gcpDisk{}
	case asset.KindProjectMetadata:
		return &gcpProjectMetadata{}
	case asset.KindLogSink:
		return &gcpLogSink{}
	case asset.KindLogMetric:
		return &gcpLogMetric{}
	case asset.KindAlertPolicy:
		return &gcpAlertPolicy{}
	case asset.KindService:
		return &gcpService{}
	case asset.KindVulnerabilityReport:
		return &gcpVulnerabilities{}
	}
	return &gcpCommon{}
}

// normalizeGCP fills kind, name, region, labels and facets of a GCP asset
// from its decoded resource data (the API representation, as CAI and the
// Compute API return it). The caller has set ID, Type, Provider, Source.
// d may be nil (IAM-only records).
func normalizeGCP(a *asset.Asset, d gcpData, location string, iam *GCPIAMPolicy) error {
	a.Kind = GCPKind(a.Type)
	if d == nil {
		d = newGCPData(a.Kind)
	}
	if err := d.apply(a, iam); err != nil {
		return fmt.Errorf("%s %s: %w", a.Type, a.ID, err)
	}
	common := d.base()
	if iam != nil {
		a.Facets.Bindings, a.Facets.AuditConfigs = iam.facets()
	}
	if a.Name == "" {
		a.Name = firstNonEmpty(lastSegment(common.Name), lastSegment(a.ID))
	}
	if len(common.Labels) > 0 {
		a.Labels = common.Labels
	}
	a.Region = gcpRegion(location, *common, a.ID)
	return nil
}

func (fw *gcpFirewall) apply(a *asset.Asset, _ *GCPIAMPolicy) error {
	if fw.LogConfig != nil {
		a.Facets.Logging = asset.Bool(fw.LogConfig.Enable)
	} else {
		a.Facets.Logging = asset.Bool(false) // the API omits logConfig when logging was never on
	}
	return fw.facets(&a.Facets)
}

func (in *gcpInstance) apply(a *asset.Asset, _ *GCPIAMPolicy) error {
	in.facets(&a.Facets)
	a.Facets.Metadata = in.Metadata.facet()
	return nil
}

func (n *gcpNetwork) apply(a *asset.Asset, _ *GCPIAMPolicy) error {
	a.Facets.Network = asset.NetworkID(firstNonEmpty(n.SelfLink, a.ID))
	a.Facets.Default = asset.Bool(n.Name == "default" && (n.AutoCreateSubnetworks == nil || *n.AutoCreateSubnetworks))
	if n.IPv4Range != "" {
		a.Facets.CIDRs = []string{n.IPv4Range}
	}
	return nil
}

func (sn *gcpSubnet) apply(a *asset.Asset, _ *GCPIAMPolicy) error {
	switch {
	case sn.Purpose != "" && sn.Purpose != "PRIVATE" && sn.Purpose != "PRIVATE_RFC_1918":
		// proxy-only, Private NAT and Private Service Connect subnets
		// carry no VM flows; PRIVATE_RFC_1918 is PRIVATE's older name
	case sn.LogConfig != nil:
		a.Facets.Logging = asset.Bool(sn.LogConfig.Enable)
	case sn.EnableFlowLogs != nil:
		a.Facets.Logging = asset.Bool(*sn.EnableFlowLogs)
	default:
		a.Facets.Logging = asset.Bool(false)
	}
	a.Facets.Network = asset.NetworkID(sn.Network)
	if sn.IPCidrRange != "" {
		a.Facets.CIDRs = []string{sn.IPCidrRange}
	}
	return nil
}

func (b *gcpBucket) apply(a *asset.Asset, iam *GCPIAMPolicy) error {
	b.facets(&a.Facets, iam)
	return nil
}

func (p *gcpProject) apply(a *asset.Asset, _ *GCPIAMPolicy) error {
	a.Facets.ProjectNumber = firstNonEmpty(p.ProjectNumber, lastSegment(a.ID))
	a.Name = firstNonEmpty(p.ProjectID, a.Facets.ProjectNumber)
	if p.Parent.ID != "" {
		a.Facets.Parent = p.Parent.Type + "s/" + p.Parent.ID
	}
	return nil
}

func (n *gcpNode) apply(a *asset.Asset, _ *GCPIAMPolicy) error {
	a.Name = firstNonEmpty(n.DisplayName, n.Name)
	a.Facets.Parent = n.Parent
	return nil
}

func (k *gcpServiceAccountKey) apply(a *asset.Asset, _ *GCPIAMPolicy) error {
	a.Facets.KeyType = strings.ToLower(k.KeyType)
	a.Facets.CreatedAt = k.ValidAfterTime
	a.Facets.Enabled = asset.Bool(!k.Disabled)
	// The account: CAI names keys by the account's numeric unique id
	// (//iam.googleapis.com/projects/P/serviceAccounts/1234.../keys/K),
	// while the key's own data.name carries its email. Prefer the email:
	// policies match accounts by it (NUMBER-compute@developer...).
	a.Facets.User = saOfKey(a.ID)
	if sa := saOfKey(k.Name); strings.Contains(sa, "@") || a.Facets.User == "" {
		a.Facets.User = sa
	}
	return nil
}

// saOfKey is the service account segment of a key's name.
func saOfKey(name string) string {
	if i := strings.Index(name, "serviceAccounts/"); i >= 0 {
		return strings.SplitN(name[i+len("serviceAccounts/"):], "/", 2)[0]
	}
	return ""
}

func (d *gcpDisk) apply(a *asset.Asset, _ *GCPIAMPolicy) error {
	a.Facets.Zone = lastSegment(d.Zone)
	a.Facets.Status = strings.ToLower(d.Status)
	return nil
}

// unmarshalData decodes resource data; a missing data object is not an error
// (IAM-only records and sparse exports have none).
func unmarshalData(data json.RawMessage, v any) error {
	if len(data) == 0 || string(data) == "null" {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return jsonError(err)
	}
	return nil
}

func gcpRegion(location string, c gcpCommon, name string) string {
	for _, l := range []string{location, c.Zone, c.Region, c.Location} {
		// a location URL that names no zone or region (an interconnect
		// facility) says nothing about the region
		if l != "" && (!strings.Contains(l, "/") || strings.Contains(l, "/zones/") || strings.Contains(l, "/regions/")) {
			return asset.Region(l)
		}
	}
	for _, seg := range []string{"/zones/", "/regions/", "/locations/"} {
		if i := strings.Index(name, seg); i >= 0 {
			rest := name[i+len(seg):]
			return asset.Region(strings.SplitN(rest, "/", 2)[0])
		}
	}
	return "global"
}

type gcpFirewall struct {
	gcpCommon
	Network               string            `json:"network"`
	Direction             string            `json:"direction"`
	Disabled              bool              `json:"disabled"`
	Priority              *int              `json:"priority"`
	SourceRanges          []string          `json:"sourceRanges"`
	SourceTags            []string          `json:"sourceTags"`
	SourceServiceAccounts []string          `json:"sourceServiceAccounts"`
	DestinationRanges     []string          `json:"destinationRanges"`
	TargetTags            []string          `json:"targetTags"`
	TargetServiceAccounts []string          `json:"targetServiceAccounts"`
	Allowed               []gcpFirewallRule `json:"allowed"`
	Denied                []gcpFirewallRule `json:"denied"`
	LogConfig             *struct {
		Enable bool `json:"enable"`
	} `json:"logConfig"`
}

type gcpFirewallRule struct {
	IPProtocol string   `json:"IPProtocol"`
	Ports      []string `json:"ports"`
}

// world is what a GCP ingress rule without any source applies to: the API
// fills in 0.0.0.0/0 (the trap of terraform-provider-google#6789).
var world = []string{"0.0.0.0/0"}

func (fw *gcpFirewall) facets(f *asset.Facets) error {
	f.Network = asset.NetworkID(fw.Network)
	f.TargetTags = fw.TargetTags
	f.TargetServiceAccounts = fw.TargetServiceAccounts
	egress := strings.EqualFold(fw.Direction, "EGRESS")
	priority := 1000
	if fw.Priority != nil {
		priority = *fw.Priority
	}
	var sources []string
	if egress {
		sources = fw.DestinationRanges
		if len(sources) == 0 {
			sources = world
		}
	} else {
		sources = fw.SourceRanges
		if len(sources) == 0 && len(fw.SourceTags) == 0 && len(fw.SourceServiceAccounts) == 0 {
			sources = world
		}
	}
	if sources == nil {
		sources = []string{}
	}
	add := func(rules []gcpFirewallRule, action string) error {
		for _, r := range rules {
			rule, err := GCPRule(r.IPProtocol, r.Ports)
			if err != nil {
				return err
			}
			rule.Sources = sources
			rule.Action = action
			rule.Enabled = !fw.Disabled
			rule.Priority = priority
			if !egress {
				rule.SourceTags = fw.SourceTags
				rule.SourceServiceAccounts = fw.SourceServiceAccounts
			}
			if egress {
				f.Egress = append(f.Egress, rule)
			} else {
				f.Ingress = append(f.Ingress, rule)
			}
		}
		return nil
	}
	if err := add(fw.Allowed, "allow"); err != nil {
		return err
	}
	return add(fw.Denied, "deny")
}

// GCPRule builds a rule's protocol and ports from a GCP allowed/denied entry.
func GCPRule(protocol string, ports []string) (asset.Rule, error) {
	r := asset.Rule{Protocol: asset.Protocol(protocol), Sources: []string{}, Ports: []asset.PortRange{}}
	if !asset.CarriesPorts(r.Protocol) {
		return r, nil
	}
	if len(ports) == 0 || r.Protocol == "all" {
		r.Ports = asset.AllPorts
		return r, nil
	}
	pr, err := asset.ParsePorts(ports)
	if err != nil {
		return r, err
	}
	r.Ports = pr
	return r, nil
}

type gcpInstance struct {
	gcpCommon
	Status            string `json:"status"`
	NetworkInterfaces []struct {
		Network       string `json:"network"`
		Subnetwork    string `json:"subnetwork"`
		NetworkIP     string `json:"networkIP"`
		AccessConfigs []struct {
			NatIP        string `json:"natIP"`
			ExternalIPv6 string `json:"externalIpv6"`
		} `json:"accessConfigs"`
		IPv6AccessConfigs []struct {
			ExternalIPv6 string `json:"externalIpv6"`
		} `json:"ipv6AccessConfigs"`
	} `json:"networkInterfaces"`
	Tags struct {
		Items []string `json:"items"`
	} `json:"tags"`
	Disks []struct {
		Source string `json:"source"`
	} `json:"disks"`
	ServiceAccounts []struct {
		Email string `json:"email"`
	} `json:"serviceAccounts"`
	Metadata gcpMetadata `json:"metadata"`
}

func (in *gcpInstance) facets(f *asset.Facets) {
	for _, ni := range in.NetworkInterfaces {
		if ni.Network != "" {
			f.Networks = appendUnique(f.Networks, asset.NetworkID(ni.Network))
		}
		if ni.Subnetwork != "" {
			f.Subnets = appendUnique(f.Subnets, subnetID(ni.Subnetwork))
		}
		if ni.NetworkIP != "" {
			f.PrivateIPs = append(f.PrivateIPs, ni.NetworkIP)
		}
		for _, ac := range ni.AccessConfigs {
			if ac.NatIP != "" {
				f.PublicIPs = append(f.PublicIPs, ac.NatIP)
			}
			if ac.ExternalIPv6 != "" {
				f.PublicIPs = append(f.PublicIPs, ac.ExternalIPv6)
			}
		}
		for _, ac := range ni.IPv6AccessConfigs {
			if ac.ExternalIPv6 != "" {
				f.PublicIPs = append(f.PublicIPs, ac.ExternalIPv6)
			}
		}
	}
	f.NetworkTags = in.Tags.Items
	for _, d := range in.Disks {
		if d.Source != "" {
			f.Disks = append(f.Disks, resourcePath(d.Source))
		}
	}
	for _, sa := range in.ServiceAccounts {
		f.ServiceAccounts = append(f.ServiceAccounts, sa.Email)
	}
	f.Zone = lastSegment(in.Zone)
	f.Status = strings.ToLower(in.Status)
}

type gcpNetwork struct {
	gcpCommon
	AutoCreateSubnetworks *bool  `json:"autoCreateSubnetworks"`
	IPv4Range             string `json:"IPv4Range"`
}

type gcpSubnet struct {
	gcpCommon
	Network        string `json:"network"`
	IPCidrRange    string `json:"ipCidrRange"`
	Purpose        string `json:"purpose"`
	EnableFlowLogs *bool  `json:"enableFlowLogs"`
	LogConfig      *struct {
		Enable bool `json:"enable"`
	} `json:"logConfig"`
}

type gcpBucket struct {
	gcpCommon
	IAMConfiguration struct {
		PublicAccessPrevention string `json:"publicAccessPrevention"`
	} `json:"iamConfiguration"`
	ACL []struct {
		Entity string `json:"entity"`
		Role   string `json:"role"`
	} `json:"acl"`
}

// everyone are the IAM members that make a resource public.
func everyone(member string) bool {
	return member == "allUsers" || member == "allAuthenticatedUsers"
}

func (b *gcpBucket) facets(f *asset.Facets, iam *GCPIAMPolicy) {
	var via []asset.Exposure
	if iam != nil {
		for _, bd := range iam.Bindings {
			for _, m := range bd.Members {
				if everyone(m) {
					via = append(via, asset.Exposure{Via: "iam", Detail: fmt.Sprintf("IAM grants %s to %s", bd.Role, m)})
				}
			}
		}
	}
	for _, e := range b.ACL {
		if everyone(e.Entity) {
			via = append(via, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("ACL grants %s to %s", e.Role, e.Entity)})
		}
	}
	if strings.EqualFold(b.IAMConfiguration.PublicAccessPrevention, "enforced") {
		via = nil
	}
	f.Public = asset.Bool(len(via) > 0)
	f.PublicVia = via
}

type gcpProject struct {
	gcpCommon
	ProjectID     string `json:"projectId"`
	ProjectNumber string `json:"projectNumber"`
	Parent        struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"parent"`
}

type gcpNode struct {
	gcpCommon
	DisplayName string `json:"displayName"`
	Parent      string `json:"parent"`
}

type gcpServiceAccountKey struct {
	gcpCommon
	KeyType        string `json:"keyType"`
	ValidAfterTime string `json:"validAfterTime"`
	Disabled       bool   `json:"disabled"`
}

type gcpDisk struct {
	gcpCommon
	Status string `json:"status"`
}

// subnetID normalizes a subnetwork reference to "projects/P/regions/R/subnetworks/S".
func subnetID(ref string) string { return resourcePath(ref) }

// resourcePath strips the API prefix of a selfLink or CAI name, keeping the
// path from "projects/".
func resourcePath(ref string) string {
	if i := strings.Index(ref, "projects/"); i >= 0 {
		return ref[i:]
	}
	return ref
}

func lastSegment(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
