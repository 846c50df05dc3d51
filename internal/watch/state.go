package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/internal/store"
)

// state is the watcher's view of the cloud: the last recorded inventory
// with the assets read since, the cross-asset index policies read, and the
// open findings of every asset (for triage cards). One lock guards it:
// evaluations share it, changes take it alone, because the engine's index
// may only be replaced while nothing evaluates.
type state struct {
	engine  *policy.Engine
	waivers *policy.Waivers
	now     func() time.Time

	mu       sync.RWMutex
	inv      *inventory.Inventory
	readAt   map[string]time.Time // when each asset was last read live
	index    *scan.Index
	findings map[string][]policy.Finding
	version  int // bumped by every change, for snapshots
	// builtAt is when the index was last rebuilt; exposureStale says that
	// a change of what the exposure join reads (a firewall opened, an
	// instance's public IP) is not in it yet (see exposureEvery).
	builtAt       time.Time
	exposureStale bool

	snapMu      sync.Mutex
	snapVersion int
	snapPath    string
}

// scopeFacts are the kinds whose change alters what the policies of their
// project or account conclude (a trail, a detector, the account's public
// access block, a hierarchy node): the scope's own asset is judged again.
var scopeFacts = map[string]bool{asset.KindTrail: true, asset.KindDetector: true, "public_access_block": true,
	asset.KindProject: true, asset.KindFolder: true, asset.KindOrganization: true}

// indexed is what an asset alone contributes to the cross-asset index.
func indexed(a *asset.Asset) map[string]any {
	x := scan.NewIndex()
	x.Observe(a)
	return x.Data()
}

// indexChange reports how a changed asset contributes to the cross-asset
// index differently from the asset it replaces: in the facts of its scope
// or hierarchy node (a sink's filter, a trail stopped, a region moved), or
// in what the exposure join reads (a firewall opened to the world, an
// instance given a public IP).
func indexChange(old, a *asset.Asset) (facts, exposure bool) {
	if old.Scope != a.Scope {
		return true, true
	}
	o, n := indexed(old), indexed(a)
	oe, ne := o["exposure"], n["exposure"]
	delete(o, "exposure")
	delete(n, "exposure")
	return !reflect.DeepEqual(o, n), !reflect.DeepEqual(oe, ne)
}

// exposureEvery bounds how often exposure changes alone rebuild the index.
// A rebuild writes the whole index into the policy engine, whose cost
// grows with the world-open rules and exposed instances: one per event
// when a burst of firewall changes arrives (each opening a rule) would
// serialize the watcher behind it. The event's own assets are judged on
// their own facets at once; the exposure join of other assets sees the
// change from the first event at least exposureEvery after the last
// rebuild.
const exposureEvery = 2 * time.Second

// load sets the inventory: the baseline, then the assets the watch read
// after the baseline was recorded.
func (s *state) load(ctx context.Context, base *inventory.Inventory, baseTime time.Time, overlay []store.WatchAsset) (applied int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inv, s.readAt, s.findings = base, map[string]time.Time{}, map[string][]policy.Finding{}
	for _, row := range overlay {
		if !row.ReadAt.After(baseTime) {
			continue // the baseline is newer
		}
		applied++
		s.readAt[row.ID] = row.ReadAt
		if row.Asset == nil {
			s.inv.Delete(row.ID)
			continue
		}
		a := &asset.Asset{}
		if err := json.Unmarshal(row.Asset, a); err != nil {
			return 0, fmt.Errorf("watch: recorded asset %s: %w", row.ID, err)
		}
		s.inv.Put(a)
	}
	if err := s.rebuild(ctx); err != nil {
		return 0, err
	}
	now := s.now()
	for _, a := range s.inv.Assets() {
		fs, err := s.engine.Evaluate(ctx, a)
		if err != nil {
			return 0, err
		}
		s.waivers.Apply(fs, now)
		if len(fs) > 0 {
			s.findings[a.ID] = fs
		}
	}
	s.version++
	return applied, nil
}

