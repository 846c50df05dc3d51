package gcpfake

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"cloud.google.com/go/asset/apiv1/assetpb"
	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// assets derives the Cloud Asset Inventory view of the state: each
// resource's data is its API document.
func (f *Fake) assets() []*assetpb.Asset {
	var out []*assetpb.Asset
	crm := func(p *Project) string { return "//cloudresourcemanager.googleapis.com/projects/" + p.Number }
	ancestors := func(p *Project) []string { return append([]string{"projects/" + p.Number}, p.Ancestors...) }
	update := timestamppb.New(f.now())
	add := func(p *Project, name, typ, discovery, location string, v any) {
		raw, _ := json.Marshal(v)
		var m map[string]any
		json.Unmarshal(raw, &m)
		data, err := structpb.NewStruct(m)
		if err != nil || p == nil {
			return
		}
		out = append(out, &assetpb.Asset{Name: name, AssetType: typ, Ancestors: ancestors(p), UpdateTime: update,
			Resource: &assetpb.Resource{Version: "v1", DiscoveryName: discovery, Parent: crm(p), Data: data, Location: location,
				DiscoveryDocumentUri: "https://www.googleapis.com/discovery/v1/apis/compute/v1/rest"}})
	}
	for _, id := range slices.Sorted(maps.Keys(f.projects)) {
		p := f.projects[id]
		parent := map[string]string{}
		if len(p.Ancestors) > 0 {
			kind, num, _ := strings.Cut(p.Ancestors[0], "/")
			parent = map[string]string{"type": strings.TrimSuffix(kind, "s"), "id": num}
		}
		add(p, crm(p), "cloudresourcemanager.googleapis.com/Project", "Project", "global",
			map[string]any{"projectNumber": p.Number, "projectId": p.ID, "lifecycleState": "ACTIVE", "name": p.ID, "labels": p.Labels, "parent": parent})
		// A project's own parent is its folder or organization (CAI's
		// Resource.parent), not the project.
		if last := out[len(out)-1]; last.Name == crm(p) && len(p.Ancestors) > 0 {
			last.Resource.Parent = "//cloudresourcemanager.googleapis.com/" + p.Ancestors[0]
		}
		var bindings []*iampb.Binding
		for _, role := range slices.Sorted(maps.Keys(p.Bindings)) {
			bindings = append(bindings, &iampb.Binding{Role: role, Members: p.Bindings[role]})
		}
		if len(bindings) > 0 {
			out = append(out, &assetpb.Asset{Name: crm(p), AssetType: "cloudresourcemanager.googleapis.com/Project", Ancestors: ancestors(p),
				UpdateTime: update, IamPolicy: &iampb.Policy{Version: 1, Bindings: bindings}})
		}
	}
	project := func(path string) *Project { return f.projects[strings.Split(path, "/")[1]] }
	for _, c := range []struct {
		m             map[string]Doc
		svc, typ      string
		zonal         bool
		discoveryName string
	}{
		{f.networks, "compute", "Network", false, "Network"},
		{f.subnetworks, "compute", "Subnetwork", true, "Subnetwork"}, // located in its region
		{f.firewalls, "compute", "Firewall", false, "Firewall"},
		{f.instances, "compute", "Instance", true, "Instance"},
		{f.disks, "compute", "Disk", true, "Disk"},
		{f.snapshots, "compute", "Snapshot", false, "Snapshot"},
		{f.images, "compute", "Image", false, "Image"},
		{f.keys, "iam", "ServiceAccountKey", false, "ServiceAccountKey"},
	} {
		for _, k := range slices.Sorted(maps.Keys(c.m)) {
			loc := "global"
			if c.zonal {
				loc = strings.Split(k, "/")[3]
			}
			add(project(k), "//"+c.svc+".googleapis.com/"+k, c.svc+".googleapis.com/"+c.typ, c.discoveryName, loc, c.m[k])
		}
	}
	for _, b := range slices.Sorted(maps.Keys(f.buckets)) {
		add(f.projects[f.buckets[b]], "//storage.googleapis.com/"+b, "storage.googleapis.com/Bucket", "Bucket", "EU",
			map[string]any{"name": b, "location": "EU", "labels": map[string]string{}})
	}
	out = append(out, f.extraAssets()...) // extra.go: resources the fake keeps as CAI records
	return out
}

// inScope reports whether an asset is under the parent
// (organizations/N, folders/N, projects/ID or projects/NUMBER).
func (f *Fake) inScope(a *assetpb.Asset, parent string) bool {
	if kind, id, _ := strings.Cut(parent, "/"); kind == "projects" {
		if p := f.projects[id]; p != nil {
			parent = "projects/" + p.Number
		}
	}
	return slices.Contains(a.Ancestors, parent)
}

