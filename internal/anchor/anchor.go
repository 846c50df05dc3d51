package anchor

import (
	"context"
	"fmt"
	"strings"

	"github.com/vigil-ir/vigil/engine/runbook"
)

// Options configure the object-store anchors' clients.
type Options struct {
	// S3Endpoint and GCSEndpoint send requests elsewhere (an emulator, a
	// test fake); "" uses the clouds' own.
	S3Endpoint  string
	S3Region    string
	GCSEndpoint string
}

// Open returns the anchor a setting names: "" for defaultFile, a path or
// file://PATH, s3://BUCKET[/PREFIX] or gs://BUCKET[/PREFIX].
func Open(ctx context.Context, spec, defaultFile string, o Options) (runbook.Anchor, error) {
	scheme, rest, ok := strings.Cut(spec, "://")
	switch {
	case spec == "":
		return &File{Path: defaultFile}, nil
	case !ok:
		return &File{Path: spec}, nil
	case scheme == "file":
		return &File{Path: rest}, nil
	case scheme == "s3":
		bucket, prefix, _ := strings.Cut(rest, "/")
		return NewS3(ctx, bucket, prefix, o)
	case scheme == "gs":
		bucket, prefix, _ := strings.Cut(rest, "/")
		return NewGCS(ctx, bucket, prefix, o)
	}
	return nil, fmt.Errorf("anchor %q: use a path, file://PATH, s3://BUCKET/PREFIX or gs://BUCKET/PREFIX", spec)
}

// objectName is where an object store keeps a head: one object per entry,
// never overwritten, so retention keeps every one.
func objectName(prefix, runID string, seq int64) string {
	p := strings.Trim(prefix, "/")
	if p != "" {
		p += "/"
	}
	return fmt.Sprintf("%s%s/%010d.json", p, runID, seq)
}

func runPrefix(prefix, runID string) string {
	p := strings.Trim(prefix, "/")
	if p != "" {
		p += "/"
	}
	return p + runID + "/"
}
