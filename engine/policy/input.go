package policy

import (
	"bytes"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/vigil-ir/vigil/engine/asset"
)

// Object keys of the input, made once: InputValue runs for every asset.
var (
	kAction                = ast.StringTerm("action")
	kAddress               = ast.StringTerm("address")
	kAncestors             = ast.StringTerm("ancestors")
	kAsset                 = ast.StringTerm("asset")
	kAuditConfigs          = ast.StringTerm("audit_configs")
	kBindings              = ast.StringTerm("bindings")
	kBlockPublicAcls       = ast.StringTerm("block_public_acls")
	kBlockPublicPolicy     = ast.StringTerm("block_public_policy")
	kChange                = ast.StringTerm("change")
	kCidrs                 = ast.StringTerm("cidrs")
	kCreatedAt             = ast.StringTerm("created_at")
	kData                  = ast.StringTerm("data")
	kDefault               = ast.StringTerm("default")
	kDetail                = ast.StringTerm("detail")
	kDisks                 = ast.StringTerm("disks")
	kEgress                = ast.StringTerm("egress")
	kEnabled               = ast.StringTerm("enabled")
	kFacets                = ast.StringTerm("facets")
	kFrom                  = ast.StringTerm("from")
	kId                    = ast.StringTerm("id")
	kIgnorePublicAcls      = ast.StringTerm("ignore_public_acls")
	kIngress               = ast.StringTerm("ingress")
	kKind                  = ast.StringTerm("kind")
	kLabels                = ast.StringTerm("labels")
	kLastUsed              = ast.StringTerm("last_used")
	kLogTypes              = ast.StringTerm("log_types")
	kExempted              = ast.StringTerm("exempted")
	kLogging               = ast.StringTerm("logging")
	kMembers               = ast.StringTerm("members")
	kMultiRegion           = ast.StringTerm("multi_region")
	kName                  = ast.StringTerm("name")
	kNetwork               = ast.StringTerm("network")
	kNetworkTags           = ast.StringTerm("network_tags")
	kNetworks              = ast.StringTerm("networks")
	kOrganization          = ast.StringTerm("organization")
	kParent                = ast.StringTerm("parent")
	kPorts                 = ast.StringTerm("ports")
	kPriority              = ast.StringTerm("priority")
	kPrivateIps            = ast.StringTerm("private_ips")
	kProjectNumber         = ast.StringTerm("project_number")
	kProtocol              = ast.StringTerm("protocol")
	kProvider              = ast.StringTerm("provider")
	kPublic                = ast.StringTerm("public")
	kPublicAccessBlock     = ast.StringTerm("public_access_block")
	kPublicIps             = ast.StringTerm("public_ips")
	kPublicVia             = ast.StringTerm("public_via")
	kRegion                = ast.StringTerm("region")
	kRestrictPublicBuckets = ast.StringTerm("restrict_public_buckets")
	kRole                  = ast.StringTerm("role")
	kScope                 = ast.StringTerm("scope")
	kSecurityGroups        = ast.StringTerm("security_groups")
	kService               = ast.StringTerm("service")
	kServiceAccounts       = ast.StringTerm("service_accounts")
	kSource                = ast.StringTerm("source")
	kSourceGroups          = ast.StringTerm("source_groups")
	kSourceServiceAccounts = ast.StringTerm("source_service_accounts")
	kSourceTags            = ast.StringTerm("source_tags")
	kSources               = ast.StringTerm("sources")
	kStatus                = ast.StringTerm("status")
	kSubnets               = ast.StringTerm("subnets")
	kSynthesized           = ast.StringTerm("synthesized")
	kTargetServiceAccounts = ast.StringTerm("target_service_accounts")
	kTargetTags            = ast.StringTerm("target_tags")
	kTo                    = ast.StringTerm("to")
	kType                  = ast.StringTerm("type")
	kUnknown               = ast.StringTerm("unknown")
	kUser                  = ast.StringTerm("user")
	kVia                   = ast.StringTerm("via")
	kZone                  = ast.StringTerm("zone")

	kKeyType          = ast.StringTerm("key_type")
	kConsole          = ast.StringTerm("console")
	kMFA              = ast.StringTerm("mfa")
	kActiveKeys       = ast.StringTerm("active_keys")
	kKeys             = ast.StringTerm("keys")
	kMetadata         = ast.StringTerm("metadata")
	kInherited        = ast.StringTerm("inherited")
	kNode             = ast.StringTerm("node")
	kValidation       = ast.StringTerm("validation")
	kLogGroup         = ast.StringTerm("log_group")
	kManagementEvents = ast.StringTerm("management_events")
	kFilter           = ast.StringTerm("filter")
	kMetrics          = ast.StringTerm("metrics")
	kTargets          = ast.StringTerm("targets")
	kDestination      = ast.StringTerm("destination")
	kIncludeChildren  = ast.StringTerm("include_children")
	kResource         = ast.StringTerm("resource")
	kReadOnly         = ast.StringTerm("read_only")
	kVulnerabilities  = ast.StringTerm("vulnerabilities")
	kSeverity         = ast.StringTerm("severity")
	kFixable          = ast.StringTerm("fixable")
	kPackage          = ast.StringTerm("package")
	kFixed            = ast.StringTerm("fixed")
)

