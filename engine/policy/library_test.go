package policy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// policyLibrary makes a library of the policy-library fixture's templates
// and the given constraint files, in the layout users have.
func policyLibrary(t *testing.T, constraints ...string) string {
	t.Helper()
	src := testutil.Fixture(t, "GoogleCloudPlatform__policy-library")
	dir := t.TempDir()
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	templates, _ := filepath.Glob(filepath.Join(src, "policies", "templates", "*.yaml"))
	legacy, _ := filepath.Glob(filepath.Join(src, "policies", "templates", "legacy", "*.yaml"))
	for _, f := range append(templates, legacy...) {
		rel, _ := filepath.Rel(src, f)
		copyFile(f, filepath.Join(dir, rel))
	}
	for i, c := range constraints {
		copyFile(filepath.Join(src, "validator", "test", "fixtures", c), filepath.Join(dir, "policies", "constraints", strings.ReplaceAll(filepath.Dir(c), "/", "_"), filepath.Base(c)))
		_ = i
	}
	return dir
}

// The policy-library's templates, run by vigil over its fixtures with its
// constraints, find what its own tests say they find.
func TestPolicyLibraryFixtures(t *testing.T) {
	fixtures := testutil.Fixture(t, "GoogleCloudPlatform__policy-library", "validator", "test", "fixtures")
	for _, tt := range []struct {
		constraint, assets string
		want               int
		resources          []string
	}{
		{"network_restrict_default/constraints/data.yaml", "network_restrict_default/assets/data.json", 1,
			[]string{"//compute.googleapis.com/projects/fake-project/global/networks/default"}},
		{"restricted_firewall_rules/constraints/sources/basic/denylist/data.yaml", "restricted_firewall_rules/assets/sources/data.json", 6, nil},
		{"restricted_firewall_rules/constraints/protocol_and_port/basic/denylist/data.yaml", "restricted_firewall_rules/assets/protocol_and_port/data.json", 5, nil},
		{"storage_location/constraints/allowlist_one/data.yaml", "storage_location/assets/storage_buckets/data.json", 2, nil},
		{"storage_location/constraints/denylist_one/data.yaml", "storage_location/assets/storage_buckets/data.json", 1,
			[]string{"//storage.googleapis.com/my-storage-bucket"}},
		{"vm_external_ip/constraints/forbid_external_ip_allowlist/data.yaml", "vm_external_ip/assets/data.json", 1,
			[]string{"//compute.googleapis.com/projects/test-project/zones/us-east1-b/instances/vm-external-ip"}},
		{"vm_external_ip/constraints/forbid_external_ip_denylist_all/data.yaml", "vm_external_ip/assets/data.json", 2, nil},
		{"compute_network_interface/constraints/allowlist/data.yaml", "compute_network_interface/assets/data.json", 1,
			[]string{"//compute.googleapis.com/projects/vpc-sc-pub-sub-billing-alerts/zones/us-central1-b/instances/invalid-instance"}},
	} {
		t.Run(tt.constraint, func(t *testing.T) {
			lib := policyLibrary(t, tt.constraint)
			e, err := Load(context.Background(), Options{Libraries: []string{lib}})
			if err != nil {
				t.Fatal(err)
			}
			if len(e.constraints) != 1 {
				t.Fatalf("%d constraints loaded, want 1", len(e.constraints))
			}
			fs, err := inventory.Open(filepath.Join(fixtures, tt.assets))
			if err != nil {
				t.Fatal(err)
			}
			fs.Workers = 1 // the findings are compared in input order
			var got []Finding
			err = fs.Scan(context.Background(), func(a *asset.Asset) error {
				fs, err := e.Evaluate(context.Background(), a)
				got = append(got, fs...)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				for _, f := range got {
					t.Logf("%s %s: %s", f.PolicyID, f.AssetID, f.Message)
				}
				t.Fatalf("%d violations, want %d", len(got), tt.want)
			}
			for i, r := range tt.resources {
				if got[i].AssetID != r {
					t.Errorf("violation on %s, want %s", got[i].AssetID, r)
				}
			}
			for _, f := range got {
				if f.Severity != "high" || !strings.Contains(f.PolicyID, "/") || f.Message == "" {
					t.Errorf("finding %+v: want severity high, id kind/name and a message", f)
				}
			}
		})
	}
}

// Planned Google resources are judged in their Cloud Asset Inventory
// shape: terraform-validator's instance plan, where only test1 has an
// external IP.
func TestPolicyLibraryJudgesTerraformPlans(t *testing.T) {
	lib := policyLibrary(t)
	constraint := `apiVersion: constraints.gatekeeper.sh/v1alpha1
kind: GCPComputeExternalIpAccessConstraintV2
metadata:
  name: no_external_ip
spec:
  severity: medium
  match:
    ancestries: ["organizations/**"]
  parameters:
    mode: allowlist
    instances: []
`
	if err := os.MkdirAll(filepath.Join(lib, "policies", "constraints"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lib, "policies", "constraints", "no_external_ip.yaml"), []byte(constraint), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Load(context.Background(), Options{Libraries: []string{lib}})
	if err != nil {
		t.Fatal(err)
	}
	plan := testutil.Fixture(t, "GoogleCloudPlatform__terraform-validator", "testdata", "templates", "full_compute_instance.tfplan.json")
	fs, err := inventory.Open(plan)
	if err != nil {
		t.Fatal(err)
	}
	fs.Workers = 1 // emit is called from one goroutine: got needs no lock
	var got []Finding
	err = fs.Scan(context.Background(), func(a *asset.Asset) error {
		f, err := e.Evaluate(context.Background(), a)
		got = append(got, f...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].AssetID != "google_compute_instance.full_list_default_1" || got[0].Severity != "medium" {
		t.Fatalf("findings %+v, want one on full_list_default_1 (test1)", got)
	}
	if got[0].File != plan || got[0].Change != "create" {
		t.Errorf("the finding should point at the plan and say the change: %+v", got[0])
	}
}

func TestPolicyLibraryErrorsNameTheFile(t *testing.T) {
	for _, tt := range []struct {
		name, file, content, want string
	}{
		{"bad yaml", "constraints/bad.yaml", "kind: GCPNetworkRestrictDefaultV1\nspec: [unclosed\n", "bad.yaml:"},
		{"unknown kind", "constraints/unknown.yaml", "apiVersion: constraints.gatekeeper.sh/v1alpha1\nkind: GCPNetworkRestrictDefault\nmetadata:\n  name: x\n", "unknown.yaml:2: constraint x is of kind GCPNetworkRestrictDefault, which no template in the library defines (did you mean GCPNetworkRestrictDefaultV1?)"},
		{"bad severity", "constraints/sev.yaml", "apiVersion: constraints.gatekeeper.sh/v1alpha1\nkind: GCPNetworkRestrictDefaultV1\nmetadata:\n  name: x\nspec:\n  severity: urgent\n", "sev.yaml:6: severity \"urgent\""},
		{"bad ancestry", "constraints/anc.yaml", "apiVersion: constraints.gatekeeper.sh/v1alpha1\nkind: GCPNetworkRestrictDefaultV1\nmetadata:\n  name: x\nspec:\n  match:\n    ancestries: [\"projects/1/organizations/*\"]\n", "anc.yaml:7: spec.match.ancestries: pattern \"projects/1/organizations/*\": organizations cannot come after projects"},
		{"bad parameter", "constraints/param.yaml", "apiVersion: constraints.gatekeeper.sh/v1alpha1\nkind: GCPStorageLocationConstraintV1\nmetadata:\n  name: x\nspec:\n  parameters:\n    mode: blocklist\n", "param.yaml:7: constraint x: parameter mode: \"blocklist\" is not one of"},
		{"bad rego", "templates/broken.yaml", "apiVersion: templates.gatekeeper.sh/v1alpha1\nkind: ConstraintTemplate\nmetadata:\n  name: broken\nspec:\n  crd:\n    spec:\n      names:\n        kind: BrokenV1\n  targets:\n    validation.gcp.forsetisecurity.org:\n      rego: |\n        package templates.gcp.BrokenV1\n\n        deny[{\"msg\": m}] {\n          m := \n        }\n", "broken.yaml:17"},
		{"wrong package", "templates/pkg.yaml", "apiVersion: templates.gatekeeper.sh/v1alpha1\nkind: ConstraintTemplate\nmetadata:\n  name: pkg\nspec:\n  crd:\n    spec:\n      names:\n        kind: PkgV1\n  targets:\n    validation.gcp.forsetisecurity.org:\n      rego: |\n        package templates.gcp.Other\n        deny[{\"msg\": \"x\"}] { false }\n", "pkg.yaml:13: template PkgV1 declares package templates.gcp.Other; Config Validator requires package templates.gcp.PkgV1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lib := policyLibrary(t)
			p := filepath.Join(lib, "policies", tt.file)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(context.Background(), Options{Libraries: []string{lib}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
