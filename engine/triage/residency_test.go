package triage

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/policies"
)

// Scan and triage agree on residency: for every asset of the examples and
// of the posture fixtures (where data classes are inherited from projects
// and folders), the card says "residency: VIOLATION" exactly when the scan
// has a VGL-DATA-001 finding on the asset.
func TestResidencyScanAndTriageAgree(t *testing.T) {
	for _, tc := range []struct {
		inv, cfg string
		want     []string // when set, exactly the assets in violation
	}{
		{"../../examples/inventory", "../../examples/vigil.hcl", nil},
		{"../../testdata/posture", "../../testdata/posture/vigil.hcl", nil},
		// the class is a tag on a folder (testdata/residency-folder/README.md)
		{"../../testdata/residency-folder", "../../testdata/posture/vigil.hcl", nil},
		// hr-us and tools-us have data-class="": no class of their own, so
		// hr-us inherits pii from the folder tag and, in us-central1,
		// violates; tools-us inherits nothing
		// (testdata/residency-empty-label/README.md).
		{"../../testdata/residency-empty-label", "../../testdata/posture/vigil.hcl",
			[]string{"//compute.googleapis.com/projects/acme-hr/zones/us-central1-a/instances/hr-us"}},
	} {
		t.Run(tc.inv, func(t *testing.T) {
			cfg, _, diags := config.Load(tc.cfg)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			e, err := policy.Load(context.Background(), policy.Options{Builtins: policies.FS, Config: cfg.Data(), Only: []string{"VGL-DATA-001"},
				Now: func() time.Time { return time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) }})
			if err != nil {
				t.Fatal(err)
			}
			fs, err := inventory.Open(tc.inv)
			if err != nil {
				t.Fatal(err)
			}
			res, err := scan.Run(context.Background(), scan.Options{Sources: []inventory.Source{fs}, Engine: e})
			if err != nil {
				t.Fatal(err)
			}
			flagged := map[string]bool{}
			for _, f := range res.Findings.Slice() {
				flagged[f.AssetID] = true
			}
			res.Findings.Close()
			inv, err := inventory.Load(context.Background(), tc.inv)
			if err != nil {
				t.Fatal(err)
			}
			o := &Options{Inventory: inv, Config: cfg}
			violations := 0
			for _, a := range inv.Assets() {
				loc := Build(o, a.ID).Question(QLocation)
				card := strings.Contains(strings.Join(loc.Details, "\n"), "residency: VIOLATION")
				if card != flagged[a.ID] {
					t.Errorf("%s %s: triage says violation %v, scan %v\n%v", a.Kind, a.ID, card, flagged[a.ID], loc.Details)
				}
				if card {
					violations++
				}
			}
			for _, id := range tc.want {
				if !flagged[id] {
					t.Errorf("%s: no VGL-DATA-001 finding, want one", id)
				}
			}
			if tc.want != nil && len(flagged) != len(tc.want) {
				t.Errorf("%d assets flagged, want %d (%v): %v", len(flagged), len(tc.want), tc.want, flagged)
			}
			if violations == 0 {
				t.Error("no violation at all: the test proves nothing")
			}
		})
	}
}

// The case of issue 19: a VM without a label of its own, in a project
// labelled pii, in us-central1: the card shows where the class comes from.
func TestTriageInheritedClass(t *testing.T) {
	inv, err := inventory.Load(context.Background(), "../../testdata/posture")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, _ := config.Load("../../testdata/posture/vigil.hcl")
	c := Build(&Options{Inventory: inv, Config: cfg}, "//compute.googleapis.com/projects/acme-pii/zones/us-central1-a/instances/records-us")
	check(t, c, map[string]want{
		QData:     {known: true, value: "pii", details: []string{"inherited from projects/402398720121"}},
		QLocation: {known: true, value: "us-central1", details: []string{"residency: VIOLATION, pii data must be in eu, eu-*, europe-*"}},
	})
}

// Folders have no labels: a data class set on one is a Resource Manager
// tag (a CAI TagBinding). hr-us, in acme-hr under the tagged folder
// "regulated", in us-central1, inherits pii from the folder; tools-us, in
// a project directly under the organization, holds no class.
func TestTriageFolderTagClass(t *testing.T) {
	inv, err := inventory.Load(context.Background(), "../../testdata/residency-folder")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, _ := config.Load("../../testdata/posture/vigil.hcl")
	o := &Options{Inventory: inv, Config: cfg}
	check(t, Build(o, "//compute.googleapis.com/projects/acme-hr/zones/us-central1-a/instances/hr-us"), map[string]want{
		QData:     {known: true, value: "pii", details: []string{"inherited from folders/733120954113"}},
		QLocation: {known: true, value: "us-central1", details: []string{"residency: VIOLATION, pii data must be in eu, eu-*, europe-*"}},
	})
	c := Build(o, "//compute.googleapis.com/projects/acme-tools/zones/us-central1-a/instances/tools-us")
	if loc := strings.Join(c.Question(QLocation).Details, "\n"); strings.Contains(loc, "VIOLATION") {
		t.Errorf("tools-us holds no class, the card says %q", loc)
	}
}

// The card answers whether the IR team can get in, on both clouds.
func TestTriageEmergencyAccess(t *testing.T) {
	inv, err := inventory.Load(context.Background(), "../../testdata/posture")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, _ := config.Load("../../testdata/posture/vigil.hcl")
	o := &Options{Inventory: inv, Config: cfg}
	check(t, Build(o, "arn:aws:ec2:eu-west-1:111111111111:instance/i-0a1a000000000001"), map[string]want{
		QEmergency: {known: true, value: "yes (1 roles)", details: []string{"role ir-break-glass trusts arn:aws:iam::999999999999:role/IR"}},
	})
	check(t, Build(o, "arn:aws:ec2:eu-west-1:222222222222:vpc/vpc-0b2b000000000001"), map[string]want{
		QEmergency: {known: true, value: "no: none of the 1 roles of account 222222222222 trusts arn:aws:iam::999999999999:role/IR"},
	})
	check(t, Build(o, "//compute.googleapis.com/projects/acme-web/zones/europe-west1-b/instances/web-1"), map[string]want{
		QEmergency: {known: true, value: "no: none of group:ir-team@acme.example, arn:aws:iam::999999999999:role/IR has a role on acme-web or above it"},
	})
	ex := options(t)
	check(t, Build(ex, "//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1"), map[string]want{
		QEmergency: {known: true, value: "yes", details: []string{"group:ir-team@acme.example has"}},
	})
}

// Review 19: on GCP a read-only role (roles/viewer) is no emergency
// access; the card says so and names the role.
func TestEmergencyReadOnlyRole(t *testing.T) {
	for role, want := range map[string]bool{
		"roles/viewer": true, "roles/browser": true, "roles/iam.securityReviewer": true,
		"roles/appengine.codeViewer": true, "roles/storage.objectViewer": true, "roles/bigquery.dataReader": true,
		"roles/compute.instanceAdmin.v1": false, "roles/owner": false, "roles/editor": false,
	} {
		if got := readOnlyRole(role); got != want {
			t.Errorf("%s: read-only %v, want %v", role, got, want)
		}
	}
}
