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
	LogType      string `json:"logType"`
	LogTypeSnake string `json:"log_type"`
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
		}
		acs = append(acs, c)
	}
	return bs, acs
}

// normalizeGCP fills kind, name, region, labels and facets of a GCP asset from
// its resource data (the API representation, as CAI and the Compute API
// return it). The caller has set ID, Type, Provider and Source.
func normalizeGCP(a *asset.Asset, data json.RawMessage, location string, iam *GCPIAMPolicy) error {
	a.Kind = GCPKind(a.Type)
	var err error
	var common gcpCommon
	switch a.Kind {
	case asset.KindFirewall:
		var fw gcpFirewall
		if err = unmarshalData(data, &fw); err == nil {
			common = fw.gcpCommon
			err = fw.facets(&a.Facets)
		}
	case asset.KindInstance:
		var in gcpInstance
		if err = unmarshalData(data, &in); err == nil {
			common = in.gcpCommon
			in.facets(&a.Facets)
		}
	case asset.KindNetwork:
		var n gcpNetwork
		if err = unmarshalData(data, &n); err == nil {
			common = n.gcpCommon
			a.Facets.Network = asset.NetworkID(firstNonEmpty(n.SelfLink, a.ID))
			a.Facets.Default = asset.Bool(n.Name == "default" && (n.AutoCreateSubnetworks == nil || *n.AutoCreateSubnetworks))
			if n.IPv4Range != "" {
				a.Facets.CIDRs = []string{n.IPv4Range}
			}
		}
	case asset.KindSubnet:
		var s gcpSubnet
		if err = unmarshalData(data, &s); err == nil {
			common = s.gcpCommon
			a.Facets.Network = asset.NetworkID(s.Network)
			if s.IPCidrRange != "" {
				a.Facets.CIDRs = []string{s.IPCidrRange}
			}
		}
	case asset.KindBucket:
		var b gcpBucket
		if err = unmarshalData(data, &b); err == nil {
			common = b.gcpCommon
			b.facets(&a.Facets, iam)
		}
	case asset.KindProject:
		var p gcpProject
		if err = unmarshalData(data, &p); err == nil {
			common = p.gcpCommon
			a.Facets.ProjectNumber = firstNonEmpty(p.ProjectNumber, lastSegment(a.ID))
			a.Name = firstNonEmpty(p.ProjectID, a.Facets.ProjectNumber)
			if p.Parent.ID != "" {
				a.Facets.Parent = p.Parent.Type + "s/" + p.Parent.ID
			}
		}
	case asset.KindFolder, asset.KindOrganization:
		var n gcpNode
		if err = unmarshalData(data, &n); err == nil {
			common = n.gcpCommon
			a.Name = firstNonEmpty(n.DisplayName, n.Name)
			a.Facets.Parent = n.Parent
		}
	case asset.KindServiceAccountKey:
		var k gcpServiceAccountKey
		if err = unmarshalData(data, &k); err == nil {
			common = k.gcpCommon
			a.Facets.CreatedAt = k.ValidAfterTime
			a.Facets.Enabled = asset.Bool(!k.Disabled)
			if i := strings.Index(a.ID, "/serviceAccounts/"); i >= 0 {
				a.Facets.User = strings.SplitN(a.ID[i+len("/serviceAccounts/"):], "/", 2)[0]
			}
		}
	case asset.KindDisk:
		var d gcpDisk
		if err = unmarshalData(data, &d); err == nil {
			common = d.gcpCommon
			a.Facets.Zone = lastSegment(d.Zone)
			a.Facets.Status = strings.ToLower(d.Status)
		}
	default:
		if len(data) > 0 {
			err = unmarshalData(data, &common)
		}
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", a.Type, a.ID, err)
	}
	if iam != nil {
		a.Facets.Bindings, a.Facets.AuditConfigs = iam.facets()
	}
	if a.Name == "" {
		a.Name = firstNonEmpty(lastSegment(common.Name), lastSegment(a.ID))
	}
	if len(common.Labels) > 0 {
		a.Labels = common.Labels
	}
	a.Region = gcpRegion(location, common, a.ID)
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
	Network     string `json:"network"`
	IPCidrRange string `json:"ipCidrRange"`
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
