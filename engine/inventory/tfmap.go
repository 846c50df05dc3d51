package inventory

import (
	"encoding/json"
	"fmt"
	"slices"
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
	// judged is false when the bucket is in the plan unchanged: then the
	// helpers that change stand for it (stand), each an asset of its own.
	judged bool
	stand  []*asset.Asset
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
		case "aws_security_group", "aws_default_security_group":
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
			"google_storage_bucket_iam_member", "google_storage_bucket_iam_binding", "google_storage_bucket_iam_policy",
			"google_storage_bucket_acl", "google_storage_bucket_access_control":
			helpers = append(helpers, r)
			continue
		case "aws_cloudtrail":
			a.Kind = asset.KindTrail
			a.Facets.MultiRegion = asset.Bool(r.after["is_multi_region_trail"] == true)
			a.Facets.Organization = asset.Bool(r.after["is_organization_trail"] == true)
			if r.unknownMatters("enable_logging") {
				a.Facets.Unknown = append(a.Facets.Unknown, "logging")
			} else {
				a.Facets.Logging = asset.Bool(r.boolOr("enable_logging"))
			}
		case "aws_guardduty_detector":
			a.Kind = asset.KindDetector
			a.Facets.Enabled = asset.Bool(r.boolOr("enable"))
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
			}
		}
		m.moreFacets(r, a) // tfmore.go: facets of issue 19 on the types above
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.addr, err)
		}
		if !r.judged {
			continue // context for the resources that change
		}
		if a.Kind == asset.KindOther {
			m.stats.Unmapped[r.typ]++
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

// refs resolves the references of one argument of a resource to the
// managed resources they name.
func (m *tfMapper) refs(r *tfResource, arg string) []string {
	var out []string
	for _, a := range m.allRefs(r, arg) {
		if !isDataAddr(a) {
			out = append(out, a)
		}
	}
	return out
}

// dataRefs resolves the references of one argument to data sources.
func (m *tfMapper) dataRefs(r *tfResource, arg string) []string {
	var out []string
	for _, a := range m.allRefs(r, arg) {
		if isDataAddr(a) {
			out = append(out, a)
		}
	}
	return out
}

func (m *tfMapper) allRefs(r *tfResource, arg string) []string {
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

// isDataAddr reports whether a resource address (without instance keys)
// names a data source: data.T.N or module.M.data.T.N.
func isDataAddr(addr string) bool {
	return strings.HasPrefix(addr, "data.") || strings.Contains(addr, ".data.")
}

// configured reports whether the configuration sets an argument or nested
// block: configuration → expressions has a constant or references for it,
// or the .tf source has a dynamic block of that name.
func (r *tfResource) configured(arg string) bool {
	if r.cfg != nil {
		if _, ok := r.cfg.Expressions[arg]; ok {
			return true
		}
	}
	return r.src != nil && r.src.dynamicBlock(r.addr, arg)
}

// unknownMatters reports whether an attribute that is unknown until apply
// makes a finding depend on it. A value the configuration sets from
// something only apply knows does. An Optional+Computed attribute the
// configuration leaves unset does not: the provider computes it, and its
// documented default (tfDefaults) is what the resource gets. A plan without
// its configuration cannot tell the two apart, so there unknown stays
// unknown.
func (r *tfResource) unknownMatters(attr string) bool {
	if !isUnknown(r.unknown, attr) {
		return false
	}
	return r.cfg == nil || r.configured(attr)
}

// boolOr is a boolean attribute, or its documented default when unset.
func (r *tfResource) boolOr(attr string) bool {
	if b, ok := r.after[attr].(bool); ok {
		return b
	}
	if d, ok := defaultFor(r.typ, attr); ok {
		b, _ := d.Value.(bool)
		return b
	}
	return false
}

// --- AWS ---

// awsSecurityGroup maps aws_security_group and aws_default_security_group,
// which share the rules schema.
func (m *tfMapper) awsSecurityGroup(r *tfResource, a *asset.Asset) error {
	a.Kind = asset.KindFirewall
	a.Facets.Network = str(r.after, "vpc_id")
	if r.typ == "aws_default_security_group" {
		a.Name = firstNonEmpty(str(r.after, "name"), "default")
	}
	for dir, dst := range map[string]*[]asset.Rule{"ingress": &a.Facets.Ingress, "egress": &a.Facets.Egress} {
		bs := blocks(r.after, dir)
		for i, b := range bs {
			*dst = append(*dst, awsTFRule(b, subtree(r.unknown, dir, i), "cidr_blocks", "ipv6_cidr_blocks", "protocol", "from_port", "to_port"))
		}
		// The whole rule list is unknown. Left unset, the group has no
		// in-line rules (tfDefaults); standalone rule resources that add to
		// it are judged themselves. Set from something only apply knows (a
		// dynamic block over an unknown collection), its rules are unknown.
		if len(bs) == 0 && r.unknownMatters(dir) && !m.sgWithRules[stripIndex(r.addr)] {
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
	rule.Unknown = r.keepConfigured(rule.Unknown, "cidr_blocks", "ipv6_cidr_blocks", "protocol", "from_port", "to_port")
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
	rule.Unknown = r.keepConfigured(rule.Unknown, "cidr_ipv4", "cidr_ipv6", "ip_protocol", "from_port", "to_port")
	if r.typ == "aws_vpc_security_group_egress_rule" {
		a.Facets.Egress = []asset.Rule{rule}
	} else {
		a.Facets.Ingress = []asset.Rule{rule}
	}
	return nil
}

// keepConfigured drops a standalone rule's unknown facets ("sources",
// "protocol", "ports") whose attributes (v4, v6, protocol, from, to) the
// configuration does not set: those are not computed from anything.
func (r *tfResource) keepConfigured(unknown []string, v4, v6, proto, from, to string) []string {
	if r.cfg == nil || len(unknown) == 0 {
		return unknown
	}
	attrs := map[string][]string{"sources": {v4, v6}, "protocol": {proto}, "ports": {from, to}}
	var out []string
	for _, u := range unknown {
		if slices.ContainsFunc(attrs[u], func(a string) bool { return r.configured(a) && (isUnknown(r.unknown, a) || anyUnknown(r.unknown, a)) }) {
			out = append(out, u)
		}
	}
	return out
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
		case r.unknownMatters("associate_public_ip_address"):
			a.Facets.Unknown = append(a.Facets.Unknown, "public_ips")
		default:
			// Not set: the subnet decides (tfDefaults).
			switch m.subnetGivesPublicIP(r) {
			case tYes:
				a.Facets.PublicIPs = []string{knownAfterApply}
			case tUnknown:
				a.Facets.Unknown = append(a.Facets.Unknown, "public_ips")
			}
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

// tristate is a verdict the plan may leave open: no, yes or unknown.
type tristate int

const (
	tNo tristate = iota
	tYes
	tUnknown
)

// subnetGivesPublicIP says whether an instance that does not set
// associate_public_ip_address gets a public IP from its subnet: a subnet
// planned here gives one only with map_public_ip_on_launch (default false);
// no subnet at all means the default VPC's default subnet, which does;
// an existing subnet named by id is not in the plan.
func (m *tfMapper) subnetGivesPublicIP(r *tfResource) tristate {
	if len(blocks(r.after, "network_interface")) > 0 {
		return tNo // the interfaces are separate resources, judged themselves
	}
	for _, ref := range m.refs(r, "subnet_id") {
		if t, ok := m.byAddr[ref]; ok && t.typ == "aws_subnet" {
			if t.unknownMatters("map_public_ip_on_launch") {
				return tUnknown
			}
			if t.boolOr("map_public_ip_on_launch") {
				return tYes
			}
			return tNo
		}
	}
	if !r.configured("subnet_id") && str(r.after, "subnet_id") == "" {
		if d, ok := defaultFor("aws_instance", "subnet_id"); ok && d.Value == true {
			return tYes
		}
	}
	return tUnknown
}

func (m *tfMapper) bucket(a *asset.Asset) *bucketState {
	key := stripIndex(a.ID)
	b, ok := m.buckets[key]
	if !ok {
		b = &bucketState{a: a, judged: true}
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
	b.judged = r.judged
	// acl, grant and policy are Optional+Computed in AWS provider v4+:
	// unknown on every new bucket. Unset, the bucket is private and has no
	// policy (tfDefaults); the aws_s3_bucket_acl and _policy resources that
	// set them are judged themselves.
	if who, ok := cannedPublicACLs[str(r.after, "acl")]; ok {
		b.exposures = append(b.exposures, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("canned ACL %s grants %s", str(r.after, "acl"), who)})
	} else if r.unknownMatters("acl") {
		b.unknown = true
	}
	for i, g := range blocks(r.after, "grant") {
		if who := publicGrantee(json.RawMessage(str(g, "uri"))); who != "" {
			b.exposures = append(b.exposures, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("grant of %s to %s", strings.Join(strs(g, "permissions"), ", "), who)})
		} else if st := subtree(r.unknown, "grant", i); isUnknown(st, "uri") {
			b.unknown = true
		}
	}
	if len(blocks(r.after, "grant")) == 0 && r.unknownMatters("grant") {
		b.unknown = true
	}
	m.awsPolicy(b, r, "policy")
}

// awsPolicy judges a bucket policy document. When the document is known
// only after apply but is the JSON of an aws_iam_policy_document data
// source, the statements the plan knows decide.
func (m *tfMapper) awsPolicy(b *bucketState, r *tfResource, key string) {
	if isUnknown(r.unknown, key) {
		if !r.unknownMatters(key) {
			return
		}
		switch public, from := m.policyFromData(r, key); public {
		case tYes:
			b.exposures = append(b.exposures, asset.Exposure{Via: "policy", Detail: fmt.Sprintf(`bucket policy (%s, from %s) allows Principal "*"`, r.addr, from)})
		case tUnknown:
			b.unknown = true
		}
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

// policyFromData judges a policy argument that references the json of
// aws_iam_policy_document data sources: public when an Allow statement
// names every principal without a restricting condition; not public when
// every statement's principals are known and none is; unknown otherwise.
func (m *tfMapper) policyFromData(r *tfResource, key string) (tristate, string) {
	refs := m.dataRefs(r, key)
	if len(refs) == 0 || len(m.refs(r, key)) > 0 {
		return tUnknown, ""
	}
	verdict := tNo
	for _, ref := range refs {
		ds := m.p.data[ref]
		if len(ds) == 0 || !strings.Contains(ref, "aws_iam_policy_document.") {
			return tUnknown, ""
		}
		// With count or for_each, which instance a reference picks is not
		// in the plan: the instances must agree.
		v := policyDocumentPublic(ds[0])
		for _, d := range ds[1:] {
			if policyDocumentPublic(d) != v {
				v = tUnknown
			}
		}
		switch v {
		case tYes:
			return tYes, ref
		case tUnknown:
			verdict = tUnknown
		}
	}
	return verdict, refs[0]
}

// policyDocumentPublic reads an aws_iam_policy_document's statement blocks.
func policyDocumentPublic(d *tfData) tristate {
	if isUnknown(d.unknown, "statement") || isUnknown(d.unknown, "source_policy_documents") || isUnknown(d.unknown, "override_policy_documents") ||
		len(strs(d.after, "source_policy_documents")) > 0 || len(strs(d.after, "override_policy_documents")) > 0 {
		return tUnknown
	}
	verdict := tNo
	for i, st := range blocks(d.after, "statement") {
		su := subtree(d.unknown, "statement", i)
		effect := firstNonEmpty(str(st, "effect"), "Allow")
		if isUnknown(su, "effect") {
			effect = ""
		}
		if strings.EqualFold(effect, "Deny") {
			continue
		}
		if isUnknown(su, "principals") || anyUnknown(su, "principals") {
			verdict = tUnknown
			continue
		}
		everyoneHere := false
		for j, p := range blocks(st, "principals") {
			pu := subtree(su, "principals", j)
			if isUnknown(pu, "type") || isUnknown(pu, "identifiers") || anyUnknown(pu, "identifiers") {
				verdict = tUnknown
				continue
			}
			t := str(p, "type")
			if t == "*" || (t == "AWS" && slices.Contains(strs(p, "identifiers"), "*")) {
				everyoneHere = true
			}
		}
		if !everyoneHere {
			continue
		}
		if isUnknown(su, "condition") || anyUnknown(su, "condition") {
			verdict = tUnknown
			continue
		}
		restricted := false
		for _, c := range blocks(st, "condition") {
			if slices.Contains(restrictingConditions, strings.ToLower(str(c, "variable"))) {
				restricted = true
			}
		}
		if effect == "" {
			verdict = tUnknown
		} else if !restricted {
			return tYes
		}
	}
	return verdict
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
	switch {
	case b == nil && !r.judged:
		return nil, nil // an unchanged helper of a bucket not in the plan
	case b == nil:
		own = r.asset
		own.Kind = asset.KindBucket
		own.Name = firstNonEmpty(name, r.name)
		b = m.bucket(own)
	case !b.judged && r.judged:
		// The bucket is unchanged; what this helper changes is judged on
		// the helper, with the bucket's name and labels.
		own = r.asset
		own.Kind = asset.KindBucket
		own.Name = b.a.Name
		own.Labels = b.a.Labels
		own.Region = firstNonEmpty(own.Region, b.a.Region)
		own.Scope = firstNonEmpty(own.Scope, b.a.Scope)
		b.stand = append(b.stand, own)
	}
	if !r.judged {
		own = nil
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
		// access_control_policy is computed from acl when only acl is
		// set (and the other way round): only a configured one counts.
		if r.unknownMatters("acl") || (r.unknownMatters("access_control_policy") && !r.configured("acl")) {
			b.unknown = true
		}
	case "google_storage_bucket_acl":
		// predefined_acl or role_entity ("READER:allUsers"), not both;
		// role_entity is computed from predefined_acl.
		if who, ok := gcsPublicPredefinedACLs[str(r.after, "predefined_acl")]; ok {
			b.exposures = append(b.exposures, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("%s sets predefined ACL %s (%s)", r.addr, str(r.after, "predefined_acl"), who)})
		}
		for _, re := range strs(r.after, "role_entity") {
			role, entity, _ := strings.Cut(re, ":")
			if everyone(entity) {
				b.exposures = append(b.exposures, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("%s grants %s to %s", r.addr, role, entity)})
			}
		}
		if r.unknownMatters("predefined_acl") || ((r.unknownMatters("role_entity") || anyUnknown(r.unknown, "role_entity")) && r.configured("role_entity")) {
			b.unknown = true
		}
	case "google_storage_bucket_access_control":
		if e := str(r.after, "entity"); everyone(e) {
			b.exposures = append(b.exposures, asset.Exposure{Via: "acl", Detail: fmt.Sprintf("%s grants %s to %s", r.addr, str(r.after, "role"), e)})
		} else if r.unknownMatters("entity") {
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
		if r.unknownMatters("member") || (r.configured("members") && (isUnknown(r.unknown, "members") || anyUnknown(r.unknown, "members"))) {
			b.unknown = true
		}
		if r.unknownMatters("policy_data") {
			switch v, from := m.iamPolicyFromData(r); v {
			case tYes:
				b.exposures = append(b.exposures, asset.Exposure{Via: "iam", Detail: fmt.Sprintf("%s (policy from %s) grants a role to allUsers or allAuthenticatedUsers", r.addr, from)})
			case tUnknown:
				b.unknown = true
			}
		}
	}
	return own, nil
}

// gcsPublicPredefinedACLs are the predefined bucket ACLs that open a
// bucket to everyone (https://cloud.google.com/storage/docs/access-control/lists#predefined-acl).
var gcsPublicPredefinedACLs = map[string]string{"publicRead": "allUsers", "publicReadWrite": "allUsers", "authenticatedRead": "allAuthenticatedUsers"}

// iamPolicyFromData judges a policy_data that is the policy_data of a
// google_iam_policy data source, from the bindings the plan knows.
func (m *tfMapper) iamPolicyFromData(r *tfResource) (tristate, string) {
	refs := m.dataRefs(r, "policy_data")
	if len(refs) != 1 || len(m.refs(r, "policy_data")) > 0 || !strings.Contains(refs[0], "google_iam_policy.") {
		return tUnknown, ""
	}
	ds := m.p.data[refs[0]]
	if len(ds) != 1 || isUnknown(ds[0].unknown, "binding") {
		return tUnknown, "" // none, or instances a reference cannot tell apart
	}
	d := ds[0]
	verdict := tNo
	for i, bd := range blocks(d.after, "binding") {
		if bu := subtree(d.unknown, "binding", i); isUnknown(bu, "members") || anyUnknown(bu, "members") {
			verdict = tUnknown
		}
		if slices.ContainsFunc(strs(bd, "members"), everyone) {
			return tYes, refs[0]
		}
	}
	return verdict, refs[0]
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
	blocked := strings.EqualFold(b.pap, "enforced") || (b.pab != nil && b.pab.IgnorePublicACLs && b.pab.RestrictPublicBuckets)
	for _, a := range append([]*asset.Asset{b.a}, b.stand...) {
		a.Facets.PublicAccessBlock = b.pab
		a.Facets.PublicVia = via
		a.Facets.Public = asset.Bool(len(via) > 0)
		if b.unknown && len(via) == 0 && !blocked {
			a.Facets.Public = nil
			a.Facets.Unknown = appendUnique(a.Facets.Unknown, "public")
		}
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
	b.judged = r.judged
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
