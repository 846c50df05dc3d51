package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/limits"
)

// Source produces assets: inventory files, or a live collector. Scan may
// call emit from several goroutines at once; an error from emit stops it.
type Source interface {
	Scan(ctx context.Context, emit func(*asset.Asset) error) error
	// Describe names the source for summaries ("2 files: a.json, b.ndjson").
	Describe() string
}

// Collector is a live source (a cloud account or organization). It has the
// same contract as Source; the name says where the assets come from.
type Collector = Source

// FileSet is a set of inventory files read as one inventory: Cloud Asset
// Inventory exports, AWS Config snapshots and items, vigil NDJSON and
// Terraform plans, in any mix. Records are streamed and normalized on all
// cores; nothing but a few batches of the input is held in memory.
type FileSet struct {
	// Workers is the number of decoding goroutines (default: GOMAXPROCS).
	Workers int
	// PlanSource, when set, gives the Terraform configuration of a plan
	// file (or nil), so that dynamic blocks are told from unset arguments.
	PlanSource func(planPath string) *TFSource
	// Names, when set, is how Files and Describe name a path: a copy of
	// standard input in a temporary file is "-" to the user.
	Names map[string]string

	files   []*inputFile
	named   []string // the paths given to Open, cleaned
	skipped sync.Map // reason -> *atomic.Int64

	gapMu sync.Mutex
	gaps  []Gap // what the collections that wrote the files could not read

	planMu sync.Mutex
	plans  *PlanStats
}

func (s *FileSet) addPlanStats(ps *PlanStats) {
	s.planMu.Lock()
	defer s.planMu.Unlock()
	if s.plans == nil {
		s.plans = &PlanStats{Actions: map[string]int64{}, Unmapped: map[string]int64{}}
	}
	for k, v := range ps.Actions {
		s.plans.Actions[k] += v
	}
	for k, v := range ps.Unmapped {
		s.plans.Unmapped[k] += v
	}
	s.plans.Deleted += ps.Deleted
	s.plans.Unchanged += ps.Unchanged
	s.plans.Forgotten += ps.Forgotten
	s.plans.Deferred += ps.Deferred
	s.plans.DataSources += ps.DataSources
	s.plans.Notes = append(s.plans.Notes, ps.Notes...)
}

// PlanStats returns what the Terraform plans among the files held beyond
// their assets, or nil when there were none.
func (s *FileSet) PlanStats() *PlanStats {
	s.planMu.Lock()
	defer s.planMu.Unlock()
	return s.plans
}

type inputFile struct {
	path string
	det  detected
	size int64 // when Open ran; buffers are sized by it
	// read is how far the main pass has read the file (BytesRead).
	read atomic.Int64
}

// bufSize is a buffer for reading the file: want bytes, or less for a
// small file (a directory of a thousand small AWS Config items must not
// cost a thousand large buffers).
func (in *inputFile) bufSize(want int) int {
	if in.size >= 0 && in.size+1 < int64(want) {
		return int(in.size + 1)
	}
	return want
}

// inventoryExt are the file extensions taken from a directory.
var inventoryExt = map[string]bool{".json": true, ".ndjson": true, ".jsonl": true, ".dump": true}

