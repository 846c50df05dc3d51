package scan

import (
	"sort"
	"strings"
	"sync"

	"github.com/vigil-ir/vigil/engine/asset"
)

// Index is the cross-asset index policies read as data.vigil.inventory. It
// stays small however large the inventory: a handful of facts per project
// or account (asset count, trails, detectors, the account's S3 public access
// block) and per resource-hierarchy node (IAM bindings, audit configs).
//
//	{"scopes": {"<project or account>": {"provider", "assets", "trails",
//	                                     "detectors", "s3_public_access_block"}},
//	 "nodes":  {"projects/123": {"bindings", "audit_configs", "parent"}, ...}}
type Index struct {
	mu     sync.Mutex
	scopes map[string]*scopeFacts
	nodes  map[string]map[string]any
	// exposure is what the exposure x vulnerability policies join on (see
	// exposure.go): instances with a public IP, and the world-open rules.
	exposure exposure
	// egress is what VGL-NET-008 reads of each GCP network (egress.go).
	egress egress
}

type scopeFacts struct {
	provider  string
	assets    int64
	trails    []map[string]any
	detectors []map[string]any
	pab       *asset.PublicAccessBlock
	// more are the facts of issue 19 (see more.go): regions, trust,
	// flow logs, the alerting chain, services, sinks, project metadata.
	more scopeMore
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{scopes: map[string]*scopeFacts{}, nodes: map[string]map[string]any{}, exposure: newExposure(), egress: newEgress()}
}

// SetClassLabels names the labels data classes are read from (the
// residency labels of the settings, policy.Engine.ClassLabels), so that
// the index records which networks hold a classified instance. Call it
// before the first Observe.
func (x *Index) SetClassLabels(labels []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.egress.labels = labels
}

// Observe records what an asset contributes to the index. The index
// outlives the asset, so every string it keeps is copied: a string of the
// asset may share memory with the decoder's buffers.
func (x *Index) Observe(a *asset.Asset) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if a.Scope != "" {
		sf := x.scopes[a.Scope]
		if sf == nil {
			sf = &scopeFacts{provider: strings.Clone(a.Provider)}
			x.scopes[strings.Clone(a.Scope)] = sf
		}
		if !asset.ScopeKinds[a.Kind] {
			sf.assets++
		}
		sf.more.observe(a)
		f := &a.Facets
		switch a.Kind {
		case asset.KindTrail:
			t := map[string]any{"id": strings.Clone(a.ID), "name": strings.Clone(a.Name), "region": strings.Clone(a.Region)}
			putBool(t, "validation", f.Validation)
			if f.LogGroup != "" {
				t["log_group"] = strings.Clone(f.LogGroup)
			}
			putBool(t, "multi_region", f.MultiRegion)
			putBool(t, "logging", f.Logging)
			putBool(t, "organization", f.Organization)
			if f.ManagementEvents != "" {
				t["management_events"] = strings.Clone(f.ManagementEvents)
			}
			sf.trails = append(sf.trails, t)
		case asset.KindDetector:
			d := map[string]any{"id": strings.Clone(a.ID), "region": strings.Clone(a.Region), "type": strings.Clone(a.Type)}
			putBool(d, "enabled", f.Enabled)
			sf.detectors = append(sf.detectors, d)
		case "public_access_block":
			if f.PublicAccessBlock != nil {
				pab := *f.PublicAccessBlock // no strings
				sf.pab = &pab
			}
		}
	}
	x.exposure.observe(a)
	x.egress.observe(a)
	if a.Provider == asset.GCP {
		switch a.Kind {
		case asset.KindProject, asset.KindFolder, asset.KindOrganization:
			x.nodes[strings.Clone(nodeName(a))] = map[string]any{
				"bindings":      bindingsData(a.Facets.Bindings),
				"audit_configs": auditData(a.Facets.AuditConfigs),
				"parent":        strings.Clone(a.Facets.Parent),
			}
		}
	}
}

// nodeName is the CAI short name of a hierarchy node ("projects/123").
func nodeName(a *asset.Asset) string {
	switch a.Kind {
	case asset.KindProject:
		if len(a.Facets.Ancestors) > 0 && strings.HasPrefix(a.Facets.Ancestors[0], "projects/") {
			return a.Facets.Ancestors[0]
		}
		if a.Facets.ProjectNumber != "" {
			return "projects/" + a.Facets.ProjectNumber
		}
		return "projects/" + a.Scope
	default:
		return strings.TrimPrefix(a.ID, "//cloudresourcemanager.googleapis.com/")
	}
}

// Data returns the index as the data document policies read.
func (x *Index) Data() map[string]any {
	x.mu.Lock()
	defer x.mu.Unlock()
	scopes := make(map[string]any, len(x.scopes))
	for id, sf := range x.scopes {
		m := map[string]any{
			"provider":  sf.provider,
			"assets":    sf.assets,
			"trails":    sortedByID(sf.trails),
			"detectors": sortedByID(sf.detectors),
		}
		if sf.pab != nil {
			m["s3_public_access_block"] = map[string]any{
				"block_public_acls":       sf.pab.BlockPublicACLs,
				"ignore_public_acls":      sf.pab.IgnorePublicACLs,
				"block_public_policy":     sf.pab.BlockPublicPolicy,
				"restrict_public_buckets": sf.pab.RestrictPublicBuckets,
			}
		}
		sf.more.data(m)
		scopes[id] = m
	}
	nodes := make(map[string]any, len(x.nodes))
	for k, v := range x.nodes {
		nodes[k] = v
	}
	return map[string]any{"scopes": scopes, "nodes": nodes, "exposure": x.exposure.data(), "egress": x.egress.data()}
}

func sortedByID(list []map[string]any) []any {
	sort.Slice(list, func(i, j int) bool { return list[i]["id"].(string) < list[j]["id"].(string) })
	out := make([]any, len(list))
	for i, v := range list {
		out[i] = v
	}
	return out
}

func putBool(m map[string]any, k string, b *bool) {
	if b != nil {
		m[k] = *b
	}
}

func bindingsData(bs []asset.Binding) []any {
	out := make([]any, len(bs))
	for i, b := range bs {
		members := make([]any, len(b.Members))
		for j, m := range b.Members {
			members[j] = strings.Clone(m)
		}
		out[i] = map[string]any{"role": strings.Clone(b.Role), "members": members}
	}
	return out
}

func auditData(acs []asset.AuditConfig) []any {
	out := make([]any, len(acs))
	for i, c := range acs {
		types := make([]any, len(c.LogTypes))
		for j, t := range c.LogTypes {
			types[j] = strings.Clone(t)
		}
		m := map[string]any{"service": strings.Clone(c.Service), "log_types": types}
		if len(c.Exempted) > 0 {
			m["exempted"] = strs(c.Exempted)
		}
		out[i] = m
	}
	return out
}
