package anchor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	storage "google.golang.org/api/storage/v1"

	"github.com/vigil-ir/vigil/engine/runbook"
)

// GCS keeps heads as objects in a Cloud Storage bucket, one per journal
// entry, created only if absent (ifGenerationMatch=0); a bucket retention
// policy (locked) keeps them for its period.
type GCS struct {
	svc    *storage.Service
	bucket string
	prefix string
}

// NewGCS makes a Cloud Storage anchor with Application Default
// Credentials; o.GCSEndpoint (a base URL such as http://127.0.0.1:8080)
// sends it elsewhere, without authentication when it is plain http.
func NewGCS(ctx context.Context, bucket, prefix string, o Options) (*GCS, error) {
	var opts []option.ClientOption
	if ep := strings.TrimSuffix(o.GCSEndpoint, "/"); ep != "" {
		opts = append(opts, option.WithEndpoint(ep+"/storage/v1/"))
		if strings.HasPrefix(ep, "http://") {
			opts = append(opts, option.WithoutAuthentication())
		}
	}
	svc, err := storage.NewService(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("anchor gs://%s: %w", bucket, err)
	}
	return &GCS{svc: svc, bucket: bucket, prefix: prefix}, nil
}

// Record implements runbook.Anchor.
func (a *GCS) Record(ctx context.Context, h runbook.Head) error {
	body, err := json.Marshal(h)
	if err != nil {
		return err
	}
	name := objectName(a.prefix, h.RunID, h.Seq)
	_, err = a.svc.Objects.Insert(a.bucket, &storage.Object{Name: name, ContentType: "application/json"}).
		Media(bytes.NewReader(body)).IfGenerationMatch(0).Context(ctx).Do()
	var gerr *googleapi.Error
	if errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed {
		got, err := a.get(ctx, name)
		if err != nil {
			return err
		}
		if got.Hash != h.Hash {
			return fmt.Errorf("gs://%s/%s already records entry %d with hash %.12s, not %.12s", a.bucket, name, h.Seq, got.Hash, h.Hash)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("write gs://%s/%s: %w", a.bucket, name, err)
	}
	return nil
}

func (a *GCS) get(ctx context.Context, name string) (*runbook.Head, error) {
	resp, err := a.svc.Objects.Get(a.bucket, name).Context(ctx).Download()
	if err != nil {
		return nil, fmt.Errorf("read gs://%s/%s: %w", a.bucket, name, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	var h runbook.Head
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("gs://%s/%s is not a journal head: %w", a.bucket, name, err)
	}
	return &h, nil
}

// Heads implements runbook.Anchor.
func (a *GCS) Heads(ctx context.Context, runID string) ([]runbook.Head, error) {
	var names []string
	prefix := runPrefix(a.prefix, runID)
	err := a.svc.Objects.List(a.bucket).Prefix(prefix).Pages(ctx, func(o *storage.Objects) error {
		for _, it := range o.Items {
			if strings.HasSuffix(it.Name, ".json") {
				names = append(names, it.Name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list gs://%s/%s: %w", a.bucket, prefix, err)
	}
	var out []runbook.Head
	for _, n := range names {
		h, err := a.get(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, *h)
	}
	return out, nil
}

// Runs implements runbook.AnchorLister: the run folders under the prefix.
func (a *GCS) Runs(ctx context.Context) ([]string, error) {
	base := strings.TrimSuffix(runPrefix(a.prefix, ""), "/") // "PREFIX/", or "" for none
	var out []string
	err := a.svc.Objects.List(a.bucket).Prefix(base).Delimiter("/").Pages(ctx, func(o *storage.Objects) error {
		for _, p := range o.Prefixes {
			if id := strings.TrimSuffix(strings.TrimPrefix(p, base), "/"); id != "" {
				out = append(out, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list gs://%s/%s: %w", a.bucket, base, err)
	}
	return out, nil
}

func (a *GCS) String() string {
	return "the anchor gs://" + a.bucket + "/" + strings.Trim(a.prefix, "/")
}
