package scan

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

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
}

// Progress reports how far a scan is.
type Progress struct {
	Assets   int64
	Findings int64
	Phase    string // "reading", "cross-asset", "done"
}

// Result is a scan's outcome.
type Result struct {
	Findings []policy.Finding `json:"findings"`
	Summary  Summary          `json:"summary"`
	// UnusedWaivers matched no finding.
	UnusedWaivers []*policy.Waiver `json:"-"`
}

// Summary counts what was read and found.
type Summary struct {
	Sources      []string         `json:"sources"`
	Assets       int64            `json:"assets"`
	ByKind       map[string]int64 `json:"assets_by_kind"`
	ByProvider   map[string]int64 `json:"assets_by_provider"`
	UnknownTypes map[string]int64 `json:"unknown_types,omitempty"`
	Skipped      map[string]int64 `json:"skipped,omitempty"`
	// Plan figures (Terraform plans only): judged resources by planned
	// action, resource types without a mapping, deletions and data sources
	// that were not judged.
	Changes     map[string]int64 `json:"changes,omitempty"`
	Unmapped    map[string]int64 `json:"unmapped_types,omitempty"`
	Deleted     int64            `json:"planned_deletions,omitempty"`
	DataSources int64            `json:"data_sources,omitempty"`
	Policies    int              `json:"policies"`
	Findings    int              `json:"findings"`
	BySeverity  map[string]int   `json:"findings_by_severity"`
	Waived      int              `json:"waived"`
	// EvalErrors are builtin errors inside policies (a conversion that
	// failed on some asset): the expression was treated as undefined.
	EvalErrors []policy.BuiltinError `json:"eval_errors,omitempty"`
	Expired    int                   `json:"waivers_expired"`
	Started    time.Time             `json:"started"`
	Duration   time.Duration         `json:"duration_ns"`
}

// Run scans the sources.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Engine == nil {
		return nil, fmt.Errorf("scan: no policy engine")
	}
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
	}
	every := opts.ProgressEvery
	if every <= 0 {
		every = 10000
	}
	s.every = every

	res := &Result{}
	for _, src := range opts.Sources {
		res.Summary.Sources = append(res.Summary.Sources, src.Describe())
		if err := src.Scan(ctx, s.emit); err != nil {
			return nil, err
		}
		if fs, ok := src.(*inventory.FileSet); ok {
			res.Summary.addFileStats(fs)
		}
	}
	s.report("cross-asset")

	// Cross-asset policies: the index is complete now.
	if len(s.deferred) > 0 {
		if err := opts.Engine.SetInventory(ctx, s.index.Data()); err != nil {
			return nil, fmt.Errorf("scan: set inventory index: %w", err)
		}
		if err := s.evaluateDeferred(ctx); err != nil {
			return nil, err
		}
	}

	findings := s.findings
	policy.Sort(findings)
	findings = policy.Dedupe(findings)
	if err := resolveLines(findings); err != nil {
		return nil, err
	}
	opts.Waivers.Apply(findings, now())
	res.Findings = findings
	res.UnusedWaivers = opts.Waivers.Unused(findings)

	sum := &res.Summary
	sum.Assets = s.assets.Load()
	sum.ByKind, sum.ByProvider = s.kinds, s.providers
	if len(s.unknown) > 0 {
		sum.UnknownTypes = s.unknown
	}
	sum.Policies = len(opts.Engine.Policies())
	sum.BySeverity = map[string]int{}
	for _, f := range findings {
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
	sum.Duration = now().Sub(start)
	s.report("done")
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
	findings      []policy.Finding
	deferred      []*asset.Asset
	deferredKinds map[string]bool
}

func (s *state) emit(a *asset.Asset) error {
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
	}
	if deferred {
		s.deferred = append(s.deferred, a)
	}
	s.mu.Unlock()
	if n%s.every == 0 {
		s.report("reading")
	}
	if deferred {
		return nil
	}
	return s.judge(s.ctx, a)
}

func (s *state) judge(ctx context.Context, a *asset.Asset) error {
	fs, err := s.opts.Engine.Evaluate(ctx, a)
	if err != nil {
		return err
	}
	if s.opts.Assets != nil {
		if err := s.opts.Assets(a); err != nil {
			return err
		}
	}
	if len(fs) == 0 {
		return nil
	}
	s.found.Add(int64(len(fs)))
	s.mu.Lock()
	s.findings = append(s.findings, fs...)
	s.mu.Unlock()
	return nil
}

func (s *state) evaluateDeferred(ctx context.Context) error {
	n := s.opts.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	// Judge in input order so that errors are reproducible.
	sort.SliceStable(s.deferred, func(i, j int) bool { return s.deferred[i].ID < s.deferred[j].ID })
	ch := make(chan *asset.Asset)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range ch {
				if err := s.judge(ctx, a); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
loop:
	for _, a := range s.deferred {
		select {
		case ch <- a:
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

// resolveLines fills in the line of findings whose asset came from a JSON
// document (where only the byte offset was known while streaming).
func resolveLines(fs []policy.Finding) error {
	byFile := map[string][]int{}
	for i := range fs {
		if fs[i].Line == 0 && fs[i].File != "" {
			byFile[fs[i].File] = append(byFile[fs[i].File], i)
		}
	}
	for file, idx := range byFile {
		offs := make([]int64, len(idx))
		for j, i := range idx {
			offs[j] = fs[i].Offset()
		}
		lines, err := inventory.LinesAt(file, offs)
		if err != nil {
			continue // the file is gone; the line is a nicety
		}
		for j, i := range idx {
			fs[i].Line = lines[j]
		}
	}
	return nil
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
		s.DataSources += ps.DataSources
	}
}
