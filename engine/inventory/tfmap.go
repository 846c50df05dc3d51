package inventory

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
)

// knownAfterApply stands for a value Terraform will only know at apply, in
// facets that hold values (a public IP that will certainly exist).
const knownAfterApply = "(known after apply)"

// bucketState collects what the plan says about one bucket: the bucket
// resource and the helper resources (ACL, policy, public access block, IAM)
// that change who can read it.
type bucketState struct {
	a         *asset.Asset
	exposures []asset.Exposure
	pab       *asset.PublicAccessBlock
	pap       string
	unknown   bool
}

// tfMapper turns planned resources into assets.
type tfMapper struct {
	p       *tfPlan
	stats   *PlanStats
	byAddr  map[string]*tfResource // by address without index
	buckets map[string]*bucketState
	// sgWithRules are security groups that standalone rule resources add to.
	sgWithRules map[string]bool
}

func mapResources(p *tfPlan, rs []*tfResource, stats *PlanStats) ([]*asset.Asset, error) {
	m := &tfMapper{p: p, stats: stats, byAddr: map[string]*tfResource{}, buckets: map[string]*bucketState{}, sgWithRules: map[string]bool{}}
	for _, r := range rs {
		m.byAddr[stripIndex(r.addr)] = r
	}
	for _, r := range rs {
		switch r.typ {
		case "aws_security_group_rule", "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule":
			for _, sg := range m.refs(r, "security_group_id") {
				m.sgWithRules[sg] = true
			}
		}
	}
	var out []*asset.Asset
	var helpers []*tfResource
	for _, r := range rs {
		a := m.base(r)
		r.asset = a
		var err error
		switch r.typ {
		case "aws_security_group":
			err = m.awsSecurityGroup(r, a)
		case "aws_security_group_rule":
			err = m.awsSecurityGroupRule(r, a)
		case "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule":
			err = m.awsVPCRule(r, a)
		case "aws_vpc", "aws_default_vpc":
			a.Kind = asset.KindNetwork
			a.Facets.Default = asset.Bool(r.typ == "aws_default_vpc")
			if id := str(r.after, "id"); id != "" {
				a.Facets.Network = id
			} else {
				a.Facets.Unknown = append(a.Facets.Unknown, "network")
			}
			if c := str(r.after, "cidr_block"); c != "" {
				a.Facets.CIDRs = []string{c}
			}
		case "aws_subnet":
			a.Kind = asset.KindSubnet
			a.Facets.Network = str(r.after, "vpc_id")
		case "aws_instance":
			m.awsInstance(r, a)
		case "aws_s3_bucket":
			m.awsBucket(r, a)
		case "aws_s3_bucket_public_access_block", "aws_s3_bucket_policy", "aws_s3_bucket_acl",
			"google_storage_bucket_iam_member", "google_storage_bucket_iam_binding", "google_storage_bucket_iam_policy":
			helpers = append(helpers, r)
			continue
		case "aws_cloudtrail":
			a.Kind = asset.KindTrail
			a.Facets.MultiRegion = asset.Bool(r.after["is_multi_region_trail"] == true)
			a.Facets.Organization = asset.Bool(r.after["is_organization_trail"] == true)
			if isUnknown(r.unknown, "enable_logging") {
				a.Facets.Unknown = append(a.Facets.Unknown, "logging")
			} else {
				a.Facets.Logging = asset.Bool(r.after["enable_logging"] != false) // defaults to true
			}
		case "aws_guardduty_detector":
			a.Kind = asset.KindDetector
			a.Facets.Enabled = asset.Bool(r.after["enable"] != false) // defaults to true
		case "aws_iam_access_key":
			a.Kind = asset.KindAccessKey
			a.Facets.User = str(r.after, "user")
			a.Facets.Enabled = asset.Bool(str(r.after, "status") != "Inactive")
		case "google_compute_firewall":
			err = m.googleFirewall(r, a)
		case "google_compute_network":
			a.Kind = asset.KindNetwork
			a.Facets.Network = m.googleNetworkID(r, a.Name)
			auto := r.after["auto_create_subnetworks"] != false // defaults to true
			a.Facets.Default = asset.Bool(a.Name == "default" && auto)
		case "google_compute_subnetwork":
			a.Kind = asset.KindSubnet
			a.Facets.Network = m.googleNetworkRef(r, "network", r.after)
			if c := str(r.after, "ip_cidr_range"); c != "" {
				a.Facets.CIDRs = []string{c}
			}
		case "google_compute_instance":
			m.googleInstance(r, a)
		case "google_storage_bucket":
			m.googleBucket(r, a)
		case "google_project_iam_member", "google_project_iam_binding", "google_project_iam_policy", "google_project_iam_audit_config":
			m.googleProjectIAM(r, a)
		case "google_project":
			a.Kind = asset.KindProject
			a.Name = firstNonEmpty(str(r.after, "project_id"), a.Name)
			a.Scope = a.Name
		default:
			if !m.mapMore(r, a) { // tfmore.go: the types of issue 19
				a.Kind = asset.KindOther
				m.stats.Unmapped[r.typ]++
			}
		}
		m.moreFacets(r, a) // tfmore.go: facets of issue 19 on the types above
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.addr, err)
		}
		m.stats.Actions[r.action]++
		out = append(out, a)
	}
	for _, h := range helpers {
		if a, err := m.bucketHelper(h); err != nil {
			return nil, fmt.Errorf("%s: %w", h.addr, err)
		} else if a != nil {
			m.stats.Actions[h.action]++
			out = append(out, a)
		}
	}
	for _, b := range m.buckets {
		m.settleBucket(b)
	}
	return out, nil
}

