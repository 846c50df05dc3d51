package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
)

// Options configure a scan.
type Options struct {
	Sources []inventory.Source
	Engine  *policy.Engine
	Waivers *policy.Waivers
	// Now is the clock waivers are judged by (default time.Now).
	Now func() time.Time
	// Workers evaluates deferred assets (default GOMAXPROCS); streamed
	// assets are evaluated on the source's own decoding goroutines.
	Workers int
	// Progress, if set, is called about every ProgressEvery assets and at
	// the end, from any goroutine.
	Progress      func(Progress)
	ProgressEvery int64
	// Assets, if set, sees every asset after it was judged (for writing a
	// normalized inventory alongside the scan). It may be called
	// concurrently.
	Assets func(*asset.Asset) error
	// Judge, if set, picks the assets to judge (a shard's slice, by
	// scope); the others are context only: cross-asset policies see them,
	// no policy judges them, and the summary does not count them. It may
	// be called concurrently.
	Judge func(*asset.Asset) bool
}

// Progress reports how far a scan is.
type Progress struct {
	Assets   int64
	Findings int64
	Phase    string // "reading", "cross-asset", "done"
}

// Result is a scan's outcome.
type Result struct {
	// Findings are in report order, waivers applied.
	Findings *FindingSet
	Summary  Summary
	// UnusedWaivers matched no finding.
	UnusedWaivers []*policy.Waiver `json:"-"`
}

// Summary counts what was read and found.
type Summary struct {
	Sources []string `json:"sources"`
	// Inputs are the files and live scopes read, one a name, when every
	// source could name them (nil otherwise): history compares scans
	// of the same inputs only.
	Inputs       []string         `json:"-"`
	Assets       int64            `json:"assets"`
	ByKind       map[string]int64 `json:"assets_by_kind"`
	ByProvider   map[string]int64 `json:"assets_by_provider"`
	UnknownTypes map[string]int64 `json:"unknown_types,omitempty"`
	Skipped      map[string]int64 `json:"skipped,omitempty"`
	// Plan figures (Terraform plans only): judged resources by planned
	// action, resource types without a mapping, and what was not judged:
	// deletions, unchanged (no-op) resources, forgotten and deferred ones,
	// data sources.
	Changes     map[string]int64 `json:"changes,omitempty"`
	Unmapped    map[string]int64 `json:"unmapped_types,omitempty"`
	Deleted     int64            `json:"planned_deletions,omitempty"`
	Unchanged   int64            `json:"unchanged,omitempty"`
	Forgotten   int64            `json:"forgotten,omitempty"`
	Deferred    int64            `json:"deferred,omitempty"`
	DataSources int64            `json:"data_sources,omitempty"`
	// IndexBytes is the size of the cross-asset index policies read as
	// data.vigil.inventory (as JSON): the one part of a scan's memory that
	// grows with the number of projects and accounts.
	IndexBytes int64          `json:"index_bytes"`
	Policies   int            `json:"policies"`
	Findings   int            `json:"findings"`
	BySeverity map[string]int `json:"findings_by_severity"`
	Waived     int            `json:"waived"`
	// EvalErrors are builtin errors inside policies (a conversion that
	// failed on some asset): the expression was treated as undefined.
	EvalErrors []policy.BuiltinError `json:"eval_errors,omitempty"`
	Expired    int                   `json:"waivers_expired"`
	Started    time.Time             `json:"started"`
	Duration   time.Duration         `json:"duration_ns"`
	// Phases say where the time went: reading and judging the assets,
	// the cross-asset policies, and ordering the findings.
	Phases struct {
		Read       time.Duration `json:"read_ns"`
		CrossAsset time.Duration `json:"cross_asset_ns"`
		Sort       time.Duration `json:"sort_ns"`
	} `json:"phases"`
}

// Run scans the sources. When ctx ends first, the error names the policy
// that was running, if one was (a *policy.StoppedError).
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Engine == nil {
		return nil, fmt.Errorf("scan: no policy engine")
	}
	res, err := scanAll(ctx, opts)
	if err != nil && ctx.Err() != nil {
		// Every evaluation has returned by now; some stopped between two
		// assets, and the first error may be theirs.
		if se := opts.Engine.Stopped(); se != nil {
			return nil, se
		}
	}
	return res, err
}

