package inventory

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/vigil-ir/vigil/engine/asset"
)

// knownAfterApply stands for a value Terraform will only know at apply, in
// facets that hold values (a public IP that will certainly exist).
const knownAfterApply = "(known after apply)"

// tfMapper turns planned resources into assets. Resources are kept by
// instance (aws_s3_bucket.b[1]), never merged by block: what a helper
// resource does applies to the one instance it targets.
type tfMapper struct {
	p      *tfPlan
	stats  *PlanStats
	byAddr map[string]*tfResource   // by full address
	blocks map[string][]*tfResource // instances by address without keys
	// buckets by the bucket asset's id (the full address), and by name
	buckets       map[string]*bucketState
	bucketsByName map[string][]*bucketState
	// sgWithRules are the security group instances (address + "\x00" +
	// direction) that standalone rule resources add to.
	sgWithRules map[string]bool
	// accountBlocks are the account-wide S3 public access blocks by
	// provider configuration; lostAccountBlocks the deleted ones.
	accountBlocks     map[string]*tfResource
	lostAccountBlocks map[string]*tfResource
	// forced are unchanged resources that a changed helper makes judged
	// (a deleted public access block, a new Elastic IP); judgedDeletion
	// the deletions judged on what they protected.
	forced         map[*tfResource]bool
	judgedDeletion map[*tfResource]bool
	notes          map[*tfResource]*PlanNote
}