// base builds what every planned resource has in common.
func (m *tfMapper) base(r *tfResource) *asset.Asset {
	a := &asset.Asset{ID: r.addr, Type: r.typ, Source: asset.SourceTerraformPlan, Origin: r.origin}
	switch {
	case strings.HasPrefix(r.typ, "aws_"):
		a.Provider = asset.AWS
		a.Labels = strMap(r.after, "tags")
		a.Region = asset.Region(r.region)
	case strings.HasPrefix(r.typ, "google_"):
		a.Provider = asset.GCP
		a.Labels = strMap(r.after, "labels")
		a.Scope = firstNonEmpty(str(r.after, "project"), r.project)
		loc := firstNonEmpty(str(r.after, "zone"), str(r.after, "region"), str(r.after, "location"), r.region)
		a.Region = asset.Region(loc)
	default:
		a.Provider = strings.SplitN(r.typ, "_", 2)[0]
		a.Region = asset.Region(r.region)
	}
	a.Name = firstNonEmpty(str(r.after, "name"), str(r.after, "bucket"), a.Labels["Name"], instanceName(r))
	var paths []string
	unknownPaths(r.unknown, "", &paths)
	a.Change = &asset.Change{Action: r.action, Address: r.addr, Unknown: paths}
	a.Data, _ = json.Marshal(map[string]any{"type": r.typ, "address": r.addr, "action": r.action, "after": r.after, "after_unknown": r.unknown})
	return a
}

// instanceName is the resource name with its instance key: web[0], lb["a"].
func instanceName(r *tfResource) string {
	if i := strings.LastIndex(r.addr, r.name+"["); i >= 0 {
		return r.addr[i:]
	}
	return r.name
}

// refs resolves the references of one argument of a resource.
func (m *tfMapper) refs(r *tfResource, arg string) []string {
	if r.cfg == nil {
		return nil
	}
	raw, ok := r.cfg.Expressions[arg]
	if !ok {
		return nil
	}
	var e tfExpression
	if json.Unmarshal(raw, &e) != nil {
		return nil
	}
	return m.p.resolveRefs(r.cfg.module, e.References)
}

// configured reports whether the configuration sets an argument.
func (r *tfResource) configured(arg string) bool {
	if r.cfg == nil {
		return false
	}
	_, ok := r.cfg.Expressions[arg]
	return ok
}

// --- AWS ---

func (m *tfMapper) awsSecurityGroup(r *tfResource, a *asset.Asset) error {
	a.Kind = asset.KindFirewall
	a.Facets.Network = str(r.after, "vpc_id")
	for dir, dst := range map[string]*[]asset.Rule{"ingress": &a.Facets.Ingress, "egress": &a.Facets.Egress} {
		bs := blocks(r.after, dir)
		for i, b := range bs {
			*dst = append(*dst, awsTFRule(b, subtree(r.unknown, dir, i), "cidr_blocks", "ipv6_cidr_blocks", "protocol", "from_port", "to_port"))
		}
		// The whole rule list is unknown: unless standalone rule resources
		// make this group's rules (they are judged themselves), the rules
		// are known only after apply.
		if len(bs) == 0 && isUnknown(r.unknown, dir) && !m.sgWithRules[stripIndex(r.addr)] {
			*dst = append(*dst, asset.Rule{Sources: []string{}, Ports: []asset.PortRange{}, Protocol: "all", Action: "allow", Enabled: true,
				Unknown: []string{"sources", "ports", "protocol"}})
		}
	}
	return nil
}

