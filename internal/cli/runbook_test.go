package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/internal/testutil"
)

const webVM = "//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1"

var runID = regexp.MustCompile(`Run (run-[0-9]{8}-[0-9]{6}-[0-9a-f]{6})`)

func findings(t *testing.T, inv string) map[string][]string {
	t.Helper()
	_, out, errs := run(t, "scan", "-c", "examples/vigil.hcl", "-f", "json", "-q", inv)
	var doc struct {
		Findings []struct {
			PolicyID string `json:"policy_id"`
			AssetID  string `json:"asset_id"`
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("scan %s: %v %s", inv, err, errs)
	}
	m := map[string][]string{}
	for _, f := range doc.Findings {
		m[f.PolicyID] = append(m[f.PolicyID], f.AssetID)
	}
	return m
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestCompromisedVMGCP(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.db")
	plan := filepath.Join(dir, "plan.json")
	after := filepath.Join(dir, "after.ndjson")

	code, out, errs := run(t, "runbook", "plan", "compromised-vm-gcp", "--provider", "sim", "-i", "examples/inventory",
		"-var", "instance="+webVM, "-var", "incident=INC-2041", "-out", plan)
	if code != 0 {
		t.Fatalf("plan: %d %s", code, errs)
	}
	// snapshot -> export -> isolate (approval) -> suspend, in that order.
	order := []string{" ~ step.snapshot  gcp.compute.snapshot_instance_disks  [evidence]", " ~ step.export  gcp.compute.export_snapshots", " ~ step.isolate  gcp.compute.isolate_instance  [approval]", " ~ step.suspend  gcp.compute.suspend_instance"}
	last := -1
	for _, s := range order {
		i := strings.Index(out, s)
		if i < 0 || i < last {
			t.Fatalf("plan lacks %q in order:\n%s", s, out)
		}
		last = i
	}
	for _, want := range []string{"will: snapshot 2 disks of web-1 (web-1, web-1-data) into project acme-sec-forensics", "snapshots           = (known after apply)", "approval: cuts the VM off the network", "Plan: 8 steps (1 read, 4 reversible, 0 destructive), 1 need approval, 3 skipped."} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q", want)
		}
	}

	// Without a terminal and without --approve, the run waits.
	code, out, _ = run(t, "runbook", "apply", plan, "--state", state)
	if code != ExitWaiting || !strings.Contains(out, "awaiting_approval") {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	m := runID.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no run id in %s", out)
	}
	id := m[1]
	code, out, errs = run(t, "runbook", "resume", id, "--approve", "isolate", "--state", state, "--inventory-out", after)
	if code != 0 || !strings.Contains(out, "completed") {
		t.Fatalf("resume: exit %d\n%s\n%s", code, out, errs)
	}

	// The re-scan shows the VM isolated: its external IP is gone.
	before, now := findings(t, "examples/inventory"), findings(t, after)
	if !contains(before["VGL-NET-004"], webVM) || contains(now["VGL-NET-004"], webVM) {
		t.Errorf("VGL-NET-004 on web-1: before %v after %v", before["VGL-NET-004"], now["VGL-NET-004"])
	}
	inv, err := inventory.Load(context.Background(), after)
	if err != nil {
		t.Fatal(err)
	}
	vm := inv.Get(webVM)
	if vm.Facets.Status != "suspended" || !contains(vm.Facets.NetworkTags, "vigil-quarantine") {
		t.Errorf("web-1 after the run: status %s tags %v", vm.Facets.Status, vm.Facets.NetworkTags)
	}
	// The rules the real provider makes, in the network of the VM's
	// interface: a deny at priority 0 beats every allow.
	deny := inv.Get("//compute.googleapis.com/projects/acme-prod/global/firewalls/vigil-quarantine-deny-in-prod-vpc")
	if deny == nil || deny.Facets.Ingress[0].Action != "deny" || deny.Facets.Ingress[0].Priority != 0 || deny.Facets.TargetTags[0] != "vigil-quarantine" {
		t.Errorf("quarantine rule: %+v", deny)
	}
	images := 0
	for _, a := range inv.Assets() {
		if a.Kind == asset.KindImage && a.Scope == "acme-sec-forensics" && a.Labels["incident"] == "inc-2041" {
			images++
		}
	}
	if images != 2 {
		t.Errorf("%d evidence images in the security project, want 2", images)
	}

	// The journal verifies, the timeline has the custody record ...
	if code, out, _ := run(t, "runbook", "verify", id, "--state", state); code != 0 || !strings.Contains(out, "is intact") {
		t.Fatalf("verify: %d %s", code, out)
	}
	_, md, _ := run(t, "runbook", "timeline", id, "--state", state)
	for _, want := range []string{"## Chain of custody", "outputs of step.snapshot", "| `isolate` | containment | gcp.compute.isolate_instance | succeeded |", "--approve"} {
		if !strings.Contains(md, want) {
			t.Errorf("timeline lacks %q", want)
		}
	}
	// ... and editing one row makes verify fail, naming it.
	st, err := store.OpenSQLite(state)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`UPDATE journal SET actor = 'mallory' WHERE run_id = ? AND kind = 'step.approved'`, id); err != nil {
		t.Fatal(err)
	}
	var seq int
	st.DB().QueryRow(`SELECT seq FROM journal WHERE run_id = ? AND kind = 'step.approved'`, id).Scan(&seq)
	st.Close()
	code, out, _ = run(t, "runbook", "verify", id, "--state", state)
	if code != ExitFindings || !strings.Contains(out, "NOT intact") || !strings.Contains(out, "step.approved isolate") {
		t.Errorf("tampered journal: exit %d %s (entry %d)", code, out, seq)
	}
}

