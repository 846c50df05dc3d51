package watch

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/event"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/internal/provider/gcp"
	"github.com/vigil-ir/vigil/internal/store"
)

func loadState(t *testing.T) *state {
	t.Helper()
	inv, err := inventory.Load(context.Background(), "../../examples/inventory")
	if err != nil {
		t.Fatal(err)
	}
	s := &state{engine: engine(t), now: time.Now}
	if _, err := s.load(context.Background(), inv, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	return s
}

func has(fs []policy.Finding, policyID, assetID string) bool {
	for _, f := range fs {
		if f.PolicyID == policyID && f.AssetID == assetID {
			return true
		}
	}
	return false
}

// Cross-asset policies judge a change in the context of the whole
// inventory: the trail of account 111111111111 deleted, the account (not
// the trail, which is gone) is judged again and now lacks a logging trail;
// its detector disabled, the account lacks GuardDuty.
func TestStateCrossAssetContext(t *testing.T) {
	s := loadState(t)
	acct := "arn:aws:iam::111111111111:root"
	ctx := context.Background()
	// GuardDuty is on in eu-west-1 and off in us-east-1, where the
	// account has an asset too (VGL-DET-001 is per region).
	guardDuty := func(fs []policy.Finding) string {
		for _, f := range fs {
			if f.PolicyID == "VGL-DET-001" && f.AssetID == acct {
				return f.Message
			}
		}
		return ""
	}
	fs, _, _ := s.evaluate(ctx, []string{acct})
	if has(fs, "VGL-LOG-001", acct) || strings.Contains(guardDuty(fs), "not in eu-west-1") {
		t.Fatalf("the account has a trail and a detector in eu-west-1 before the change: %v", fs)
	}
	ids, err := s.apply(ctx, nil, []string{"arn:aws:cloudtrail:eu-west-1:111111111111:trail/org-trail"}, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fs, n, err = s.evaluate(ctx, ids)
	if err != nil || n != 1 || !has(fs, "VGL-LOG-001", acct) {
		t.Fatalf("after DeleteTrail: judged %d (%v), findings %v, err %v", n, ids, fs, err)
	}
	det := s.inv.Get("arn:aws:guardduty:eu-west-1:111111111111:detector/8ac4f2a3b1d94e5fa6b7c8d9e0f1a2b3").Clone()
	det.Facets.Enabled = asset.Bool(false)
	ids, _ = s.apply(ctx, []*asset.Asset{det}, nil, time.Now(), []string{"111111111111"})
	fs, _, _ = s.evaluate(ctx, ids)
	if !strings.Contains(guardDuty(fs), "no enabled GuardDuty detector") {
		t.Fatalf("after UpdateDetector (disabled): %v", fs)
	}
}

// A read older than the one already applied to an asset does not undo it.
func TestStateKeepsTheNewestRead(t *testing.T) {
	s := loadState(t)
	ctx := context.Background()
	id := "arn:aws:guardduty:eu-west-1:111111111111:detector/8ac4f2a3b1d94e5fa6b7c8d9e0f1a2b3"
	newer, older := s.inv.Get(id).Clone(), s.inv.Get(id).Clone()
	newer.Facets.Enabled, older.Facets.Enabled = asset.Bool(false), asset.Bool(true)
	t1 := time.Now()
	s.apply(ctx, []*asset.Asset{newer}, nil, t1, nil)
	s.apply(ctx, []*asset.Asset{older}, nil, t1.Add(-time.Second), nil)
	if got := s.inv.Get(id); got.Facets.Enabled == nil || *got.Facets.Enabled {
		t.Error("an older read replaced a newer one")
	}
}

// Assets read after the baseline was recorded override it on load; older
// ones do not.
func TestStateOverlay(t *testing.T) {
	inv, _ := inventory.Load(context.Background(), "../../examples/inventory")
	base := time.Now()
	trail := "arn:aws:cloudtrail:eu-west-1:111111111111:trail/org-trail"
	s := &state{engine: engine(t), now: time.Now}
	n, err := s.load(context.Background(), inv.Clone(), base, []store.WatchAsset{{ID: trail, ReadAt: base.Add(time.Minute)}})
	if err != nil || n != 1 || s.inv.Get(trail) != nil {
		t.Fatalf("newer deletion: %d %v", n, err)
	}
	s2 := &state{engine: engine(t), now: time.Now}
	n, _ = s2.load(context.Background(), inv.Clone(), base, []store.WatchAsset{{ID: trail, ReadAt: base.Add(-time.Minute)}})
	if n != 0 || s2.inv.Get(trail) == nil {
		t.Fatalf("older deletion applied: %d", n)
	}
}

// recordingGCP keeps what it was asked to read.
type recordingGCP struct{ refs []gcp.Ref }

func (r *recordingGCP) Read(_ context.Context, refs []gcp.Ref) (*gcp.Read, error) {
	r.refs = append(r.refs, refs...)
	return &gcp.Read{}, nil
}

// Audit logs name a project by its id; the Cloud Asset API by its number,
// which the inventory knows; a project it does not know (a new one) is
// read by its id, which the reader resolves. A folder's sink is read
// under the folder's organization (Cloud Asset reads by organization or
// project), an organization's under the organization.
func TestProjectNamesResolved(t *testing.T) {
	w := &Watcher{Name: "gcp", state: loadState(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rec := &recordingGCP{}
	w.GCP = rec
	for _, tc := range []struct{ file, want, parent string }{
		{"projects-set-iam-policy.json", "//cloudresourcemanager.googleapis.com/projects/402398720121", "acme-prod"},
		{"projects-create.json", "//cloudresourcemanager.googleapis.com/projects/shadow-project-7", "shadow-project-7"},
		{"compute-firewalls-patch.json", "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-internal", "acme-prod"},
		{"logging-update-org-sink.json", "//logging.googleapis.com/organizations/684315297612/sinks/vigil-events", "organizations/684315297612"},
		{"logging-delete-folder-sink.json", "//logging.googleapis.com/folders/511904211743/sinks/audit-export", "organizations/684315297612"},
	} {
		rec.refs = nil
		ev, err := event.Parse(sample(t, "engine", "event", "testdata", "gcp", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.readOnce(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		if len(rec.refs) != 1 || rec.refs[0].Name != tc.want || rec.refs[0].Project != tc.parent || rec.refs[0].After.IsZero() {
			t.Errorf("%s: read %+v, want %s under %s", tc.file, rec.refs, tc.want, tc.parent)
		}
	}
	// A folder the inventory does not know: its organization is unknown.
	ev, _ := event.Parse(sample(t, "engine", "event", "testdata", "gcp", "logging-delete-folder-sink.json"))
	ev.Changes[0].Scope = "folders/1"
	if _, _, err := w.readOnce(context.Background(), ev); err == nil || !strings.Contains(err.Error(), "whose organization the inventory does not know") {
		t.Errorf("an unknown folder: %v", err)
	}
}

// A change to an organization's or a folder's sink judges the node and
// every project under it again (their audit log export depends on it).
func TestStateJudgesProjectsUnderANode(t *testing.T) {
	s := loadState(t)
	ids, err := s.apply(context.Background(), nil, nil, time.Now(), []string{"folders/511904211743"})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(ids)
	want := []string{"//cloudresourcemanager.googleapis.com/folders/511904211743", "//cloudresourcemanager.googleapis.com/projects/218745590023",
		"//cloudresourcemanager.googleapis.com/projects/402398720121"}
	if !slices.Equal(ids, want) {
		t.Errorf("judged %v, want %v", ids, want)
	}
	ids, _ = s.apply(context.Background(), nil, nil, time.Now(), []string{"organizations/684315297612"})
	if len(ids) != 4 { // the organization, and the three projects under it
		t.Errorf("judged %v", ids)
	}
}

// A changed asset whose scope facts differ (a sink's filter, a trail)
// rebuilds the cross-asset index at once; one that changes only what the
// exposure join reads (a firewall opened to the world) rebuilds it at most
// every exposureEvery, on the next change after that; one that changes
// neither (a label) leaves it.
func TestStateRebuildsTheIndexWhenItChanges(t *testing.T) {
	s := loadState(t)
	clock := time.Now()
	s.now = func() time.Time { return clock }
	s.builtAt = clock
	ctx := context.Background()
	id := "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-iap-ssh"
	fw := s.inv.Get(id)
	if fw == nil || len(fw.Facets.Ingress) == 0 || slices.Contains(fw.Facets.Ingress[0].Sources, "0.0.0.0/0") {
		t.Fatalf("allow-iap-ssh in the examples: %+v", fw)
	}
	index := func() *scan.Index { s.mu.RLock(); defer s.mu.RUnlock(); return s.index }
	worldOpen := func() bool {
		nets, _ := index().Data()["exposure"].(map[string]any)["networks"].(map[string]any)
		for _, rules := range nets {
			for _, r := range rules.([]any) {
				if r.(map[string]any)["firewall"] == "allow-iap-ssh" {
					return true
				}
			}
		}
		return false
	}
	before := index()
	relabelled := fw.Clone()
	relabelled.Labels = map[string]string{"owner": "someone-else"}
	s.apply(ctx, []*asset.Asset{relabelled}, nil, clock, nil)
	if index() != before {
		t.Error("a new label rebuilt the index")
	}
	opened := relabelled.Clone()
	for i := range opened.Facets.Ingress {
		opened.Facets.Ingress[i].Sources = []string{"0.0.0.0/0"}
		opened.Facets.Ingress[i].Enabled = true
	}
	clock = clock.Add(time.Second)
	s.apply(ctx, []*asset.Asset{opened}, nil, clock, nil)
	if index() != before || worldOpen() {
		t.Error("an exposure change rebuilt the index within exposureEvery of the last rebuild")
	}
	clock = clock.Add(exposureEvery)
	s.apply(ctx, []*asset.Asset{relabelled.Clone()}, nil, clock.Add(-time.Hour), nil) // an older read: skipped, but the index catches up
	if index() == before || !worldOpen() {
		t.Error("the firewall opened to the world is not in the index after exposureEvery")
	}
	// A scope fact (a GCP sink's filter) rebuilds at once.
	rebuilt := index()
	var sink *asset.Asset
	for _, a := range s.inv.Assets() {
		if a.Type == "logging.googleapis.com/LogSink" {
			sink = a.Clone()
			break
		}
	}
	if sink == nil {
		t.Fatal("no log sink in the examples")
	}
	sink.Facets.Filter = "severity>=ERROR"
	s.apply(ctx, []*asset.Asset{sink}, nil, clock.Add(time.Millisecond), nil)
	if index() == rebuilt {
		t.Error("a sink's new filter left the index as it was")
	}
}

// A newer recorded inventory is loaded while the watcher runs.
func TestReloadNewerBaseline(t *testing.T) {
	inv, err := inventory.Load(context.Background(), "../../examples/inventory")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	recorded := time.Now()
	base := inv.Clone()
	r := newRig(t, "w", idleSource{}, inv, func(w *Watcher) {
		w.Reload = 20 * time.Millisecond
		w.Recorded = func() time.Time { mu.Lock(); defer mu.Unlock(); return recorded }
		w.Baseline = func(context.Context) (*inventory.Inventory, time.Time, error) {
			mu.Lock()
			defer mu.Unlock()
			return base.Clone(), recorded, nil
		}
	})
	r.start(t)
	trail := "arn:aws:cloudtrail:eu-west-1:111111111111:trail/org-trail"
	waitFor(t, "the start", 5*time.Second, func() bool { return strings.Contains(r.logBuf.String(), "watch: consuming") })
	mu.Lock()
	base.Delete(trail)
	recorded = recorded.Add(time.Minute)
	mu.Unlock()
	waitFor(t, "the reload", 5*time.Second, func() bool { return strings.Contains(r.logBuf.String(), "newer inventory loaded") })
	waitFor(t, "the newer inventory", 5*time.Second, func() bool {
		var gone bool
		r.w.state.withInventory(func(inv *inventory.Inventory, _ []policy.Finding) error { gone = inv.Get(trail) == nil; return nil })
		return gone
	})
}

// idleSource delivers nothing until it is stopped.
type idleSource struct{}

func (idleSource) Receive(ctx context.Context, _ func(*Message) bool) error { <-ctx.Done(); return nil }
func (idleSource) Describe() string                                         { return "idle" }

// An asset read alone carries no hierarchy: it keeps what its project and
// folders say of it (here acme-prod's data-class=pii), so residency and
// the project-wide SSH checks judge it as a scan would.
func TestStateKeepsInheritedLabels(t *testing.T) {
	s := loadState(t)
	id := "//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1"
	before := s.inv.Get(id)
	if before == nil || len(before.Facets.Inherited) == 0 {
		t.Fatalf("web-1 inherits nothing in the examples: %+v", before)
	}
	read := before.Clone()
	read.Facets.Inherited = nil
	if _, err := s.apply(context.Background(), []*asset.Asset{read}, nil, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	got := s.inv.Get(id).Facets.Inherited
	if len(got) == 0 || got[0].Labels["data-class"] != "pii" {
		t.Fatalf("re-read web-1 inherits %+v", got)
	}
}
