package inventory

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// benchInputs are the bundled examples and the public CAI and AWS Config
// fixtures: every format the loader streams, in realistic shapes.
func benchInputs(b *testing.B) []string {
	return []string{
		testutil.Path(b, "examples", "inventory"),
		testutil.Fixture(b, "forseti-security__forseti-security", "tests", "services", "inventory", "test_data"),
		testutil.Fixture(b, "awslabs__aws-config-rdk", "rdk", "template", "example_ci"),
	}
}

// BenchmarkLoad streams the inputs through the whole loader (detection,
// the IAM and hierarchy pre-pass, splitting, decoding, normalizing) on all
// cores; ns/asset is the loader's cost per asset.
func BenchmarkLoad(b *testing.B) {
	fs, err := Open(benchInputs(b)...)
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64 // emit runs on every worker
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		n.Store(0)
		if err := fs.Scan(ctx, func(*asset.Asset) error { n.Add(1); return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*n.Load()), "ns/asset")
}

// caiLines reads the NDJSON records of the example export and the forseti
// fixture.
func caiLines(b *testing.B) [][]byte {
	var out [][]byte
	for _, p := range []string{
		testutil.Path(b, "examples", "inventory", "gcp-resources.ndjson"),
		filepath.Join(testutil.Fixture(b, "forseti-security__forseti-security", "tests", "services", "inventory", "test_data"), "mock_cai_resources.dump"),
	} {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if len(sc.Bytes()) > 0 {
				out = append(out, append([]byte(nil), sc.Bytes()...))
			}
		}
		f.Close()
	}
	return out
}

// BenchmarkFacets measures building assets and their facets from records
// already decoded: the normalizer alone.
func BenchmarkFacets(b *testing.B) {
	type decoded struct {
		r    *caiRecord
		data gcpData
	}
	var recs []decoded
	for _, l := range caiLines(b) {
		r, data, err := decodeRecord(l)
		if err != nil {
			b.Fatal(err)
		}
		if r.Resource != nil {
			recs = append(recs, decoded{r, data})
		}
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, d := range recs {
			a := &asset.Asset{ID: d.r.Name, Type: d.r.assetType(), Provider: asset.GCP}
			if err := normalizeGCP(a, d.data, d.r.Resource.Location, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/asset")
}

// BenchmarkDecodeRecord measures decoding one CAI record into its typed
// struct, the step before facets.
func BenchmarkDecodeRecord(b *testing.B) {
	lines := caiLines(b)
	var size int64
	for _, l := range lines {
		size += int64(len(l))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, l := range lines {
			if _, _, err := decodeRecord(l); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/record")
}