// Every built-in runbook validates, plans and applies against the
// simulated cloud built from the example inventories.
func TestBuiltinRunbooksInSim(t *testing.T) {
	tests := []struct {
		name  string
		vars  []string
		check func(t *testing.T, inv *inventory.Inventory, before, after map[string][]string, out string)
	}{
		{"compromised-vm-gcp", []string{"instance=" + webVM, "incident=INC-1"}, func(t *testing.T, inv *inventory.Inventory, _, _ map[string][]string, _ string) {
			if inv.Get(webVM).Facets.Status != "suspended" {
				t.Error("web-1 not suspended")
			}
		}},
		{"compromised-ec2", []string{"instance=i-0a1b2c3d4e5f60001", "incident=INC-7"}, func(t *testing.T, inv *inventory.Inventory, _, _ map[string][]string, _ string) {
			vm := inv.Get("arn:aws:ec2:eu-west-1:111111111111:instance/i-0a1b2c3d4e5f60001")
			if vm.Facets.Status != "stopped" || len(vm.Facets.SecurityGroups) != 1 || !strings.HasPrefix(vm.Facets.SecurityGroups[0], "sg-0vigil") {
				t.Errorf("instance: %s %v", vm.Facets.Status, vm.Facets.SecurityGroups)
			}
			if vm.Labels["vigil:previous-groups"] != "eni-0a1b2c3d4e5f=sg-0a1a1a1a1a1a1a1a1+sg-0b2b2b2b2b2b2b2b2" { // per interface, as the real provider records it
				t.Errorf("previous groups tag: %v", vm.Labels)
			}
			var own, copies int
			for _, a := range inv.Assets() {
				if a.Kind == asset.KindSnapshot && a.Scope == "111111111111" {
					own++
				}
				if a.Kind == asset.KindSnapshot && a.Scope == "333333333333" {
					copies++
				}
			}
			if own != 2 || copies != 2 {
				t.Errorf("snapshots: %d in the account, %d copies in the security account", own, copies)
			}
		}},
		{"leaked-aws-access-key", []string{"access_key_id=AKIAQ3EGV2EXAMPLE001", "incident=INC-9", "delete_key=true"}, func(t *testing.T, inv *inventory.Inventory, _, _ map[string][]string, out string) {
			if inv.Get("arn:aws:iam::111111111111:user/ci-deployer/accesskey/AKIAQ3EGV2EXAMPLE001") != nil {
				t.Error("the leaked key still exists")
			}
			if user := inv.Get("arn:aws:iam::111111111111:user/ci-deployer"); !strings.Contains(string(user.Data), `"policyName":"vigil-deny-all"`) {
				t.Errorf("no deny-all policy on the user: %s", user.Data)
			}
			if !strings.Contains(out, `other_keys = ["AKIAQ3EGV2EXAMPLE002"]`) || !strings.Contains(out, `user = "ci-deployer"`) {
				t.Errorf("outputs:\n%s", out)
			}
		}},
		{"open-firewall-remediation", nil, func(t *testing.T, inv *inventory.Inventory, before, after map[string][]string, out string) {
			if len(before["VGL-NET-001"]) != 5 || len(after["VGL-NET-001"]) != 0 {
				t.Errorf("VGL-NET-001 before %v after %v", before["VGL-NET-001"], after["VGL-NET-001"])
			}
			sg := inv.Get("arn:aws:ec2:eu-west-1:111111111111:security-group/sg-0b2b2b2b2b2b2b2b2")
			// Exactly the world-open SSH rule went; port 80 from anywhere stays.
			if len(sg.Facets.Ingress) != 1 || sg.Facets.Ingress[0].Ports[0].From != 80 {
				t.Errorf("bastion rules after: %+v", sg.Facets.Ingress)
			}
			fw := inv.Get("//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-debug")
			if strings.Join(fw.Facets.Ingress[0].Sources, ",") != "35.235.240.0/20" {
				t.Errorf("restricted rule: %+v", fw.Facets.Ingress[0])
			}
			if !strings.Contains(out, "remaining = 0") {
				t.Errorf("outputs:\n%s", out)
			}
		}},
		{"shadow-project-triage", []string{"project=acme-sandbox-7731", "contain=true"}, func(t *testing.T, inv *inventory.Inventory, _, _ map[string][]string, out string) {
			vm := inv.Get("//compute.googleapis.com/projects/acme-sandbox-7731/zones/us-central1-a/instances/test-vm-3")
			if !contains(vm.Facets.NetworkTags, "vigil-quarantine") || len(vm.Facets.PublicIPs) != 0 {
				t.Errorf("test-vm-3: %+v", vm.Facets)
			}
		}},
	}
	stepApprovals := map[string]string{
		"compromised-vm-gcp":        "isolate",
		"compromised-ec2":           "isolate",
		"leaked-aws-access-key":     "deny_all,delete",
		"open-firewall-remediation": "restrict,revoke",
		"shadow-project-triage":     "isolate",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			after := filepath.Join(dir, "after.ndjson")
			plan := filepath.Join(dir, "plan.json")
			args := []string{"runbook", "plan", tt.name, "--provider", "sim", "-i", "examples/inventory", "-c", "examples/vigil.hcl", "-out", plan}
			for _, v := range tt.vars {
				args = append(args, "-var", v)
			}
			if code, out, errs := run(t, args...); code != 0 || !strings.Contains(out, "Saved the plan to "+plan+" (sha256 ") {
				t.Fatalf("plan: exit %d\n%s\n%s", code, out, errs)
			}
			// --auto-approve approves no step: each step that needs an
			// approval is named (the runbooks' approval blocks and
			// destructive steps)
			code, out, errs := run(t, "runbook", "apply", plan, "-c", "examples/vigil.hcl", "--approve", stepApprovals[tt.name],
				"--state", filepath.Join(dir, "s.db"), "--inventory-out", after)
			if code != 0 || !strings.Contains(out, ": completed.") {
				t.Fatalf("apply %s: exit %d\n%s\n%s", plan, code, out, errs)
			}
			inv, err := inventory.Load(context.Background(), after)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, inv, findings(t, "examples/inventory"), findings(t, after), out)
			id := runID.FindStringSubmatch(out)[1]
			if code, out, _ := run(t, "runbook", "verify", id, "--state", filepath.Join(dir, "s.db")); code != 0 {
				t.Errorf("verify: %s", out)
			}
		})
	}
}

