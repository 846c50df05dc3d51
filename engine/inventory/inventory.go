package inventory

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/vigil-ir/vigil/engine/asset"
)

// Inventory is a whole inventory held in memory, for the uses that need
// random access: `inventory show`, runbook functions, the simulated cloud,
// triage. Scans do not need it: they stream a Source.
type Inventory struct {
	assets  []*asset.Asset
	byID    map[string]int
	Skipped map[string]int64
	// From names what the assets were read from, as history compares
	// scans by it ("aws accounts 1111 regions eu-west-1"); nil: not known.
	From []string
	// Gaps are what a live collection could not read (a project whose
	// API is off, a call refused or cut short): the findings say nothing
	// there, which a report must say and history must not take for fixed.
	Gaps []Gap
}

// Gap is a part of a live collection that was not read, or only in part.
//
// Written to vigil NDJSON (WriteNDJSON) as a line of its own,
// {"vigil_gap": {"part": ..., "message": ...}}, and read back with the
// file, so that a scan of a collected file knows what its collection
// missed.
type Gap struct {
	// Part names what was not read, and how ("gcp acme-prod Artifact
	// Analysis vulnerability occurrences: permission denied"): history
	// compares scans by it, so a part read in part names that collection
	// alone.
	Part string `json:"part"`
	// Message says what happened, for people (counts, the error).
	Message string `json:"message"`
}

func (g Gap) String() string { return g.Message }

// New returns an inventory holding the given assets.
func New(assets ...*asset.Asset) *Inventory {
	inv := &Inventory{byID: make(map[string]int, len(assets)), assets: make([]*asset.Asset, 0, len(assets))}
	for _, a := range assets {
		inv.Put(a)
	}
	return inv
}

// Load reads inventory files into memory.
func Load(ctx context.Context, paths ...string) (*Inventory, error) {
	fs, err := Open(paths...)
	if err != nil {
		return nil, err
	}
	inv, err := Collect(ctx, fs)
	if err != nil {
		return nil, err
	}
	inv.Skipped = fs.Skipped()
	inv.Gaps = fs.CollectionGaps()
	return inv, nil
}

// Collect drains a source into memory. When a source yields the same id
// twice, the record read last in input order wins.
func Collect(ctx context.Context, src Source) (*Inventory, error) {
	var mu sync.Mutex
	var all []*asset.Asset
	err := src.Scan(ctx, func(a *asset.Asset) error {
		mu.Lock()
		all = append(all, a)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(all, func(a, b *asset.Asset) int {
		if c := cmp.Compare(a.Origin.File, b.Origin.File); c != 0 {
			return c
		}
		return cmp.Compare(a.Origin.Seq, b.Origin.Seq)
	})
	inv := New(all...)
	inv.sort()
	return inv, nil
}

func (inv *Inventory) sort() {
	// ids are unique (Put replaces): no order among equals to keep
	slices.SortFunc(inv.assets, func(a, b *asset.Asset) int { return strings.Compare(a.ID, b.ID) })
	for i, a := range inv.assets {
		inv.byID[a.ID] = i
	}
}

// Put adds or replaces an asset.
func (inv *Inventory) Put(a *asset.Asset) {
	if i, ok := inv.byID[a.ID]; ok {
		inv.assets[i] = a
		return
	}
	inv.byID[a.ID] = len(inv.assets)
	inv.assets = append(inv.assets, a)
}

// InheritedFor is what the resource hierarchy says of an asset that was
// made or read on its own (a rehearsal's snapshot, an asset a cloud event
// named): the inherited chain of another asset of the same provider and
// scope, since a loader gives every asset directly under a project or
// account the same one. Nil when the inventory has none, and for the
// hierarchy's own nodes, whose chain starts above them.
func (inv *Inventory) InheritedFor(a *asset.Asset) []asset.Inherited {
	if asset.ScopeKinds[a.Kind] || a.Scope == "" {
		return nil
	}
	for _, b := range inv.assets {
		if b.Provider == a.Provider && b.Scope == a.Scope && !asset.ScopeKinds[b.Kind] && len(b.Facets.Inherited) > 0 {
			return b.Facets.Inherited
		}
	}
	return nil
}

// Delete removes an asset; it reports whether it was there.
func (inv *Inventory) Delete(id string) bool {
	i, ok := inv.byID[id]
	if !ok {
		return false
	}
	inv.assets = append(inv.assets[:i], inv.assets[i+1:]...)
	delete(inv.byID, id)
	for j := i; j < len(inv.assets); j++ {
		inv.byID[inv.assets[j].ID] = j
	}
	return true
}

// Get returns the asset with the id, or nil.
func (inv *Inventory) Get(id string) *asset.Asset {
	if i, ok := inv.byID[id]; ok {
		return inv.assets[i]
	}
	return nil
}

// Assets returns all assets ordered by id. The slice is the inventory's own.
func (inv *Inventory) Assets() []*asset.Asset { return inv.assets }

// Len returns the number of assets.
func (inv *Inventory) Len() int { return len(inv.assets) }

// Clone returns a deep copy.
func (inv *Inventory) Clone() *Inventory {
	out := &Inventory{byID: make(map[string]int, len(inv.assets)), assets: make([]*asset.Asset, len(inv.assets))}
	for i, a := range inv.assets {
		out.assets[i] = a.Clone()
		out.byID[a.ID] = i
	}
	return out
}

// Scan implements Source, so an in-memory inventory can be scanned.
func (inv *Inventory) Scan(ctx context.Context, emit func(*asset.Asset) error) error {
	for _, a := range inv.assets {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := emit(a); err != nil {
			return err
		}
	}
	return nil
}

// Describe implements Source.
func (inv *Inventory) Describe() string {
	if len(inv.From) > 0 {
		return strings.Join(inv.From, "; ")
	}
	return "in-memory inventory"
}

// Inputs names what the inventory was read from (nil: not known), and
// each gap of it: a scan that could not read something is not compared
// with one that could (history would call "resolved" what it did not see).
func (inv *Inventory) Inputs() []string {
	if inv.From == nil || len(inv.Gaps) == 0 {
		return inv.From
	}
	return append(slices.Clone(inv.From), gapInputs(inv.Gaps)...)
}

// gapInputs are the inputs that name a collection's gaps.
func gapInputs(gaps []Gap) []string {
	out := make([]string, 0, len(gaps))
	for _, g := range gaps {
		out = append(out, "incomplete: "+g.Part)
	}
	return out
}

// WriteNDJSON writes the inventory as vigil NDJSON, one asset per line.
// Its gaps follow the assets, one line each.
func (inv *Inventory) WriteNDJSON(w io.Writer) error { return writeNDJSON(w, inv.assets, inv.Gaps) }

// CollectionGaps are what the live collection of the inventory, or of the
// files it was loaded from, could not read.
func (inv *Inventory) CollectionGaps() []Gap { return inv.Gaps }

// WriteNDJSON writes assets as vigil NDJSON.
func WriteNDJSON(w io.Writer, assets []*asset.Asset) error { return writeNDJSON(w, assets, nil) }

func writeNDJSON(w io.Writer, assets []*asset.Asset, gaps []Gap) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, a := range assets {
		if err := enc.Encode(a); err != nil {
			return err
		}
	}
	for _, g := range gaps {
		if err := enc.Encode(map[string]Gap{"vigil_gap": g}); err != nil {
			return err
		}
	}
	return bw.Flush()
}
