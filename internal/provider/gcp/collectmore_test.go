package gcp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/googleapi"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
	"github.com/vigil-ir/vigil/policies"
)

// Collection reads the Cloud Asset types of issue 19 (compute project
// metadata, log-based metrics, alert policies, services) through the
// Cloud Asset API, and assets carry what their project says of them.
func TestCollectIssue19(t *testing.T) {
	f, opts := start(t)
	f.With(func(f *gcpfake.Fake) {
		f.AddResource(gcpfake.ProdProject, "//logging.googleapis.com/projects/acme-prod/metrics/firewall-changes", "logging.googleapis.com/LogMetric", "global",
			map[string]any{"name": "firewall-changes", "filter": `resource.type="gce_firewall_rule"`})
		f.AddResource(gcpfake.ProdProject, "//monitoring.googleapis.com/projects/acme-prod/alertPolicies/1", "monitoring.googleapis.com/AlertPolicy", "global",
			map[string]any{"name": "projects/acme-prod/alertPolicies/1", "displayName": "firewall changes", "enabled": true,
				"conditions":           []any{map[string]any{"conditionThreshold": map[string]any{"filter": `metric.type="logging.googleapis.com/user/firewall-changes"`}}},
				"notificationChannels": []any{"projects/acme-prod/notificationChannels/7"}})
		f.AddResource(gcpfake.ProdProject, "//serviceusage.googleapis.com/projects/402398720121/services/compute.googleapis.com", "serviceusage.googleapis.com/Service", "global",
			map[string]any{"name": "projects/402398720121/services/compute.googleapis.com", "state": "ENABLED"})
		f.AddVulnerabilityReport(gcpfake.VulnerabilityReport{Instance: gcpfake.Web1, Vulns: []gcpfake.Vuln{{CVE: "CVE-2024-6387", Severity: "CRITICAL", Fixable: true}}})
	})
	inv, _ := collect(t, opts)
	md := inv.Get("//compute.googleapis.com/projects/acme-prod")
	if md == nil || md.Kind != asset.KindProjectMetadata || md.Facets.Metadata["ssh-keys"] != "(set)" {
		t.Fatalf("project metadata: %+v", md)
	}
	web := inv.Get(web1)
	if in := web.Facets.Inherited; len(in) == 0 || in[0].Node != "projects/402398720121" || in[0].Labels["data-class"] != "pii" || in[0].Metadata["ssh-keys"] != "(set)" {
		t.Fatalf("web-1 inherits %+v", web.Facets.Inherited)
	}
	var rep *asset.Asset
	for _, a := range inv.Assets() {
		if a.Kind == asset.KindVulnerabilityReport {
			rep = a
		}
	}
	if rep == nil || rep.Facets.Resource != web1 || len(rep.Facets.Vulnerabilities) != 1 || !rep.Facets.Vulnerabilities[0].Fixable {
		t.Fatalf("vulnerability report: %+v", rep)
	}
	// The API names the report by project number and instance id; the
	// record is named by the VM's name (OS Config takes either), which
	// links it to web-1 as a CAI export's name does: no vigil-only field.
	if want := "//osconfig.googleapis.com/projects/402398720121/locations/europe-west1-b/instances/web-1/vulnerabilityReport"; rep.ID != want || rep.Name != "web-1" {
		t.Errorf("report %s named %s, want %s named web-1", rep.ID, rep.Name, want)
	}
	if strings.Contains(string(rep.Data), "vigilResource") {
		t.Errorf("the report still carries vigilResource: %s", rep.Data)
	}
	cfg, _, _ := config.Parse([]byte(""), "vigil.hcl")
	e, err := policy.Load(context.Background(), policy.Options{Builtins: policies.FS, Config: cfg.Data(), Now: func() time.Time { return time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) },
		Only: []string{"VGL-SSH-002", "VGL-LOG-003", "VGL-DET-002", "VGL-VULN-001"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := scan.Run(context.Background(), scan.Options{Sources: []inventory.Source{inv}, Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Findings.Close()
	got := map[string]string{}
	for _, f := range res.Findings.Slice() {
		if f.Scope == gcpfake.ProdProject {
			got[f.PolicyID] = f.Message
		}
	}
	// acme-prod: metadata without enable-oslogin; alerts on firewall
	// changes only; services without securitycenter.
	want := map[string]string{
		"VGL-SSH-002": "project acme-prod does not enable OS Login (enable-oslogin=TRUE in its compute metadata)",
		"VGL-LOG-003": "project acme-prod raises no alert on network changes, project ownership changes, route changes (no log-based metric with an alert policy that notifies)",
		"VGL-DET-002": "project acme-prod does not enable securitycenter.googleapis.com (1 services enabled)",
		// web-1: public IP 34.76.112.9; the scenario's allow-ssh-debug and
		// allow-https admit 0.0.0.0/0 to 22 and 443.
		"VGL-VULN-001": "web-1 is reachable from the internet (34.76.112.9; open: 22, 443) and has 1 fixable critical/high vulnerabilities: CVE-2024-6387",
	}
	for id, msg := range want {
		if got[id] != msg {
			t.Errorf("%s: %q, want %q", id, got[id], msg)
		}
	}
}

const (
	imageFixable = "https://europe-west1-docker.pkg.dev/acme-prod/web/api@sha256:4d0c2f1e9b3a7c65d8e1f0a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"
	imageNoFix   = "https://europe-west1-docker.pkg.dev/acme-prod/web/worker@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
)

// Collection reads Artifact Analysis's vulnerability occurrences of each
// collected project (kind="VULNERABILITY" only, every page, a throttled
// call retried) as one vulnerability report per image, and VGL-VULN-002
// judges them.
func TestCollectImageOccurrences(t *testing.T) {
	f, opts := start(t)
	f.With(func(f *gcpfake.Fake) {
		// 1,001 low ones fill the first page (at most 1,000) and start a
		// second.
		for i := range 1001 {
			f.AddOccurrence(gcpfake.Occurrence{Project: gcpfake.ProdProject, ResourceURI: imageNoFix, CVE: fmt.Sprintf("CVE-2026-%05d", i), Severity: "LOW", Package: "zlib1g"})
		}
		f.AddOccurrence(gcpfake.Occurrence{Project: gcpfake.ProdProject, ResourceURI: imageFixable, CVE: "CVE-2023-4911", Severity: "CRITICAL", Package: "libc6", Fixed: "2.36-9+deb12u3"})
		f.AddOccurrence(gcpfake.Occurrence{Project: gcpfake.ProdProject, ResourceURI: imageFixable, CVE: "CVE-2024-2961", Severity: "HIGH", Package: "libc6", Fixed: "2.36-9+deb12u7"})
		f.AddOccurrence(gcpfake.Occurrence{Project: gcpfake.ProdProject, ResourceURI: imageNoFix, CVE: "CVE-2024-6387", Severity: "CRITICAL", Package: "openssh-client"})
		f.AddOccurrence(gcpfake.Occurrence{Project: gcpfake.ProdProject, ResourceURI: imageFixable, Kind: "DISCOVERY"})
		// the publisher says the image is not affected: no vulnerability
		f.AddOccurrence(gcpfake.Occurrence{Project: gcpfake.ProdProject, ResourceURI: imageFixable, CVE: "CVE-2025-0001", Severity: "CRITICAL", Package: "curl", Fixed: "8.0", VEX: "NOT_AFFECTED"})
	})
	f.Inject(gcpfake.Fault{API: "containeranalysis", Kind: "quota", Times: 1})
	var progress bytes.Buffer
	opts.Progress = &progress
	inv, sum := collect(t, opts)
	reports := map[string]*asset.Asset{}
	for _, a := range inv.Assets() {
		if a.Type == "containeranalysis.googleapis.com/ImageVulnerabilities" {
			reports[a.Facets.Resource] = a
		}
	}
	// Two images: 1,001 + 1 and 2 vulnerabilities; the discovery
	// occurrence is filtered out, the one VEX says does not apply is read
	// and left out.
	if len(reports) != 2 || sum.ByType["containeranalysis.googleapis.com/ImageVulnerabilities"] != 2 || len(sum.Gaps) != 0 {
		t.Fatalf("%d image reports, summary %v, gaps %q: want 2 and none", len(reports), sum.ByType, sum.GapMessages())
	}
	fixable, nofix := reports[imageFixable], reports[imageNoFix]
	if fixable == nil || nofix == nil || len(nofix.Facets.Vulnerabilities) != 1002 {
		t.Fatalf("reports %v", reports)
	}
	if fixable.Kind != asset.KindVulnerabilityReport || fixable.Scope != gcpfake.ProdProject || fixable.Name != imageFixable[strings.LastIndexByte(imageFixable, '/')+1:] ||
		!strings.HasPrefix(fixable.ID, "//containeranalysis.googleapis.com/projects/acme-prod/imageVulnerabilities/https:%2F%2Feurope-west1-docker.pkg.dev%2Facme-prod%2Fweb%2Fapi@sha256:") {
		t.Fatalf("the fixable image's report: %+v", fixable)
	}
	want := []asset.Vulnerability{
		{ID: "CVE-2023-4911", Severity: "critical", Fixable: true, Package: "libc6", Fixed: "2.36-9+deb12u3"},
		{ID: "CVE-2024-2961", Severity: "high", Fixable: true, Package: "libc6", Fixed: "2.36-9+deb12u7"},
	}
	if diff := cmp.Diff(want, fixable.Facets.Vulnerabilities); diff != "" {
		t.Errorf("vulnerabilities (-want +got):\n%s", diff)
	}
	// the record keeps what the loader reads, not the descriptions
	if strings.Contains(string(fixable.Data), "cvssScore") || strings.Contains(string(fixable.Data), "affectedCpeUri") || !strings.Contains(string(fixable.Data), `"fullName":"2.36-9+deb12u3"`) {
		t.Errorf("the record's data: %s", fixable.Data)
	}
	// One call throttled, then two pages for acme-prod; one page for the
	// forensics project, which has none.
	calls := map[string]int{}
	for _, c := range f.Calls() {
		if c.API == "containeranalysis" {
			calls[c.Target+" "+strconv.Itoa(c.Status)]++
		}
	}
	if want := map[string]int{"/v1/projects/acme-prod/occurrences 429": 1, "/v1/projects/acme-prod/occurrences 200": 2, "/v1/projects/acme-sec-forensics/occurrences 200": 1}; !maps.Equal(calls, want) {
		t.Errorf("Container Analysis calls %v, want %v", calls, want)
	}
	if !strings.Contains(progress.String(), "gcp: acme-prod: 1000 image vulnerability occurrences so far\ngcp: acme-prod: 1005 image vulnerability occurrences on 2 images\n") {
		t.Errorf("progress:\n%s", progress.String())
	}
	cfg, _, _ := config.Parse([]byte(""), "vigil.hcl")
	e, err := policy.Load(context.Background(), policy.Options{Builtins: policies.FS, Config: cfg.Data(), Only: []string{"VGL-VULN-001", "VGL-VULN-002"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := scan.Run(context.Background(), scan.Options{Sources: []inventory.Source{inv}, Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Findings.Close()
	var got []string
	for _, f := range res.Findings.Slice() {
		if strings.HasPrefix(f.AssetID, "//containeranalysis.googleapis.com/") {
			got = append(got, f.PolicyID+": "+f.Message)
		}
	}
	// Only criticals and highs with a fix are serious (the other image
	// has none); an image is no instance, so nothing makes it reachable:
	// one finding for the image, naming both.
	if diff := cmp.Diff([]string{"VGL-VULN-002: " + imageFixable + " has 2 fixable critical/high vulnerabilities (CVE-2023-4911, CVE-2024-2961) in a container image: rebuild it on the fixed packages; whether what runs the image is reachable from the internet is not assessed"}, got); diff != "" {
		t.Errorf("findings on the images (-want +got):\n%s", diff)
	}
}

// A project whose Container Analysis API is off, or that refuses the
// call, is skipped, and a list that fails after its first page keeps what
// it read; each is a gap of the summary, and the other projects' images
// are still read.
func TestCollectImageOccurrencesGaps(t *testing.T) {
	const forensicsImage = "https://europe-west1-docker.pkg.dev/acme-sec-forensics/tools/triage@sha256:aa"
	for _, tc := range []struct {
		name  string
		fault gcpfake.Fault
		gap   string
		prod  int // vulnerabilities of acme-prod's image kept
		part  string
	}{
		{"disabled", gcpfake.Fault{Kind: "disabled", Times: 1},
			"no Artifact Analysis vulnerability occurrences: containeranalysis.googleapis.com is not enabled in project acme-prod", 0,
			"gcp containeranalysis.googleapis.com off in acme-prod"},
		{"denied", gcpfake.Fault{Kind: "denied", Times: 1},
			"acme-prod: no Artifact Analysis vulnerability occurrences: permission denied: the credentials lack containeranalysis.occurrences.list (granted by roles/containeranalysis.occurrences.viewer): " +
				"googleapi: Error 403: Required 'containeranalysis.occurrences.list' permission for 'projects/acme-prod', forbidden", 0,
			"gcp acme-prod Artifact Analysis vulnerability occurrences: permission denied"},
		// the first page passes, then every attempt at the second fails
		// (the default 8 attempts)
		{"second page", gcpfake.Fault{Kind: "unavailable", Times: 8, Skip: 1},
			"acme-prod: Artifact Analysis vulnerability occurrences incomplete: 1000 read, then: googleapi: Error 503: The service is currently unavailable., backendError", 1000,
			"gcp acme-prod Artifact Analysis vulnerability occurrences: cut short in the collection of 20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, opts := start(t)
			f.With(func(f *gcpfake.Fake) {
				for i := range 1001 {
					f.AddOccurrence(gcpfake.Occurrence{Project: gcpfake.ProdProject, ResourceURI: imageFixable, CVE: fmt.Sprintf("CVE-2026-%05d", i), Severity: "CRITICAL", Package: "libc6", Fixed: "2"})
				}
				f.AddOccurrence(gcpfake.Occurrence{Project: "acme-sec-forensics", ResourceURI: forensicsImage, CVE: "CVE-2024-3094", Severity: "CRITICAL", Package: "xz-utils", Fixed: "5.6.1+really5.4.5-1"})
			})
			// the projects are read in order: acme-prod first
			ft := tc.fault
			ft.API = "containeranalysis"
			f.Inject(ft)
			inv, sum := collect(t, opts)
			got := map[string]int{}
			for _, a := range inv.Assets() {
				if a.Type == "containeranalysis.googleapis.com/ImageVulnerabilities" {
					got[a.Scope+" "+a.Facets.Resource] = len(a.Facets.Vulnerabilities)
				}
			}
			want := map[string]int{"acme-sec-forensics " + forensicsImage: 1}
			if tc.prod > 0 {
				want["acme-prod "+imageFixable] = tc.prod
			}
			if !maps.Equal(got, want) {
				t.Errorf("image reports %v, want %v", got, want)
			}
			if diff := cmp.Diff([]string{tc.gap}, sum.GapMessages()); diff != "" {
				t.Errorf("gaps (-want +got):\n%s", diff)
			}
			// what history compares: the same for a refusal that will be
			// there next time, this collection's own for a list read in part
			if len(sum.Gaps) == 1 && !strings.HasPrefix(sum.Gaps[0].Part, tc.part) {
				t.Errorf("gap part %q, want %q...", sum.Gaps[0].Part, tc.part)
			}
		})
	}
}

// An occurrence's resourceUri is whatever its writer put there: one that
// names a VM of another project (an asset name, not an image URL) does not
// make that VM's finding, and the report is about itself.
func TestCollectOccurrenceCannotNameAnAsset(t *testing.T) {
	f, opts := start(t)
	f.With(func(f *gcpfake.Fake) {
		f.AddOccurrence(gcpfake.Occurrence{Project: "acme-sec-forensics", ResourceURI: web1, CVE: "CVE-2099-0001", Severity: "CRITICAL", Package: "x", Fixed: "2"})
	})
	inv, _ := collect(t, opts)
	cfg, _, _ := config.Parse([]byte(""), "vigil.hcl")
	e, err := policy.Load(context.Background(), policy.Options{Builtins: policies.FS, Config: cfg.Data(), Only: []string{"VGL-VULN-001", "VGL-VULN-002"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := scan.Run(context.Background(), scan.Options{Sources: []inventory.Source{inv}, Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Findings.Close()
	var got []string
	for _, f := range res.Findings.Slice() {
		if strings.Contains(f.Message, "CVE-2099-0001") {
			got = append(got, f.PolicyID+" "+f.AssetID+" "+f.Message)
		}
	}
	id := "//containeranalysis.googleapis.com/projects/acme-sec-forensics/imageVulnerabilities/" + url.PathEscape(web1)
	if diff := cmp.Diff([]string{"VGL-VULN-002 " + id + " " + id + " has 1 fixable critical/high vulnerabilities (CVE-2099-0001) in a container image: rebuild it on the fixed packages; whether what runs the image is reachable from the internet is not assessed"}, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

// A disabled API is told from a refused call in each shape Google
// answers it: the newer APIs' ErrorInfo alone, the older APIs' with the
// legacy errors list beside it, and that list alone.
func TestServiceDisabled(t *testing.T) {
	for _, tc := range []struct {
		name, body, service, consumer string
		off                           bool
	}{
		{"error info", `{"error":{"code":403,"message":"m","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","domain":"googleapis.com","metadata":{"service":"containeranalysis.googleapis.com","consumer":"projects/1"}}]}}`,
			"containeranalysis.googleapis.com", "projects/1", true},
		{"error info and errors", `{"error":{"code":403,"message":"m","errors":[{"message":"m","domain":"usageLimits","reason":"accessNotConfigured"}],"status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","domain":"googleapis.com","metadata":{"service":"compute.googleapis.com"}}]}}`,
			"compute.googleapis.com", "", true},
		{"errors only", `{"error":{"code":403,"message":"m","errors":[{"message":"m","domain":"usageLimits","reason":"accessNotConfigured"}]}}`, "the API", "", true},
		{"denied", `{"error":{"code":403,"message":"Permission 'containeranalysis.occurrences.list' denied","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"IAM_PERMISSION_DENIED","domain":"iam.googleapis.com"}]}}`, "", "", false},
	} {
		err := googleapi.CheckResponse(&http.Response{StatusCode: 403, Body: io.NopCloser(strings.NewReader(tc.body))})
		if service, consumer, off := serviceDisabled(err); service != tc.service || consumer != tc.consumer || off != tc.off {
			t.Errorf("%s: serviceDisabled = %q, %q, %v; want %q, %q, %v", tc.name, service, consumer, off, tc.service, tc.consumer, tc.off)
		}
	}
}

// A region Artifact Analysis cannot reach is named in the list's
// unreachable field (vigil asks for partial success) and is a gap; a
// project whose enabled services the inventory lists without Container
// Analysis is not asked at all, and is named as one whose API is off, as
// it is when the API answers so.
func TestCollectImageOccurrencesPartial(t *testing.T) {
	f, opts := start(t)
	f.With(func(f *gcpfake.Fake) {
		f.AddOccurrence(gcpfake.Occurrence{Project: gcpfake.ProdProject, ResourceURI: imageFixable, CVE: "CVE-2023-4911", Severity: "CRITICAL", Package: "libc6", Fixed: "2.36-9+deb12u3"})
		f.UnreachableRegions = []string{"asia-east1"}
		// the forensics project enables Compute only
		f.AddResource("acme-sec-forensics", "//serviceusage.googleapis.com/projects/acme-sec-forensics/services/compute.googleapis.com", "serviceusage.googleapis.com/Service", "global",
			map[string]any{"name": "projects/acme-sec-forensics/services/compute.googleapis.com", "state": "ENABLED"})
	})
	inv, sum := collect(t, opts)
	want := []string{
		"acme-prod: Artifact Analysis vulnerability occurrences incomplete: 1 read, Artifact Analysis could not reach projects/acme-prod/locations/asia-east1",
		"no Artifact Analysis vulnerability occurrences: containeranalysis.googleapis.com is not enabled in project acme-sec-forensics",
	}
	if diff := cmp.Diff(want, sum.GapMessages()); diff != "" {
		t.Errorf("gaps (-want +got):\n%s", diff)
	}
	if len(sum.Gaps) == 2 && sum.Gaps[0].Part != "gcp acme-prod Artifact Analysis vulnerability occurrences: unreachable projects/acme-prod/locations/asia-east1" {
		t.Errorf("the unreachable region's part: %q", sum.Gaps[0].Part)
	}
	n := 0
	for _, a := range inv.Assets() {
		if a.Type == "containeranalysis.googleapis.com/ImageVulnerabilities" {
			n++
		}
	}
	var asked []string
	for _, c := range f.Calls() {
		if c.API == "containeranalysis" {
			asked = append(asked, c.Target)
		}
	}
	if n != 1 || !slices.Equal(asked, []string{"/v1/projects/acme-prod/occurrences"}) {
		t.Errorf("%d image reports; Container Analysis asked %v, want acme-prod's only", n, asked)
	}
}

// A server (or a proxy in front of it) that hands back the page token it
// was given would page for ever: the list stops at the repeat, keeps what
// it read and says so, and the rest of the collection is not lost.
func TestCollectImageOccurrencesRepeatedToken(t *testing.T) {
	f, opts := start(t)
	f.With(func(f *gcpfake.Fake) {
		f.AddOccurrence(gcpfake.Occurrence{Project: gcpfake.ProdProject, ResourceURI: imageFixable, CVE: "CVE-2023-4911", Severity: "CRITICAL", Package: "libc6", Fixed: "2.36-9+deb12u3"})
	})
	target, err := url.Parse(opts.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	proxy := httputil.NewSingleHostReverseProxy(target)
	direct := proxy.Director
	proxy.Director = func(r *http.Request) {
		direct(r)
		if q := r.URL.Query(); q.Get("pageToken") == "same" {
			q.Del("pageToken") // the first page again
			r.URL.RawQuery = q.Encode()
		}
	}
	proxy.ModifyResponse = func(r *http.Response) error {
		if r.Request.URL.Path != "/v1/projects/acme-prod/occurrences" || r.StatusCode != 200 {
			return nil
		}
		calls++
		var page map[string]any
		if err := json.NewDecoder(r.Body).Decode(&page); err != nil {
			return err
		}
		r.Body.Close()
		page["nextPageToken"] = "same"
		b, _ := json.Marshal(page)
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		r.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	srv := httptest.NewServer(proxy)
	defer srv.Close()
	opts.Endpoint = srv.URL
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inv, sum, err := Collect(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("%d calls for acme-prod's occurrences, want 2 (the first page, then the repeat)", calls)
	}
	if len(sum.Gaps) != 1 || !strings.Contains(sum.Gaps[0].Message, `acme-prod: Artifact Analysis vulnerability occurrences incomplete: 2 read, then: the API returned the page token "same" a second time`) {
		t.Errorf("gaps %q", sum.GapMessages())
	}
	n := 0
	for _, a := range inv.Assets() {
		if a.Type == "containeranalysis.googleapis.com/ImageVulnerabilities" {
			n++
		}
	}
	if n != 1 || inv.Get(web1) == nil {
		t.Errorf("%d image reports (want the one read), web-1 in the inventory: %v", n, inv.Get(web1) != nil)
	}
}

// The projects without a scanner's API make one gap, naming ten at most.
func TestAPIOffGap(t *testing.T) {
	var many []string
	for i := range 12 {
		many = append(many, fmt.Sprintf("p-%02d", 11-i))
	}
	for _, tc := range []struct {
		projects []string
		want     []string
	}{
		{nil, nil},
		{[]string{"b", "a"}, []string{"no X: x.googleapis.com is not enabled in 2 projects: a, b"}},
		{many, []string{"no X: x.googleapis.com is not enabled in 12 projects: p-00, p-01, p-02, p-03, p-04, p-05, p-06, p-07, p-08, p-09 and 2 more"}},
	} {
		s := &session{sum: &Summary{}}
		s.apiOff("X", "x.googleapis.com", tc.projects)
		if diff := cmp.Diff(tc.want, s.sum.GapMessages()); diff != "" {
			t.Errorf("%v: gaps (-want +got):\n%s", tc.projects, diff)
		}
	}
}

// A collection of other types only (a sharded scan's context: the
// organization's folders and projects) asks no scanner.
func TestContextCollectionReadsNoScanners(t *testing.T) {
	f, opts := start(t)
	opts.AssetTypes = []string{"cloudresourcemanager.googleapis.com/Folder", "cloudresourcemanager.googleapis.com/Project"}
	_, sum := collect(t, opts)
	for _, c := range f.Calls() {
		if c.API == "containeranalysis" || c.API == "osconfig" {
			t.Errorf("scanner call %s %s", c.API, c.Target)
		}
	}
	if len(sum.Gaps) != 0 {
		t.Errorf("gaps %q", sum.GapMessages())
	}
	if !scannersWanted(nil) || !scannersWanted([]string{"compute.googleapis.com/Instance"}) || scannersWanted(opts.AssetTypes) {
		t.Error("scannersWanted")
	}
}