// A saved plan applied after a new world-open firewall appeared is refused
// as stale, naming the new instances; planning again and applying works.
func TestSavedPlanGoesStale(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory")
	os.MkdirAll(inv, 0o755)
	for _, f := range []string{"aws-config-snapshot.json", "aws-iam.ndjson", "gcp-iam-policies.ndjson", "gcp-resources.ndjson"} {
		raw, err := os.ReadFile(filepath.Join(testutil.Root(t), "examples", "inventory", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(inv, f), raw, 0o644)
	}
	plan := filepath.Join(dir, "plan.json")
	if code, out, errs := run(t, "runbook", "plan", "open-firewall-remediation", "--provider", "sim", "-i", inv, "-c", "examples/vigil.hcl", "-out", plan); code != 0 {
		t.Fatalf("plan: %d %s %s", code, out, errs)
	}
	// A second world-open SSH rule is created after the plan was reviewed.
	res := filepath.Join(inv, "gcp-resources.ndjson")
	raw, _ := os.ReadFile(res)
	var line string
	for _, l := range strings.Split(string(raw), "\n") {
		var rec struct{ Name string }
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Name == "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-debug" {
			line = l
		}
	}
	if line == "" {
		t.Fatal("the example inventory has no allow-ssh-debug rule")
	}
	added := strings.ReplaceAll(line, "allow-ssh-debug", "allow-ssh-new")
	os.WriteFile(res, append(raw, []byte(added+"\n")...), 0o644)
	const fw = `//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-new`

	state := filepath.Join(dir, "s.db")
	code, out, errs := run(t, "runbook", "apply", plan, "-c", "examples/vigil.hcl", "--auto-approve", "--state", state)
	if code != ExitError || !strings.Contains(errs, `Saved plan is stale: step.record["`+fw+`"], step.restrict["`+fw+`"] would run but are not in the plan`) {
		t.Fatalf("stale plan: exit %d\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out, "running") {
		t.Errorf("a stale plan ran steps:\n%s", out)
	}
	if code, out, errs := run(t, "runbook", "plan", "open-firewall-remediation", "--provider", "sim", "-i", inv, "-c", "examples/vigil.hcl", "-out", plan); code != 0 || !strings.Contains(out, `step.restrict["`+fw+`"]`) {
		t.Fatalf("plan again: %d %s %s", code, out, errs)
	}
	if code, out, errs := run(t, "runbook", "apply", plan, "-c", "examples/vigil.hcl", "--approve", "restrict,revoke", "--state", state); code != 0 || !strings.Contains(out, `step.restrict["`+fw+`"]: done`) {
		t.Fatalf("apply the new plan: %d %s %s", code, out, errs)
	}
}

func TestRunbookCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := write(t, "bad.hcl", "runbook \"x\" {\n  phase \"contaiment\" {\n    step \"a\" {\n      action = \"core.log\"\n      args = { message = 1 }\n    }\n  }\n}\n")
	code, _, errs := run(t, "runbook", "validate", bad)
	if code != ExitError || !strings.Contains(errs, `did you mean "containment"`) || !strings.Contains(errs, "line 2") {
		t.Errorf("validate: %d %s", code, errs)
	}
	// an unknown name or a missing file is reported, not just exit 2, and
	// the good runbook after it is still validated
	code, out, errs := run(t, "runbook", "validate", "compromised-ec", filepath.Join(dir, "nosuch.hcl"), "compromised-ec2")
	if code != ExitError || !strings.Contains(errs, "compromised-ec is neither a file nor a built-in runbook") || !strings.Contains(errs, "did you mean compromised-ec2?") ||
		!strings.Contains(errs, "nosuch.hcl is neither a file nor a built-in runbook") || !strings.Contains(out, "compromised-ec2: runbook compromised-ec2 is valid") {
		t.Errorf("validate of unknown names: %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	code, _, errs = run(t, "runbook", "plan", "compromised-vm-gcp", "--provider", "sim", "-i", "examples/inventory")
	if code != ExitError || !strings.Contains(errs, `No value for required variable`) {
		t.Errorf("missing variables: %d %s", code, errs)
	}
	// The real provider without credentials: the plan says so, step by
	// step (and nothing reaches the network: the credentials file is named).
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/vigil-test-adc.json")
	code, _, errs = run(t, "runbook", "plan", "compromised-vm-gcp", "-var", "instance=projects/p/zones/z/instances/vm-1", "-var", "incident=x")
	if code != ExitError || !strings.Contains(errs, "step.snapshot (gcp.compute.snapshot_instance_disks)") || !strings.Contains(errs, "vigil-test-adc.json") {
		t.Errorf("cloud credentials missing: %d %s", code, errs)
	}
	code, _, errs = run(t, "runbook", "plan", "compromised-vm-gcp", "--provider", "sim", "-i", "examples/inventory", "-var", "instance=vm-that-does-not-exist", "-var", "incident=x")
	if code != ExitError || !strings.Contains(errs, `instance "vm-that-does-not-exist" not found`) {
		t.Errorf("unknown instance: %d %s", code, errs)
	}
	code, _, errs = run(t, "runbook", "plan", "no-such-runbook")
	if code != ExitError || !strings.Contains(errs, "neither a file nor a built-in runbook") {
		t.Errorf("unknown runbook: %d %s", code, errs)
	}
	code, _, errs = run(t, "runbook", "resume", "run-nope", "--state", filepath.Join(dir, "s.db"))
	if code != ExitError || !strings.Contains(errs, "run not found") {
		t.Errorf("unknown run: %d %s", code, errs)
	}
	// A saved plan is refused once its runbook changed.
	rb := write(t, "r.hcl", "runbook \"r\" {\n  phase \"triage\" {\n    step \"a\" {\n      action = \"core.log\"\n      args = { message = \"one\" }\n    }\n  }\n}\n")
	plan := filepath.Join(dir, "p.json")
	if code, _, errs := run(t, "runbook", "plan", rb, "-out", plan); code != 0 {
		t.Fatal(errs)
	}
	write2(t, rb, "runbook \"r\" {\n  phase \"triage\" {\n    step \"a\" {\n      action = \"core.log\"\n      args = { message = \"two\" }\n    }\n  }\n}\n")
	code, _, errs = run(t, "runbook", "apply", plan, "--state", filepath.Join(dir, "s.db"))
	if code != ExitError || !strings.Contains(errs, "changed since the plan was made") {
		t.Errorf("changed runbook: %d %s", code, errs)
	}
}

func TestRunbookListAndActions(t *testing.T) {
	_, out, _ := run(t, "runbook", "list")
	for _, name := range []string{"compromised-vm-gcp", "compromised-ec2", "leaked-aws-access-key", "open-firewall-remediation", "shadow-project-triage"} {
		if !strings.Contains(out, name) {
			t.Errorf("list lacks %s", name)
		}
	}
	_, out, _ = run(t, "runbook", "actions", "gcp.compute.isolate_instance")
	if !strings.Contains(out, "reversible") || !strings.Contains(out, "allow_ranges") {
		t.Errorf("actions: %s", out)
	}
	_, out, _ = run(t, "runbook", "show", "open-firewall-remediation")
	if !strings.Contains(out, "step.restrict") || !strings.Contains(out, "for_each") {
		t.Errorf("show: %s", out)
	}
}
