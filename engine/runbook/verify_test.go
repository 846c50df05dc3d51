package runbook

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
)

// memAnchor keeps heads in memory.
type memAnchor struct{ heads []Head }

func (m *memAnchor) Record(_ context.Context, h Head) error { m.heads = append(m.heads, h); return nil }
func (m *memAnchor) Heads(_ context.Context, run string) ([]Head, error) {
	var out []Head
	for _, h := range m.heads {
		if h.RunID == run {
			out = append(out, h)
		}
	}
	return out, nil
}
func (m *memAnchor) String() string { return "the test anchor" }

// What verify says of each kind of edit, with and without an anchor to
// compare with.
func TestVerifyTellsWhatWasDone(t *testing.T) {
	h := plannedWith(t, pipeline, nil, nil, "token=abcd1234")
	an := &memAnchor{}
	x := h.executor("gate")
	x.Anchor = an
	res, err := x.Start(context.Background(), h.rb, h.plan, h.vars)
	if err != nil || res.Status != RunCompleted {
		t.Fatalf("%v %v", res, err)
	}
	run, _ := h.j.GetRun(context.Background(), res.Run.ID)
	fresh := func() []*Entry { return h.entries(res.Run.ID) }
	heads, _ := an.Heads(context.Background(), run.ID)
	if v := VerifyRun(run, fresh(), heads, h.key.Public().(ed25519.PublicKey), "the test anchor"); v.Tamper != nil || v.Anchored != int64(len(fresh())) {
		t.Fatalf("untouched: %+v %v", v, v.Tamper)
	}
	resign := func(es []*Entry, from int) {
		for i := from; i < len(es); i++ {
			es[i].Prev = ""
			if i > 0 {
				es[i].Prev = es[i-1].Hash
			}
			es[i].Hash = es[i].ComputeHash()
		}
	}
	n := len(fresh())
	tests := []struct {
		name   string
		edit   func(es []*Entry) []*Entry
		anchor bool
		what   TamperKind
		seq    int64
	}{
		{"an entry edited", func(es []*Entry) []*Entry { es[3].Actor = "mallory"; return es }, true, TamperEntry, 4},
		{"an entry removed", func(es []*Entry) []*Entry { return append(es[:3], es[4:]...) }, true, TamperEntry, 5},
		{"re-chained from entry 4, anchored", func(es []*Entry) []*Entry { es[3].Actor = "mallory"; resign(es, 3); return es }, true, TamperRewritten, 4},
		{"re-chained from entry 4, no anchor", func(es []*Entry) []*Entry { es[3].Actor = "mallory"; resign(es, 3); return es }, false, TamperRewritten, 4},
		{"an entry appended, anchored", func(es []*Entry) []*Entry {
			e := *es[len(es)-1]
			e.Seq, e.Kind, e.Step = e.Seq+1, EntryApproved, "d"
			es = append(es, &e)
			resign(es, len(es)-1)
			return es
		}, true, TamperForged, int64(n + 1)},
		{"an entry appended, no anchor", func(es []*Entry) []*Entry {
			e := *es[len(es)-1]
			e.Seq, e.Kind, e.Step = e.Seq+1, EntryApproved, "d"
			es = append(es, &e)
			resign(es, len(es)-1)
			return es
		}, false, TamperForged, int64(n + 1)},
		{"cut short", func(es []*Entry) []*Entry { return es[:n-2] }, true, TamperTruncated, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hs []Head
			if tt.anchor {
				hs = heads
			}
			v := VerifyRun(run, tt.edit(fresh()), hs, nil, "the test anchor")
			if v.Tamper == nil || v.Tamper.What != tt.what || v.Tamper.Seq != tt.seq {
				t.Errorf("got %+v", v.Tamper)
			}
		})
	}
	// With another trusted key, the whole journal is someone else's.
	_, other, _ := ed25519.GenerateKey(nil)
	// With another trusted key and no anchor, the journal was written with
	// another journal key: verify says so, naming both keys, and does not
	// call it an edit (nor pass it).
	runKey := KeyID(pubOf(h.key))
	if v := VerifyRun(run, fresh(), heads, other.Public().(ed25519.PublicKey), ""); v.Tamper == nil || v.Tamper.What != TamperOtherKey || v.Tamper.Seq != 1 ||
		!strings.Contains(v.Tamper.Error(), "written with journal key "+runKey) || !strings.Contains(v.Tamper.Error(), KeyID(other.Public().(ed25519.PublicKey))) ||
		strings.Contains(v.Tamper.Error(), "rewritten") {
		t.Errorf("another key: %v", v.Tamper)
	}
	// An edit is still one, whatever the key here: the entry is named.
	if v := VerifyRun(run, func() []*Entry { es := fresh(); es[2].Actor = "mallory"; return es }(), nil, other.Public().(ed25519.PublicKey), ""); v.Tamper == nil || v.Tamper.What != TamperEntry || v.Tamper.Seq != 3 {
		t.Errorf("an edit, verified with another key: %v", v.Tamper)
	}
	// Re-signed from the start with the other key (the binding names it):
	// the anchor's heads show the rewrite.
	if v := VerifyRun(run, func() []*Entry {
		es := fresh()
		var b Binding
		_ = json.Unmarshal(es[0].Detail, &b)
		b.PublicKey = EncodePublicKey(other.Public().(ed25519.PublicKey))
		es[0].Detail = canonicalColumn(mustJSON(b))
		prev := ""
		for _, e := range es {
			e.Prev = prev
			e.Hash = e.ComputeHash()
			e.Sig = Sign(other, e.Hash)
			prev = e.Hash
		}
		return es
	}(), heads, other.Public().(ed25519.PublicKey), "the test anchor"); v.Tamper == nil || v.Tamper.What != TamperRewritten || v.Tamper.Seq != 1 {
		t.Errorf("re-signed with the key here, anchored: %v", v.Tamper)
	}
	// Unless the anchor recorded the run's key as the run went: then the
	// key here is another one (the key file was replaced), not a rewrite.
	if v := VerifyRun(run, fresh(), heads, other.Public().(ed25519.PublicKey), "the test anchor"); v.Tamper == nil || v.Tamper.What != TamperOtherKey || v.Tamper.Seq != 1 ||
		!strings.Contains(v.Tamper.Error(), "the key that signed this run is not available here") {
		t.Errorf("another key, the anchor naming the run's: %v", v.Tamper)
	}
	// Without an anchor, cutting entries off the end leaves a journal that
	// only its runs row can betray: the last status entry is gone.
	run.Status = RunCompleted
	v := VerifyRun(run, fresh()[:n-1], nil, nil, "")
	if v.Tamper == nil || v.Tamper.What != TamperRunRow || !strings.Contains(v.Tamper.Error(), `its status is "completed"`) {
		t.Errorf("cut without an anchor: %v", v.Tamper)
	}
}
