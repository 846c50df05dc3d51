package main

import (
	"strings"
	"testing"
)

// The README's triage commands, with the built binary: the card answers,
// and the command it suggests runs as printed.
func TestTriageFromAlert(t *testing.T) {
	code, out := vigil(t, nil, "triage", "--alert", "examples/alerts/scc-list-findings.json", "-i", "examples/inventory", "-c", "examples/vigil.hcl")
	if code != 0 {
		t.Fatalf("triage: %d\n%s", code, out)
	}
	for _, want := range []string{"Who owns it?                               web-team", "Can it reach the corporate network?        yes", "residency: allowed"} {
		if !strings.Contains(out, want) {
			t.Errorf("card lacks %q:\n%s", want, out)
		}
	}
	var cmd string
	for _, line := range strings.Split(out, "\n") {
		if c, ok := strings.CutPrefix(strings.TrimSpace(line), "rehearse: "); ok {
			cmd = c
		}
	}
	args := strings.Fields(cmd)
	if len(args) < 4 || args[0] != "vigil" {
		t.Fatalf("no suggested command in:\n%s", out)
	}
	code, out = vigil(t, nil, args[1:]...)
	if code != 0 || !strings.Contains(out, `instance             = "//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1"  (alert)`) {
		t.Errorf("%s: %d\n%s", cmd, code, out)
	}
}
