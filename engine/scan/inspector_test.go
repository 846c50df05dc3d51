package scan

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ir/vigil/internal/testutil"
)

// The posture fixture with its collected Inspector records replaced by an
// `aws inspector2 list-findings` export (testdata/inspector, two pages):
// the imported reports meet the fixture's instances as collected ones do.
// By hand: web-1 (i-0a1a…1) is reachable from the internet (the posture
// test's VGL-VULN-001) and now has openssh (critical) and libc6 (high),
// both fixable; i-0b2b…2 (us-east-1) is not in the inventory, so its
// fixable high CVE is VGL-VULN-002's; i-0a1a…2 and …3 lose the collected
// reports they had, so they leave both lists. GCP's findings stay.
func TestInspectorExportScan(t *testing.T) {
	root := testutil.Root(t)
	dir := t.TempDir()
	for _, name := range []string{"aws-config.json", "gcp-cai.ndjson", "vigil.hcl"} {
		copyFile(t, filepath.Join(root, "testdata", "posture", name), filepath.Join(dir, name))
	}
	collected, err := os.ReadFile(filepath.Join(root, "testdata", "posture", "aws-collected.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	dropped := 0
	for _, line := range strings.SplitAfter(string(collected), "\n") {
		if strings.Contains(line, `"resourceType": "AWS::Inspector2::Findings"`) {
			dropped++
			continue
		}
		kept = append(kept, line)
	}
	if dropped != 3 {
		t.Fatalf("dropped %d collected Inspector records, want 3", dropped)
	}
	if err := os.WriteFile(filepath.Join(dir, "aws-collected.ndjson"), []byte(strings.Join(kept, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"list-findings-page1.json", "list-findings-page2.json"} {
		copyFile(t, filepath.Join(root, "testdata", "inspector", name), filepath.Join(dir, name))
	}
	res, _ := scanFixture(t, filepath.Join("testdata", "posture", "vigil.hcl"), dir, postureClock, "VGL-VULN-001", "VGL-VULN-002")
	defer res.Findings.Close()
	got := map[string][]string{}
	var web1 string
	for f := range res.Findings.All() {
		got[f.PolicyID] = append(got[f.PolicyID], f.AssetName)
		if f.PolicyID == "VGL-VULN-001" && f.AssetName == "i-0a1a000000000001" {
			web1 = f.Message
		}
	}
	for _, ids := range got {
		sort.Strings(ids)
	}
	want := map[string][]string{
		"VGL-VULN-001": {"51000023", "i-0a1a000000000001"},
		"VGL-VULN-002": {"i-0b2b000000000002", "records-us", "web-2"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("findings (-want +got):\n%s", d)
	}
	for _, cve := range []string{"CVE-2024-6387", "CVE-2024-2961"} {
		if !strings.Contains(web1, cve) {
			t.Errorf("web-1's finding %q does not name %s", web1, cve)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// An Artifact Analysis export (testdata/artifact-analysis) scanned with
// the posture fixture adds exactly its three fixable images to
// VGL-VULN-002 (by hand: api's libc6 pair, worker's openssh, the
// forensics triage image's xz-utils), each said to be an image, and takes
// nothing from the fixture's own findings.
func TestOccurrenceExportScan(t *testing.T) {
	root := testutil.Root(t)
	dir := t.TempDir()
	for _, name := range []string{"aws-config.json", "gcp-cai.ndjson", "aws-collected.ndjson"} {
		copyFile(t, filepath.Join(root, "testdata", "posture", name), filepath.Join(dir, name))
	}
	names := func() map[string]string {
		res, _ := scanFixture(t, filepath.Join("testdata", "posture", "vigil.hcl"), dir, postureClock, "VGL-VULN-001", "VGL-VULN-002")
		defer res.Findings.Close()
		out := map[string]string{}
		for f := range res.Findings.All() {
			out[f.PolicyID+" "+f.AssetID] = f.Message
		}
		return out
	}
	before := names()
	for _, name := range []string{"vulnerabilities-list.json", "vulnerabilities-page.json"} {
		copyFile(t, filepath.Join(root, "testdata", "artifact-analysis", name), filepath.Join(dir, name))
	}
	after := names()
	var added []string
	for k, msg := range after {
		if _, ok := before[k]; ok {
			continue
		}
		added = append(added, k)
		if !strings.Contains(msg, "in a container image") {
			t.Errorf("%s: %s", k, msg)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			t.Errorf("%s is gone with the export", k)
		}
	}
	sort.Strings(added)
	const p = "VGL-VULN-002 //containeranalysis.googleapis.com/projects/"
	want := []string{
		p + "acme-prod/imageVulnerabilities/https:%2F%2Feurope-west1-docker.pkg.dev%2Facme-prod%2Fweb%2Fapi@sha256:4d0c2f1e9b3a7c65d8e1f0a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6",
		p + "acme-prod/imageVulnerabilities/https:%2F%2Feurope-west1-docker.pkg.dev%2Facme-prod%2Fweb%2Fworker@sha256:9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d",
		p + "acme-sec-forensics/imageVulnerabilities/https:%2F%2Feurope-west1-docker.pkg.dev%2Facme-sec-forensics%2Ftools%2Ftriage@sha256:aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233",
	}
	if d := cmp.Diff(want, added); d != "" {
		t.Errorf("findings the export added (-want +got):\n%s", d)
	}
}