func (m *tfMapper) awsSecurityGroupRule(r *tfResource, a *asset.Asset) error {
	a.Kind = asset.KindFirewall
	a.Facets.Parent = m.parentSG(r)
	rule := awsTFRule(r.after, r.unknown, "cidr_blocks", "ipv6_cidr_blocks", "protocol", "from_port", "to_port")
	if str(r.after, "type") == "egress" {
		a.Facets.Egress = []asset.Rule{rule}
	} else {
		a.Facets.Ingress = []asset.Rule{rule}
	}
	return nil
}

func (m *tfMapper) awsVPCRule(r *tfResource, a *asset.Asset) error {
	a.Kind = asset.KindFirewall
	a.Facets.Parent = m.parentSG(r)
	rule := awsTFRule(r.after, r.unknown, "cidr_ipv4", "cidr_ipv6", "ip_protocol", "from_port", "to_port")
	if r.typ == "aws_vpc_security_group_egress_rule" {
		a.Facets.Egress = []asset.Rule{rule}
	} else {
		a.Facets.Ingress = []asset.Rule{rule}
	}
	return nil
}

// parentSG names the security group a standalone rule belongs to: its
// address in the plan when the configuration references it, else its id.
func (m *tfMapper) parentSG(r *tfResource) string {
	if refs := m.refs(r, "security_group_id"); len(refs) > 0 {
		return refs[0]
	}
	return str(r.after, "security_group_id")
}

// awsTFRule converts an AWS rule in Terraform's shape. The CIDR attributes
// may be lists (cidr_blocks) or single strings (cidr_ipv4).
func awsTFRule(b map[string]any, unk any, v4, v6, proto, fromK, toK string) asset.Rule {
	r := asset.Rule{Action: "allow", Enabled: true, Sources: []string{}}
	for _, k := range []string{v4, v6} {
		switch v := b[k].(type) {
		case string:
			if v != "" {
				r.Sources = append(r.Sources, v)
			}
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok {
					r.Sources = append(r.Sources, s)
				}
			}
		}
		if isUnknown(unk, k) || anyUnknown(unk, k) {
			r.Unknown = appendUnique(r.Unknown, "sources")
		}
	}
	r.SourceGroups = append(strs(b, "security_groups"), strs(b, "prefix_list_ids")...)
	if s := str(b, "source_security_group_id"); s != "" {
		r.SourceGroups = append(r.SourceGroups, s)
	}
	if s := str(b, "referenced_security_group_id"); s != "" {
		r.SourceGroups = append(r.SourceGroups, s)
	}
	r.Protocol = asset.Protocol(str(b, proto))
	if isUnknown(unk, proto) {
		r.Unknown = append(r.Unknown, "protocol")
	}
	from, to := intPtr(b, fromK), intPtr(b, toK)
	if from != nil && to != nil && *from > *to && *to >= 0 {
		// An inverted range is invalid in AWS, but its intent is unclear:
		// judge the span it names rather than pass it.
		*from, *to = *to, *from
	}
	if isUnknown(unk, fromK) || isUnknown(unk, toK) {
		r.Unknown = append(r.Unknown, "ports")
		r.Ports = []asset.PortRange{}
	} else {
		r.Ports = AWSPorts(r.Protocol, from, to)
		if r.Protocol == "all" {
			r.Ports = asset.AllPorts
		}
	}
	return r
}

func anyUnknown(tree any, key string) bool {
	m, ok := tree.(map[string]any)
	if !ok {
		return false
	}
	l, ok := m[key].([]any)
	if !ok {
		return false
	}
	for _, x := range l {
		if b, ok := x.(bool); ok && b {
			return true
		}
	}
	return false
}

func subtree(tree any, key string, i int) any {
	m, ok := tree.(map[string]any)
	if !ok {
		return nil
	}
	l, ok := m[key].([]any)
	if !ok || i >= len(l) {
		return nil
	}
	return l[i]
}

