package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/provider/gcp/contract"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
)

// gcpWorld serves the fake Google Cloud and points the provider at it.
func gcpWorld(t *testing.T) *gcpfake.Fake {
	t.Helper()
	f := gcpfake.Scenario()
	srv, err := f.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if problems := contract.CheckAll(f.Requests()); len(problems) > 0 {
			t.Errorf("requests that break the API contract:\n%s", strings.Join(problems, "\n"))
		}
	})
	t.Setenv("VIGIL_GCP_ENDPOINT", srv.REST)
	t.Setenv("VIGIL_GCP_ASSET_ENDPOINT", srv.Asset)
	t.Setenv("VIGIL_GCP_POLL_INTERVAL", "20ms")
	return f
}

func collectGCPTo(t *testing.T, path string) *inventory.Inventory {
	t.Helper()
	code, _, errs := run(t, "inventory", "collect", "--gcp-scope", "organizations/684315297612", "--out", path)
	if code != 0 {
		t.Fatalf("collect: %d\n%s", code, errs)
	}
	inv, err := inventory.Load(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

const gcpWeb1 = "//compute.googleapis.com/" + gcpfake.Web1

// compromised-vm-gcp for real: snapshots, evidence images in the security
// project, quarantine tag and rules, a suspended VM; the same apply again
// changes nothing.
func TestGCPCompromisedVM(t *testing.T) {
	f := gcpWorld(t)
	dir := t.TempDir()
	before := filepath.Join(dir, "before.ndjson")
	collectGCPTo(t, before)
	state := filepath.Join(dir, "state.db")
	args := []string{"runbook", "apply", "compromised-vm-gcp", "-i", before, "-var", "instance=" + gcpWeb1, "-var", "incident=INC-2041",
		"-var", `forensics_ranges=["10.99.0.0/24"]`, "--approve", "isolate", "--state", state}
	code, out, errs := runConfirmed(t, args...)
	if code != 0 || !strings.Contains(out, "completed") {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errs)
	}
	after := collectGCPTo(t, filepath.Join(dir, "after.ndjson"))
	web := after.Get(gcpWeb1)
	if web == nil || web.Facets.Status != "suspended" || strings.Join(web.Facets.NetworkTags, ",") != "vigil-quarantine" || len(web.Facets.PublicIPs) != 0 {
		t.Fatalf("web-1 after: %+v", web)
	}
	var images, snaps, rules int
	for _, a := range after.Assets() {
		switch {
		case a.Kind == "image" && a.Scope == gcpfake.SecurityProject && a.Labels["incident"] == "inc-2041":
			images++
		case a.Kind == "snapshot" && a.Scope == gcpfake.SecurityProject && a.Labels["incident"] == "inc-2041":
			snaps++
		case a.Kind == "firewall" && strings.HasPrefix(a.Name, "vigil-quarantine-"):
			rules++
		}
	}
	if images != 2 || snaps != 2 || rules != 10 { // five in each network of web-1's two interfaces
		t.Errorf("after: %d evidence images and %d snapshots in the security project, %d quarantine rules", images, snaps, rules)
	}
	n := len(f.Mutations())
	if code, out, errs := run(t, args...); code != 0 {
		t.Fatalf("apply again: %d\n%s\n%s", code, out, errs)
	}
	if extra := f.Mutations()[n:]; len(extra) > 0 {
		t.Errorf("the same apply again changed things: %v", extra)
	}
}

// open-firewall-remediation restricts exactly the rules VGL-NET-001 found.
func TestGCPOpenFirewallRemediation(t *testing.T) {
	f := gcpWorld(t)
	dir := t.TempDir()
	code, out, errs := run(t, "runbook", "apply", "open-firewall-remediation", "--gcp-live", "--gcp-scope", "organizations/684315297612",
		"-c", "examples/vigil.hcl", "--auto-approve", "--approve", "restrict", "--state", filepath.Join(dir, "s.db"))
	if code != 0 || !strings.Contains(out, "remaining = 0") {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errs)
	}
	f.With(func(f *gcpfake.Fake) {
		if got := strings.Join(f.Firewall(gcpfake.OpenSSH).Strs("sourceRanges"), ","); got != "10.0.0.0/8,35.235.240.0/20" {
			t.Errorf("allow-ssh-debug sources %s", got)
		}
		if got := strings.Join(f.Firewall(gcpfake.OpenHTTPS).Strs("sourceRanges"), ","); got != "0.0.0.0/0" {
			t.Errorf("allow-https is not an admin port and must stay: %s", got)
		}
	})
	patches := 0
	for _, m := range f.Mutations() {
		if strings.HasPrefix(m, "firewalls.patch") {
			patches++
		}
	}
	if patches != 1 {
		t.Errorf("%d patches: %v", patches, f.Mutations())
	}
}

