package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// notConverted are fields terraform-validator writes that PlanCAI leaves
// out: none of them bears on security posture.
var notConverted = map[string]bool{
	"guestAccelerators": true,
}

// sortLists orders every list of scalars, recursively: the API and
// Terraform order sets differently.
func sortLists(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = sortLists(e)
		}
	case []any:
		for i, e := range x {
			x[i] = sortLists(e)
		}
		scalar := true
		for _, e := range x {
			switch e.(type) {
			case map[string]any, []any:
				scalar = false
			}
		}
		if scalar {
			sort.Slice(x, func(i, j int) bool { return fmt.Sprint(x[i]) < fmt.Sprint(x[j]) })
		}
	}
	return v
}

// TestPlanCAIMatchesTerraformValidator converts the plans terraform-validator
// tests its conversion with and compares with its expected CAI assets.
func TestPlanCAIMatchesTerraformValidator(t *testing.T) {
	dir := testutil.Fixture(t, "GoogleCloudPlatform__terraform-validator", "testdata", "templates")
	for _, name := range []string{"full_compute_firewall", "full_compute_instance", "full_storage_bucket"} {
		t.Run(name, func(t *testing.T) {
			fs, err := Open(filepath.Join(dir, name+".tfplan.json"))
			if err != nil {
				t.Fatal(err)
			}
			fs.Workers = 1 // emit is called from one goroutine: assets needs no lock
			var assets []*asset.Asset
			if err := fs.Scan(context.Background(), func(a *asset.Asset) error {
				assets = append(assets, a)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(filepath.Join(dir, name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			converted := 0
			for _, a := range assets {
				got, ok := PlanCAI(a)
				if !ok {
					continue
				}
				converted++
				project := strings.TrimPrefix(got["ancestors"].([]any)[0].(string), "projects/")
				var want []map[string]any
				text := strings.ReplaceAll(string(raw), "{{.Provider.project}}", project)
				text = strings.ReplaceAll(text, "{{.Ancestry}}", "organizations/unknown")
				if err := json.Unmarshal([]byte(text), &want); err != nil {
					t.Fatal(err)
				}
				var exp map[string]any
				for _, w := range want {
					if w["name"] == got["name"] {
						exp = w
					}
				}
				if exp == nil {
					t.Errorf("%s: converted to %s, which terraform-validator does not produce", a.ID, got["name"])
					continue
				}
				if got["asset_type"] != exp["asset_type"] {
					t.Errorf("%s: asset_type %v, want %v", a.ID, got["asset_type"], exp["asset_type"])
				}
				gotData := sortLists(got["resource"].(map[string]any)["data"]).(map[string]any)
				wantData := sortLists(exp["resource"].(map[string]any)["data"]).(map[string]any)
				// round-trip through JSON so numbers compare alike
				var g, w map[string]any
				b, _ := json.Marshal(gotData)
				json.Unmarshal(b, &g)
				b, _ = json.Marshal(wantData)
				json.Unmarshal(b, &w)
				for k := range w {
					if notConverted[k] {
						delete(w, k)
					}
				}
				if diff := cmp.Diff(w, g); diff != "" {
					t.Errorf("%s: resource.data (-terraform-validator +PlanCAI):\n%s", a.ID, diff)
				}
			}
			if converted == 0 || converted != len(assets) {
				t.Errorf("converted %d of %d planned resources", converted, len(assets))
			}
		})
	}
}
