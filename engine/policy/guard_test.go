package policy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/internal/testutil"
	"github.com/vigil-ir/vigil/policies"
)

// guardInventories are the inventories the guard tests judge: the bundled
// examples, the posture corpus, Terraform plans and the public fixtures.
func guardInventories(t *testing.T) [][]string {
	return [][]string{
		{testutil.Path(t, "examples", "inventory")},
		{testutil.Path(t, "testdata", "posture")},
		{testutil.Path(t, "examples", "terraform", "plan.json")},
		{testutil.Path(t, "testdata", "posture-plan", "plan.json")},
		{testutil.Fixture(t, "forseti-security__forseti-security", "tests", "services", "inventory", "test_data")},
		{testutil.Fixture(t, "awslabs__aws-config-rdk", "rdk", "template", "example_ci")},
	}
}

// engines loads the built-in library twice, with guards and without, with
// the same settings and the cross-asset index of the assets.
func guardEngines(t *testing.T, cfgPath string, assets []*asset.Asset) (guarded, plain *policy.Engine) {
	t.Helper()
	ctx := context.Background()
	cfg, _, diags := config.Load(cfgPath)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	now := func() time.Time { return time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) }
	idx := scan.NewIndex()
	for _, a := range assets {
		idx.Observe(a)
	}
	var es [2]*policy.Engine
	for i := range es {
		e, err := policy.Load(ctx, policy.Options{Builtins: policies.FS, Config: cfg.Data(), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.SetInventory(ctx, idx.Data()); err != nil {
			t.Fatal(err)
		}
		es[i] = e
	}
	policy.KeepGuards(es[0])
	policy.SetGuards(es[1], false)
	return es[0], es[1]
}

func loadAll(t *testing.T, paths ...string) []*asset.Asset {
	t.Helper()
	inv, err := inventory.Load(context.Background(), paths...)
	if err != nil {
		t.Fatal(err)
	}
	return inv.Assets()
}

// compareJudgements judges every asset with both engines and fails on any
// difference, findings or builtin errors.
func compareJudgements(t *testing.T, guarded, plain *policy.Engine, assets []*asset.Asset) (findings int) {
	t.Helper()
	ctx := context.Background()
	for _, a := range assets {
		want, werr := plain.Evaluate(ctx, a)
		got, gerr := guarded.Evaluate(ctx, a)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s: errors differ: guarded %v, plain %v", a.ID, gerr, werr)
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(policy.Finding{}), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s (%s): guards judge differently (-plain +guarded):\n%s", a.ID, a.Kind, diff)
		}
		findings += len(want)
	}
	if diff := cmp.Diff(plain.BuiltinErrors(), guarded.BuiltinErrors(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("builtin errors differ (-plain +guarded):\n%s", diff)
	}
	return findings
}

// Guards never change what the policies find: every asset of the corpora,
// every kind, both parts (streamed and cross-asset).
func TestGuardsJudgeAsOPA(t *testing.T) {
	if raceEnabled {
		t.Skip("sequential: run without -race (TestGuardsConcurrent runs under it)")
	}
	cfg := testutil.Path(t, "examples", "vigil.hcl")
	total, assets := 0, 0
	for _, paths := range guardInventories(t) {
		as := loadAll(t, paths...)
		guarded, plain := guardEngines(t, cfg, as)
		total += compareJudgements(t, guarded, plain, as)
		assets += len(as)
	}
	if assets < 200 || total < 50 {
		t.Fatalf("compared %d assets and %d findings: too few to mean anything", assets, total)
	}
}

// Guards judge as OPA does on assets made to sit on the edges the rules
// test: labels and facets taken away, emptied or swapped between assets
// of the same kind, at random (seeded, so a failure repeats).
func TestGuardsJudgeMutatedAssets(t *testing.T) {
	if raceEnabled {
		t.Skip("sequential: run without -race (TestGuardsConcurrent runs under it)")
	}
	base := loadAll(t, testutil.Path(t, "examples", "inventory"))
	base = append(base, loadAll(t, testutil.Path(t, "testdata", "posture"))...)
	base = append(base, loadAll(t, testutil.Path(t, "examples", "terraform", "plan.json"))...)
	r := rand.New(rand.NewPCG(21, 1))
	byKind := map[string][]*asset.Asset{}
	for _, a := range base {
		byKind[a.Kind] = append(byKind[a.Kind], a)
	}
	var mutated []*asset.Asset
	for round := 0; round < 6; round++ {
		for _, a := range base {
			m := a.Clone()
			m.ID = a.ID + "#" + string(rune('a'+round))
			peers := byKind[a.Kind]
			other := peers[r.IntN(len(peers))]
			switch r.IntN(6) {
			case 0: // no labels
				m.Labels = nil
			case 1: // labels of a peer, one emptied
				m.Labels = map[string]string{}
				for k, v := range other.Labels {
					m.Labels[k] = v
					if r.IntN(3) == 0 {
						m.Labels[k] = ""
					}
				}
			case 2: // the facets of a peer
				m.Facets = other.Facets
			case 3: // no facets at all
				m.Facets = asset.Facets{}
			case 4: // the region and provider of a peer
				m.Region, m.Provider = other.Region, other.Provider
			case 5: // global, or a region nobody allows
				m.Region = []string{"global", "us-east-1", "europe-west1", ""}[r.IntN(4)]
			}
			mutated = append(mutated, m)
		}
	}
	guarded, plain := guardEngines(t, testutil.Path(t, "examples", "vigil.hcl"), base)
	if n := compareJudgements(t, guarded, plain, mutated); n < 50 {
		t.Fatalf("only %d findings over %d mutated assets", n, len(mutated))
	}
}

// The guards do skip work: most assets of the posture corpus need no
// query at all.
func TestGuardsSkipMostAssets(t *testing.T) {
	as := loadAll(t, testutil.Path(t, "testdata", "posture"))
	guarded, _ := guardEngines(t, testutil.Path(t, "testdata", "posture", "vigil.hcl"), as)
	skipped := 0
	for _, a := range as {
		if policy.GuardsSkip(context.Background(), guarded, a) {
			skipped++
		}
	}
	if skipped*3 < len(as) {
		t.Errorf("guards skipped %d of %d assets: less than a third", skipped, len(as))
	}
}

// Guards judge as OPA does on the inventories the benchmark generates
// (bench/gen: every kind the built-in policies read, about a fifth of the
// assets breaking one), two seeds, every asset, both parts.
func TestGuardsJudgeGeneratedInventories(t *testing.T) {
	if raceEnabled {
		t.Skip("sequential: run without -race (TestGuardsConcurrent runs under it)")
	}
	if testing.Short() {
		t.Skip("builds and runs bench/gen")
	}
	dir := t.TempDir()
	gen := filepath.Join(dir, "gen")
	build := exec.Command("go", "build", "-o", gen, "./bench/gen")
	build.Dir = testutil.Root(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./bench/gen: %v\n%s", err, out)
	}
	for _, seed := range []string{"42", "7"} {
		out := filepath.Join(dir, "inv-"+seed)
		if msg, err := exec.Command(gen, "inventory", "-n", "3000", "-seed", seed, "-out", out).CombinedOutput(); err != nil {
			t.Fatalf("gen inventory: %v\n%s", err, msg)
		}
		as := loadAll(t, filepath.Join(out, "gcp-resources.ndjson"), filepath.Join(out, "gcp-iam.ndjson"),
			filepath.Join(out, "aws-config.json"), filepath.Join(out, "aws-collected.ndjson"))
		guarded, plain := guardEngines(t, filepath.Join(out, "vigil.hcl"), as)
		n := compareJudgements(t, guarded, plain, as)
		// bench/gen makes about one asset in five break a policy
		if len(as) < 3000 || n < len(as)/10 {
			t.Fatalf("seed %s: %d findings over %d assets: not the generated inventory", seed, n, len(as))
		}
	}
}

// Guards are shared by the scan's workers: their pooled scratch space,
// statistics and subset queries. Judging the same assets from several
// goroutines at once (run it under -race) gives what one judge gives.
func TestGuardsConcurrent(t *testing.T) {
	as := loadAll(t, testutil.Path(t, "testdata", "posture"))
	as = append(as, loadAll(t, testutil.Path(t, "examples", "inventory"))...)
	guarded, plain := guardEngines(t, testutil.Path(t, "examples", "vigil.hcl"), as)
	ctx := context.Background()
	want := make([][]policy.Finding, len(as))
	for i, a := range as {
		fs, err := plain.Evaluate(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = fs
	}
	const workers = 4
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			for round := 0; round < 2; round++ {
				for j := range as {
					i := (j + w*len(as)/workers) % len(as) // each starts elsewhere
					got, err := guarded.Evaluate(ctx, as[i])
					if err != nil {
						errs <- err
						return
					}
					if diff := cmp.Diff(want[i], got, cmpopts.IgnoreUnexported(policy.Finding{}), cmpopts.EquateEmpty()); diff != "" {
						errs <- fmt.Errorf("%s: worker %d judges differently (-plain +guarded):\n%s", as[i].ID, w, diff)
						return
					}
				}
			}
			errs <- nil
		}(w)
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// A helper with else branches: the guard takes the value of the first
// branch whose body holds and fails only when none does, as topdown
// does. Each asset is worked out by hand; a guard that ignored the else
// branches would skip the "web" and "other" buckets, whose findings the
// plain engine reports.
func TestGuardsFollowElseBranches(t *testing.T) {
	dir := t.TempDir()
	src := `# METADATA
# title: bucket class
# custom:
#   id: ACME-ELSE-1
#   severity: low
#   kinds: [bucket]
package vigil.policies.acme.elseclass
import rego.v1

class(b) := "admin" if {
	b.labels.tier == "admin"
} else := "web" if {
	b.labels.tier == "web"
} else := "other" if {
	b.labels.tier
}

deny contains msg if {
	class(input.asset) != "admin"
	msg := sprintf("class %s", [class(input.asset)])
}
`
	if err := os.WriteFile(filepath.Join(dir, "else.rego"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var es [2]*policy.Engine
	for i := range es {
		e, err := policy.Load(ctx, policy.Options{Dirs: []string{dir}})
		if err != nil {
			t.Fatal(err)
		}
		es[i] = e
	}
	guarded, plain := es[0], es[1]
	policy.KeepGuards(guarded)
	policy.SetGuards(plain, false)
	bucket := func(id string, labels map[string]string) *asset.Asset {
		return &asset.Asset{ID: id, Provider: "aws", Type: "AWS::S3::Bucket", Kind: "bucket", Labels: labels, Source: "test"}
	}
	for _, c := range []struct {
		a        *asset.Asset
		want     []string // the findings' messages
		guardsOK bool     // the guard alone decides: no Rego to run
	}{
		{bucket("admin", map[string]string{"tier": "admin"}), nil, true},                // first branch: "admin", no finding
		{bucket("web", map[string]string{"tier": "web"}), []string{"class web"}, false}, // second branch
		{bucket("db", map[string]string{"tier": "db"}), []string{"class other"}, false}, // third branch
		{bucket("none", nil), nil, true},                                                // every branch fails: class undefined
		{bucket("empty", map[string]string{"owner": "x"}), nil, true},                   // no tier label either
	} {
		if got := policy.GuardsSkip(ctx, guarded, c.a); got != c.guardsOK {
			t.Errorf("%s: guards skip = %v, want %v", c.a.ID, got, c.guardsOK)
		}
		for name, e := range map[string]*policy.Engine{"guarded": guarded, "plain": plain} {
			fs, err := e.Evaluate(ctx, c.a)
			if err != nil {
				t.Fatalf("%s %s: %v", name, c.a.ID, err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.Message)
			}
			if diff := cmp.Diff(c.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s %s: findings (-want +got):\n%s", name, c.a.ID, diff)
			}
		}
	}
}