func TestGCPScanAndTriage(t *testing.T) {
	gcpWorld(t)
	code, out, errs := run(t, "scan", "--gcp-scope", "projects/acme-prod", "-c", "examples/vigil.hcl", "--policy", "VGL-NET-001,VGL-NET-004")
	if code != ExitFindings || !strings.Contains(out, "allow-ssh-debug") || !strings.Contains(out, "web-1 has public IP 34.76.112.9") || !strings.Contains(errs, "gcp: collected") {
		t.Errorf("scan: %d\n%s\n%s", code, out, errs)
	}
	// the scope read is the scan's source (history compares scans by it)
	if code, out, _ := run(t, "scan", "--gcp-scope", "projects/acme-prod", "-c", "examples/vigil.hcl", "--policy", "VGL-NET-001", "-q", "-f", "json"); code != ExitFindings ||
		!strings.Contains(out, `"sources": [`+"\n"+`      "gcp projects/acme-prod"`) {
		t.Errorf("scan -f json: %d\n%s", code, out)
	}
	code, out, errs = run(t, "triage", gcpWeb1, "--gcp-scope", "organizations/684315297612", "-c", "examples/vigil.hcl", "-q")
	if code != 0 || !strings.Contains(out, "Who owns it?                               web-team") ||
		!strings.Contains(out, "for real: vigil runbook plan compromised-vm-gcp --gcp-live --gcp-scope organizations/684315297612 -c examples/vigil.hcl") {
		t.Errorf("triage: %d\n%s\n%s", code, out, errs)
	}
}

// What a collection left out is said on stderr, --quiet or not: here a
// project whose Container Analysis API is off.
func TestGCPCollectWarnsOfGaps(t *testing.T) {
	for _, quiet := range []bool{false, true} {
		f := gcpWorld(t)
		f.Inject(gcpfake.Fault{API: "containeranalysis", Kind: "disabled", Times: 1})
		args := []string{"inventory", "collect", "--gcp-scope", "organizations/684315297612", "--out", filepath.Join(t.TempDir(), "inv.ndjson")}
		if quiet {
			args = append(args, "--quiet")
		}
		code, _, errs := run(t, args...)
		want := "vigil: warning: gcp: no Artifact Analysis vulnerability occurrences: containeranalysis.googleapis.com is not enabled in project acme-prod\n"
		if code != 0 || strings.Count(errs, want) != 1 {
			t.Errorf("quiet %v: exit %d, stderr does not say once %q:\n%s", quiet, code, want, errs)
		}
	}
}

// imageWorld is the fake Google Cloud with a fixable critical CVE in an
// image of acme-prod, and a directory for the test's files.
func imageWorld(t *testing.T) (*gcpfake.Fake, string) {
	f := gcpWorld(t)
	f.With(func(f *gcpfake.Fake) {
		f.AddOccurrence(gcpfake.Occurrence{Project: gcpfake.ProdProject, ResourceURI: "https://europe-west1-docker.pkg.dev/acme-prod/web/api@sha256:4d0c",
			CVE: "CVE-2023-4911", Severity: "CRITICAL", Package: "libc6", Fixed: "2.36-9+deb12u3"})
	})
	return f, t.TempDir()
}

