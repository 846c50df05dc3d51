package gcpfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"cloud.google.com/go/asset/apiv1/assetpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// extraAsset is a resource the fake serves through the Cloud Asset API as
// given: types whose APIs the fake does not implement (log sinks and
// metrics, alert policies, services, a project's compute metadata), in
// the API's JSON representation.
type extraAsset struct {
	project string // project id
	// ancestors place a resource of a folder or an organization (no
	// project): folders/F, organizations/O, nearest first.
	ancestors []string
	name      string
	typ       string
	location  string
	data      map[string]any
}

// AddResource adds a resource of a project, as the Cloud Asset API would
// list it: its full name, asset type, location and the API's JSON of the
// resource; one of the same name is replaced (a change). Call it under
// With.
func (f *Fake) AddResource(project, name, assetType, location string, data map[string]any) {
	f.putExtra(extraAsset{project: project, name: name, typ: assetType, location: location, data: data})
}

func (f *Fake) putExtra(e extraAsset) {
	for i := range f.extra {
		if f.extra[i].name == e.name {
			f.extra[i] = e
			return
		}
	}
	f.extra = append(f.extra, e)
}

// AddNodeResource adds a resource of a folder or an organization (an
// aggregated log sink), as AddResource does for a project's; ancestors are
// its folder and organization, nearest first. Call it under With.
func (f *Fake) AddNodeResource(ancestors []string, name, assetType, location string, data map[string]any) {
	f.putExtra(extraAsset{ancestors: ancestors, name: name, typ: assetType, location: location, data: data})
}

// AddProject adds a project (a new one: CreateProject). Call it under With.
func (f *Fake) AddProject(p *Project) { f.projects[p.ID] = p }

func (f *Fake) extraAssets() []*assetpb.Asset {
	var out []*assetpb.Asset
	all := append([]extraAsset(nil), f.extra...)
	// Each project's compute metadata, from the state setCommonInstanceMetadata changes.
	for _, id := range sortedProjects(f) {
		p := f.projects[id]
		items := []any{}
		for _, it := range p.Metadata {
			items = append(items, map[string]any{"key": it.Str("key"), "value": it.Str("value")})
		}
		all = append(all, extraAsset{project: id, name: "//compute.googleapis.com/projects/" + id, typ: "compute.googleapis.com/Project", location: "global",
			data: map[string]any{"kind": "compute#project", "id": p.Number, "name": id, "commonInstanceMetadata": map[string]any{"items": items, "kind": "compute#metadata"}}})
	}
	for _, e := range all {
		p := f.projects[e.project]
		if p == nil && len(e.ancestors) > 0 {
			// A folder's or an organization's: placed by its ancestors.
			p = &Project{Ancestors: e.ancestors}
		}
		if p == nil {
			continue
		}
		// through JSON, as the service's own conversion to Struct does
		raw, _ := json.Marshal(e.data)
		var m map[string]any
		json.Unmarshal(raw, &m)
		data, err := structpb.NewStruct(m)
		if err != nil {
			continue
		}
		disc := e.typ[len(e.typ)-len(lastPart(e.typ)):]
		ancestors, parent := append([]string{"projects/" + p.Number}, p.Ancestors...), "//cloudresourcemanager.googleapis.com/projects/"+p.Number
		if p.Number == "" {
			ancestors, parent = p.Ancestors, "//cloudresourcemanager.googleapis.com/"+p.Ancestors[0]
		}
		out = append(out, &assetpb.Asset{Name: e.name, AssetType: e.typ, Ancestors: ancestors,
			UpdateTime: timestamppb.New(f.now()),
			Resource:   &assetpb.Resource{Version: "v1", DiscoveryName: disc, Parent: parent, Data: data, Location: e.location}})
	}
	return out
}

func sortedProjects(f *Fake) []string {
	ids := make([]string, 0, len(f.projects))
	for id := range f.projects {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func lastPart(t string) string {
	for i := len(t) - 1; i >= 0; i-- {
		if t[i] == '/' {
			return t[i+1:]
		}
	}
	return t
}

// VulnerabilityReport is what OS Config reports of one VM.
type VulnerabilityReport struct {
	Instance string // projects/P/zones/Z/instances/N
	// CVEs with their severity (CRITICAL, HIGH, ...) and whether an
	// update fixes them.
	Vulns []Vuln
}

// Vuln is one vulnerability of a report.
type Vuln struct {
	CVE, Severity string
	Fixable       bool
}

// AddVulnerabilityReport makes OS Config report on a VM. Call it under With.
func (f *Fake) AddVulnerabilityReport(r VulnerabilityReport) { f.reports = append(f.reports, r) }

// vulnerabilityReports serves OS Config's
// GET /v1/projects/P/locations/ZONE/instances/{-|ID|NAME}/vulnerabilityReports,
// naming each report by project number and instance id, as the API does.
func (f *Fake) vulnerabilityReports(w http.ResponseWriter, r *http.Request) Call {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	call := Call{API: "osconfig", Operation: "vulnerabilityReports.list", Target: r.URL.Path}
	// v1 projects P locations Z instances I vulnerabilityReports
	if len(parts) != 8 || parts[0] != "v1" || parts[1] != "projects" || parts[3] != "locations" || parts[5] != "instances" {
		apiError(w, 400, "INVALID_ARGUMENT", "badRequest", "parent must be projects/P/locations/ZONE/instances/I")
		return call
	}
	if hit, _ := f.faultHTTP(w, &call, "osconfig", "osconfig.vulnerabilityReports.list", parts[2]); hit {
		return call
	}
	p := f.projects[parts[2]]
	if p == nil {
		for _, q := range f.projects {
			if q.Number == parts[2] {
				p = q
			}
		}
	}
	if p == nil {
		apiError(w, 404, "NOT_FOUND", "notFound", "project "+parts[2]+" not found")
		return call
	}
	var out []map[string]any
	for _, rep := range f.reports {
		in := f.instances[rep.Instance]
		seg := strings.Split(rep.Instance, "/")
		if in == nil || seg[1] != p.ID || seg[3] != parts[4] || (parts[6] != "-" && parts[6] != in.Str("name") && parts[6] != in.Str("id")) {
			continue
		}
		var vulns []any
		for _, v := range rep.Vulns {
			x := map[string]any{"details": map[string]any{"cve": v.CVE, "severity": v.Severity, "cvssV3": map[string]any{"baseScore": 9.8}},
				"installedInventoryItemIds": []string{"d-pkg"}, "createTime": "2026-11-20T00:00:00Z", "updateTime": "2026-11-26T00:00:00Z"}
			if v.Fixable {
				x["availableInventoryItemIds"] = []string{"a-pkg"}
				x["items"] = []any{map[string]any{"installedInventoryItemId": "d-pkg", "availableInventoryItemId": "a-pkg"}}
			}
			vulns = append(vulns, x)
		}
		out = append(out, map[string]any{"name": fmt.Sprintf("projects/%s/locations/%s/instances/%s/vulnerabilityReport", p.Number, parts[4], in.Str("id")),
			"vulnerabilities": vulns, "updateTime": "2026-11-26T00:00:00Z"})
	}
	writeJSON(w, map[string]any{"vulnerabilityReports": out})
	return call
}