// rebuild makes the cross-asset index from the whole inventory. Under mu.
func (s *state) rebuild(ctx context.Context) error {
	s.builtAt, s.exposureStale = s.now(), false
	s.index = scan.NewIndex()
	s.index.SetClassLabels(s.engine.ClassLabels())
	for _, a := range s.inv.Assets() {
		s.index.Observe(a)
	}
	if _, err := s.engine.SetInventory(ctx, s.index.Data()); err != nil {
		return fmt.Errorf("watch: set the inventory index: %w", err)
	}
	return nil
}

// apply puts what a read found into the inventory and returns the ids of
// the assets to judge: those read, and the project or account of each
// when the change alters what account- or project-wide policies see. A
// read older than the one already applied to an asset is skipped.
func (s *state) apply(ctx context.Context, found []*asset.Asset, gone []string, readAt time.Time, dependents []string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	judge := map[string]bool{}
	rebuild, observe := false, []*asset.Asset{}
	scopes := map[string]bool{}
	for _, a := range found {
		if prev, ok := s.readAt[a.ID]; ok && prev.After(readAt) {
			continue
		}
		s.readAt[a.ID] = readAt
		old := s.inv.Get(a.ID)
		s.inherit(a, old)
		s.inv.Put(a)
		judge[a.ID] = true
		if old == nil {
			observe = append(observe, a) // a new asset only adds to the index
			if scopeFacts[a.Kind] {
				scopes[a.Scope] = true
			}
			continue
		}
		facts, exposure := indexChange(old, a)
		rebuild = rebuild || facts
		s.exposureStale = s.exposureStale || exposure
		if scopeFacts[a.Kind] && (facts || exposure) {
			scopes[a.Scope] = true
		}
	}
	for _, id := range gone {
		if prev, ok := s.readAt[id]; ok && prev.After(readAt) {
			continue
		}
		s.readAt[id] = readAt
		if old := s.inv.Get(id); old != nil {
			s.inv.Delete(id)
			delete(s.findings, id)
			rebuild = true
			scopes[old.Scope] = true
		}
	}
	if s.exposureStale && s.now().Sub(s.builtAt) >= exposureEvery {
		rebuild = true
	}
	for _, sc := range dependents {
		scopes[sc] = true
	}
	for sc := range scopes {
		for _, id := range s.scopeAssets(sc) {
			judge[id] = true
		}
	}
	switch {
	case rebuild:
		if err := s.rebuild(ctx); err != nil {
			return nil, err
		}
	case len(observe) > 0:
		for _, a := range observe {
			s.index.Observe(a)
		}
		if _, err := s.engine.SetInventory(ctx, s.index.Data()); err != nil {
			return nil, fmt.Errorf("watch: set the inventory index: %w", err)
		}
	}
	s.version++
	ids := make([]string, 0, len(judge))
	for id := range judge {
		ids = append(ids, id)
	}
	return ids, nil
}

// inherit gives an asset read alone what its project and folders say of
// it (labels such as the data class, project-wide metadata): a read of one
// asset does not carry its hierarchy, the recorded inventory does. A chain
// the read brought along is kept when it says more. Under mu.
func (s *state) inherit(a, old *asset.Asset) {
	chain := s.inv.InheritedFor(a)
	if old != nil && old.Scope == a.Scope && len(old.Facets.Inherited) > 0 {
		chain = old.Facets.Inherited
	}
	if len(chain) > len(a.Facets.Inherited) {
		a.Facets.Inherited = chain
	}
}