func (f *Fake) list(parent string, types []string, ct assetpb.ContentType) []*assetpb.Asset {
	var out []*assetpb.Asset
	for _, a := range f.assets() {
		if !f.inScope(a, parent) {
			continue
		}
		if len(types) > 0 && !slices.Contains(types, a.AssetType) {
			continue
		}
		switch ct {
		case assetpb.ContentType_IAM_POLICY:
			if a.IamPolicy == nil {
				continue
			}
		default:
			if a.Resource == nil {
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

type assetServer struct {
	assetpb.UnimplementedAssetServiceServer
	f *Fake
}

// assetPermission is what a Cloud Asset call of a content type needs.
func assetPermission(verb string, ct assetpb.ContentType) string {
	if ct == assetpb.ContentType_IAM_POLICY {
		return "cloudasset.assets." + verb + "IamPolicy"
	}
	return "cloudasset.assets." + verb + "Resource"
}

func (s *assetServer) fault(op, parent, perm string) error {
	call := Call{API: "asset", Operation: op, Target: parent, Permissions: []string{perm}}
	defer func() { s.f.calls = append(s.f.calls, call) }()
	ft := s.f.fault("asset", op)
	kind := ""
	if ft != nil {
		kind = ft.Kind
	}
	switch kind {
	case "quota":
		call.Fault, call.Status = "quota", 429
		return status.Error(codes.ResourceExhausted, "Quota exceeded for quota metric 'List assets requests' and limit 'List assets requests per minute per consumer'.")
	case "unavailable", "reset":
		call.Fault, call.Status = kind, 503
		return status.Error(codes.Unavailable, "The service is currently unavailable.")
	case "denied":
		call.Fault, call.Status = "denied", 403
		return status.Errorf(codes.PermissionDenied, "The caller does not have permission: %s on %s", perm, parent)
	}
	call.Status = 200
	return nil
}

func (s *assetServer) ListAssets(_ context.Context, req *assetpb.ListAssetsRequest) (*assetpb.ListAssetsResponse, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.record("google.cloud.asset.v1.AssetService/ListAssets", req)
	if err := s.fault("ListAssets", req.Parent, assetPermission("list", req.ContentType)); err != nil {
		return nil, err
	}
	if !validParent(req.Parent) {
		return nil, status.Errorf(codes.InvalidArgument, "parent must be organizations/N, folders/N or projects/P, not %q", req.Parent)
	}
	all := s.f.list(req.Parent, req.AssetTypes, req.ContentType)
	from := 0
	if req.PageToken != "" {
		n, err := strconv.Atoi(req.PageToken)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "invalid page token")
		}
		from = n
	}
	size := int(req.PageSize)
	if size <= 0 || size > 1000 {
		size = 100
	}
	to := min(from+size, len(all))
	resp := &assetpb.ListAssetsResponse{Assets: all[from:to], ReadTime: timestamppb.New(s.f.now())}
	if to < len(all) {
		resp.NextPageToken = strconv.Itoa(to)
	}
	return resp, nil
}

func validParent(p string) bool {
	kind, id, ok := strings.Cut(p, "/")
	return ok && id != "" && !strings.Contains(id, "/") && (kind == "organizations" || kind == "folders" || kind == "projects")
}

// ExportAssets writes the assets as NDJSON objects under the GCS prefix,
// one object per content type, and returns a running operation that
// GetOperation then finds done.
func (s *assetServer) ExportAssets(_ context.Context, req *assetpb.ExportAssetsRequest) (*longrunningpb.Operation, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.record("google.cloud.asset.v1.AssetService/ExportAssets", req)
	if err := s.fault("ExportAssets", req.Parent, assetPermission("export", req.ContentType)); err != nil {
		return nil, err
	}
	gcs := req.GetOutputConfig().GetGcsDestination()
	prefix := gcs.GetUriPrefix()
	if prefix == "" {
		prefix = strings.TrimSuffix(gcs.GetUri(), "/")
	}
	bucket, obj, ok := strings.Cut(strings.TrimPrefix(prefix, "gs://"), "/")
	if !strings.HasPrefix(prefix, "gs://") || !ok {
		return nil, status.Errorf(codes.InvalidArgument, "output_config.gcs_destination.uri_prefix must be gs://BUCKET/PREFIX, not %q", prefix)
	}
	// "Each object URI is in format: gs://bucket_name/object_name_prefix/
	// <asset type>/<shard number> and only contains assets for that type."
	byType := map[string]*strings.Builder{}
	for _, a := range s.f.list(req.Parent, req.AssetTypes, req.ContentType) {
		b := byType[a.AssetType]
		if b == nil {
			b = &strings.Builder{}
			byType[a.AssetType] = b
		}
		raw, _ := protojson.MarshalOptions{UseProtoNames: true}.Marshal(a)
		b.Write(raw)
		b.WriteByte('\n')
	}
	for typ, b := range byType {
		s.f.objects[bucket+"/"+obj+"/"+typ+"/0"] = []byte(b.String())
	}
	s.f.seq++
	opName := fmt.Sprintf("%s/operations/ExportAssets/%d", req.Parent, s.f.seq)
	resp, _ := anypb.New(&assetpb.ExportAssetsResponse{ReadTime: timestamppb.New(s.f.now()), OutputConfig: req.OutputConfig})
	s.f.lros[opName] = &longrunningpb.Operation{Name: opName, Done: true, Result: &longrunningpb.Operation_Response{Response: resp}}
	return &longrunningpb.Operation{Name: opName}, nil
}

type opsServer struct {
	longrunningpb.UnimplementedOperationsServer
	f *Fake
}

func (s *opsServer) GetOperation(_ context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.record("google.longrunning.Operations/GetOperation", req)
	s.f.calls = append(s.f.calls, Call{API: "asset", Operation: "GetOperation", Target: req.Name, Status: 200,
		Permissions: []string{"cloudasset.assets.exportResource"}})
	op := s.f.lros[req.Name]
	if op == nil {
		return nil, status.Errorf(codes.NotFound, "operation %s not found", req.Name)
	}
	return op, nil
}