func (m *tfMapper) awsInstance(r *tfResource, a *asset.Asset) {
	a.Kind = asset.KindInstance
	a.Facets.Status = "running"
	if ip := str(r.after, "public_ip"); ip != "" {
		a.Facets.PublicIPs = []string{ip}
	} else {
		switch {
		case r.after["associate_public_ip_address"] == true:
			a.Facets.PublicIPs = []string{knownAfterApply}
		case r.after["associate_public_ip_address"] == false:
		default:
			// Not set: the subnet decides (default VPC subnets give one).
			a.Facets.Unknown = append(a.Facets.Unknown, "public_ips")
		}
	}
	if s := str(r.after, "subnet_id"); s != "" {
		a.Facets.Subnets = []string{s}
	}
	a.Facets.SecurityGroups = append(strs(r.after, "vpc_security_group_ids"), strs(r.after, "security_groups")...)
	// The VPC follows from the subnet, which a plan rarely resolves.
	a.Facets.Unknown = append(a.Facets.Unknown, "networks")
	if az := str(r.after, "availability_zone"); az != "" {
		a.Facets.Zone = az
		a.Region = asset.Region(az)
	}
}

func (m *tfMapper) bucket(a *asset.Asset) *bucketState {
	key := stripIndex(a.ID)
	b, ok := m.buckets[key]
	if !ok {
		b = &bucketState{a: a}
		m.buckets[key] = b
	}
	return b
}

// cannedPublicACLs are the S3 canned ACLs that open a bucket.
var cannedPublicACLs = map[string]string{"public-read": "AllUsers", "public-read-write": "AllUsers", "authenticated-read": "AuthenticatedUsers"}

func (m *tfMapper) awsBucket(r *tfResource, a *asset.Asset) {
	a.Kind = asset.KindBucket
	a.Name = firstNonEmpty(str(r.after, "bucket"), r.name)
	b := m.bucket(a)
	if who, ok := cannedPublicACLs[str(r.after, "acl")]; ok {
		b.exposures = append(b.exposures, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("canned ACL %s grants %s", str(r.after, "acl"), who)})
	}
	m.awsPolicy(b, r, "policy")
}

func (m *tfMapper) awsPolicy(b *bucketState, r *tfResource, key string) {
	if isUnknown(r.unknown, key) {
		b.unknown = true
		return
	}
	doc := str(r.after, key)
	if doc == "" {
		return
	}
	public, err := PolicyIsPublic([]byte(doc))
	if err != nil {
		b.unknown = true
		return
	}
	if public {
		b.exposures = append(b.exposures, asset.Exposure{Via: "policy", Detail: fmt.Sprintf(`bucket policy (%s) allows Principal "*"`, r.addr)})
	}
}

// bucketHelper merges an ACL, policy, public access block or IAM resource
// into the bucket it names. When that bucket is not in the plan, the helper
// stands for it as an asset of its own.
func (m *tfMapper) bucketHelper(r *tfResource) (*asset.Asset, error) {
	var b *bucketState
	for _, ref := range m.refs(r, "bucket") {
		if t, ok := m.byAddr[ref]; ok && t.asset != nil && t.asset.Kind == asset.KindBucket {
			b = m.bucket(t.asset)
			break
		}
	}
	name := str(r.after, "bucket")
	if b == nil && name != "" {
		for _, s := range m.buckets {
			if s.a.Name == name {
				b = s
				break
			}
		}
	}
	var own *asset.Asset
	if b == nil {
		own = r.asset
		own.Kind = asset.KindBucket
		own.Name = firstNonEmpty(name, r.name)
		b = m.bucket(own)
	}
	switch r.typ {
	case "aws_s3_bucket_public_access_block":
		b.pab = &asset.PublicAccessBlock{
			BlockPublicACLs: r.after["block_public_acls"] == true, IgnorePublicACLs: r.after["ignore_public_acls"] == true,
			BlockPublicPolicy: r.after["block_public_policy"] == true, RestrictPublicBuckets: r.after["restrict_public_buckets"] == true,
		}
	case "aws_s3_bucket_policy":
		m.awsPolicy(b, r, "policy")
	case "aws_s3_bucket_acl":
		if who, ok := cannedPublicACLs[str(r.after, "acl")]; ok {
			b.exposures = append(b.exposures, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("%s sets canned ACL %s (%s)", r.addr, str(r.after, "acl"), who)})
		}
		for _, acp := range blocks(r.after, "access_control_policy") {
			for _, g := range blocks(acp, "grant") {
				for _, gr := range blocks(g, "grantee") {
					if who := publicGrantee(json.RawMessage(str(gr, "uri"))); who != "" {
						b.exposures = append(b.exposures, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("%s grants %s to %s", r.addr, str(g, "permission"), who)})
					}
				}
			}
		}
		if isUnknown(r.unknown, "acl") || isUnknown(r.unknown, "access_control_policy") {
			b.unknown = true
		}
	case "google_storage_bucket_iam_member", "google_storage_bucket_iam_binding", "google_storage_bucket_iam_policy":
		role := str(r.after, "role")
		members := strs(r.after, "members")
		if mbr := str(r.after, "member"); mbr != "" {
			members = append(members, mbr)
		}
		if doc := str(r.after, "policy_data"); doc != "" {
			var pol GCPIAMPolicy
			if err := json.Unmarshal([]byte(doc), &pol); err == nil {
				for _, bd := range pol.Bindings {
					for _, mbr := range bd.Members {
						if everyone(mbr) {
							b.exposures = append(b.exposures, asset.Exposure{Via: "iam", Detail: fmt.Sprintf("%s grants %s to %s", r.addr, bd.Role, mbr)})
						}
					}
				}
			}
		}
		for _, mbr := range members {
			if everyone(mbr) {
				b.exposures = append(b.exposures, asset.Exposure{Via: "iam", Detail: fmt.Sprintf("%s grants %s to %s", r.addr, role, mbr)})
			}
		}
		if isUnknown(r.unknown, "member") || isUnknown(r.unknown, "members") || anyUnknown(r.unknown, "members") || isUnknown(r.unknown, "policy_data") {
			b.unknown = true
		}
	}
	return own, nil
}