// InputValue builds the Rego input {"asset": ...} straight from the Go
// value, without a JSON or map[string]any round trip: this runs once per
// asset and dominates scan time otherwise. labels and facets are always
// present (possibly empty) so policies can refer to them directly. The native
// payload (data) is converted only when a policy reads it.
func InputValue(a *asset.Asset, withData bool) (ast.Value, error) {
	return inputValue(a, withData, fullShape)
}

// inputShape says which parts of the input a query reads (see shapeOf):
// the asset's top-level fields and its facets, as bit sets.
type inputShape struct{ top, facets uint64 }

var fullShape = inputShape{^uint64(0), ^uint64(0)}

// The top-level fields of the input asset, in bit order.
var topKeys = []*ast.Term{kId, kProvider, kType, kKind, kName, kScope, kRegion, kSource, kLabels, kFacets, kChange}

const (
	topID = 1 << iota
	topProvider
	topType
	topKind
	topName
	topScope
	topRegion
	topSource
	topLabels
	topFacets
	topChange
)

func inputValue(a *asset.Asset, withData bool, shape inputShape) (ast.Value, error) {
	obj := ast.NewObjectWithCapacity(13)
	put := func(bit uint64, k, v *ast.Term) {
		if shape.top&bit != 0 {
			obj.Insert(k, v)
		}
	}
	put(topID, kId, ast.StringTerm(a.ID))
	put(topProvider, kProvider, ast.InternedTerm(a.Provider))
	put(topType, kType, ast.StringTerm(a.Type))
	put(topKind, kKind, ast.InternedTerm(a.Kind))
	put(topName, kName, ast.StringTerm(a.Name))
	put(topScope, kScope, ast.StringTerm(a.Scope))
	put(topRegion, kRegion, ast.StringTerm(a.Region))
	put(topSource, kSource, ast.InternedTerm(a.Source))
	if shape.top&topLabels != 0 {
		obj.Insert(kLabels, stringMap(a.Labels))
	}
	if shape.top&topFacets != 0 {
		obj.Insert(kFacets, ast.NewTerm(facetsValue(&a.Facets, shape.facets)))
	}
	if a.Change != nil && shape.top&topChange != 0 {
		ch := ast.NewObjectWithCapacity(3)
		ch.Insert(kAction, ast.StringTerm(a.Change.Action))
		ch.Insert(kAddress, ast.StringTerm(a.Change.Address))
		ch.Insert(kUnknown, stringList(a.Change.Unknown))
		obj.Insert(kChange, ast.NewTerm(ch))
	}
	if withData && len(a.Data) > 0 {
		v, err := ast.ValueFromReader(bytes.NewReader(a.Data))
		if err != nil {
			return nil, fmt.Errorf("convert native payload: %w", err)
		}
		obj.Insert(kData, ast.NewTerm(v))
	}
	in := ast.NewObjectWithCapacity(1)
	in.Insert(kAsset, ast.NewTerm(obj))
	return in, nil
}

// The facet fields, in bit order.
var facetKeys = []*ast.Term{
	kNetwork, kDefault, kCidrs, kIngress, kEgress, kTargetTags, kTargetServiceAccounts, kNetworks,
	kSubnets, kPublicIps, kPrivateIps, kNetworkTags, kSecurityGroups, kDisks, kServiceAccounts, kZone,
	kStatus, kPublic, kPublicVia, kPublicAccessBlock, kBindings, kAuditConfigs, kParent, kAncestors,
	kProjectNumber, kMultiRegion, kLogging, kOrganization, kEnabled, kUser, kCreatedAt, kLastUsed,
	kKeyType, kConsole, kMFA, kActiveKeys, kKeys, kMetadata, kInherited, kValidation, kLogGroup, kManagementEvents, kFilter,
	kMetrics, kTargets, kDestination, kIncludeChildren, kResource, kReadOnly, kVulnerabilities,
	kSynthesized, kUnknown,
}

var facetBits = func() map[string]uint64 {
	m := map[string]uint64{}
	for i, k := range facetKeys {
		m[string(k.Value.(ast.String))] = 1 << i
	}
	return m
}()

