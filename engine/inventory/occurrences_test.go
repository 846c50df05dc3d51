package inventory

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// The output of `gcloud artifacts vulnerabilities list --format=json` and
// a ListOccurrences page (testdata/artifact-analysis) become one report per
// image, named as the live collector names it. By hand: the api image has
// libc6's two fixable CVEs (curl's critical one is NOT_AFFECTED by the
// publisher's VEX; the discovery occurrence is no vulnerability); the
// worker image's openssh occurrence is listed again in the page (which
// sorts after the listing: a directory reads it later), now with
// a fix, and that later copy is kept beside ncurses' low one; the forensics
// image is its own project's.
func TestOccurrenceExports(t *testing.T) {
	dir := filepath.Join(testutil.Root(t), "testdata", "artifact-analysis")
	inv := load(t, filepath.Join(dir, "vulnerabilities-list.json"), filepath.Join(dir, "vulnerabilities-page.json"))
	const (
		api    = "https://europe-west1-docker.pkg.dev/acme-prod/web/api@sha256:4d0c2f1e9b3a7c65d8e1f0a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"
		worker = "https://europe-west1-docker.pkg.dev/acme-prod/web/worker@sha256:9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"
		triage = "https://europe-west1-docker.pkg.dev/acme-sec-forensics/tools/triage@sha256:aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233"
	)
	want := map[string][]asset.Vulnerability{
		"acme-prod " + api: {
			{ID: "CVE-2023-4911", Severity: "critical", Fixable: true, Package: "libc6", Fixed: "2.36-9+deb12u3"},
			{ID: "CVE-2024-2961", Severity: "high", Fixable: true, Package: "libc6", Fixed: "2.36-9+deb12u7"},
		},
		"acme-prod " + worker: {
			{ID: "CVE-2024-6387", Severity: "critical", Fixable: true, Package: "openssh-client", Fixed: "1:9.2p1-2+deb12u3"},
			{ID: "CVE-2023-50495", Severity: "low", Package: "ncurses-base"},
		},
		"acme-sec-forensics " + triage: {
			{ID: "CVE-2024-3094", Severity: "critical", Fixable: true, Package: "xz-utils", Fixed: "5.6.1+really5.4.5-1"},
		},
	}
	got := map[string][]asset.Vulnerability{}
	for _, a := range inv.Assets() {
		if a.Kind == asset.KindProject {
			continue // the projects the reports name, as any export's
		}
		if a.Kind != asset.KindVulnerabilityReport {
			t.Errorf("%s: kind %s", a.ID, a.Kind)
			continue
		}
		key := a.Scope + " " + a.Facets.Resource
		got[key] = a.Facets.Vulnerabilities
		if wantID := "//containeranalysis.googleapis.com/projects/" + a.Scope + "/imageVulnerabilities/" + url.PathEscape(a.Facets.Resource); a.ID != wantID || a.Type != "containeranalysis.googleapis.com/ImageVulnerabilities" {
			t.Errorf("%s: id %s type %s, want %s", key, a.ID, a.Type, wantID)
		}
		if a.Name != a.Facets.Resource[strings.LastIndexByte(a.Facets.Resource, '/')+1:] || a.Origin.File == "" {
			t.Errorf("%s: name %q origin %+v", key, a.Name, a.Origin)
		}
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty(), cmpopts.SortSlices(func(a, b asset.Vulnerability) bool { return a.ID < b.ID })); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	if inv.Skipped["Artifact Analysis occurrences listed twice (the later copy kept)"] != 1 || inv.Skipped["Artifact Analysis occurrences other than vulnerabilities (discovery, build, attestation...)"] != 1 {
		t.Errorf("skipped %v", inv.Skipped)
	}
}

