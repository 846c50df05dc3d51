// Package sim is the simulated cloud: it implements every aws.* and gcp.*
// runbook action of the catalog against an in-memory copy of an inventory,
// so a tabletop exercise can plan and run a whole runbook and scan the
// result. Actions are idempotent the way the real ones are: what they make
// carries labels or tags with the run and step, and a re-run finds it.
//
// The state (assets and the log of operations) is written to a file after
// every change, so a crashed run resumes in the same simulated world.
package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
)

// Op is one change the simulated cloud made.
type Op struct {
	Run    string    `json:"run"`
	Step   string    `json:"step"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	What   string    `json:"what"`
	At     time.Time `json:"at"`
}

// Cloud is the simulated cloud.
type Cloud struct {
	mu   sync.Mutex
	inv  *inventory.Inventory
	ops  []Op
	path string // state file; "" keeps state in memory only
	now  func() time.Time
	// faults make actions fail as networks do (tests; see Inject).
	faults map[string]*faultState
}

type stateFile struct {
	Version int            `json:"version"`
	Ops     []Op           `json:"ops"`
	Assets  []*asset.Asset `json:"assets"`
}

// New makes a simulated cloud from an inventory (which it copies).
// put adds or replaces what a simulated call made or changed, with what a
// collection would give it besides its own record: the chain the resource
// hierarchy passes down (project and account labels, project metadata).
func (c *Cloud) put(a *asset.Asset) {
	if a.Facets.Inherited == nil {
		a.Facets.Inherited = c.inv.InheritedFor(a)
	}
	c.inv.Put(a)
}

func New(inv *inventory.Inventory, statePath string) *Cloud {
	return &Cloud{inv: inv.Clone(), path: statePath, now: time.Now}
}

// Load restores a simulated cloud from its state file.
func Load(statePath string) (*Cloud, error) {
	raw, err := os.ReadFile(statePath)
	if err != nil {
		return nil, fmt.Errorf("read simulated cloud state: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("read simulated cloud state %s: %w", statePath, err)
	}
	return &Cloud{inv: inventory.New(st.Assets...), ops: st.Ops, path: statePath, now: time.Now}, nil
}

// SetClock replaces the clock (tests).
func (c *Cloud) SetClock(now func() time.Time) { c.now = now }

// Inventory returns the simulated world as it is now.
func (c *Cloud) Inventory() *inventory.Inventory {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inv.Clone()
}

// Ops returns the changes made so far.
func (c *Cloud) Ops() []Op {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Op(nil), c.ops...)
}

// Save writes the state file atomically.
func (c *Cloud) Save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.saveLocked()
}

func (c *Cloud) saveLocked() error {
	if c.path == "" {
		return nil
	}
	raw, err := json.Marshal(stateFile{Version: 1, Ops: c.ops, Assets: c.inv.Assets()})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return err
	}
	tmp := c.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, c.path)
}

// WriteInventory writes the simulated world as vigil NDJSON, for a re-scan.
func (c *Cloud) WriteInventory(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := c.Inventory().WriteNDJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// change runs a mutation under the lock, logs it and persists the state.
// f returns false when there was nothing to do (idempotent re-runs).
func (c *Cloud) change(r *action.Request, name, target, what string, f func() (bool, error)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed, err := f()
	if err != nil || !changed {
		return err
	}
	c.ops = append(c.ops, Op{Run: r.RunID, Step: r.Step, Action: name, Target: target, What: what, At: c.now().UTC()})
	return c.saveLocked()
}

// Provider returns the simulated cloud's actions, under the catalog's
// aws.* and gcp.* names.
func (c *Cloud) Provider() action.Provider {
	var list []action.Action
	list = append(list, c.gcpActions()...)
	list = append(list, c.awsActions()...)
	list = append(list, c.evidenceActions()...)
	for _, a := range list {
		if f, ok := a.(*action.Func); ok && f.RecoverFn == nil && f.S.Effect != action.Read {
			f.RecoverFn = c.recoverBy(f.ApplyFn)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Spec().Name < list[j].Spec().Name })
	return &action.StaticProvider{ProviderName: "sim", List: c.withFaults(list)}
}

// recoverBy tells whether an interrupted attempt took effect: a change is
// logged with its run and step in the same write as the change itself, so
// a logged change took effect, and Apply (idempotent) finds it and gives
// its outputs without changing anything.
func (c *Cloud) recoverBy(apply func(context.Context, *action.Request) (*action.Result, error)) func(context.Context, *action.Request) (*action.Result, bool, error) {
	return func(ctx context.Context, r *action.Request) (*action.Result, bool, error) {
		c.mu.Lock()
		took := false
		for _, op := range c.ops {
			took = took || op.Run == r.RunID && op.Step == r.Step
		}
		c.mu.Unlock()
		if !took {
			return nil, false, nil
		}
		res, err := apply(ctx, r)
		if err != nil {
			return nil, false, err
		}
		return res, true, nil
	}
}

// get returns the live asset (callers hold the lock or only read).
func (c *Cloud) get(id string) *asset.Asset {
	return c.inv.Get(id)
}

// find resolves a reference to an asset of a kind: an asset id, a selfLink
// or a CAI-style path, an AWS ARN or a bare id (i-..., sg-..., AKIA...).
func (c *Cloud) find(ref, kind string) (*asset.Asset, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.findLocked(ref, kind)
}

func (c *Cloud) findLocked(ref, kind string) (*asset.Asset, error) {
	ref = strings.TrimSpace(ref)
	if a := c.inv.Get(ref); a != nil && (kind == "" || a.Kind == kind) {
		return a, nil
	}
	if i := strings.Index(ref, "projects/"); i >= 0 && !strings.HasPrefix(ref, "arn:") {
		for _, svc := range []string{"compute", "iam"} {
			if a := c.inv.Get("//" + svc + ".googleapis.com/" + ref[i:]); a != nil && (kind == "" || a.Kind == kind) {
				return a, nil
			}
		}
	}
	var match *asset.Asset
	for _, a := range c.inv.Assets() {
		if kind != "" && a.Kind != kind {
			continue
		}
		if strings.HasSuffix(a.ID, "/"+ref) || a.Name == ref {
			if match != nil && match.ID != a.ID {
				return nil, fmt.Errorf("%q names more than one %s (%s, %s); use the asset id", ref, kind, match.ID, a.ID)
			}
			match = a
		}
	}
	if match == nil {
		return nil, &action.NotFoundError{What: kindOr(kind), ID: ref}
	}
	return match, nil
}

func kindOr(k string) string {
	if k == "" {
		return "asset"
	}
	return k
}

var labelUnsafe = regexp.MustCompile(`[^a-z0-9_-]+`)

// labelValue makes a GCP-safe label value (lower case, 63 characters).
func labelValue(s string) string {
	s = labelUnsafe.ReplaceAllString(strings.ToLower(s), "-")
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// hasLabels compares values as labels (AWS tags keep their case, GCP labels
// are lower case: "INC-7" and "inc-7" are the same incident).
func hasLabels(a *asset.Asset, want map[string]string) bool {
	for k, v := range want {
		if labelValue(a.Labels[k]) != labelValue(v) {
			return false
		}
	}
	return true
}

// stepKey is what makes a made thing this step's, as the real providers
// do it: the incident when there is one (applying the runbook again for
// the same incident finds the evidence already taken), else the run.
func stepKey(r *action.Request) string {
	if r.Incident != "" {
		return r.Incident
	}
	return r.RunID
}

// madeLocked returns assets of a kind this step made (see stepKey).
func (c *Cloud) madeLocked(r *action.Request, kind string, extra map[string]string) []*asset.Asset {
	want := map[string]string{"vigil-run": labelValue(r.RunID), "vigil-step": labelValue(r.Step)}
	if r.Incident != "" {
		want = map[string]string{"incident": labelValue(r.Incident), "vigil-step": labelValue(r.Step)}
	}
	for k, v := range extra {
		want[k] = v
	}
	var out []*asset.Asset
	for _, a := range c.inv.Assets() {
		if a.Kind == kind && hasLabels(a, want) {
			out = append(out, a)
		}
	}
	return out
}

// short returns a short, stable suffix for generated names.
func short(s string) string {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return fmt.Sprintf("%08x", h)
}

func removeString(list []string, s string) []string {
	out := list[:0:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// snapshots finds snapshots by id, ARN or CAI name (AWS and GCP actions).
func (c *Cloud) snapshots(refs []string) ([]*asset.Asset, error) {
	var out []*asset.Asset
	for _, ref := range refs {
		s, err := c.find(ref, asset.KindSnapshot)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
