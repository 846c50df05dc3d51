package gcp

import (
	"context"
	"strings"
	"testing"
	"time"

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
