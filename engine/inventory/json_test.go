package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	gojson "github.com/goccy/go-json"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// decodeBoth decodes raw with goccy/go-json and with encoding/json into
// fresh values made by mk, and returns both re-encoded by encoding/json.
func decodeBoth(raw []byte, mk func() any) (fast, std []byte, fastErr, stdErr error) {
	a, b := mk(), mk()
	fastErr = gojson.Unmarshal(raw, a)
	stdErr = json.Unmarshal(raw, b)
	fast, _ = json.Marshal(a)
	std, _ = json.Marshal(b)
	return
}

// FuzzDecodeJSON holds the fast decoder to encoding/json on the records it
// decodes: whatever encoding/json rejects it must reject too (decodeJSON
// would otherwise accept malformed input), and whatever both accept must
// decode to the same values.
func FuzzDecodeJSON(f *testing.F) {
	dir := testutil.Fixture(f, "forseti-security__forseti-security", "tests", "services", "inventory", "test_data")
	seedLines(f, filepath.Join(dir, "mock_cai_resources.dump"), filepath.Join(dir, "mock_cai_iam_policies.dump"))
	items, _ := filepath.Glob(testutil.Fixture(f, "awslabs__aws-config-rdk", "rdk", "template", "example_ci", "*.json"))
	seedFiles(f, items...)
	seedLines(f, testutil.Path(f, "examples", "inventory", "gcp-resources.ndjson"))
	// normalized assets, as the scan holds them
	fs, err := Open(testutil.Path(f, "examples", "inventory"))
	if err != nil {
		f.Fatal(err)
	}
	fs.Workers = 1
	if err := fs.Scan(context.Background(), func(a *asset.Asset) error {
		b, err := json.Marshal(a)
		f.Add(b)
		return err
	}); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"asset_type":"compute.googleapis.com/Firewall","name":"x","resource":{"data":{"sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}}}`))
	f.Add([]byte(`{"resourceType":"AWS::S3::Bucket","configuration":{"name":"b\u00e9"},"tags":{"a":"\ud800"}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		mks := []func() any{
			func() any {
				return &caiRecord{Resource: &caiResource{Data: newGCPData(GCPKind(shapeOf(raw).assetType))}}
			},
			func() any {
				return &configItemJSON{Configuration: newAWSData(AWSKind(memberString(raw, "resourceType")))}
			},
			// the scan holds assets for the cross-asset pass as JSON
			func() any { return &asset.Asset{} },
		}
		for _, mk := range mks {
			fast, std, fastErr, stdErr := decodeBoth(raw, mk)
			if stdErr != nil {
				if fastErr == nil {
					t.Fatalf("encoding/json rejects %q (%v), goccy/go-json accepts it", raw, stdErr)
				}
				continue
			}
			if fastErr != nil {
				continue // decodeJSON falls back to encoding/json
			}
			if !bytes.Equal(fast, std) {
				t.Fatalf("decoders differ on %q:\ngoccy:         %s\nencoding/json: %s", raw, fast, std)
			}
		}
	})
}

// BenchmarkDecodeCAI compares the decoders on the bundled example records.
func BenchmarkDecodeCAI(b *testing.B) {
	data, err := os.ReadFile(testutil.Path(b, "examples", "inventory", "gcp-resources.ndjson"))
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	for _, dec := range []struct {
		name string
		fn   func([]byte, any) error
	}{{"encoding-json", json.Unmarshal}, {"goccy", gojson.Unmarshal}} {
		b.Run(dec.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				for _, l := range lines {
					r := &caiRecord{Resource: &caiResource{Data: newGCPData(GCPKind(shapeOf(l).assetType))}}
					if err := dec.fn(l, r); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
