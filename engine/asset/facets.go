package asset

// Facets are normalized views of an asset that built-in policies read, so the
// same policy judges a live GCP firewall, one from a CAI export and a planned
// google_compute_firewall alike. Every field is optional: a field is set only
// for the kinds it describes (noted on each), and absent means "not known".
type Facets struct {
	// Network is the normalized network id: GCP "projects/P/global/networks/N",
	// AWS the VPC id. Set on networks (their own id), subnets, firewalls.
	Network string `json:"network,omitempty"`
	// Default says a network is the provider's default network (GCP auto-mode
	// "default", AWS default VPC).
	Default *bool `json:"default,omitempty"`
	// CIDRs of a network or subnet.
	CIDRs []string `json:"cidrs,omitempty"`

	// Ingress and Egress rules of a firewall or security group.
	Ingress []Rule `json:"ingress,omitempty"`
	Egress  []Rule `json:"egress,omitempty"`
	// TargetTags and TargetServiceAccounts restrict which GCP instances a
	// firewall applies to; empty means all instances of the network.
	TargetTags            []string `json:"target_tags,omitempty"`
	TargetServiceAccounts []string `json:"target_service_accounts,omitempty"`

	// Instance facets.
	Networks        []string `json:"networks,omitempty"`
	Subnets         []string `json:"subnets,omitempty"`
	PublicIPs       []string `json:"public_ips,omitempty"`
	PrivateIPs      []string `json:"private_ips,omitempty"`
	NetworkTags     []string `json:"network_tags,omitempty"`
	SecurityGroups  []string `json:"security_groups,omitempty"`
	Disks           []string `json:"disks,omitempty"`
	ServiceAccounts []string `json:"service_accounts,omitempty"`
	Zone            string   `json:"zone,omitempty"`
	// Status is the lifecycle state in lower case: running, stopped,
	// suspended, terminated; for keys: active, inactive.
	Status string `json:"status,omitempty"`

	// Bucket facets. Public is the bucket's own verdict (ACL, policy or IAM
	// grant to everyone, not stopped by its own public access block).
	Public            *bool              `json:"public,omitempty"`
	PublicVia         []Exposure         `json:"public_via,omitempty"`
	PublicAccessBlock *PublicAccessBlock `json:"public_access_block,omitempty"`

	// IAM: bindings and audit configs of a GCP resource's IAM policy.
	Bindings     []Binding     `json:"bindings,omitempty"`
	AuditConfigs []AuditConfig `json:"audit_configs,omitempty"`
	// Parent and Ancestors place a GCP asset in the resource hierarchy, as
	// CAI short names ("projects/123", "folders/4", "organizations/5"),
	// nearest first; Ancestors includes the asset's own project.
	Parent    string   `json:"parent,omitempty"`
	Ancestors []string `json:"ancestors,omitempty"`
	// ProjectNumber of a GCP project.
	ProjectNumber string `json:"project_number,omitempty"`

	// Trail facets.
	MultiRegion  *bool `json:"multi_region,omitempty"`
	Logging      *bool `json:"logging,omitempty"`
	Organization *bool `json:"organization,omitempty"`
	// Enabled is set on detectors and keys.
	Enabled *bool `json:"enabled,omitempty"`

	// Key facets (AWS access keys, GCP service account keys).
	User      string `json:"user,omitempty"`
	CreatedAt string `json:"created_at,omitempty"`
	LastUsed  string `json:"last_used,omitempty"`

	// Synthesized marks a scope asset the loader made because assets named a
	// project or account that the inventory did not contain.
	Synthesized bool `json:"synthesized,omitempty"`
	// Unknown lists facet names whose value is known only after apply
	// (Terraform plans).
	Unknown []string `json:"unknown,omitempty"`
}

// Rule is one firewall or security group rule, normalized.
type Rule struct {
	// Sources are CIDR ranges (IPv4 and IPv6); for egress rules, destinations.
	Sources []string `json:"sources"`
	// SourceTags, SourceServiceAccounts and SourceGroups name non-CIDR
	// sources (GCP tags and service accounts, AWS security groups).
	SourceTags            []string `json:"source_tags,omitempty"`
	SourceServiceAccounts []string `json:"source_service_accounts,omitempty"`
	SourceGroups          []string `json:"source_groups,omitempty"`
	// Protocol in lower case: tcp, udp, icmp, all, or a protocol number.
	Protocol string `json:"protocol"`
	// Ports the rule opens; empty with a port-carrying protocol means all.
	Ports []PortRange `json:"ports"`
	// Action is allow or deny.
	Action   string `json:"action"`
	Enabled  bool   `json:"enabled"`
	Priority int    `json:"priority,omitempty"`
	// Unknown names the fields (sources, ports, protocol) known only after apply.
	Unknown []string `json:"unknown,omitempty"`
}

