package history

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-ir/vigil/engine/compliance"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/internal/testutil"
	"github.com/vigil-ir/vigil/policies"
)

// The HTML report judges controls from history as vigil scan --compliance
// judges them from the scan: a finding of VGL-LOG-003, a policy of eight
// controls, counts for the controls its details name, because history
// keeps them (before, it made all eight "not assessed"). On the posture
// fixture, by hand: acme-web alerts on firewall changes only (2.4, 2.8,
// 2.9 broken), acme-pii on nothing (all four), acme-lab on all four; so
// 2.7 has one finding and 2.4, 2.8, 2.9 two. Neither side passes the
// assets' evidence here (history has none), so the tables must be equal.
func TestHistoryComplianceMatchesScan(t *testing.T) {
	dir := filepath.Join(testutil.Root(t), "testdata", "posture")
	cfg, _, diags := config.Load(filepath.Join(dir, "vigil.hcl"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	e, err := policy.Load(context.Background(), policy.Options{Builtins: policies.FS, Config: cfg.Data(),
		Now: func() time.Time { return time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := inventory.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := scan.Run(context.Background(), scan.Options{Sources: []inventory.Source{fs}, Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	findings := res.Findings.Slice()
	res.Findings.Close()
	b, err := compliance.Get("cis-gcp-3.0")
	if err != nil {
		t.Fatal(err)
	}
	seq := func(yield func(policy.Finding) bool) {
		for _, f := range findings {
			if !yield(f) {
				return
			}
		}
	}
	want, err := b.Evaluate(e.Policies(), b.Open(e.Policies(), seq), nil)
	if err != nil {
		t.Fatal(err)
	}

	h, err := store.OpenHistory(context.Background(), filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rec, stored := Record("", time.Now(), &res.Summary, e.Policies(), findings)
	id, err := h.RecordScan(context.Background(), rec, stored)
	if err != nil {
		t.Fatal(err)
	}
	p := &Page{}
	if p.Findings, err = h.Findings(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if err := p.ComplianceTables([]string{"cis-gcp-3.0"}, e.Policies()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, p.Compliance[0]); diff != "" {
		t.Errorf("history's table differs from the scan's (-scan +history):\n%s", diff)
	}
	byControl := map[string]compliance.Row{}
	for _, r := range p.Compliance[0].Rows {
		byControl[r.Control] = r
	}
	for c, n := range map[string]int{"2.4": 2, "2.7": 1, "2.8": 2, "2.9": 2} {
		if r := byControl[c]; r.Status != compliance.Fail || r.Findings != n {
			t.Errorf("%s: %s with %d findings, want fail with %d", c, r.Status, r.Findings, n)
		}
	}
}
