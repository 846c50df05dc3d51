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

	// Key type of a GCP service account key: "user_managed" or
	// "system_managed".
	KeyType string `json:"key_type,omitempty"`
	// Credential facets of an AWS IAM user (from the credential report) and,
	// on an account, of its root user: a console password, MFA, and how many
	// access keys are active.
	Console    *bool `json:"console,omitempty"`
	MFA        *bool `json:"mfa,omitempty"`
	ActiveKeys *int  `json:"active_keys,omitempty"`
	// Keys counts the access keys that exist, active or not (the account
	// summary's AccountAccessKeysPresent for the root user, or the
	// credential report's keys with a rotation date).
	Keys *int `json:"keys,omitempty"`
	// ReadOnly is set on an AWS IAM role whose permissions only read (every
	// attached managed policy a read-only one, no inline policy): assuming
	// it is no emergency access, the IR team could not act. Nil when the
	// role's policies are not known or not all read-only.
	ReadOnly *bool `json:"read_only,omitempty"`

	// Metadata are the metadata items of a GCP instance or of a project's
	// compute metadata (enable-oslogin, block-project-ssh-keys, ...); ssh-keys
	// values are not kept, only whether they are set.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Inherited are what the asset's project or account, then the folders
	// and organization above it, say of it, nearest first: their labels and,
	// for a GCP project, its compute metadata. Loaders set it from the
	// hierarchy they read before the assets (see DESIGN.md, residency).
	Inherited []Inherited `json:"inherited,omitempty"`

	// Trail facets: log file validation and the CloudWatch Logs group it
	// delivers to.
	Validation *bool  `json:"validation,omitempty"`
	LogGroup   string `json:"log_group,omitempty"`
	// ManagementEvents is which management events a trail records, from
	// its event selectors: "All", "ReadOnly", "WriteOnly" or "none";
	// empty when the selectors are not known (a trail without any
	// records all of them).
	ManagementEvents string `json:"management_events,omitempty"`
	// Alerting chain: a metric filter's pattern, an EventBridge rule's event
	// pattern, a log sink's or a log-based metric's filter; the metrics a
	// filter feeds or an alarm or alert policy watches ("namespace/name" on
	// AWS, "logging.googleapis.com/user/NAME" on GCP); where alarms, rules
	// and alert policies send (actions, targets, notification channels);
	// a sink's destination and whether it takes the children's logs.
	Filter          string   `json:"filter,omitempty"`
	Metrics         []string `json:"metrics,omitempty"`
	Targets         []string `json:"targets,omitempty"`
	Destination     string   `json:"destination,omitempty"`
	IncludeChildren *bool    `json:"include_children,omitempty"`

	// Resource is the id of the asset a vulnerability report or a flow log
	// describes (an instance's asset id, a VPC or subnet id, an image).
	Resource string `json:"resource,omitempty"`
	// Vulnerabilities of a vulnerability report.
	Vulnerabilities []Vulnerability `json:"vulnerabilities,omitempty"`

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

// Inherited is what one node above an asset says of it.
type Inherited struct {
	// Node is the project, account, folder or organization
	// ("projects/123", "folders/4", "111111111111").
	Node     string            `json:"node"`
	Labels   map[string]string `json:"labels,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Vulnerability is one vulnerability a scanner found.
type Vulnerability struct {
	// ID is the CVE (or the scanner's id when there is none).
	ID string `json:"id"`
	// Severity in lower case: critical, high, medium, low, informational.
	Severity string `json:"severity"`
	// Fixable says a fixed version exists.
	Fixable bool   `json:"fixable"`
	Package string `json:"package,omitempty"`
	Fixed   string `json:"fixed,omitempty"`
	// Ports the vulnerable service listens on, when the scanner knows.
	Ports []int `json:"ports,omitempty"`
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
	// Exempted are the members exempted from one of its log types
	// (auditLogConfigs[].exemptedMembers): their calls are not logged.
	Exempted []string `json:"exempted,omitempty"`
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
			g.AuditConfigs[i] = AuditConfig{Service: c.Service, LogTypes: cloneStrings(c.LogTypes), Exempted: cloneStrings(c.Exempted)}
		}
	}
	g.Ancestors = cloneStrings(f.Ancestors)
	g.MultiRegion = cloneBool(f.MultiRegion)
	g.Logging = cloneBool(f.Logging)
	g.Organization = cloneBool(f.Organization)
	g.Enabled = cloneBool(f.Enabled)
	g.Unknown = cloneStrings(f.Unknown)
	g.Console = cloneBool(f.Console)
	g.ReadOnly = cloneBool(f.ReadOnly)
	g.MFA = cloneBool(f.MFA)
	if f.ActiveKeys != nil {
		n := *f.ActiveKeys
		g.ActiveKeys = &n
	}
	if f.Keys != nil {
		n := *f.Keys
		g.Keys = &n
	}
	g.Metadata = cloneMap(f.Metadata)
	if f.Inherited != nil {
		g.Inherited = make([]Inherited, len(f.Inherited))
		for i, in := range f.Inherited {
			g.Inherited[i] = Inherited{Node: in.Node, Labels: cloneMap(in.Labels), Metadata: cloneMap(in.Metadata)}
		}
	}
	g.Validation = cloneBool(f.Validation)
	g.Metrics = cloneStrings(f.Metrics)
	g.Targets = cloneStrings(f.Targets)
	g.IncludeChildren = cloneBool(f.IncludeChildren)
	if f.Vulnerabilities != nil {
		g.Vulnerabilities = make([]Vulnerability, len(f.Vulnerabilities))
		for i, v := range f.Vulnerabilities {
			g.Vulnerabilities[i] = v
			g.Vulnerabilities[i].Ports = append([]int(nil), v.Ports...)
		}
	}
	return g
}

func cloneBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Int returns a pointer to n, for the optional facet fields.
func Int(n int) *int { return &n }

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
