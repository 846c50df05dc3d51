package gcp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/asset/apiv1/assetpb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/iterator"
	storage "google.golang.org/api/storage/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/vigil-ir/vigil/engine/inventory"
)

// Summary says what a collection read.
type Summary struct {
	Scope   string
	Records int
	Pages   int
	ByType  map[string]int
	// Gaps say what the collection left out or read only in part (a
	// project whose scanner API is off or refused the call), one sentence
	// each.
	Gaps []inventory.Gap
}

var scopeRe = regexp.MustCompile(`^(organizations/[0-9]+|folders/[0-9]+|projects/[a-z0-9][a-z0-9-]{4,28}[a-z0-9]|projects/[0-9]+)$`)

// Collect reads the scope's assets (RESOURCE and IAM_POLICY content, merged
// per name by the CAI loader) into an inventory.
func Collect(ctx context.Context, opts Options) (*inventory.Inventory, *Summary, error) {
	opts.defaults()
	if !scopeRe.MatchString(opts.Scope) {
		return nil, nil, fmt.Errorf("gcp: scope %q: use organizations/NUMBER, folders/NUMBER or projects/PROJECT", opts.Scope)
	}
	sum := &Summary{Scope: opts.Scope, ByType: map[string]int{}}
	s := &session{opts: opts, sum: sum, started: time.Now().UTC()}
	dir, err := os.MkdirTemp("", "vigil-gcp-*")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	var files []string
	if opts.Export != "" {
		files, err = s.export(ctx, dir, sum)
	} else {
		files, err = s.list(ctx, dir, sum)
	}
	if err != nil {
		return nil, sum, err
	}
	inv, err := inventory.Load(ctx, files...)
	if err != nil {
		return nil, sum, fmt.Errorf("gcp: read the collected assets: %w", err)
	}
	if scannersWanted(opts.AssetTypes) {
		if inv, err = s.withScannerFindings(ctx, dir, files, inv, sum); err != nil { // vulnerabilities.go
			return nil, sum, err
		}
	}
	return inv, sum, nil
}

// scannersWanted says whether a collection of these asset types (none:
// the default ones) reads the vulnerability scanners' findings too: not
// when it asks for other types only (a sharded scan's collection of the
// organization's folders and projects, for context).
func scannersWanted(types []string) bool {
	return len(types) == 0 || slices.Contains(types, "compute.googleapis.com/Instance")
}

var contentTypes = []assetpb.ContentType{assetpb.ContentType_RESOURCE, assetpb.ContentType_IAM_POLICY}

// quotaRetry retries RESOURCE_EXHAUSTED and UNAVAILABLE with backoff, a
// bounded number of times.
type quotaRetry struct {
	inner gax.Retryer
	left  int
}

func (r *quotaRetry) Retry(err error) (time.Duration, bool) {
	if r.left <= 0 {
		return 0, false
	}
	r.left--
	return r.inner.Retry(err)
}

func (s *session) retryOption() gax.CallOption {
	return gax.WithRetry(func() gax.Retryer {
		return &quotaRetry{left: s.opts.MaxAttempts - 1, inner: gax.OnCodes([]codes.Code{codes.ResourceExhausted, codes.Unavailable},
			gax.Backoff{Initial: s.opts.RetryInitial, Max: 32 * time.Second, Multiplier: 2})}
	})
}

