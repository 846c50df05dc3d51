package scan

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-ir/vigil/engine/policy"
)

func randomFindings(r *rand.Rand, n int) []policy.Finding {
	sevs := policy.Severities
	var out []policy.Finding
	for i := 0; i < n; i++ {
		p, a, m := r.IntN(4), r.IntN(20), r.IntN(3)
		// twins (same policy, asset and message) are identical, so which
		// one dedupe keeps does not matter
		f := policy.Finding{
			PolicyID: fmt.Sprintf("VGL-%d", p), AssetID: fmt.Sprintf("//a/%d", a),
			Severity: sevs[p%len(sevs)], Title: "t", Message: fmt.Sprintf("m%d", m),
			Kind: "instance", Provider: "gcp", Scope: "p", Region: "eu", Level: "deny",
			AssetName: "n", AssetType: "ty", Phase: "preparation", Remediation: "rb", Source: "cai-export",
			File: "", Line: a*3 + m + 1, Change: "", Details: []byte(`{"k":"v"}`),
		}
		if (p+a+m)%3 == 0 {
			f.Details = nil
			f.Change = "create"
		}
		// findings of two plans with the same addresses are both kept;
		// the same plan twice is one
		if a%4 == 0 {
			f.Source, f.File = "terraform-plan", fmt.Sprintf("plan-%d.json", r.IntN(3))
		}
		out = append(out, f)
	}
	return out
}

// TestFindingSetOrder holds the encoded set to policy.Sort and
// policy.Dedupe on the same findings, field for field, whether the set
// holds them all or writes runs out and merges them (duplicates across
// runs included).
func TestFindingSetOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 40; round++ {
		if round%2 == 1 {
			old := runBytes
			runBytes = 2 << 10
			t.Cleanup(func() { runBytes = old })
		} else {
			runBytes = 16 << 20
		}
		fs := randomFindings(r, r.IntN(300))
		want := slices.Clone(fs)
		set := &FindingSet{}
		for i := 0; i < len(fs); i += 7 {
			if err := set.Add(fs[i:min(i+7, len(fs))]...); err != nil {
				t.Fatal(err)
			}
		}
		if err := set.Finish(nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if round%2 == 1 && len(fs) > 100 && len(set.runs) < 2 {
			t.Fatalf("round %d: %d findings made %d runs; the merge is not tested", round, len(fs), len(set.runs))
		}
		policy.Sort(want)
		want = policy.Dedupe(want)
		got := set.Slice()
		if want == nil {
			want = []policy.Finding{}
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(policy.Finding{}), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round %d (-policy.Sort +FindingSet):\n%s", round, diff)
		}
		if set.Len() != len(want) {
			t.Fatalf("Len %d, want %d", set.Len(), len(want))
		}
		set.Close()
	}
}

// Findings of assets read from JSON documents get their line at the end,
// from their byte offset, in memory and from runs alike.
func TestFindingSetLines(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "config.json")
	if err := os.WriteFile(doc, []byte("{\n\"configurationItems\": [\n{},\n{}\n]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, rb := range []int{16 << 20, 1} {
		old := runBytes
		runBytes = rb
		set := &FindingSet{}
		for i, off := range []int64{26, 30} { // the two items, lines 3 and 4
			f := policy.Finding{PolicyID: "P", AssetID: fmt.Sprintf("a%d", i), Severity: "low", File: doc}
			f.SetOffset(off)
			set.Add(f)
		}
		err := set.Finish(nil, time.Time{})
		runBytes = old
		if err != nil {
			t.Fatal(err)
		}
		var lines []int
		for f := range set.All() {
			lines = append(lines, f.Line)
		}
		if !slices.Equal(lines, []int{3, 4}) {
			t.Errorf("runBytes %d: lines %v, want [3 4]", rb, lines)
		}
		set.Close()
	}
}

func TestFindingSetWaivers(t *testing.T) {
	ws, _, diags := policy.ParseWaivers([]byte(`
waiver {
  policy  = "VGL-1"
  asset   = "//a/*"
  reason  = "accepted"
  expires = "2030-01-01"
}
waiver {
  policy  = "VGL-9"
  asset   = "*"
  reason  = "unused"
  expires = "2030-01-01"
}
`), "waivers.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	set := NewFindingSet([]policy.Finding{
		{PolicyID: "VGL-1", AssetID: "//a/1", Severity: "high", Message: "x"},
		{PolicyID: "VGL-2", AssetID: "//a/1", Severity: "high", Message: "y"},
	})
	set.Finish(ws, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	got := set.Slice()
	if !got[0].Waived || got[0].WaiverReason != "accepted" || got[1].Waived {
		t.Errorf("waivers not applied: %+v", got)
	}
	if u := ws.UnusedIn(set.All()); len(u) != 1 || u[0].Policy != "VGL-9" {
		t.Errorf("unused waivers = %v, want the VGL-9 one", u)
	}
}
