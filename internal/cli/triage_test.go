package cli

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// The triage card's suggested command runs as printed.
func TestTriageSuggestionRunsAsPrinted(t *testing.T) {
	for _, file := range []string{"examples/alerts/guardduty-getfindings.json", "examples/alerts/scc-list-findings.json", "examples/alerts/guardduty-eventbridge-access-key.json"} {
		t.Run(file, func(t *testing.T) {
			code, out, errs := run(t, "triage", "--alert", file, "-i", "examples/inventory", "-c", "examples/vigil.hcl", "-f", "json")
			if code != 0 {
				t.Fatalf("triage: %d\n%s", code, errs)
			}
			var cards []struct {
				Questions []struct {
					Question string `json:"question"`
					Known    bool   `json:"known"`
				} `json:"questions"`
				Runbooks []struct {
					Rehearse string `json:"rehearse"`
				} `json:"runbooks"`
			}
			if err := json.Unmarshal([]byte(out), &cards); err != nil {
				t.Fatal(err)
			}
			if len(cards) != 1 || len(cards[0].Questions) != 8 || len(cards[0].Runbooks) != 1 {
				t.Fatalf("cards: %s", out)
			}
			args := strings.Fields(cards[0].Runbooks[0].Rehearse)
			if args[0] != "vigil" || strings.ContainsAny(cards[0].Runbooks[0].Rehearse, `'"`) {
				t.Fatalf("command: %s", cards[0].Runbooks[0].Rehearse)
			}
			code, out, errs = run(t, args[1:]...)
			if code != 0 || !strings.Contains(out, "(alert)") {
				t.Errorf("%s: %d\n%s\n%s", cards[0].Runbooks[0].Rehearse, code, out, errs)
			}
		})
	}
}

func TestTriageText(t *testing.T) {
	code, out, errs := run(t, "triage", "//storage.googleapis.com/acme-prod-customer-exports", "-i", "examples/inventory", "-c", "examples/vigil.hcl", "-f", "md")
	if code != 0 {
		t.Fatalf("%d %s", code, errs)
	}
	for _, want := range []string{"## Triage: bucket acme-prod-customer-exports", "- **Who owns it?** data-team", "residency: VIOLATION", "VGL-DATA-002 critical on asset"} {
		if !strings.Contains(out, want) {
			t.Errorf("card lacks %q:\n%s", want, out)
		}
	}
	code, _, errs = run(t, "triage", "arn:aws:ec2:eu-west-1:111111111111:instance/i-nope", "-i", "examples/inventory")
	if code != ExitError || !strings.Contains(errs, "not in the inventory") {
		t.Errorf("unknown asset: %d %s", code, errs)
	}
	code, _, errs = run(t, "triage", "-i", "examples/inventory")
	if code != ExitError || !strings.Contains(errs, "give one asset id or --alert FILE") {
		t.Errorf("usage: %d %s", code, errs)
	}
}

func TestAlertShow(t *testing.T) {
	code, out, errs := run(t, "alert", "show", "examples/alerts/guardduty-getfindings.json", "examples/alerts/scc-pubsub-notification.json")
	if code != 0 || !strings.Contains(out, "HIGH  guardduty Backdoor:EC2/C&CActivity.B!DNS") || !strings.Contains(out, "bucket acme-prod-customer-exports") {
		t.Errorf("%d\n%s\n%s", code, out, errs)
	}
	bad := write(t, "alert.json", `{"detail-type": "something else"}`)
	code, _, errs = run(t, "alert", "show", bad)
	if code != ExitError || !strings.Contains(errs, "alert.json: not an alert vigil knows") {
		t.Errorf("unknown alert: %d %s", code, errs)
	}
	// A runbook without from_alert refuses --from-alert, naming the fix.
	code, _, errs = run(t, "runbook", "plan", "open-firewall-remediation", "--provider", "sim", "-i", "examples/inventory",
		"--from-alert", "examples/alerts/securityhub-asff.json")
	if code != ExitError || !strings.Contains(errs, "no from_alert block") {
		t.Errorf("from-alert without mapping: %d %s", code, errs)
	}
}

func TestInventoryOwners(t *testing.T) {
	code, out, errs := run(t, "inventory", "owners", "examples/inventory", "-f", "json")
	if code != 0 {
		t.Fatalf("%d %s", code, errs)
	}
	var rows []ownerRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	got := map[string]ownerRow{}
	for _, r := range rows {
		got[r.Name] = r
	}
	if p := got["acme-prod"]; p.Owner != "platform-team" || p.Purpose != "customer-facing web shop" || p.Environment != "prod" || strings.Join(p.DataClasses, ",") != "pii,public" {
		t.Errorf("acme-prod: %+v", p)
	}
	if s := got["acme-sandbox-7731"]; s.Purpose != "" || strings.Join(s.Missing, ",") != "purpose" {
		t.Errorf("sandbox: %+v", s)
	}
	// 111111111111 was collected live (aws-iam.ndjson), with its tags.
	if a := got["acme-shop"]; a.Synthesized || a.Owner != "platform-team" {
		t.Errorf("account: %+v", a)
	}
}

// An alert file given as the asset id is pointed at --alert, instead of a
// card of UNKNOWN answers about a "file asset".
func TestTriageFileWithoutAlertFlag(t *testing.T) {
	code, out, errs := run(t, "triage", "examples/alerts/guardduty-getfindings.json", "-i", "examples/inventory")
	if code != ExitError || !strings.Contains(errs, "examples/alerts/guardduty-getfindings.json is a file, not an asset id: for an alert, use --alert examples/alerts/guardduty-getfindings.json") || strings.Contains(out, "UNKNOWN") {
		t.Errorf("exit %d\n%s\n%s", code, out, errs)
	}
}

// VIGIL_PHASES=1 makes triage say where its time went, each phase once and
// in order (bench/run.sh reads the index's share), and nothing without it.
func TestTriagePhases(t *testing.T) {
	args := []string{"triage", "//storage.googleapis.com/acme-prod-customer-exports", "-i", "examples/inventory", "-c", "examples/vigil.hcl", "-f", "json"}
	phaseLine := regexp.MustCompile(`(?m)^vigil: phases: load \d+\.\d{3}s, policies \d+\.\d{3}s, index \d+\.\d{3}s, findings \d+\.\d{3}s, cards \d+\.\d{3}s \((\d+) assets\)$`)
	code, out, errs := run(t, args...)
	if code != 0 || strings.Contains(errs, "phases") {
		t.Fatalf("without VIGIL_PHASES: %d, stderr %q", code, errs)
	}
	plain := out
	t.Setenv("VIGIL_PHASES", "1")
	code, out, errs = run(t, args...)
	if code != 0 {
		t.Fatalf("%d %s", code, errs)
	}
	m := phaseLine.FindStringSubmatch(errs)
	// 99: the assets of examples/inventory, as TestScanExamples reads them
	if m == nil || m[1] != "99" {
		t.Fatalf("no phase line in stderr:\n%s", errs)
	}
	if out != plain {
		t.Errorf("the card changed with VIGIL_PHASES:\n%s\nwant:\n%s", out, plain)
	}
}