// A collection that could not read a project's image vulnerabilities says
// so in the JSON report, and history does not compare it with a complete
// one: the image's finding is not "resolved" because it was not seen.
func TestGCPGapIsNotResolved(t *testing.T) {
	f, dir := imageWorld(t)
	db := filepath.Join(dir, "h.db")
	scanTo := func(out string) map[string]any {
		t.Helper()
		code, _, errs := run(t, "scan", "--gcp-scope", "organizations/684315297612", "--store", db, "--format", "json", "--output", out, "-q")
		if code != 1 {
			t.Fatalf("scan: exit %d (want 1, findings): %s", code, errs)
		}
		var rep map[string]any
		b, err := os.ReadFile(out)
		if err != nil || json.Unmarshal(b, &rep) != nil {
			t.Fatalf("report %s: %v", out, err)
		}
		return rep
	}
	first := scanTo(filepath.Join(dir, "1.json"))
	if first["warnings"] != nil {
		t.Errorf("a complete collection warns: %v", first["warnings"])
	}
	f.Inject(gcpfake.Fault{API: "containeranalysis", Kind: "denied", Times: -1})
	second := scanTo(filepath.Join(dir, "2.json"))
	ws, _ := second["warnings"].([]any)
	if len(ws) != 2 { // both projects refuse
		t.Fatalf("warnings %v, want the two gaps", second["warnings"])
	}
	w := ws[0].(map[string]any)
	if w["title"] != "incomplete collection" || !strings.HasPrefix(w["message"].(string), "acme-prod: no Artifact Analysis vulnerability occurrences: permission denied") {
		t.Errorf("warning %v", w)
	}
	code, out, errs := run(t, "diff", "--store="+db, "-f", "json")
	if strings.Contains(out, "VGL-VULN-002") || code == 0 {
		t.Errorf("diff of a complete and an incomplete scan: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "incomplete: gcp acme-prod Artifact Analysis vulnerability occurrences") {
		t.Errorf("diff does not say why the scans differ:\n%s", errs)
	}
}

// The same through files: inventory collect writes the gap into its
// NDJSON, and a scan of that file warns of it and is not compared with
// the scan of a complete collection.
func TestGCPGapInCollectedFile(t *testing.T) {
	f, dir := imageWorld(t)
	db, inv := filepath.Join(dir, "h.db"), filepath.Join(dir, "org.ndjson")
	collectAndScan := func(out string) string {
		t.Helper()
		if code, _, errs := run(t, "inventory", "collect", "--gcp-scope", "organizations/684315297612", "--output", inv, "-q"); code != 0 {
			t.Fatalf("collect: exit %d: %s", code, errs)
		}
		code, _, errs := run(t, "scan", inv, "--store", db, "--format", "json", "--output", out, "-q")
		if code != 1 {
			t.Fatalf("scan: exit %d: %s", code, errs)
		}
		return errs
	}
	collectAndScan(filepath.Join(dir, "1.json"))
	f.Inject(gcpfake.Fault{API: "containeranalysis", Kind: "denied", Times: -1})
	errs := collectAndScan(filepath.Join(dir, "2.json"))
	if !strings.Contains(errs, "vigil: warning: incomplete collection: acme-prod: no Artifact Analysis vulnerability occurrences: permission denied") {
		t.Errorf("the scan of the file does not warn:\n%s", errs)
	}
	b, err := os.ReadFile(filepath.Join(dir, "2.json"))
	if err != nil || !strings.Contains(string(b), `"title": "incomplete collection"`) {
		t.Errorf("the report has no gap warning: %v", err)
	}
	code, out, errs := run(t, "diff", "--store="+db, "-f", "json")
	if code == 0 || strings.Contains(out, "VGL-VULN-002") || !strings.Contains(errs, "incomplete: gcp acme-prod Artifact Analysis vulnerability occurrences: permission denied") {
		t.Errorf("diff of the complete and the incomplete file: exit %d\n%s\n%s", code, out, errs)
	}
}