// FacetsValue converts facets to a Rego object, field by field, with the JSON
// names of asset.Facets (a test keeps the two in step).
func FacetsValue(f *asset.Facets) ast.Object { return facetsValue(f, ^uint64(0)) }

func facetsValue(f *asset.Facets, want uint64) ast.Object {
	o := ast.NewObject()
	bit := uint64(1)
	// each helper takes the next bit, in facetKeys order
	next := func() bool { b := bit; bit <<= 1; return want&b != 0 }
	str := func(k *ast.Term, v string) {
		if next() && v != "" {
			o.Insert(k, ast.StringTerm(v))
		}
	}
	list := func(k *ast.Term, v []string) {
		if next() && v != nil {
			o.Insert(k, stringList(v))
		}
	}
	boolean := func(k *ast.Term, v *bool) {
		if next() && v != nil {
			o.Insert(k, ast.InternedTerm(*v))
		}
	}
	str(kNetwork, f.Network)
	boolean(kDefault, f.Default)
	list(kCidrs, f.CIDRs)
	if next() && f.Ingress != nil {
		o.Insert(kIngress, rules(f.Ingress))
	}
	if next() && f.Egress != nil {
		o.Insert(kEgress, rules(f.Egress))
	}
	list(kTargetTags, f.TargetTags)
	list(kTargetServiceAccounts, f.TargetServiceAccounts)
	list(kNetworks, f.Networks)
	list(kSubnets, f.Subnets)
	list(kPublicIps, f.PublicIPs)
	list(kPrivateIps, f.PrivateIPs)
	list(kNetworkTags, f.NetworkTags)
	list(kSecurityGroups, f.SecurityGroups)
	list(kDisks, f.Disks)
	list(kServiceAccounts, f.ServiceAccounts)
	str(kZone, f.Zone)
	str(kStatus, f.Status)
	boolean(kPublic, f.Public)
	if next() && f.PublicVia != nil {
		terms := make([]*ast.Term, len(f.PublicVia))
		for i, e := range f.PublicVia {
			terms[i] = ast.ObjectTerm(
				ast.Item(kVia, ast.InternedTerm(e.Via)),
				ast.Item(kDetail, ast.StringTerm(e.Detail)),
			)
		}
		o.Insert(kPublicVia, ast.ArrayTerm(terms...))
	}
	if p := f.PublicAccessBlock; next() && p != nil {
		o.Insert(kPublicAccessBlock, ast.ObjectTerm(
			ast.Item(kBlockPublicAcls, ast.InternedTerm(p.BlockPublicACLs)),
			ast.Item(kIgnorePublicAcls, ast.InternedTerm(p.IgnorePublicACLs)),
			ast.Item(kBlockPublicPolicy, ast.InternedTerm(p.BlockPublicPolicy)),
			ast.Item(kRestrictPublicBuckets, ast.InternedTerm(p.RestrictPublicBuckets)),
		))
	}
	if next() && f.Bindings != nil {
		terms := make([]*ast.Term, len(f.Bindings))
		for i, b := range f.Bindings {
			terms[i] = ast.ObjectTerm(
				ast.Item(kRole, ast.StringTerm(b.Role)),
				ast.Item(kMembers, stringList(b.Members)),
			)
		}
		o.Insert(kBindings, ast.ArrayTerm(terms...))
	}
	if next() && f.AuditConfigs != nil {
		o.Insert(kAuditConfigs, auditConfigs(f.AuditConfigs))
	}
	str(kParent, f.Parent)
	list(kAncestors, f.Ancestors)
	str(kProjectNumber, f.ProjectNumber)
	boolean(kMultiRegion, f.MultiRegion)
	boolean(kLogging, f.Logging)
	boolean(kOrganization, f.Organization)
	boolean(kEnabled, f.Enabled)
	str(kUser, f.User)
	str(kCreatedAt, f.CreatedAt)
	str(kLastUsed, f.LastUsed)
	str(kKeyType, f.KeyType)
	boolean(kConsole, f.Console)
	boolean(kMFA, f.MFA)
	if next() && f.ActiveKeys != nil {
		o.Insert(kActiveKeys, ast.InternedTerm(*f.ActiveKeys))
	}
	if next() && f.Keys != nil {
		o.Insert(kKeys, ast.InternedTerm(*f.Keys))
	}
	if next() && f.Metadata != nil {
		o.Insert(kMetadata, stringMap(f.Metadata))
	}
	if next() && f.Inherited != nil {
		terms := make([]*ast.Term, len(f.Inherited))
		for i, in := range f.Inherited {
			obj := ast.NewObjectWithCapacity(3)
			obj.Insert(kNode, ast.StringTerm(in.Node))
			if in.Labels != nil {
				obj.Insert(kLabels, stringMap(in.Labels))
			}
			if in.Metadata != nil {
				obj.Insert(kMetadata, stringMap(in.Metadata))
			}
			terms[i] = ast.NewTerm(obj)
		}
		o.Insert(kInherited, ast.ArrayTerm(terms...))
	}
	boolean(kValidation, f.Validation)
	str(kLogGroup, f.LogGroup)
	str(kManagementEvents, f.ManagementEvents)
	str(kFilter, f.Filter)
	list(kMetrics, f.Metrics)
	list(kTargets, f.Targets)
	str(kDestination, f.Destination)
	boolean(kIncludeChildren, f.IncludeChildren)
	str(kResource, f.Resource)
	boolean(kReadOnly, f.ReadOnly)
	if next() && f.Vulnerabilities != nil {
		o.Insert(kVulnerabilities, vulnerabilities(f.Vulnerabilities))
	}
	if next() && f.Synthesized {
		o.Insert(kSynthesized, ast.InternedTerm(true))
	}
	list(kUnknown, f.Unknown)
	return o
}

