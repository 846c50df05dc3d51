package policy

import (
	"bytes"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/vigil-ir/vigil/engine/asset"
)

// InputValue builds the Rego input {"asset": ...} straight from the Go
// value, without a JSON or map[string]any round trip: this runs once per
// asset and dominates scan time otherwise. labels and facets are always
// present (possibly empty) so policies can refer to them directly. The native
// payload (data) is converted only when a policy reads it.
func InputValue(a *asset.Asset, withData bool) (ast.Value, error) {
	obj := ast.NewObjectWithCapacity(13)
	put := func(k string, v *ast.Term) { obj.Insert(ast.InternedTerm(k), v) }
	put("id", ast.StringTerm(a.ID))
	put("provider", ast.InternedTerm(a.Provider))
	put("type", ast.StringTerm(a.Type))
	put("kind", ast.InternedTerm(a.Kind))
	put("name", ast.StringTerm(a.Name))
	put("scope", ast.StringTerm(a.Scope))
	put("region", ast.StringTerm(a.Region))
	put("source", ast.InternedTerm(a.Source))
	put("labels", stringMap(a.Labels))
	put("facets", ast.NewTerm(FacetsValue(&a.Facets)))
	if a.Change != nil {
		ch := ast.NewObjectWithCapacity(3)
		ch.Insert(ast.InternedTerm("action"), ast.StringTerm(a.Change.Action))
		ch.Insert(ast.InternedTerm("address"), ast.StringTerm(a.Change.Address))
		ch.Insert(ast.InternedTerm("unknown"), stringList(a.Change.Unknown))
		put("change", ast.NewTerm(ch))
	}
	if withData && len(a.Data) > 0 {
		v, err := ast.ValueFromReader(bytes.NewReader(a.Data))
		if err != nil {
			return nil, fmt.Errorf("convert native payload: %w", err)
		}
		put("data", ast.NewTerm(v))
	}
	in := ast.NewObjectWithCapacity(1)
	in.Insert(ast.InternedTerm("asset"), ast.NewTerm(obj))
	return in, nil
}

// FacetsValue converts facets to a Rego object, field by field, with the JSON
// names of asset.Facets (a test keeps the two in step).
func FacetsValue(f *asset.Facets) ast.Object {
	o := ast.NewObject()
	str := func(k, v string) {
		if v != "" {
			o.Insert(ast.InternedTerm(k), ast.StringTerm(v))
		}
	}
	list := func(k string, v []string) {
		if v != nil {
			o.Insert(ast.InternedTerm(k), stringList(v))
		}
	}
	boolean := func(k string, v *bool) {
		if v != nil {
			o.Insert(ast.InternedTerm(k), ast.InternedTerm(*v))
		}
	}
	str("network", f.Network)
	boolean("default", f.Default)
	list("cidrs", f.CIDRs)
	if f.Ingress != nil {
		o.Insert(ast.InternedTerm("ingress"), rules(f.Ingress))
	}
	if f.Egress != nil {
		o.Insert(ast.InternedTerm("egress"), rules(f.Egress))
	}
	list("target_tags", f.TargetTags)
	list("target_service_accounts", f.TargetServiceAccounts)
	list("networks", f.Networks)
	list("subnets", f.Subnets)
	list("public_ips", f.PublicIPs)
	list("private_ips", f.PrivateIPs)
	list("network_tags", f.NetworkTags)
	list("security_groups", f.SecurityGroups)
	list("disks", f.Disks)
	list("service_accounts", f.ServiceAccounts)
	str("zone", f.Zone)
	str("status", f.Status)
	boolean("public", f.Public)
	if f.PublicVia != nil {
		terms := make([]*ast.Term, len(f.PublicVia))
		for i, e := range f.PublicVia {
			terms[i] = ast.ObjectTerm(
				ast.Item(ast.InternedTerm("via"), ast.InternedTerm(e.Via)),
				ast.Item(ast.InternedTerm("detail"), ast.StringTerm(e.Detail)),
			)
		}
		o.Insert(ast.InternedTerm("public_via"), ast.ArrayTerm(terms...))
	}
	if p := f.PublicAccessBlock; p != nil {
		o.Insert(ast.InternedTerm("public_access_block"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("block_public_acls"), ast.InternedTerm(p.BlockPublicACLs)),
			ast.Item(ast.InternedTerm("ignore_public_acls"), ast.InternedTerm(p.IgnorePublicACLs)),
			ast.Item(ast.InternedTerm("block_public_policy"), ast.InternedTerm(p.BlockPublicPolicy)),
			ast.Item(ast.InternedTerm("restrict_public_buckets"), ast.InternedTerm(p.RestrictPublicBuckets)),
		))
	}
	if f.Bindings != nil {
		terms := make([]*ast.Term, len(f.Bindings))
		for i, b := range f.Bindings {
			terms[i] = ast.ObjectTerm(
				ast.Item(ast.InternedTerm("role"), ast.StringTerm(b.Role)),
				ast.Item(ast.InternedTerm("members"), stringList(b.Members)),
			)
		}
		o.Insert(ast.InternedTerm("bindings"), ast.ArrayTerm(terms...))
	}
	if f.AuditConfigs != nil {
		o.Insert(ast.InternedTerm("audit_configs"), auditConfigs(f.AuditConfigs))
	}
	str("parent", f.Parent)
	list("ancestors", f.Ancestors)
	str("project_number", f.ProjectNumber)
	boolean("multi_region", f.MultiRegion)
	boolean("logging", f.Logging)
	boolean("organization", f.Organization)
	boolean("enabled", f.Enabled)
	str("user", f.User)
	str("created_at", f.CreatedAt)
	str("last_used", f.LastUsed)
	if f.Synthesized {
		o.Insert(ast.InternedTerm("synthesized"), ast.InternedTerm(true))
	}
	list("unknown", f.Unknown)
	return o
}