// Open expands directories (recursively, files ending in .json, .ndjson,
// .jsonl or .dump) and detects each file's format from its content.
func Open(paths ...string) (*FileSet, error) {
	fset := &FileSet{}
	var files []string
	for _, p := range paths {
		fset.named = append(fset.named, filepath.Clean(p))
		st, err := os.Stat(p)
		if err != nil {
			return nil, &ParseError{File: p, Err: errors.Unwrap(err)}
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !d.IsDir() && inventoryExt[strings.ToLower(filepath.Ext(path))] {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, &ParseError{File: p, Err: errors.New("directory has no inventory files (*.json, *.ndjson, *.jsonl, *.dump)")}
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	for _, p := range files {
		d, err := detect(p)
		if err != nil {
			return nil, err
		}
		size := int64(-1)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		fset.files = append(fset.files, &inputFile{path: p, det: d, size: size})
	}
	return fset, nil
}

// Files lists the files with their detected formats.
// Bytes is the total size of the files, as far as it can be known.
func (s *FileSet) Bytes() int64 {
	var n int64
	for _, in := range s.files {
		if fi, err := os.Stat(in.path); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// BytesRead is how much of the files the scan has read so far, for a
// progress bar against Bytes: the files done, and the offset reached in
// the one being read (the pre-pass of CAI exports is not counted).
func (s *FileSet) BytesRead() int64 {
	var n int64
	for _, in := range s.files {
		n += min(in.read.Load(), max(in.size, 0))
	}
	return n
}

func (s *FileSet) Files() map[string]Format {
	out := map[string]Format{}
	for _, f := range s.files {
		out[s.name(f.path)] = f.det.format
	}
	return out
}

// Inputs are the files and directories read, as given to Open: a
// directory is one input whatever files it holds today (a daily export
// under a new name is the same input). Standard input is "-".
//
// Once the files are read, the inputs also name each collection gap they
// hold (see Gap): a scan of an incomplete collection is not compared with
// one of a complete collection.
func (s *FileSet) Inputs() []string {
	out := make([]string, len(s.named))
	for i, p := range s.named {
		out[i] = s.name(p)
	}
	return append(out, gapInputs(s.CollectionGaps())...)
}

// CollectionGaps are the gaps of the collections that wrote the files
// read (vigil NDJSON records "vigil_gap", ListOccurrences pages naming
// unreachable regions), in the order met.
func (s *FileSet) CollectionGaps() []Gap {
	s.gapMu.Lock()
	defer s.gapMu.Unlock()
	return slices.Clone(s.gaps)
}

func (s *FileSet) addGap(g Gap) {
	s.gapMu.Lock()
	defer s.gapMu.Unlock()
	if !slices.Contains(s.gaps, g) {
		s.gaps = append(s.gaps, g)
	}
}

func (s *FileSet) name(path string) string {
	if n, ok := s.Names[path]; ok {
		return n
	}
	return path
}

// Describe implements Source.
func (s *FileSet) Describe() string {
	names := make([]string, len(s.files))
	for i, f := range s.files {
		names[i] = s.name(f.path)
	}
	if len(names) == 1 {
		return names[0]
	}
	return fmt.Sprintf("%d files: %s", len(names), strings.Join(names, ", "))
}

// Skipped counts records that were read but deliberately not turned into
// assets, by reason, so that nothing is dropped silently.
func (s *FileSet) Skipped() map[string]int64 {
	out := map[string]int64{}
	s.skipped.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

func (s *FileSet) skip(reason string) {
	v, _ := s.skipped.LoadOrStore(reason, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (s *FileSet) workers() int {
	if s.Workers > 0 {
		return s.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// Scan implements Source.
func (s *FileSet) Scan(ctx context.Context, emit func(*asset.Asset) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// Pre-pass: IAM policies and the resource hierarchy, from every CAI file,
	// before any asset is built, so a resource meets its IAM policy and its
	// project id wherever in the input they are.
	x := newCAIIndex()
	for _, in := range s.files {
		if in.det.format != FormatCAI {
			continue
		}
		err := visitPrepass(ctx, in, func(data []byte, line int, off int64) error {
			if !wantsPrepass(data) {
				return nil
			}
			if err := checkRecord(in, record{data: data, line: line, offset: off}); err != nil {
				return err
			}
			if err := x.learn(data); err != nil {
				return recordError(in, record{line: line, offset: off}, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}

	n := s.workers()
	trackers := make([]*scopeTracker, n+1)
	for i := range trackers {
		trackers[i] = newScopeTracker()
	}
	var (
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel(err) })
	}
	ch := make(chan *batch, 2*n)
	for i := 0; i < n; i++ {
		t := trackers[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range ch {
				if ctx.Err() != nil {
					continue // drain
				}
				if err := s.process(x, b, t, emit); err != nil {
					fail(err)
				}
			}
		}()
	}
	send := func(b *batch) error {
		select {
		case ch <- b:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	serial := trackers[n]
	var insp *inspectorImport
	var occ *occurrenceImport
	for _, in := range s.files {
		var err error
		switch {
		case in.det.format == FormatInspector:
			if insp == nil {
				insp = newInspectorImport()
			}
			err = insp.read(ctx, s, in)
		case in.det.format == FormatOccurrences:
			if occ == nil {
				occ = newOccurrenceImport()
			}
			err = occ.read(ctx, s, in)
		case in.det.format == FormatTerraformPlan:
			err = s.scanPlan(in, serial, emit)
		case in.det.format == FormatAWSConfig && in.det.layout == layoutConfigDoc && !in.det.snapshot:
			err = s.scanHistory(ctx, in, serial, emit)
		default:
			err = readRecords(ctx, in, send)
		}
		if err != nil {
			fail(err)
			break
		}
		in.read.Store(in.size)
	}
	close(ch)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}

	// Inspector findings are grouped by instance, Artifact Analysis
	// occurrences by image, over all their files (pages of one listing may
	// be split over several).
	var grouped []*asset.Asset
	if insp != nil {
		reports, err := insp.assets()
		if err != nil {
			return err
		}
		grouped = append(grouped, reports...)
	}
	if occ != nil {
		reports, err := occ.assets(x)
		if err != nil {
			return err
		}
		grouped = append(grouped, reports...)
	}
	for _, a := range grouped {
		serial.observe(a)
		if err := emit(a); err != nil {
			return err
		}
	}

	// IAM policies whose resource never appeared become assets of their own.
	left, err := x.leftovers(asset.SourceCAIExport)
	if err != nil {
		return err
	}
	sort.Slice(left, func(i, j int) bool { return left[i].ID < left[j].ID })
	for _, a := range left {
		serial.observe(a)
		if err := emit(a); err != nil {
			return err
		}
	}
	for _, a := range synthesizeScopes(trackers) {
		if err := emit(a); err != nil {
			return err
		}
	}
	return nil
}

// process decodes one batch.
func (s *FileSet) process(x *caiIndex, b *batch, t *scopeTracker, emit func(*asset.Asset) error) error {
	in := b.file
	for _, r := range b.recs {
		if err := checkRecord(in, r); err != nil {
			return err
		}
		var a *asset.Asset
		var err error
		switch in.det.format {
		case FormatCAI:
			var other bool
			a, other, err = x.decodeCAI(r.data, asset.SourceCAIExport)
			if other {
				s.skip("CAI records of other content types (org policy, access policy, relationships)")
			}
		case FormatAWSConfig:
			var ci *ConfigItem
			a, ci, err = decodeConfigItem(r.data, asset.SourceAWSConfig)
			if err == nil && ci.deleted() {
				s.skip("AWS Config items of deleted resources")
				a = nil
			}
		case FormatVigil:
			var gap *Gap
			if a, gap, err = decodeVigilRecord(r.data); gap != nil {
				s.addGap(*gap)
			}
		default:
			err = fmt.Errorf("unexpected format %s", in.det.format)
		}
		if err != nil {
			return recordError(in, r, err)
		}
		if a == nil {
			continue
		}
		a.Origin = asset.Origin{File: s.name(in.path), Line: r.line, Offset: r.offset, Seq: r.seq}
		t.observe(a)
		if err := emit(a); err != nil {
			return err
		}
	}
	return nil
}

// scanHistory reads configuration history (several items per resource) and
// keeps the newest item of each resource; a resource whose newest item says
// it was deleted is not judged.
func (s *FileSet) scanHistory(ctx context.Context, in *inputFile, t *scopeTracker, emit func(*asset.Asset) error) error {
	type item struct {
		a       *asset.Asset
		key     string
		deleted bool
	}
	latest := map[string]*item{}
	var order []string
	err := readRecords(ctx, in, func(b *batch) error {
		for _, r := range b.recs {
			if err := checkRecord(in, r); err != nil {
				return err
			}
			a, ci, err := decodeConfigItem(r.data, asset.SourceAWSConfig)
			if err != nil {
				return recordError(in, r, err)
			}
			a.Origin = asset.Origin{File: s.name(in.path), Offset: r.offset, Seq: r.seq}
			it := &item{a: a, key: ci.captureKey(), deleted: ci.deleted()}
			prev, ok := latest[a.ID]
			if !ok {
				order = append(order, a.ID)
			}
			if !ok || it.key >= prev.key {
				if ok {
					s.skip("older AWS Config items of the same resource")
				}
				latest[a.ID] = it
			} else {
				s.skip("older AWS Config items of the same resource")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range order {
		it := latest[id]
		if it.deleted {
			s.skip("AWS Config items of deleted resources")
			continue
		}
		t.observe(it.a)
		if err := emit(it.a); err != nil {
			return err
		}
	}
	return nil
}

// checkRecord refuses a record past the nesting and size limits before
// any decoder recurses into it.
func checkRecord(in *inputFile, r record) error {
	le := limits.JSON(r.data)
	if le == nil {
		return nil
	}
	line := r.line
	if line == 0 {
		line = LineAt(in.path, r.offset)
	}
	return &ParseError{File: in.path, Line: line + le.Line - 1, Err: errors.New(le.Msg)}
}

func recordError(in *inputFile, r record, err error) error {
	var pe *ParseError
	if errors.As(err, &pe) {
		return err
	}
	line := r.line
	if line == 0 {
		line = LineAt(in.path, r.offset)
	}
	return &ParseError{File: in.path, Line: line, Err: err}
}

// decodeVigilRecord reads one line of vigil NDJSON: an asset, or a gap of
// the collection that wrote the file ({"vigil_gap": {"part", "message"}}).
func decodeVigilRecord(raw []byte) (*asset.Asset, *Gap, error) {
	if bytes.Contains(raw, []byte(`"vigil_gap"`)) {
		var r struct {
			Gap *Gap `json:"vigil_gap"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, nil, jsonError(err)
		}
		if r.Gap != nil {
			if r.Gap.Part == "" {
				return nil, nil, errors.New("vigil_gap has no part: it must name what the collection did not read")
			}
			return nil, r.Gap, nil
		}
	}
	a, err := decodeVigil(raw)
	return a, nil, err
}

// decodeVigil reads one asset of vigil's own NDJSON.
func decodeVigil(raw []byte) (*asset.Asset, error) {
	var a asset.Asset
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, jsonError(err)
	}
	switch {
	case a.ID == "":
		return nil, errors.New("vigil asset has no id")
	case a.Provider == "":
		return nil, fmt.Errorf("vigil asset %s has no provider", a.ID)
	case a.Kind == "":
		return nil, fmt.Errorf("vigil asset %s has no kind", a.ID)
	}
	if a.Source == "" {
		a.Source = asset.SourceVigil
	}
	if a.Region == "" {
		a.Region = "global"
	}
	return &a, nil
}

// scopeTracker notes, per worker, which projects and accounts assets named
// and which of them the inventory itself contains.
type scopeTracker struct {
	seen map[scopeKey]asset.Origin
	have map[scopeKey]bool
	src  map[scopeKey]string
}

type scopeKey struct{ provider, scope string }

func newScopeTracker() *scopeTracker {
	return &scopeTracker{seen: map[scopeKey]asset.Origin{}, have: map[scopeKey]bool{}, src: map[scopeKey]string{}}
}

func (t *scopeTracker) observe(a *asset.Asset) {
	// A plan is a change set, not a whole project or account: judging a
	// made-up project for its audit logs would only be noise in CI.
	if a.Scope == "" || a.Source == asset.SourceTerraformPlan {
		return
	}
	k := scopeKey{a.Provider, a.Scope}
	// Keys are copied when stored: the asset's strings may share memory
	// with the decoder's buffers, which the tracker must not keep alive.
	if asset.ScopeKinds[a.Kind] {
		if !t.have[k] {
			t.have[k.clone()] = true
		}
		return
	}
	if _, ok := t.seen[k]; !ok {
		k = k.clone()
		t.seen[k] = a.Origin
		t.src[k] = strings.Clone(a.Source)
	}
}

func (k scopeKey) clone() scopeKey {
	return scopeKey{strings.Clone(k.provider), strings.Clone(k.scope)}
}

// synthesizeScopes makes one scope asset for every GCP project or AWS
// account that assets named but the inventory did not contain, so that
// account-level policies have something to attach to.
func synthesizeScopes(ts []*scopeTracker) []*asset.Asset {
	have := map[scopeKey]bool{}
	seen := map[scopeKey]asset.Origin{}
	src := map[scopeKey]string{}
	for _, t := range ts {
		for k := range t.have {
			have[k] = true
		}
		for k, o := range t.seen {
			if prev, ok := seen[k]; !ok || o.File < prev.File || (o.File == prev.File && o.Seq < prev.Seq) {
				seen[k] = o
				src[k] = t.src[k]
			}
		}
	}
	var out []*asset.Asset
	for k, o := range seen {
		if have[k] {
			continue
		}
		a := &asset.Asset{Provider: k.provider, Scope: k.scope, Name: k.scope, Region: "global", Source: src[k], Origin: o}
		a.Facets.Synthesized = true
		switch k.provider {
		case asset.GCP:
			if strings.Contains(k.scope, "/") { // folders/..., organizations/..., billingAccounts/...
				continue
			}
			a.ID = asset.ProjectID(k.scope)
			a.Type = "cloudresourcemanager.googleapis.com/Project"
			a.Kind = asset.KindProject
		case asset.AWS:
			a.ID = asset.AccountID(k.scope)
			a.Type = "AWS::::Account"
			a.Kind = asset.KindAccount
		default:
			continue
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