// scopeAssets returns the ids of the assets that account- or project-wide
// policies judge for a scope: the account or project asset; for a folder
// or an organization (whose aggregated sinks, say, every project below
// inherits), the node and every project under it. Under mu.
func (s *state) scopeAssets(scope string) []string {
	if scope == "" {
		return nil
	}
	if a := s.inv.Get(asset.AccountID(scope)); a != nil {
		return []string{a.ID}
	}
	if strings.HasPrefix(scope, "organizations/") || strings.HasPrefix(scope, "folders/") {
		var out []string
		if a := s.inv.Get("//cloudresourcemanager.googleapis.com/" + scope); a != nil {
			out = append(out, a.ID)
		}
		for _, a := range s.inv.Assets() {
			if a.Kind == asset.KindProject && a.Provider == asset.GCP && slices.Contains(a.Facets.Ancestors, scope) {
				out = append(out, a.ID)
			}
		}
		return out
	}
	if a := s.project(scope); a != nil {
		return []string{a.ID}
	}
	return nil
}

// organizationOf returns the organization a folder is under, as the
// inventory knows it ("" when it does not).
func (s *state) organizationOf(folder string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.inv.Get("//cloudresourcemanager.googleapis.com/" + folder)
	if a == nil {
		// A project under the folder knows its ancestry too.
		for _, p := range s.inv.Assets() {
			if p.Kind == asset.KindProject && slices.Contains(p.Facets.Ancestors, folder) {
				a = p
				break
			}
		}
	}
	if a == nil {
		return ""
	}
	for _, anc := range a.Facets.Ancestors {
		if strings.HasPrefix(anc, "organizations/") {
			return anc
		}
	}
	return ""
}

// project finds a GCP project asset by its id or number. Under mu.
func (s *state) project(idOrNumber string) *asset.Asset {
	if a := s.inv.Get("//cloudresourcemanager.googleapis.com/projects/" + idOrNumber); a != nil {
		return a
	}
	for _, a := range s.inv.Assets() {
		if a.Kind == asset.KindProject && a.Provider == asset.GCP && (a.Name == idOrNumber || a.Scope == idOrNumber) {
			return a
		}
	}
	return nil
}

// projectName resolves a project id to the CAI name of its project asset.
func (s *state) projectName(id string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a := s.project(id); a != nil {
		return a.ID
	}
	return ""
}

// evaluate judges the assets with every policy, waivers applied, and keeps
// their findings as the open findings.
func (s *state) evaluate(ctx context.Context, ids []string) ([]policy.Finding, int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	now := s.now()
	var all []policy.Finding
	n := 0
	results := map[string][]policy.Finding{}
	for _, id := range ids {
		a := s.inv.Get(id)
		if a == nil {
			continue
		}
		n++
		fs, err := s.engine.Evaluate(ctx, a)
		if err != nil {
			return nil, 0, err
		}
		s.waivers.Apply(fs, now)
		results[id] = fs
		all = append(all, fs...)
	}
	policy.Sort(all)
	// The findings map changes under the read lock: evaluations of other
	// events run alongside, each on its own assets.
	s.snapMu.Lock()
	for id, fs := range results {
		if len(fs) == 0 {
			delete(s.findings, id)
		} else {
			s.findings[id] = fs
		}
	}
	s.snapMu.Unlock()
	return all, n, nil
}

// withInventory runs fn with the inventory and every open finding, unchanged
// while fn runs.
func (s *state) withInventory(fn func(inv *inventory.Inventory, findings []policy.Finding) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.snapMu.Lock()
	var all []policy.Finding
	for _, fs := range s.findings {
		for _, f := range fs {
			if !f.Waived {
				all = append(all, f)
			}
		}
	}
	s.snapMu.Unlock()
	policy.Sort(all)
	return fn(s.inv, all)
}

// snapshot writes the inventory as vigil NDJSON to dir/inventory.ndjson
// when it changed since the last snapshot, so that the commands on triage
// cards (-i FILE) see what the watcher sees. The file is replaced whole.
func (s *state) snapshot(dir string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	path := filepath.Join(dir, "inventory.ndjson")
	if s.snapPath == path && s.snapVersion == s.version {
		return path, nil
	}
	tmp, err := os.CreateTemp(dir, ".inventory-*.ndjson")
	if err != nil {
		return "", err
	}
	if err := s.inv.WriteNDJSON(tmp); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	s.snapPath, s.snapVersion = path, s.version
	return path, nil
}