// Occurrence exports that are not what they claim give an error naming
// the file and line; an empty page is an empty inventory.
func TestOccurrenceExportErrors(t *testing.T) {
	occ := `{"name":"projects/p/occurrences/1","kind":"VULNERABILITY","noteName":"projects/goog-vulnz/notes/CVE-1","resourceUri":"https://x"}`
	for _, tc := range []struct{ name, body, want string }{
		{"bad name", `[{"name":"occurrences/1","kind":"VULNERABILITY","noteName":"n","resourceUri":"https://x"}]`, `occ.json:1: Artifact Analysis occurrence named "occurrences/1": expected projects/PROJECT/occurrences/ID`},
		{"page of numbers", `{"occurrences":[1,2]}`, "occ.json:1: expected Artifact Analysis occurrences: an array of them (gcloud artifacts vulnerabilities list --format=json), a ListOccurrences page {\"occurrences\": [...]}, or an occurrence; an array holds occurrences, objects"},
		// gcloud prints one key a line: the bad occurrence is the second,
		// from line 8
		{"line of the element", "[\n  {\n    \"kind\": \"VULNERABILITY\",\n    \"name\": \"projects/p/occurrences/1\",\n    \"noteName\": \"n\",\n    \"resourceUri\": \"https://gcr.io/p/a\"\n  },\n  {\n    \"kind\": \"VULNERABILITY\",\n    \"name\": \"occurrences/2\",\n    \"noteName\": \"n\",\n    \"resourceUri\": \"https://gcr.io/p/a\"\n  }\n]\n",
			`occ.json:8: Artifact Analysis occurrence named "occurrences/2"`},
		{"wrong type", `{"occurrences":[` + "\n" + `{"name":"projects/p/occurrences/1","kind":"VULNERABILITY","noteName":"n","resourceUri":"https://gcr.io/p/a","vulnerability":{"fixAvailable":"yes"}}]}`,
			"occ.json:2: Artifact Analysis occurrence: invalid JSON: vulnerability.fixAvailable"},
		{"page and findings", `{"findings":[],"occurrences":[` + occ + `]}`, "JSON not recognized"},
		{"page and occurrence", `[` + occ + `]` + "\n" + `{"occurrences":[],"name":"projects/p/occurrences/2","kind":"VULNERABILITY","noteName":"n","resourceUri":"https://x"}`, "occ.json:2: an object with occurrences and also an occurrence's name"},
		{"stranger after", occ + "\n" + `{"hello":"world"}`, `occ.json:2: expected Artifact Analysis occurrences: an array of them (gcloud artifacts vulnerabilities list --format=json), a ListOccurrences page {"occurrences": [...]}, or an occurrence; this object has neither`},
		{"truncated", `[` + occ + `,{"name":`, "occ.json"},
	} {
		p := writeFile(t, "occ.json", tc.body)
		_, err := Load(t.Context(), p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	inv := load(t, writeFile(t, "empty.json", `{"occurrences":[],"nextPageToken":""}`))
	if len(inv.Assets()) != 0 || len(inv.Gaps) != 0 {
		t.Errorf("an empty page gave %d assets, gaps %v", len(inv.Assets()), inv.Gaps)
	}
}

// A page that says some regions could not be reached is a gap of the
// export: the scan says so and history does not take it for complete.
func TestOccurrenceExportUnreachable(t *testing.T) {
	p := writeFile(t, "page.json", `{"occurrences":[],"unreachable":["projects/p/locations/asia-east1","projects/p/locations/asia-east1"]}`)
	fs, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Collect(t.Context(), fs); err != nil {
		t.Fatal(err)
	}
	want := []Gap{{Part: "gcp export " + p + ": Artifact Analysis unreachable projects/p/locations/asia-east1",
		Message: p + ": the occurrences of projects/p/locations/asia-east1 are missing: the export's page says Artifact Analysis could not reach them"}}
	if diff := cmp.Diff(want, fs.CollectionGaps()); diff != "" {
		t.Errorf("gaps (-want +got):\n%s", diff)
	}
	if in := fs.Inputs(); len(in) != 2 || in[1] != "incomplete: "+want[0].Part {
		t.Errorf("inputs %q", in)
	}
}

func TestRegistryImage(t *testing.T) {
	for uri, want := range map[string]bool{
		"https://europe-west1-docker.pkg.dev/acme/web/api@sha256:4d0c":                             true,
		"https://gcr.io/acme/api@sha256:4d0c":                                                      true,
		"https://eu.gcr.io/acme/api@sha256:4d0c":                                                   true,
		"https://www.googleapis.com/compute/v1/projects/acme/zones/europe-west1-b/instances/web-1": false,
		"https://evil.example/gcr.io/x":                                                            false,
		"https://gcr.io.evil.example/x":                                                            false,
		"http://gcr.io/acme/api":                                                                   false,
		"https://user@gcr.io/acme/api":                                                             false,
		"https://gcr.io/":                                                                          false,
		"//compute.googleapis.com/projects/a/instances/web-1":                                      false,
		"europe-west1-docker.pkg.dev/acme/web/api":                                                 false,
	} {
		if got := registryImage(uri); got != want {
			t.Errorf("registryImage(%q) = %v, want %v", uri, got, want)
		}
	}
}

// A collection's gaps travel with its vigil NDJSON: written after the
// assets, read back as gaps (not assets), and named in the inputs.
func TestGapsRoundTrip(t *testing.T) {
	gaps := []Gap{{Part: "gcp acme-prod Artifact Analysis vulnerability occurrences: permission denied", Message: "acme-prod: no Artifact Analysis vulnerability occurrences: permission denied"}}
	a := &asset.Asset{ID: "//compute.googleapis.com/projects/acme-prod/zones/z/instances/web-1", Provider: asset.GCP, Kind: asset.KindInstance, Scope: "acme-prod"}
	inv := New(a)
	inv.Gaps = gaps
	var buf strings.Builder
	if err := inv.WriteNDJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(buf.String()), "\n"); len(lines) != 2 || lines[1] != `{"vigil_gap":{"part":"gcp acme-prod Artifact Analysis vulnerability occurrences: permission denied","message":"acme-prod: no Artifact Analysis vulnerability occurrences: permission denied"}}` {
		t.Fatalf("written:\n%s", buf.String())
	}
	p := writeFile(t, "org.ndjson", buf.String())
	back := load(t, p)
	if len(back.Assets()) != 2 || back.Get(a.ID) == nil { // web-1 and its project
		t.Errorf("assets read back: %d", len(back.Assets()))
	}
	if diff := cmp.Diff(gaps, back.Gaps); diff != "" {
		t.Errorf("gaps (-want +got):\n%s", diff)
	}
	// a file of gaps alone is vigil NDJSON too; a gap must name its part
	only := load(t, writeFile(t, "gap.ndjson", `{"vigil_gap":{"part":"p","message":"m"}}`+"\n"))
	if len(only.Gaps) != 1 || len(only.Assets()) != 0 {
		t.Errorf("gap-only file: %v, %d assets", only.Gaps, len(only.Assets()))
	}
	if _, err := Load(t.Context(), writeFile(t, "bad.ndjson", buf.String()+`{"vigil_gap":{"message":"m"}}`+"\n")); err == nil || !strings.Contains(err.Error(), "bad.ndjson:3: vigil_gap has no part") {
		t.Errorf("a gap without part: %v", err)
	}
}