func vulnerabilities(vs []asset.Vulnerability) *ast.Term {
	terms := make([]*ast.Term, len(vs))
	for i, v := range vs {
		o := ast.NewObjectWithCapacity(6)
		o.Insert(kId, ast.StringTerm(v.ID))
		o.Insert(kSeverity, ast.InternedTerm(v.Severity))
		o.Insert(kFixable, ast.InternedTerm(v.Fixable))
		if v.Package != "" {
			o.Insert(kPackage, ast.StringTerm(v.Package))
		}
		if v.Fixed != "" {
			o.Insert(kFixed, ast.StringTerm(v.Fixed))
		}
		if v.Ports != nil {
			ports := make([]*ast.Term, len(v.Ports))
			for j, p := range v.Ports {
				ports[j] = ast.InternedTerm(p)
			}
			o.Insert(kPorts, ast.ArrayTerm(ports...))
		}
		terms[i] = ast.NewTerm(o)
	}
	return ast.ArrayTerm(terms...)
}

func auditConfigs(acs []asset.AuditConfig) *ast.Term {
	terms := make([]*ast.Term, len(acs))
	for i, c := range acs {
		items := []*ast.Term{ast.StringTerm(c.Service), stringList(c.LogTypes)}
		if len(c.Exempted) > 0 {
			terms[i] = ast.ObjectTerm(ast.Item(kService, items[0]), ast.Item(kLogTypes, items[1]), ast.Item(kExempted, stringList(c.Exempted)))
			continue
		}
		terms[i] = ast.ObjectTerm(ast.Item(kService, items[0]), ast.Item(kLogTypes, items[1]))
	}
	return ast.ArrayTerm(terms...)
}

func rules(rs []asset.Rule) *ast.Term {
	terms := make([]*ast.Term, len(rs))
	for i, r := range rs {
		o := ast.NewObjectWithCapacity(11)
		o.Insert(kSources, stringList(r.Sources))
		if r.SourceTags != nil {
			o.Insert(kSourceTags, stringList(r.SourceTags))
		}
		if r.SourceServiceAccounts != nil {
			o.Insert(kSourceServiceAccounts, stringList(r.SourceServiceAccounts))
		}
		if r.SourceGroups != nil {
			o.Insert(kSourceGroups, stringList(r.SourceGroups))
		}
		o.Insert(kProtocol, ast.InternedTerm(r.Protocol))
		ports := make([]*ast.Term, len(r.Ports))
		for j, p := range r.Ports {
			ports[j] = ast.ObjectTerm(
				ast.Item(kFrom, ast.InternedTerm(p.From)),
				ast.Item(kTo, ast.InternedTerm(p.To)),
			)
		}
		o.Insert(kPorts, ast.ArrayTerm(ports...))
		o.Insert(kAction, ast.InternedTerm(r.Action))
		o.Insert(kEnabled, ast.InternedTerm(r.Enabled))
		if r.Priority != 0 {
			o.Insert(kPriority, ast.InternedTerm(r.Priority))
		}
		if r.Unknown != nil {
			o.Insert(kUnknown, stringList(r.Unknown))
		}
		terms[i] = ast.NewTerm(o)
	}
	return ast.ArrayTerm(terms...)
}

func stringList(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(terms...)
}

func stringMap(m map[string]string) *ast.Term {
	o := ast.NewObjectWithCapacity(len(m))
	for k, v := range m {
		o.Insert(ast.StringTerm(k), ast.StringTerm(v))
	}
	return ast.NewTerm(o)
}