// settleBucket decides public from what the plan says, applying the
// bucket's own public access block or public access prevention.
func (m *tfMapper) settleBucket(b *bucketState) {
	var via []asset.Exposure
	for _, e := range b.exposures {
		if b.pab != nil && ((e.Via == "acl" && b.pab.IgnorePublicACLs) || (e.Via == "policy" && b.pab.RestrictPublicBuckets)) {
			continue
		}
		via = append(via, e)
	}
	if strings.EqualFold(b.pap, "enforced") {
		via = nil
	}
	b.a.Facets.PublicAccessBlock = b.pab
	b.a.Facets.PublicVia = via
	b.a.Facets.Public = asset.Bool(len(via) > 0)
	blocked := strings.EqualFold(b.pap, "enforced") || (b.pab != nil && b.pab.IgnorePublicACLs && b.pab.RestrictPublicBuckets)
	if b.unknown && len(via) == 0 && !blocked {
		b.a.Facets.Public = nil
		b.a.Facets.Unknown = appendUnique(b.a.Facets.Unknown, "public")
	}
}

// --- Google ---

// googleNetworkID makes projects/P/global/networks/N for a planned network.
func (m *tfMapper) googleNetworkID(r *tfResource, name string) string {
	if sl := str(r.after, "self_link"); sl != "" {
		return asset.NetworkID(sl)
	}
	project := firstNonEmpty(str(r.after, "project"), r.project)
	if project == "" {
		return name
	}
	return "projects/" + project + "/global/networks/" + name
}

// googleNetworkRef resolves a network argument: a name ("default"), a
// self link, or a reference to a planned google_compute_network.
func (m *tfMapper) googleNetworkRef(r *tfResource, arg string, vals map[string]any) string {
	v := str(vals, arg)
	if v == "" {
		for _, ref := range m.refs(r, arg) {
			if t, ok := m.byAddr[ref]; ok && t.typ == "google_compute_network" {
				return m.googleNetworkID(t, firstNonEmpty(str(t.after, "name"), t.name))
			}
		}
		return ""
	}
	if strings.Contains(v, "/") {
		return asset.NetworkID(v)
	}
	project := firstNonEmpty(str(r.after, "project"), r.project)
	if project == "" {
		return v
	}
	return "projects/" + project + "/global/networks/" + v
}