func auditConfigs(acs []asset.AuditConfig) *ast.Term {
	terms := make([]*ast.Term, len(acs))
	for i, c := range acs {
		terms[i] = ast.ObjectTerm(
			ast.Item(ast.InternedTerm("service"), ast.StringTerm(c.Service)),
			ast.Item(ast.InternedTerm("log_types"), stringList(c.LogTypes)),
		)
	}
	return ast.ArrayTerm(terms...)
}

func rules(rs []asset.Rule) *ast.Term {
	terms := make([]*ast.Term, len(rs))
	for i, r := range rs {
		o := ast.NewObjectWithCapacity(11)
		o.Insert(ast.InternedTerm("sources"), stringList(r.Sources))
		if r.SourceTags != nil {
			o.Insert(ast.InternedTerm("source_tags"), stringList(r.SourceTags))
		}
		if r.SourceServiceAccounts != nil {
			o.Insert(ast.InternedTerm("source_service_accounts"), stringList(r.SourceServiceAccounts))
		}
		if r.SourceGroups != nil {
			o.Insert(ast.InternedTerm("source_groups"), stringList(r.SourceGroups))
		}
		o.Insert(ast.InternedTerm("protocol"), ast.InternedTerm(r.Protocol))
		ports := make([]*ast.Term, len(r.Ports))
		for j, p := range r.Ports {
			ports[j] = ast.ObjectTerm(
				ast.Item(ast.InternedTerm("from"), ast.InternedTerm(p.From)),
				ast.Item(ast.InternedTerm("to"), ast.InternedTerm(p.To)),
			)
		}
		o.Insert(ast.InternedTerm("ports"), ast.ArrayTerm(ports...))
		o.Insert(ast.InternedTerm("action"), ast.InternedTerm(r.Action))
		o.Insert(ast.InternedTerm("enabled"), ast.InternedTerm(r.Enabled))
		if r.Priority != 0 {
			o.Insert(ast.InternedTerm("priority"), ast.InternedTerm(r.Priority))
		}
		if r.Unknown != nil {
			o.Insert(ast.InternedTerm("unknown"), stringList(r.Unknown))
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
