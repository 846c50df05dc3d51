package history

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/internal/store"
)

func f(policy, asset string, waived bool) store.StoredFinding {
	return store.StoredFinding{PolicyID: policy, AssetID: asset, Severity: "high", Waived: waived}
}

func keys(fs []store.StoredFinding) string {
	var out []string
	for _, x := range fs {
		out = append(out, x.PolicyID+":"+x.AssetID)
	}
	return strings.Join(out, ",")
}

func TestCompare(t *testing.T) {
	from := []store.StoredFinding{f("P1", "a", false), f("P1", "b", false), f("P2", "a", false), f("P3", "w", true)}
	to := []store.StoredFinding{f("P1", "a", false), f("P2", "a", true), f("P1", "c", false), f("P3", "w", false)}
	d := Compare(from, to)
	for name, got := range map[string][2]string{
		"new":          {keys(d.New), "P1:c,P3:w"}, // a waiver that ended makes its finding new again
		"resolved":     {keys(d.Resolved), "P1:b"},
		"still open":   {keys(d.StillOpen), "P1:a"},
		"newly waived": {keys(d.NewlyWaived), "P2:a"},
	} {
		if got[0] != got[1] {
			t.Errorf("%s: %s, want %s", name, got[0], got[1])
		}
	}
}

type failing struct{ calls int }

func (p *failing) Do(*http.Request) (*http.Response, error) {
	p.calls++
	return nil, errors.New("connection refused")
}

// A webhook that fails is tried again next time: nothing is marked sent.
func TestNotifyRetriesAfterFailure(t *testing.T) {
	h, err := store.OpenHistory(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	blocks := []config.Notify{{Name: "n", URL: "http://127.0.0.1:1/hook", MinSeverity: "high"}}
	fs := []store.StoredFinding{f("P1", "a", false), {PolicyID: "P2", AssetID: "b", Severity: "low"}}
	p := &failing{}
	if err := Notify(context.Background(), h, blocks, fs, p); err == nil || !strings.Contains(err.Error(), "notify n") {
		t.Errorf("err = %v", err)
	}
	left, _ := h.Unnotified(context.Background(), "n", []string{fs[0].Key()})
	if len(left) != 1 || p.calls != 1 {
		t.Errorf("a failed post must leave the finding unsent: %v (%d calls)", left, p.calls)
	}
}
