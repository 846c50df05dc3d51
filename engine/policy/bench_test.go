package policy

import (
	"context"
	"testing"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/testutil"
	"github.com/vigil-ir/vigil/policies"
)

// benchAssets are the bundled example assets whose kinds no cross-asset
// policy reads (those are judged after the inventory, see scan).
func benchSetup(b *testing.B) (*Engine, []*asset.Asset) {
	ctx := context.Background()
	cfg, _, diags := config.Load(testutil.Path(b, "examples", "vigil.hcl"))
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	e, err := Load(ctx, Options{Builtins: policies.FS, Config: cfg.Data()})
	if err != nil {
		b.Fatal(err)
	}
	fs, err := inventory.Open(testutil.Path(b, "examples", "inventory"))
	if err != nil {
		b.Fatal(err)
	}
	var as []*asset.Asset
	fs.Workers = 1
	if err := fs.Scan(ctx, func(a *asset.Asset) error {
		if !e.Deferred(a.Kind) {
			as = append(as, a)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	return e, as
}

// BenchmarkEvaluate judges every streamed example asset once per op;
// ns/op divided by the asset count is the cost of one asset.
func BenchmarkEvaluate(b *testing.B) {
	e, as := benchSetup(b)
	ctx := context.Background()
	for _, a := range as { // prepare the queries outside the timing
		if _, err := e.Evaluate(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, a := range as {
			if _, err := e.Evaluate(ctx, a); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(as)), "ns/asset")
}

// BenchmarkInputValue builds the Rego input of every example asset.
func BenchmarkInputValue(b *testing.B) {
	_, as := benchSetup(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, a := range as {
			if _, err := InputValue(a, false); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(as)), "ns/asset")
}
