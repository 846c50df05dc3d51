package gcp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	asset "cloud.google.com/go/asset/apiv1"
	"cloud.google.com/go/asset/apiv1/assetpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	vasset "github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
)

// Ref names one asset to read again: what a cloud event changed.
type Ref struct {
	// Name is the CAI full resource name (the asset id).
	Name string
	// Project is the project id or number the asset is in (the parent of
	// the read).
	Project string
	// After is when the change happened: a version of the asset older
	// than that (by more than Skew) is the Cloud Asset API not having
	// caught up yet.
	After time.Time
	// MustExist: the asset was just made, so not finding it means it is
	// not visible yet.
	MustExist bool
}

// Skew is how far an asset's update time may precede the event that
// changed it (a long-running operation's last log entry follows the
// update).
const Skew = 30 * time.Second

// Read is what a Reader found: the assets, and the ids of those that no
// longer exist.
type Read struct {
	Assets []*vasset.Asset
	Gone   []string
}

// NotVisibleError is returned for assets the Cloud Asset API does not show
// in their changed form yet; a later read finds them.
type NotVisibleError struct{ Names []string }

func (e *NotVisibleError) Error() string {
	return fmt.Sprintf("gcp: not visible yet in Cloud Asset Inventory: %s", strings.Join(e.Names, ", "))
}

// Reader reads named assets through the Cloud Asset API
// (BatchGetAssetsHistory, RESOURCE and IAM_POLICY content) and normalizes
// them with the loader a collection uses. It is safe for concurrent use.
type Reader struct {
	s      *session
	client *asset.Client
}

// NewReader connects to the Cloud Asset API.
func NewReader(ctx context.Context, opts Options) (*Reader, error) {
	opts.defaults()
	s := &session{opts: opts}
	c, err := s.assetClient(ctx)
	if err != nil {
		return nil, err
	}
	return &Reader{s: s, client: c}, nil
}

// Close closes the client.
func (r *Reader) Close() error { return r.client.Close() }

// projectPrefix begins the Cloud Asset name of a project.
const projectPrefix = "//cloudresourcemanager.googleapis.com/projects/"

// Read reads the assets again, by project (a read names at most 100). A
// project may be named by its id (audit logs name projects so, Cloud Asset
// by number): it is found under itself first (see projectName).
func (r *Reader) Read(ctx context.Context, refs []Ref) (*Read, error) {
	refs = slices.Clone(refs)
	var unresolved []Ref
	for i := 0; i < len(refs); i++ {
		id, ok := strings.CutPrefix(refs[i].Name, projectPrefix)
		if !ok || isNumber(id) || strings.Contains(id, "/") {
			continue
		}
		name, err := r.projectName(ctx, id)
		if err != nil {
			return nil, err
		}
		if name == "" {
			unresolved = append(unresolved, refs[i])
			refs = slices.Delete(refs, i, i+1)
			i--
			continue
		}
		refs[i].Name = name
	}
	out, err := r.read(ctx, refs)
	if out == nil {
		return nil, err
	}
	var invisible []string
	var nv *NotVisibleError
	if errors.As(err, &nv) {
		invisible = nv.Names
	} else if err != nil {
		return nil, err
	}
	for _, ref := range unresolved {
		if ref.MustExist {
			invisible = append(invisible, ref.Name)
		} else {
			out.Gone = append(out.Gone, ref.Name)
		}
	}
	sort.Strings(out.Gone)
	if len(invisible) > 0 {
		sort.Strings(invisible)
		return out, &NotVisibleError{Names: invisible}
	}
	return out, nil
}

// projectName finds the Cloud Asset name (by number) of a project named
// by its id: ListAssets under the project, for its Project asset (the
// parent may be projects/ID). A project Cloud Asset does not show yet is
// "".
func (r *Reader) projectName(ctx context.Context, id string) (string, error) {
	var name string
	err := r.s.do(ctx, func() error {
		it := r.client.ListAssets(ctx, &assetpb.ListAssetsRequest{Parent: "projects/" + id, AssetTypes: []string{"cloudresourcemanager.googleapis.com/Project"},
			ContentType: assetpb.ContentType_RESOURCE, PageSize: 10}, r.s.retryOption())
		for {
			a, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return nil
			}
			if status.Code(err) == codes.NotFound {
				return nil // not there yet
			}
			if err != nil {
				return err
			}
			if strings.HasPrefix(a.Name, projectPrefix) && isNumber(strings.TrimPrefix(a.Name, projectPrefix)) {
				name = a.Name
				return nil
			}
		}
	})
	if err != nil {
		return "", fmt.Errorf("gcp: find project %s: %w", id, explain(err, "cloudasset.assets.listResource"))
	}
	return name, nil
}