func mapResources(p *tfPlan, rs []*tfResource, stats *PlanStats) ([]*asset.Asset, error) {
	m := &tfMapper{p: p, stats: stats, byAddr: map[string]*tfResource{}, blocks: map[string][]*tfResource{},
		buckets: map[string]*bucketState{}, bucketsByName: map[string][]*bucketState{}, sgWithRules: map[string]bool{},
		accountBlocks: map[string]*tfResource{}, lostAccountBlocks: map[string]*tfResource{},
		forced: map[*tfResource]bool{}, judgedDeletion: map[*tfResource]bool{}, notes: map[*tfResource]*PlanNote{}}
	for _, r := range rs {
		m.byAddr[r.addr] = r
		k := stripIndex(r.addr)
		m.blocks[k] = append(m.blocks[k], r)
	}
	for _, r := range rs {
		switch r.typ {
		case "aws_security_group_rule", "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule":
			for _, sg := range m.targets(r, "security_group_id") {
				m.sgWithRules[sg.addr+"\x00"+ruleDirection(r)] = true
			}
		case "aws_s3_account_public_access_block":
			key := providerKey(r)
			switch {
			case key == "":
			case r.deleted:
				m.lostAccountBlocks[key] = r
			default:
				m.accountBlocks[key] = r
			}
		}
	}
	var mapped, helpers, links []*tfResource
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
		case "aws_network_interface":
			a.Kind = asset.KindNetworkInterface
			if s := str(r.after, "subnet_id"); s != "" {
				a.Facets.Subnets = []string{s}
			}
			a.Facets.SecurityGroups = strs(r.after, "security_groups")
			a.Facets.PrivateIPs = strs(r.after, "private_ips")
		case "aws_eip", "aws_eip_association":
			// An Elastic IP is an address of its own (as in the live
			// inventory) and a public IP of what it is associated with.
			a.Kind = "address"
			if r.typ == "aws_eip" {
				a.Facets.PublicIPs = []string{firstNonEmpty(str(r.after, "public_ip"), knownAfterApply)}
			}
			links = append(links, r)
		case "aws_network_interface_attachment":
			a.Kind = asset.KindNetworkInterface
			links = append(links, r)
		case "aws_s3_account_public_access_block":
			a.Kind = "public_access_block"
			a.Facets.PublicAccessBlock = publicAccessBlock(r)
			if r.deleted {
				helpers = append(helpers, r) // judged on the buckets it protected
				continue
			}
		case "aws_organizations_account":
			a.Kind = asset.KindAccount
			a.Scope = str(r.after, "id")
		case "aws_s3_bucket":
			m.awsBucket(r, a)
		case "aws_s3_bucket_public_access_block", "aws_s3_bucket_policy", "aws_s3_bucket_acl",
			"google_storage_bucket_iam_member", "google_storage_bucket_iam_binding", "google_storage_bucket_iam_policy",
			"google_storage_bucket_acl", "google_storage_bucket_access_control",
			"google_storage_default_object_acl", "google_storage_default_object_access_control":
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
			a.Facets.Network = m.googleNetworkRef(r, "network", r.after, "")
			if c := str(r.after, "ip_cidr_range"); c != "" {
				a.Facets.CIDRs = []string{c}
			}
		case "google_compute_address", "google_compute_global_address":
			a.Kind = "address"
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
		mapped = append(mapped, r)
	}
	// attachments last: they carry the addresses the others gave interfaces
	slices.SortStableFunc(links, func(a, b *tfResource) int {
		return boolInt(a.typ == "aws_network_interface_attachment") - boolInt(b.typ == "aws_network_interface_attachment")
	})
	for _, l := range links {
		m.link(l)
	}
	var stand []*asset.Asset
	for _, h := range helpers {
		a, err := m.bucketHelper(h)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.addr, err)
		}
		if a != nil {
			stand = append(stand, a)
		}
	}
	for _, b := range m.buckets {
		m.settleBucket(b)
	}
	merged := m.settleMore(mapped) // tfmore.go
	var out []*asset.Asset
	for _, r := range mapped {
		if merged[r] { // judged in its ACL
			if r.judged {
				m.stats.Actions[r.action]++
			}
			continue
		}
		if !r.judged && !m.forced[r] {
			continue // context for the resources that change
		}
		if r.asset.Kind == asset.KindOther {
			m.stats.Unmapped[r.typ]++
		}
		if r.judged {
			m.stats.Actions[r.action]++
		}
		out = append(out, r.asset)
	}
	// A helper merged into its bucket is judged with it, and counted.
	for _, h := range helpers {
		switch {
		case h.judged:
			m.stats.Actions[h.action]++
		case h.deleted && m.judgedDeletion[h]:
			m.stats.Actions["delete"]++
		case h.deleted:
			m.stats.Deleted++
		}
	}
	out = append(out, stand...)
	for _, r := range rs {
		if n := m.notes[r]; n != nil && (r.judged || m.forced[r]) {
			m.stats.Notes = append(m.stats.Notes, *n)
		}
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

// providerKey names the provider configuration a resource uses: resources
// with the same key act in the same account. Terraform 0.13+ writes the
// key of the configuration a module's resources inherit; older plans write
// "module:aws" for every module, which says nothing about which account.
func providerKey(r *tfResource) string {
	if r.cfg == nil {
		return ""
	}
	return r.cfg.ProviderConfigKey
}

// expression returns the configuration expression of an argument; nested
// is a block name when the argument is inside a nested block (every
// instance of the block is read).
func (r *tfResource) expressions(arg, nested string) []tfExpression {
	if r.cfg == nil {
		return nil
	}
	var out []tfExpression
	if nested == "" {
		var e tfExpression
		if raw, ok := r.cfg.Expressions[arg]; ok && json.Unmarshal(raw, &e) == nil {
			out = append(out, e)
		}
		return out
	}
	var bs []map[string]json.RawMessage
	if raw, ok := r.cfg.Expressions[nested]; ok && json.Unmarshal(raw, &bs) == nil {
		for _, b := range bs {
			var e tfExpression
			if raw, ok := b[arg]; ok && json.Unmarshal(raw, &e) == nil {
				out = append(out, e)
			}
		}
	}
	return out
}

// refs resolves the references of one argument of a resource to the
// managed resource blocks they name (addresses without instance keys).
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
	var out []string
	for _, e := range r.expressions(arg, "") {
		out = append(out, m.p.resolveRefs(r.cfg.module, e.References)...)
	}
	return out
}