// list pages through ListAssets, writing the records as CAI NDJSON.
func (s *session) list(ctx context.Context, dir string, sum *Summary) ([]string, error) {
	client, err := s.assetClient(ctx)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	var files []string
	for _, ct := range contentTypes {
		path := filepath.Join(dir, strings.ToLower(ct.String())+".ndjson")
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		w := bufio.NewWriter(f)
		it := client.ListAssets(ctx, &assetpb.ListAssetsRequest{Parent: s.opts.Scope, AssetTypes: s.opts.AssetTypes, ContentType: ct, PageSize: s.opts.PageSize}, s.retryOption())
		pager := iterator.NewPager(it, int(s.opts.PageSize), "")
		n, pages := 0, 0
		for {
			var page []*assetpb.Asset
			next, err := pager.NextPage(&page)
			if err != nil {
				f.Close()
				return nil, s.listError(err)
			}
			sum.Pages++
			pages++
			for _, a := range page {
				raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(a)
				if err != nil {
					f.Close()
					return nil, err
				}
				w.Write(raw)
				w.WriteByte('\n')
				sum.Records++
				n++
				if ct == assetpb.ContentType_RESOURCE {
					sum.ByType[a.AssetType]++
				}
			}
			switch {
			case s.opts.PageDone != nil:
				s.opts.PageDone(sum.Pages, sum.Records)
			case s.opts.Progress != nil:
				fmt.Fprintf(s.opts.Progress, "gcp: %s %s: page %d, %d records\n", s.opts.Scope, strings.ToLower(ct.String()), pages, n)
			}
			if next == "" {
				break
			}
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		files = append(files, path)
	}
	return files, nil
}

func (s *session) listError(err error) error {
	err = explain(err, "cloudasset.assets.listResource")
	if _, ok := err.(*PermissionError); ok {
		return fmt.Errorf("gcp: list the assets of %s: %w (roles/cloudasset.viewer on %s grants listResource and listIamPolicy)", s.opts.Scope, err, s.opts.Scope)
	}
	return fmt.Errorf("gcp: list the assets of %s: %w", s.opts.Scope, err)
}

// export runs ExportAssets into Cloud Storage for each content type, waits
// for it, and downloads what it wrote.
func (s *session) export(ctx context.Context, dir string, sum *Summary) ([]string, error) {
	bucket, prefix, ok := strings.Cut(strings.TrimPrefix(s.opts.Export, "gs://"), "/")
	if !strings.HasPrefix(s.opts.Export, "gs://") || !ok || bucket == "" || prefix == "" {
		return nil, fmt.Errorf("gcp: --export %q: use gs://BUCKET/PREFIX", s.opts.Export)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	client, err := s.assetClient(ctx)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	if err := s.rest(ctx); err != nil {
		return nil, err
	}
	var files []string
	for _, ct := range contentTypes {
		dest := fmt.Sprintf("gs://%s/%s/%d/%s", bucket, prefix, time.Now().Unix(), strings.ToLower(ct.String()))
		op, err := client.ExportAssets(ctx, &assetpb.ExportAssetsRequest{Parent: s.opts.Scope, AssetTypes: s.opts.AssetTypes, ContentType: ct,
			OutputConfig: &assetpb.OutputConfig{Destination: &assetpb.OutputConfig_GcsDestination{GcsDestination: &assetpb.GcsDestination{
				ObjectUri: &assetpb.GcsDestination_UriPrefix{UriPrefix: dest}}}}}, s.retryOption())
		if err != nil {
			return nil, explainExport(err, s.opts.Scope)
		}
		if s.opts.Progress != nil {
			fmt.Fprintf(s.opts.Progress, "gcp: export of %s (%s) started: %s\n", s.opts.Scope, strings.ToLower(ct.String()), op.Name())
		}
		wctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
		_, err = op.Wait(wctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("gcp: export %s: %w", op.Name(), err)
		}
		objPrefix := strings.TrimPrefix(dest, "gs://"+bucket+"/")
		var names []string
		err = s.do(ctx, func() error {
			names = nil
			return s.gcs.Objects.List(bucket).Prefix(objPrefix).Pages(ctx, func(o *storage.Objects) error {
				for _, it := range o.Items {
					names = append(names, it.Name)
				}
				return nil
			})
		})
		if err != nil {
			return nil, explain(fmt.Errorf("gcp: list the export in gs://%s/%s: %w", bucket, objPrefix, err), "storage.objects.list")
		}
		sort.Strings(names)
		for i, name := range names {
			path := filepath.Join(dir, fmt.Sprintf("%s-%d.ndjson", strings.ToLower(ct.String()), i))
			if err := s.download(ctx, bucket, name, path, sum); err != nil {
				return nil, err
			}
			files = append(files, path)
		}
	}
	return files, nil
}

func explainExport(err error, scope string) error {
	err = explain(err, "cloudasset.assets.exportResource")
	return fmt.Errorf("gcp: export the assets of %s: %w", scope, err)
}

// download copies one exported object to path and counts its records
// (one asset per line) into the summary, as listing does.
func (s *session) download(ctx context.Context, bucket, name, path string, sum *Summary) error {
	return s.do(ctx, func() error {
		resp, err := s.gcs.Objects.Get(bucket, name).Context(ctx).Download()
		if err != nil {
			return explain(fmt.Errorf("gcp: download gs://%s/%s: %w", bucket, name, err), "storage.objects.get")
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		c := &recordCounter{}
		n, err := io.Copy(io.MultiWriter(f, c), resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		c.flush()
		sum.Pages++
		sum.Records += c.records
		for t, k := range c.types {
			sum.ByType[t] += k
		}
		if s.opts.Progress != nil {
			fmt.Fprintf(s.opts.Progress, "gcp: downloaded gs://%s/%s (%d bytes, %d records)\n", bucket, name, n, c.records)
		}
		return nil
	})
}

// recordCounter counts the NDJSON records going by and, for resource
// records, their asset types.
type recordCounter struct {
	line    []byte
	records int
	types   map[string]int
}

func (c *recordCounter) Write(p []byte) (int, error) {
	for _, b := range p {
		if b == '\n' {
			c.flush()
			continue
		}
		c.line = append(c.line, b)
	}
	return len(p), nil
}

func (c *recordCounter) flush() {
	if len(strings.TrimSpace(string(c.line))) == 0 {
		c.line = c.line[:0]
		return
	}
	c.records++
	var rec struct {
		AssetType string          `json:"asset_type"`
		Resource  json.RawMessage `json:"resource"`
	}
	if json.Unmarshal(c.line, &rec) == nil && rec.AssetType != "" && len(rec.Resource) > 0 {
		if c.types == nil {
			c.types = map[string]int{}
		}
		c.types[rec.AssetType]++
	}
	c.line = c.line[:0]
}

// GapMessages are the gaps' messages, as the CLI prints them.
func (s *Summary) GapMessages() []string {
	var out []string
	for _, g := range s.Gaps {
		out = append(out, g.Message)
	}
	return out
}
