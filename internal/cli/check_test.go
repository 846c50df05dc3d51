package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCheckExamplePlan(t *testing.T) {
	code, out, _ := run(t, "check", "-c", "examples/vigil.hcl", "examples/terraform/plan.json")
	if code != ExitFindings {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"aws_security_group.vpn",
		"its sources known only after apply",
		"Judged 20 planned resources (create 20)",
		"Not judged: 1 resource planned for deletion.",
		"types not understood (judged only for residency): aws_eip, google_compute_address",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckSARIFNamesResourceAddress(t *testing.T) {
	code, out, _ := run(t, "check", "-f", "sarif", "--policy", "VGL-NET-001", "examples/terraform/plan.json")
	if code != ExitFindings {
		t.Fatalf("exit %d", code)
	}
	var log struct {
		Runs []struct {
			Results []struct {
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine int }
					}
					LogicalLocations []struct{ FullyQualifiedName, Kind string }
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range log.Runs[0].Results {
		l := r.Locations[0]
		got[l.LogicalLocations[0].FullyQualifiedName] = true
		if l.PhysicalLocation.ArtifactLocation.URI != "examples/terraform/plan.json" || l.PhysicalLocation.Region.StartLine == 0 {
			t.Errorf("physical location %+v", l.PhysicalLocation)
		}
	}
	if !got[`aws_vpc_security_group_ingress_rule.rdp`] || !got["google_compute_firewall.iap_ssh"] {
		t.Errorf("logical locations: %v", got)
	}
}

func TestCheckGitHubAnnotations(t *testing.T) {
	_, out, _ := run(t, "check", "-f", "github", "--policy", "VGL-DATA-002", "examples/terraform/plan.json")
	if !strings.Contains(out, "::error file=examples/terraform/plan.json,line=") || !strings.Contains(out, "title=VGL-DATA-002 Publicly readable bucket::aws_s3_bucket.reports") {
		t.Errorf("annotations:\n%s", out)
	}
}

func TestCheckRejectsNonPlans(t *testing.T) {
	code, _, errs := run(t, "check", "examples/inventory/gcp-resources.ndjson")
	if code != ExitError || !strings.Contains(errs, "is not a Terraform plan (it looks like a Cloud Asset Inventory export)") {
		t.Errorf("exit %d stderr %q", code, errs)
	}
	p := write(t, "plan.json", "{\"format_version\": \"1.2\",\n\"resource_changes\": [\n  {\"address\": \"aws_vpc.a\",,}\n]}\n")
	code, _, errs = run(t, "check", p)
	if code != ExitError || !strings.Contains(errs, p+":3: invalid JSON") {
		t.Errorf("malformed plan: exit %d stderr %q", code, errs)
	}
}

func TestCheckFailOnUnknowns(t *testing.T) {
	// Findings that only say a value is unknown are findings like any other:
	// --fail-on decides.
	code, _, _ := run(t, "check", "--policy", "VGL-NET-002", "-c", "examples/vigil.hcl", "--fail-on", "high", "examples/terraform/plan.json")
	if code != ExitOK {
		t.Errorf("medium unknown-network findings with --fail-on high: exit %d", code)
	}
	code, _, _ = run(t, "check", "--policy", "VGL-NET-002", "-c", "examples/vigil.hcl", "--fail-on", "medium", "examples/terraform/plan.json")
	if code != ExitFindings {
		t.Errorf("with --fail-on medium: exit %d", code)
	}
}
