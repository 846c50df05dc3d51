package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/internal/testutil"
)

// A firewall open to the internet through 0.0.0.0/1 and 128.0.0.0/1 is
// open to the internet for every part of vigil, which share one test of
// it: the scan reports it (VGL-NET-001), the remediation runbook restricts
// it, and ranges that together are the internet are refused as the new
// sources. (Only the literal 0.0.0.0/0 and ::/0 used to count: the scan
// passed the rule, and the runbook planned it as "not open to the
// internet".)
func TestOpenThroughHalvesIsOpen(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"gcp-resources.ndjson", "gcp-iam-policies.ndjson"} {
		raw, err := os.ReadFile(testutil.Path(t, "examples/inventory/"+name))
		if err != nil {
			t.Fatal(err)
		}
		s := string(raw)
		if name == "gcp-resources.ndjson" {
			var lines []string
			changed := false
			for _, l := range strings.Split(s, "\n") {
				var rec map[string]any
				if json.Unmarshal([]byte(l), &rec) == nil && rec["name"] == "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-debug" {
					data := rec["resource"].(map[string]any)["data"].(map[string]any)
					if fmt.Sprint(data["sourceRanges"]) == "[0.0.0.0/0]" {
						data["sourceRanges"] = []string{"0.0.0.0/1", "128.0.0.0/1"}
						raw, _ := json.Marshal(rec)
						l, changed = string(raw), true
					}
				}
				lines = append(lines, l)
			}
			s = strings.Join(lines, "\n")
			if !changed {
				t.Fatal("the example inventory's allow-ssh-debug has changed")
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out := vigil(t, nil, "scan", "-c", "examples/vigil.hcl", "--policy", "VGL-NET-001", dir)
	if code != 1 || !strings.Contains(out, "allow-ssh-debug allows tcp from 0.0.0.0/1, 128.0.0.0/1 to 22") {
		t.Fatalf("scan: %d\n%s", code, out)
	}
	code, out = vigil(t, nil, "runbook", "plan", "open-firewall-remediation", "--provider", "sim", "-i", dir, "-c", "examples/vigil.hcl")
	if code != 0 || !strings.Contains(out, "restrict allow-ssh-debug: sources 0.0.0.0/1, 128.0.0.0/1 -> 35.235.240.0/20") {
		t.Fatalf("plan: %d\n%s", code, out)
	}
	code, out = vigil(t, nil, "runbook", "plan", "open-firewall-remediation", "--provider", "sim", "-i", dir, "-c", "examples/vigil.hcl",
		"-var", `allowed_ranges=["0.0.0.0/1","128.0.0.0/1"]`)
	if code != 2 || !strings.Contains(out, "source_ranges 0.0.0.0/1, 128.0.0.0/1 together cover the whole internet") {
		t.Fatalf("plan with halves: %d\n%s", code, out)
	}
}
