package contract

import (
	"fmt"
	"regexp"
	"slices"

	"cloud.google.com/go/asset/apiv1/assetpb"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
)

// CheckRPC returns what is wrong with one gRPC request of the Cloud Asset
// API (or its operations), from what Google publishes in the protos: every
// field annotated (google.api.field_behavior) = REQUIRED is set, none
// annotated OUTPUT_ONLY is, at any depth; and what the field comments of
// google/cloud/asset/v1/asset_service.proto document: the parent's format,
// page_size "minimum is 1, and maximum is 1000", relationship_types "only
// if content_type=RELATIONSHIP", the gs:// form of a GCS destination. Then
// vigil's own intent: a content type that returns content (RESOURCE or
// IAM_POLICY: "If not specified, no content but the asset name will be
// returned") and the asset types it collects.
func CheckRPC(r gcpfake.RPC) []string {
	c := &checker{}
	behaviors(c, "", r.Message.ProtoReflect())
	switch m := r.Message.(type) {
	case *assetpb.ListAssetsRequest:
		parent(c, m.Parent)
		if m.PageSize != 0 && (m.PageSize < 1 || m.PageSize > 1000) {
			c.add("page_size %d: the minimum is 1, and maximum is 1000", m.PageSize)
		}
		contentAndTypes(c, m.ContentType, m.AssetTypes, m.RelationshipTypes)
	case *assetpb.ExportAssetsRequest:
		parent(c, m.Parent)
		contentAndTypes(c, m.ContentType, m.AssetTypes, m.RelationshipTypes)
		gcs := m.GetOutputConfig().GetGcsDestination()
		switch {
		case gcs == nil:
			c.add("output_config has no gcs_destination: vigil exports to Cloud Storage")
		case gcs.GetUriPrefix() != "" && !gcsURI.MatchString(gcs.GetUriPrefix()):
			c.add("gcs_destination.uri_prefix %q is not gs://bucket_name/object_name_prefix", gcs.GetUriPrefix())
		case gcs.GetUri() != "" && !gcsURI.MatchString(gcs.GetUri()):
			c.add("gcs_destination.uri %q is not gs://bucket_name/object_name", gcs.GetUri())
		}
	}
	return c.out
}

// CheckAllRPC checks every gRPC request, each problem once with its method.
func CheckAllRPC(rpcs []gcpfake.RPC) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rpcs {
		for _, p := range CheckRPC(r) {
			if k := r.Method + ": " + p; !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

var (
	// ListAssetsRequest.parent: "organizations/[organization-number]",
	// "projects/[project-id]", "projects/[project-number]" or
	// "folders/[folder-number]".
	parentRe = regexp.MustCompile(`\A(?:organizations/[0-9]+|folders/[0-9]+|projects/(?:[0-9]+|[a-z][-a-z0-9]{4,28}[a-z0-9]))\z`)
	gcsURI   = regexp.MustCompile(`\Ags://[a-z0-9][-_.a-z0-9]{1,221}[a-z0-9]/[^\s]+\z`)
)

func parent(c *checker, p string) {
	if !parentRe.MatchString(p) {
		c.add("parent %q: want organizations/[organization-number], folders/[folder-number] or projects/[project-id or number]", p)
	}
}

func contentAndTypes(c *checker, ct assetpb.ContentType, types, relationships []string) {
	if ct != assetpb.ContentType_RESOURCE && ct != assetpb.ContentType_IAM_POLICY {
		c.add("content_type %s: vigil reads resources and IAM policies, and without one only asset names come back", ct)
	}
	if len(relationships) > 0 && ct != assetpb.ContentType_RELATIONSHIP {
		c.add("relationship_types is set with content_type %s; it is only for RELATIONSHIP", ct)
	}
	if len(types) == 0 {
		c.add("asset_types is empty: every asset type would be listed")
	}
	for _, t := range types {
		if _, err := regexp.Compile(t); err != nil {
			c.add("asset type %q is not an RE2 expression: %v", t, err)
		}
	}
}

// behaviors checks the field_behavior annotations of a message and the
// messages in it.
func behaviors(c *checker, path string, m protoreflect.Message) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		name := string(fd.Name())
		if path != "" {
			name = path + "." + name
		}
		opts := fd.Options()
		var fb []annotations.FieldBehavior
		if opts != nil && proto.HasExtension(opts, annotations.E_FieldBehavior) {
			fb, _ = proto.GetExtension(opts, annotations.E_FieldBehavior).([]annotations.FieldBehavior)
		}
		set := m.Has(fd)
		if slices.Contains(fb, annotations.FieldBehavior_REQUIRED) && !set {
			c.add("field %s is REQUIRED (google.api.field_behavior) and not set", name)
		}
		if slices.Contains(fb, annotations.FieldBehavior_OUTPUT_ONLY) && set {
			c.add("field %s is OUTPUT_ONLY (google.api.field_behavior) and set", name)
		}
		if set && fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
			behaviors(c, name, m.Get(fd).Message())
		}
		if set && fd.Kind() == protoreflect.MessageKind && fd.IsList() {
			l := m.Get(fd).List()
			for j := 0; j < l.Len(); j++ {
				behaviors(c, fmt.Sprintf("%s[%d]", name, j), l.Get(j).Message())
			}
		}
	}
}