// Exposure is one way a bucket is open to everyone.
type Exposure struct {
	// Via is "iam", "acl" or "policy".
	Via    string `json:"via"`
	Detail string `json:"detail"`
}

// PortRange is an inclusive range of ports.
type PortRange struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// Binding grants a role to members.
type Binding struct {
	Role    string   `json:"role"`
	Members []string `json:"members"`
}

// AuditConfig enables audit log types for a service.
type AuditConfig struct {
	Service  string   `json:"service"`
	LogTypes []string `json:"log_types"`
}

// PublicAccessBlock mirrors S3's four public access block settings.
type PublicAccessBlock struct {
	BlockPublicACLs       bool `json:"block_public_acls"`
	IgnorePublicACLs      bool `json:"ignore_public_acls"`
	BlockPublicPolicy     bool `json:"block_public_policy"`
	RestrictPublicBuckets bool `json:"restrict_public_buckets"`
}

// Bool returns a pointer to b, for the optional facet fields.
func Bool(b bool) *bool { return &b }

// Clone returns a deep copy.
func (f Facets) Clone() Facets {
	g := f
	g.Default = cloneBool(f.Default)
	g.CIDRs = cloneStrings(f.CIDRs)
	g.Ingress = cloneRules(f.Ingress)
	g.Egress = cloneRules(f.Egress)
	g.TargetTags = cloneStrings(f.TargetTags)
	g.TargetServiceAccounts = cloneStrings(f.TargetServiceAccounts)
	g.Networks = cloneStrings(f.Networks)
	g.Subnets = cloneStrings(f.Subnets)
	g.PublicIPs = cloneStrings(f.PublicIPs)
	g.PrivateIPs = cloneStrings(f.PrivateIPs)
	g.NetworkTags = cloneStrings(f.NetworkTags)
	g.SecurityGroups = cloneStrings(f.SecurityGroups)
	g.Disks = cloneStrings(f.Disks)
	g.ServiceAccounts = cloneStrings(f.ServiceAccounts)
	g.Public = cloneBool(f.Public)
	g.PublicVia = append([]Exposure(nil), f.PublicVia...)
	if f.PublicAccessBlock != nil {
		p := *f.PublicAccessBlock
		g.PublicAccessBlock = &p
	}
	if f.Bindings != nil {
		g.Bindings = make([]Binding, len(f.Bindings))
		for i, b := range f.Bindings {
			g.Bindings[i] = Binding{Role: b.Role, Members: cloneStrings(b.Members)}
		}
	}
	if f.AuditConfigs != nil {
		g.AuditConfigs = make([]AuditConfig, len(f.AuditConfigs))
		for i, c := range f.AuditConfigs {
			g.AuditConfigs[i] = AuditConfig{Service: c.Service, LogTypes: cloneStrings(c.LogTypes)}
		}
	}
	g.Ancestors = cloneStrings(f.Ancestors)
	g.MultiRegion = cloneBool(f.MultiRegion)
	g.Logging = cloneBool(f.Logging)
	g.Organization = cloneBool(f.Organization)
	g.Enabled = cloneBool(f.Enabled)
	g.Unknown = cloneStrings(f.Unknown)
	return g
}

func cloneBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

func cloneRules(rs []Rule) []Rule {
	if rs == nil {
		return nil
	}
	out := make([]Rule, len(rs))
	for i, r := range rs {
		out[i] = r
		out[i].Sources = cloneStrings(r.Sources)
		out[i].SourceTags = cloneStrings(r.SourceTags)
		out[i].SourceServiceAccounts = cloneStrings(r.SourceServiceAccounts)
		out[i].SourceGroups = cloneStrings(r.SourceGroups)
		out[i].Ports = append([]PortRange(nil), r.Ports...)
		out[i].Unknown = cloneStrings(r.Unknown)
	}
	return out
}