func (m *tfMapper) googleFirewall(r *tfResource, a *asset.Asset) error {
	a.Kind = asset.KindFirewall
	a.Facets.Network = m.googleNetworkRef(r, "network", r.after)
	a.Facets.TargetTags = strs(r.after, "target_tags")
	a.Facets.TargetServiceAccounts = strs(r.after, "target_service_accounts")
	// An omitted direction is INGRESS.
	egress := strings.EqualFold(str(r.after, "direction"), "EGRESS")
	priority := 1000
	if p := intPtr(r.after, "priority"); p != nil {
		priority = *p
	}
	var sources, unknown []string
	if egress {
		sources = strs(r.after, "destination_ranges")
		if len(sources) == 0 && !isUnknown(r.unknown, "destination_ranges") {
			sources = world
		}
	} else {
		sources = strs(r.after, "source_ranges")
		tags, sas := strs(r.after, "source_tags"), strs(r.after, "source_service_accounts")
		switch {
		case len(sources) > 0 || len(tags) > 0 || len(sas) > 0:
			if anyUnknown(r.unknown, "source_ranges") {
				unknown = append(unknown, "sources")
			}
		case isUnknown(r.unknown, "source_ranges") && r.configured("source_ranges"):
			// set from something only apply knows
			unknown = append(unknown, "sources")
		case r.cfg == nil && isUnknown(r.unknown, "source_ranges"):
			unknown = append(unknown, "sources")
		default:
			// No source ranges, tags or service accounts: Google applies
			// the rule to 0.0.0.0/0 (terraform-provider-google#6789).
			sources = world
		}
	}
	if sources == nil {
		sources = []string{}
	}
	disabled := r.after["disabled"] == true
	for _, kind := range []string{"allow", "deny"} {
		for i, blk := range blocks(r.after, kind) {
			rule, err := GCPRule(str(blk, "protocol"), strs(blk, "ports"))
			if err != nil {
				return err
			}
			rule.Sources = sources
			rule.Action = kind
			rule.Enabled = !disabled
			rule.Priority = priority
			rule.Unknown = append([]string(nil), unknown...)
			if st := subtree(r.unknown, kind, i); isUnknown(st, "ports") || anyUnknown(st, "ports") {
				rule.Unknown = append(rule.Unknown, "ports")
			}
			if !egress {
				rule.SourceTags = strs(r.after, "source_tags")
				rule.SourceServiceAccounts = strs(r.after, "source_service_accounts")
				a.Facets.Ingress = append(a.Facets.Ingress, rule)
			} else {
				a.Facets.Egress = append(a.Facets.Egress, rule)
			}
		}
	}
	return nil
}

func (m *tfMapper) googleInstance(r *tfResource, a *asset.Asset) {
	a.Kind = asset.KindInstance
	a.Facets.Status = strings.ToLower(firstNonEmpty(str(r.after, "desired_status"), "running"))
	a.Facets.Zone = str(r.after, "zone")
	for i, ni := range blocks(r.after, "network_interface") {
		if n := m.googleNetworkRef(r, "network", ni); n != "" {
			a.Facets.Networks = appendUnique(a.Facets.Networks, n)
		} else if isUnknown(subtree(r.unknown, "network_interface", i), "network") {
			a.Facets.Unknown = appendUnique(a.Facets.Unknown, "networks")
		}
		if s := str(ni, "subnetwork"); s != "" {
			a.Facets.Subnets = append(a.Facets.Subnets, resourcePath(s))
		}
		// Every access_config block gives the instance an external IP,
		// ephemeral when nat_ip is not set.
		for _, ac := range blocks(ni, "access_config") {
			a.Facets.PublicIPs = append(a.Facets.PublicIPs, firstNonEmpty(str(ac, "nat_ip"), knownAfterApply))
		}
	}
	a.Facets.NetworkTags = strs(r.after, "tags")
}

func (m *tfMapper) googleBucket(r *tfResource, a *asset.Asset) {
	a.Kind = asset.KindBucket
	b := m.bucket(a)
	b.pap = str(r.after, "public_access_prevention")
}

func (m *tfMapper) googleProjectIAM(r *tfResource, a *asset.Asset) {
	a.Kind = asset.KindIAMPolicy
	a.Name = firstNonEmpty(str(r.after, "project"), r.project, r.name)
	switch r.typ {
	case "google_project_iam_audit_config":
		var types []string
		for _, c := range blocks(r.after, "audit_log_config") {
			types = append(types, str(c, "log_type"))
		}
		sort.Strings(types)
		a.Facets.AuditConfigs = []asset.AuditConfig{{Service: str(r.after, "service"), LogTypes: types}}
	case "google_project_iam_policy":
		var pol GCPIAMPolicy
		if json.Unmarshal([]byte(str(r.after, "policy_data")), &pol) == nil {
			a.Facets.Bindings, a.Facets.AuditConfigs = pol.facets()
		}
	default:
		members := strs(r.after, "members")
		if mbr := str(r.after, "member"); mbr != "" {
			members = append(members, mbr)
		}
		a.Facets.Bindings = []asset.Binding{{Role: str(r.after, "role"), Members: members}}
	}
}
