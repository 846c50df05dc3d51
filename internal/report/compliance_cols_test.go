package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"testing"
)

// With --compliance, CSV rows and SARIF results name the controls each
// finding breaks, and SARIF's run properties carry the per-control table.
// By hand from the examples and the policies' frameworks:
// VGL-DATA-002 is mapped to cis-aws-3.0:2.1.4 only (and to a GCP control,
// which an AWS bucket cannot break); the GCP bucket breaks no AWS control;
// VGL-NET-001 on the bastion group (22 open to 0.0.0.0/0 and ::/0) names
// both 5.2 (IPv4) and 5.3 (IPv6) in its details.controls; VGL-KEY-005
// (console without MFA) is 1.10.
func TestComplianceColumns(t *testing.T) {
	r := exampleReport(t)
	var err error
	if r.Compliance, err = ComplianceTables([]string{"cis-aws-3.0", "cis-gcp-3.0"}, r.Policies, r.Findings.All(), nil); err != nil {
		t.Fatal(err)
	}
	want := map[[2]string][2]string{
		{"VGL-DATA-002", "arn:aws:s3:::acme-prod-partner-reports"}:                                {"2.1.4", ""},
		{"VGL-DATA-002", "//storage.googleapis.com/acme-prod-customer-exports"}:                   {"", "5.1"},
		{"VGL-NET-001", "arn:aws:ec2:eu-west-1:111111111111:security-group/sg-0b2b2b2b2b2b2b2b2"}: {"5.2;5.3", ""},
		{"VGL-KEY-005", "arn:aws:iam::111111111111:user/contractor"}:                              {"1.10", ""},
	}

	var buf bytes.Buffer
	if err := CSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if h := rows[0]; len(h) != len(csvHeader)+2 || h[len(h)-2] != "cis-aws-3.0" || h[len(h)-1] != "cis-gcp-3.0" {
		t.Fatalf("header %v", h)
	}
	seen := 0
	for _, row := range rows[1:] {
		w, ok := want[[2]string{row[0], row[3]}]
		if !ok {
			continue
		}
		seen++
		if got := [2]string{row[len(row)-2], row[len(row)-1]}; got != w {
			t.Errorf("CSV %s %s: controls %q, want %q", row[0], row[3], got, w)
		}
	}
	if seen != len(want) {
		t.Errorf("CSV: %d of the %d findings found", seen, len(want))
	}

	buf.Reset()
	if err := SARIF(&buf, r); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Runs []struct {
			Properties struct {
				Compliance []struct {
					Benchmark string `json:"benchmark"`
					Controls  []struct {
						Control, Status string
					} `json:"controls"`
				} `json:"compliance"`
			} `json:"properties"`
			Results []struct {
				RuleID     string         `json:"ruleId"`
				Properties map[string]any `json:"properties"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if len(run.Properties.Compliance) != 2 || run.Properties.Compliance[0].Benchmark != "cis-aws-3.0" || run.Properties.Compliance[1].Benchmark != "cis-gcp-3.0" {
		t.Fatalf("run properties: %+v", run.Properties)
	}
	// 2.1.4 fails (the public bucket), as the table says.
	i := slices.IndexFunc(run.Properties.Compliance[0].Controls, func(c struct{ Control, Status string }) bool { return c.Control == "2.1.4" })
	if i < 0 || run.Properties.Compliance[0].Controls[i].Status != "fail" {
		t.Errorf("2.1.4 in the run's table: %+v", run.Properties.Compliance[0].Controls)
	}
	seen = 0
	for _, res := range run.Results {
		w, ok := want[[2]string{res.RuleID, res.Properties["asset_id"].(string)}]
		if !ok {
			continue
		}
		seen++
		for j, b := range []string{"cis-aws-3.0", "cis-gcp-3.0"} {
			got := ""
			if cs, ok := res.Properties[b].([]any); ok {
				for k, c := range cs {
					if k > 0 {
						got += ";"
					}
					got += c.(string)
				}
			}
			if got != w[j] {
				t.Errorf("SARIF %s %s: %s %q, want %q", res.RuleID, res.Properties["asset_id"], b, got, w[j])
			}
		}
	}
	if seen != len(want) {
		t.Errorf("SARIF: %d of the %d findings found", seen, len(want))
	}
}