func scanAll(ctx context.Context, opts Options) (*Result, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	start := now()
	s := &state{
		ctx:   ctx,
		opts:  opts,
		index: NewIndex(),
		kinds: map[string]int64{}, providers: map[string]int64{}, unknown: map[string]int64{},
		deferredKinds: map[string]bool{},
		findings:      &FindingSet{},
		spool:         newSpool(),
	}
	s.index.SetClassLabels(opts.Engine.ClassLabels())
	defer s.spool.close()
	finished := false
	defer func() {
		if !finished {
			s.findings.Close()
		}
	}()
	every := opts.ProgressEvery
	if every <= 0 {
		every = 10000
	}
	s.every = every

	res := &Result{}
	inputsKnown := true
	for _, src := range opts.Sources {
		res.Summary.Sources = append(res.Summary.Sources, src.Describe())
		if err := src.Scan(ctx, s.emit); err != nil {
			return nil, err
		}
		// after reading: the inputs name the collection gaps files hold
		if in, ok := src.(interface{ Inputs() []string }); ok && in.Inputs() != nil {
			res.Summary.Inputs = append(res.Summary.Inputs, in.Inputs()...)
		} else {
			inputsKnown = false
		}
		if fs, ok := src.(*inventory.FileSet); ok {
			res.Summary.addFileStats(fs)
		}
	}
	if !inputsKnown {
		res.Summary.Inputs = nil
	}
	s.report("cross-asset")
	t1 := now()
	res.Summary.Phases.Read = t1.Sub(start)

	// Cross-asset policies: the index is complete now. The engine keeps its
	// own copy, converting ours away as it goes, and measures its size;
	// ours is let go before the deferred assets are judged.
	index := s.index.Data()
	s.index = nil
	if len(s.deferred) > 0 {
		n, err := opts.Engine.SetInventory(ctx, index)
		if err != nil {
			return nil, fmt.Errorf("scan: set inventory index: %w", err)
		}
		res.Summary.IndexBytes = n
		index = nil
		if err := s.evaluateDeferred(ctx); err != nil {
			return nil, err
		}
		s.deferred = nil
	} else {
		n, err := policy.JSONSize(index)
		if err != nil {
			return nil, fmt.Errorf("scan: inventory index: %w", err)
		}
		res.Summary.IndexBytes = n
	}

	t2 := now()
	res.Summary.Phases.CrossAsset = t2.Sub(t1)
	if err := s.findings.Finish(opts.Waivers, t2); err != nil {
		s.findings.Close()
		return nil, err
	}
	res.Findings = s.findings
	res.UnusedWaivers = opts.Waivers.UnusedIn(s.findings.All())

	sum := &res.Summary
	sum.Assets = s.assets.Load()
	sum.ByKind, sum.ByProvider = s.kinds, s.providers
	if len(s.unknown) > 0 {
		sum.UnknownTypes = s.unknown
	}
	sum.Policies = len(opts.Engine.Policies())
	sum.BySeverity = map[string]int{}
	for f := range s.findings.All() {
		sum.Findings++
		switch {
		case f.Waived:
			sum.Waived++
		default:
			sum.BySeverity[f.Severity]++
		}
		if f.WaiverExpired {
			sum.Expired++
		}
	}
	sum.EvalErrors = opts.Engine.BuiltinErrors()
	sum.Started = start
	end := now()
	sum.Duration = end.Sub(start)
	sum.Phases.Sort = end.Sub(t2)
	s.report("done")
	finished = true
	return res, nil
}

type state struct {
	ctx   context.Context
	opts  Options
	index *Index
	every int64

	assets atomic.Int64
	found  atomic.Int64

	mu            sync.Mutex
	kinds         map[string]int64
	providers     map[string]int64
	unknown       map[string]int64
	findings      *FindingSet
	deferred      []heldAsset
	deferredKinds map[string]bool
	spool         *spool
}

// heldAsset is an asset waiting for the cross-asset pass, as JSON: a copy
// sharing no memory with the decoder's buffers (which a retained asset
// would keep alive, a megabyte batch for one record), and without the
// native payload when no policy of its kind reads it.
type heldAsset struct {
	id     string
	off    int64
	n      int
	origin asset.Origin
}