// targets resolves an argument (nested: in every instance of that nested
// block) to the planned resource instances it names. Where a reference
// names a count or for_each block without an instance, and the argument
// picks one by count.index or each (bucket = aws_s3_bucket.b[count.index].id,
// or for_each = aws_s3_bucket.b with bucket = each.value.id), the instance
// with the resource's own key is the one. Otherwise every instance is a
// target: callers that need one treat several as "cannot tell".
func (m *tfMapper) targets(r *tfResource, arg string, nested ...string) []*tfResource {
	block := ""
	if len(nested) > 0 {
		block = nested[0]
	}
	var out []*tfResource
	seen := map[*tfResource]bool{}
	for _, e := range r.expressions(arg, block) {
		refs := e.References
		viaEach := false
		if len(m.p.resolveTargets(r, refs)) == 0 && iterates(refs) && r.cfg.ForEachExpression != nil {
			refs, viaEach = r.cfg.ForEachExpression.References, true // each.value.id
		}
		var found []*tfResource
		for _, t := range m.p.resolveTargets(r, refs) {
			for _, c := range m.blocks[t.block] {
				if !t.mods.matches(parseInstAddr(c.addr).modules) || (t.hasKey && (!c.inst.hasKey || c.inst.key != t.key)) {
					continue
				}
				found = append(found, c)
			}
		}
		if len(found) > 1 && (viaEach || iterates(refs)) && r.inst.hasKey {
			var same []*tfResource
			for _, c := range found {
				if c.inst.hasKey && c.inst.key == r.inst.key {
					same = append(same, c)
				}
			}
			found = same
		}
		for _, c := range found {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
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
	return r.src.dynamicBlock(r.addr, arg)
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

// blockUnknownMatters is unknownMatters for a nested block list (ingress,
// grant) that may be written as a dynamic block. The plan's configuration
// section leaves dynamic blocks out, so only the .tf source can tell one
// from an unset list; when vigil has not read the resource's block, the
// list is judged as unset and the mapper keeps a note saying so.
func (m *tfMapper) blockUnknownMatters(r *tfResource, attr string) bool {
	if !isUnknown(r.unknown, attr) {
		return false
	}
	if r.cfg == nil {
		return true
	}
	if _, ok := r.cfg.Expressions[attr]; ok {
		return true
	}
	seen, dynamic := r.src.readBlock(r.addr, attr)
	if seen {
		return dynamic
	}
	n := m.notes[r]
	if n == nil {
		n = &PlanNote{Offset: r.origin.Offset, Address: r.addr, Why: r.src.unseenWhy(r.addr)}
		m.notes[r] = n
	}
	if !slices.Contains(n.Attrs, attr) {
		n.Attrs = append(n.Attrs, attr)
	}
	return false
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

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tristate is a verdict the plan may leave open: no, yes or unknown.
type tristate int

const (
	tNo tristate = iota
	tYes
	tUnknown
)

// --- AWS networking ---

// ruleDirection is "ingress" or "egress" for a standalone rule resource.
func ruleDirection(r *tfResource) string {
	switch {
	case r.typ == "aws_vpc_security_group_egress_rule", r.typ == "aws_security_group_rule" && str(r.after, "type") == "egress":
		return "egress"
	}
	return "ingress"
}

// awsSecurityGroup maps aws_security_group and aws_default_security_group,
// which share the rules schema.
func (m *tfMapper) awsSecurityGroup(r *tfResource, a *asset.Asset) error {
	a.Kind = asset.KindFirewall
	a.Facets.Network = str(r.after, "vpc_id")
	if r.typ == "aws_default_security_group" {
		a.Name = firstNonEmpty(str(r.after, "name"), "default")
	}
	for _, dir := range []string{"ingress", "egress"} {
		dst := &a.Facets.Ingress
		if dir == "egress" {
			dst = &a.Facets.Egress
		}
		bs := blocks(r.after, dir)
		for i, b := range bs {
			*dst = append(*dst, awsTFRule(b, subtree(r.unknown, dir, i), "cidr_blocks", "ipv6_cidr_blocks", "protocol", "from_port", "to_port"))
		}
		if len(bs) > 0 || !m.blockUnknownMatters(r, dir) {
			// Left unset, the group has no in-line rules (tfDefaults);
			// standalone rule resources that add to it are judged themselves.
			continue
		}
		// The whole rule list is unknown and may be configured (a dynamic
		// block over something only apply knows): its rules are unknown.
		// Only without a configuration section at all does a standalone
		// rule of the same direction say that in-line rules are not used
		// (the provider documents that the two do not mix).
		if r.cfg == nil && m.sgWithRules[r.addr+"\x00"+dir] {
			continue
		}
		*dst = append(*dst, asset.Rule{Sources: []string{}, Ports: []asset.PortRange{}, Protocol: "all", Action: "allow", Enabled: true,
			Unknown: []string{"sources", "ports", "protocol"}})
	}
	return nil
}

func (m *tfMapper) awsSecurityGroupRule(r *tfResource, a *asset.Asset) error {
	a.Kind = asset.KindFirewall
	a.Facets.Parent = m.parentSG(r)
	rule := awsTFRule(r.after, r.unknown, "cidr_blocks", "ipv6_cidr_blocks", "protocol", "from_port", "to_port")
	rule.Unknown = r.keepConfigured(rule.Unknown, "cidr_blocks", "ipv6_cidr_blocks", "protocol", "from_port", "to_port")
	if ruleDirection(r) == "egress" {
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
	if ruleDirection(r) == "egress" {
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

// parentSG names the security group a standalone rule belongs to: the
// instance in the plan the configuration references, else its id.
func (m *tfMapper) parentSG(r *tfResource) string {
	if ts := m.targets(r, "security_group_id"); len(ts) == 1 {
		return ts[0].addr
	}
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

// subnetGivesPublicIP says whether an instance that does not set
// associate_public_ip_address gets a public IP from its subnet: a subnet
// planned here gives one only with map_public_ip_on_launch (default false);
// no subnet at all means the default VPC's default subnet, which does;
// an existing subnet named by id is not in the plan.
func (m *tfMapper) subnetGivesPublicIP(r *tfResource) tristate {
	if len(blocks(r.after, "network_interface")) > 0 {
		// Attached interfaces get no public IP at launch; an Elastic IP on
		// one is linked to the instance (link).
		return tNo
	}
	var subnets []*tfResource
	for _, t := range m.targets(r, "subnet_id") {
		if t.typ == "aws_subnet" {
			subnets = append(subnets, t)
		}
	}
	if len(subnets) > 0 {
		// one instance of a count subnet, or several that must agree
		verdict := tristate(-1)
		for _, t := range subnets {
			v := tNo
			switch {
			case t.unknownMatters("map_public_ip_on_launch"):
				v = tUnknown
			case t.boolOr("map_public_ip_on_launch"):
				v = tYes
			}
			if verdict != -1 && verdict != v {
				return tUnknown
			}
			verdict = v
		}
		return verdict
	}
	if !r.configured("subnet_id") && str(r.after, "subnet_id") == "" {
		if d, ok := defaultFor("aws_instance", "subnet_id"); ok && d.Value == true {
			return tYes
		}
	}
	return tUnknown
}

// link applies an Elastic IP, its association or an interface attachment
// to the instance or network interface it names. A new address on an
// unchanged instance makes that instance judged.
func (m *tfMapper) link(r *tfResource) {
	if r.deleted {
		return
	}
	eip := r
	var instances, enis []*tfResource
	switch r.typ {
	case "aws_eip":
		instances = m.linked(r, "instance", "aws_instance")
		enis = m.linked(r, "network_interface", "aws_network_interface")
	case "aws_eip_association":
		instances = m.linked(r, "instance_id", "aws_instance")
		enis = m.linked(r, "network_interface_id", "aws_network_interface")
		if ts := m.targetsOfType(r, "allocation_id", "", "aws_eip"); len(ts) == 1 {
			eip = ts[0]
		}
	case "aws_network_interface_attachment":
		// the interface's addresses are the instance's
		for _, eni := range m.targetsOfType(r, "network_interface_id", "", "aws_network_interface") {
			for _, in := range m.targetsOfType(r, "instance_id", "", "aws_instance") {
				m.addPublicIPs(in, r, eni.asset.Facets.PublicIPs...)
			}
		}
		return
	}
	ip := firstNonEmpty(str(eip.after, "public_ip"), knownAfterApply)
	if len(instances) == 1 {
		m.addPublicIPs(instances[0], r, ip)
	}
	if len(enis) == 1 {
		eni := enis[0]
		eni.asset.Facets.PublicIPs = appendUnique(eni.asset.Facets.PublicIPs, ip)
		// instances that attach the interface in a network_interface block
		for _, insts := range m.blocks {
			for _, in := range insts {
				if in.typ == "aws_instance" && slices.Contains(m.targets(in, "network_interface_id", "network_interface"), eni) {
					m.addPublicIPs(in, r, ip)
				}
			}
		}
	}
}

// linked are the resources of a type an argument names: by reference, or
// by the id the plan knows (an existing instance, i-0abc...).
func (m *tfMapper) linked(r *tfResource, arg, typ string) []*tfResource {
	if ts := m.targetsOfType(r, arg, "", typ); len(ts) > 0 {
		return ts
	}
	id := str(r.after, arg)
	if id == "" {
		return nil
	}
	var out []*tfResource
	for _, rs := range m.blocks {
		for _, t := range rs {
			if t.typ == typ && str(t.after, "id") == id {
				out = append(out, t)
			}
		}
	}
	return out
}

// addPublicIPs gives an instance public IPs from a linking resource.
func (m *tfMapper) addPublicIPs(in, by *tfResource, ips ...string) {
	if len(ips) == 0 {
		return
	}
	f := &in.asset.Facets
	for _, ip := range ips {
		f.PublicIPs = appendUnique(f.PublicIPs, ip)
	}
	f.Unknown = slices.DeleteFunc(f.Unknown, func(u string) bool { return u == "public_ips" })
	if !in.judged && by.judged {
		m.forced[in] = true
	}
}

// targetsOfType is targets restricted to resource types.
func (m *tfMapper) targetsOfType(r *tfResource, arg, nested string, types ...string) []*tfResource {
	var out []*tfResource
	for _, t := range m.targets(r, arg, nested) {
		if slices.Contains(types, t.typ) {
			out = append(out, t)
		}
	}
	return out
}
