package gcpfake

import (
	"encoding/json"
	"sort"

	"cloud.google.com/go/asset/apiv1/assetpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// extraAsset is a resource the fake serves through the Cloud Asset API as
// given: types whose APIs the fake does not implement (log sinks and
// metrics, alert policies, services, a project's compute metadata), in
// the API's JSON representation.
type extraAsset struct {
	project  string // project id
	name     string
	typ      string
	location string
	data     map[string]any
}

// AddResource adds a resource of a project, as the Cloud Asset API would
// list it: its full name, asset type, location and the API's JSON of the
// resource. Call it under With.
func (f *Fake) AddResource(project, name, assetType, location string, data map[string]any) {
	f.extra = append(f.extra, extraAsset{project: project, name: name, typ: assetType, location: location, data: data})
}

func (f *Fake) extraAssets() []*assetpb.Asset {
	var out []*assetpb.Asset
	all := append([]extraAsset(nil), f.extra...)
	// Each project's compute metadata, from the state setCommonInstanceMetadata changes.
	for _, id := range sortedProjects(f) {
		p := f.projects[id]
		items := []any{}
		for _, it := range p.Metadata {
			v := ""
			if it.Value != nil {
				v = *it.Value
			}
			items = append(items, map[string]any{"key": it.Key, "value": v})
		}
		all = append(all, extraAsset{project: id, name: "//compute.googleapis.com/projects/" + id, typ: "compute.googleapis.com/Project", location: "global",
			data: map[string]any{"kind": "compute#project", "id": p.Number, "name": id, "commonInstanceMetadata": map[string]any{"items": items, "kind": "compute#metadata"}}})
	}
	for _, e := range all {
		p := f.projects[e.project]
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
		out = append(out, &assetpb.Asset{Name: e.name, AssetType: e.typ, Ancestors: append([]string{"projects/" + p.Number}, p.Ancestors...),
			UpdateTime: timestamppb.New(f.now()),
			Resource: &assetpb.Resource{Version: "v1", DiscoveryName: disc, Parent: "//cloudresourcemanager.googleapis.com/projects/" + p.Number,
				Data: data, Location: e.location}})
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