func (r *Reader) read(ctx context.Context, refs []Ref) (*Read, error) {
	if len(refs) == 0 {
		return &Read{}, nil
	}
	byProject := map[string][]Ref{}
	for _, ref := range refs {
		byProject[ref.Project] = append(byProject[ref.Project], ref)
	}
	dir, err := os.MkdirTemp("", "vigil-gcp-read-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var files []string
	seen := map[string]bool{}
	var stale []string
	for _, project := range slices.Sorted(maps.Keys(byProject)) {
		group := byProject[project]
		for start := 0; start < len(group); start += 100 {
			chunk := group[start:min(start+100, len(group))]
			path := filepath.Join(dir, fmt.Sprintf("%s-%d.ndjson", strings.ReplaceAll(project, "/", "_"), start))
			st, err := r.readChunk(ctx, project, chunk, path, seen)
			if err != nil {
				return nil, err
			}
			stale = append(stale, st...)
			files = append(files, path)
		}
	}
	out := &Read{}
	if len(seen) > 0 {
		inv, err := inventory.Load(ctx, files...)
		if err != nil {
			return nil, fmt.Errorf("gcp: read the assets: %w", err)
		}
		out.Assets = inv.Assets()
	}
	var invisible []string
	for _, ref := range refs {
		switch {
		case slices.Contains(stale, ref.Name):
			invisible = append(invisible, ref.Name)
		case seen[ref.Name]:
		case ref.MustExist:
			invisible = append(invisible, ref.Name)
		default:
			out.Gone = append(out.Gone, ref.Name)
		}
	}
	// A stale or not yet visible asset is not reported in its old form.
	// An IAM policy without its resource is no asset either.
	out.Assets = slices.DeleteFunc(out.Assets, func(a *vasset.Asset) bool { return slices.Contains(invisible, a.ID) || !seen[a.ID] })
	sort.Strings(out.Gone)
	if len(invisible) > 0 {
		sort.Strings(invisible)
		return out, &NotVisibleError{Names: invisible}
	}
	return out, nil
}

// readChunk writes the current RESOURCE and IAM_POLICY records of up to 100
// assets as CAI NDJSON, and returns the names whose newest version is
// older than the change that named them.
func (r *Reader) readChunk(ctx context.Context, project string, refs []Ref, path string, seen map[string]bool) ([]string, error) {
	names := make([]string, len(refs))
	after := map[string]time.Time{}
	asked := map[string]bool{}
	for i, ref := range refs {
		names[i] = ref.Name
		after[ref.Name] = ref.After
		asked[ref.Name] = true
	}
	// The project's compute metadata (project-wide SSH keys, OS Login) is
	// what its assets inherit: read it too, as context, as a collection
	// would have it. Cloud Asset names it by project id.
	if md := "//compute.googleapis.com/projects/" + project; !strings.Contains(project, "/") && !isNumber(project) && !asked[md] && len(names) < 100 {
		names = append(names, md)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	var stale []string
	parent := project
	if !strings.Contains(parent, "/") {
		parent = "projects/" + project
	}
	for _, ct := range contentTypes {
		var resp *assetpb.BatchGetAssetsHistoryResponse
		err := r.s.do(ctx, func() error {
			var err error
			resp, err = r.client.BatchGetAssetsHistory(ctx, &assetpb.BatchGetAssetsHistoryRequest{Parent: parent, AssetNames: names, ContentType: ct}, r.s.retryOption())
			return err
		})
		if err != nil {
			// BatchGetAssetsHistory needs the export permissions.
			err = explain(err, "cloudasset.assets.exportResource")
			return nil, fmt.Errorf("gcp: read %d assets of %s: %w", len(names), parent, err)
		}
		// The newest window of each asset is its current state.
		newest := map[string]*assetpb.TemporalAsset{}
		for _, ta := range resp.Assets {
			if ta.Asset == nil {
				continue
			}
			cur := newest[ta.Asset.Name]
			if cur == nil || ta.GetWindow().GetStartTime().AsTime().After(cur.GetWindow().GetStartTime().AsTime()) {
				newest[ta.Asset.Name] = ta
			}
		}
		for _, name := range slices.Sorted(maps.Keys(newest)) {
			ta := newest[name]
			if ta.Deleted {
				continue
			}
			if t := after[name]; !t.IsZero() && ta.GetWindow().GetStartTime().AsTime().Before(t.Add(-Skew)) {
				if !slices.Contains(stale, name) {
					stale = append(stale, name)
				}
				continue
			}
			raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(ta.Asset)
			if err != nil {
				return nil, err
			}
			w.Write(raw)
			w.WriteByte('\n')
			if ct == assetpb.ContentType_RESOURCE && asked[name] {
				seen[name] = true
			}
		}
	}
	return stale, w.Flush()
}

// isNumber reports whether s is a project number rather than an id (ids
// start with a letter).
func isNumber(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