func (s *state) detach(a *asset.Asset) (heldAsset, error) {
	c := *a
	if !s.opts.Engine.ReadsData(a.Kind) {
		c.Data = nil
	}
	raw, err := json.Marshal(&c)
	if err != nil {
		return heldAsset{}, fmt.Errorf("scan: hold %s: %w", a.ID, err)
	}
	s.mu.Lock()
	off, err := s.spool.put(raw)
	s.mu.Unlock()
	if err != nil {
		return heldAsset{}, err
	}
	return heldAsset{id: strings.Clone(a.ID), off: off, n: len(raw), origin: a.Origin}, nil
}

func (s *state) restore(h heldAsset) (*asset.Asset, error) {
	s.mu.Lock()
	raw, err := s.spool.get(h.off, h.n)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	a := &asset.Asset{}
	if err := gojson.Unmarshal(raw, a); err != nil {
		return nil, fmt.Errorf("scan: restore %s: %w", h.id, err)
	}
	a.Origin = h.origin
	return a, nil
}

func (s *state) emit(a *asset.Asset) error {
	if s.opts.Judge != nil && !s.opts.Judge(a) {
		s.index.Observe(a)
		return nil
	}
	n := s.assets.Add(1)
	s.index.Observe(a)
	s.mu.Lock()
	s.kinds[a.Kind]++
	s.providers[a.Provider]++
	if a.Kind == asset.KindOther {
		s.unknown[a.Type]++
	}
	deferred, ok := s.deferredKinds[a.Kind]
	if !ok {
		deferred = s.opts.Engine.Deferred(a.Kind)
		s.deferredKinds[a.Kind] = deferred
		if deferred {
			// ready the cross-asset query while the inventory is read
			go s.opts.Engine.Prepare(s.ctx, a.Kind, policy.CrossAsset)
		}
	}
	s.mu.Unlock()
	if deferred {
		d, err := s.detach(a)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.deferred = append(s.deferred, d)
		s.mu.Unlock()
	}
	if n%s.every == 0 {
		s.report("reading")
	}
	// The policies that judge the asset on its own run now; those that look
	// across assets run once the whole inventory is read.
	return s.judge(s.ctx, a, policy.Streamed)
}

func (s *state) judge(ctx context.Context, a *asset.Asset, part policy.Part) error {
	fs, err := s.opts.Engine.EvaluatePart(ctx, a, part)
	if err != nil {
		return err
	}
	if s.opts.Assets != nil && part == policy.Streamed {
		if err := s.opts.Assets(a); err != nil {
			return err
		}
	}
	if len(fs) == 0 {
		return nil
	}
	s.found.Add(int64(len(fs)))
	return s.findings.Add(fs...)
}

func (s *state) evaluateDeferred(ctx context.Context) error {
	n := s.opts.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	// Judge in a fixed order so that errors are reproducible.
	sort.SliceStable(s.deferred, func(i, j int) bool { return s.deferred[i].id < s.deferred[j].id })
	ch := make(chan heldAsset)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range ch {
				a, err := s.restore(h)
				if err == nil {
					err = s.judge(ctx, a, policy.CrossAsset)
				}
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
loop:
	for _, h := range s.deferred {
		select {
		case ch <- h:
		case <-ctx.Done():
			break loop
		}
	}
	close(ch)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func (s *state) report(phase string) {
	if s.opts.Progress != nil {
		s.opts.Progress(Progress{Assets: s.assets.Load(), Findings: s.found.Load(), Phase: phase})
	}
}

// Failing counts the findings that make the exit code non-zero: not
// waived, and at or above the failOn severity ("none" fails nothing).
func (s *Summary) Failing(failOn string) int {
	if failOn == "none" {
		return 0
	}
	n := 0
	for sev, c := range s.BySeverity {
		if policy.SeverityRank(sev) >= policy.SeverityRank(failOn) {
			n += c
		}
	}
	return n
}

func (s *Summary) addFileStats(fs *inventory.FileSet) {
	add := func(dst *map[string]int64, src map[string]int64) {
		for k, v := range src {
			if *dst == nil {
				*dst = map[string]int64{}
			}
			(*dst)[k] += v
		}
	}
	add(&s.Skipped, fs.Skipped())
	if ps := fs.PlanStats(); ps != nil {
		add(&s.Changes, ps.Actions)
		add(&s.Unmapped, ps.Unmapped)
		s.Deleted += ps.Deleted
		s.Unchanged += ps.Unchanged
		s.Forgotten += ps.Forgotten
		s.Deferred += ps.Deferred
		s.DataSources += ps.DataSources
	}
}
