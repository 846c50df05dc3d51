package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/engine/runbook"
	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
)

// The AWS flow as the README tells it, with the built binary pointed at the
// wire-protocol fake: collect, scan, respond, and collect again. The
// process is killed half-way through the snapshot step; resume finds the
// snapshots it had made. The instance's established, tracked connection
// ends with the isolation (the nacl way, the default: a stateless network
// ACL breaks connections that cross the subnet's edge).
func TestAWSIncidentEndToEnd(t *testing.T) {
	f := awsfake.Scenario()
	f.With(func(f *awsfake.Fake) { f.Get(awsfake.SecurityAccount).Roles["vigil-evidence"] = true })
	srv := f.Start()
	defer srv.Close()
	env := awsfake.Env(srv.URL)
	dir := t.TempDir()
	inv := filepath.Join(dir, "aws.ndjson")

	code, out := vigil(t, env, "inventory", "collect", "--aws", "--regions", "eu-west-1,us-east-1", "--out", inv)
	if code != 0 || !strings.Contains(out, "aws: collected") {
		t.Fatalf("collect: %d\n%s", code, out)
	}
	code, out = vigil(t, env, "scan", "-c", "examples/vigil.hcl", "--policy", "VGL-NET-001", inv)
	if code != 1 || !strings.Contains(out, awsfake.WebGroup) {
		t.Fatalf("scan: %d\n%s", code, out)
	}

	// The attacker's session: web-1 to 203.0.113.50:443. web-1's groups
	// allow every port out but only 22 and 443 in, so security group
	// connection tracking tracks the flow, and a change of groups alone
	// would not end it.
	var c2 *awsfake.Flow
	f.With(func(f *awsfake.Fake) {
		c2 = f.Connect(f.Get(awsfake.ProdAccount).Region("eu-west-1"),
			awsfake.Flow{ENI: "eni-0aaaaaaaaaaaa0001", Protocol: "tcp", Peer: "203.0.113.50", Port: 443})
	})
	if !c2.Tracked {
		t.Fatal("the scenario's flow should be tracked")
	}
	state := filepath.Join(dir, "state.db")
	instance := "arn:aws:ec2:eu-west-1:111111111111:instance/" + awsfake.WebInstance
	code, out = vigil(t, append(env, "VIGIL_FAILPOINT=during:snapshot"), "runbook", "apply", "compromised-ec2", "-i", inv,
		"-var", "instance="+instance, "-var", "incident=INC-9", "--approve", "isolate", "--auto-approve", "--state", state,
		"--aws-evidence-role", "arn:aws:iam::333333333333:role/vigil-evidence")
	if code != 137 {
		t.Fatalf("failpoint: %d\n%s", code, out)
	}
	run, _ := onlyRun(t, state)
	code, out = vigil(t, env, "runbook", "resume", run.ID, "--approve", "isolate", "--state", state,
		"--aws-evidence-role", "arn:aws:iam::333333333333:role/vigil-evidence")
	if code != 0 || !regexp.MustCompile(`step.snapshot: the interrupted attempt had taken effect`).MatchString(out) {
		t.Fatalf("resume: %d\n%s", code, out)
	}
	run, es := onlyRun(t, state)
	if run.Status != runbook.RunCompleted {
		t.Fatalf("status %s", run.Status)
	}
	exactlyOnce(t, run, es, []string{"record", "snapshot", "share", "copy", "isolate", "stop"})
	f.With(func(f *awsfake.Fake) {
		if c2.Open {
			t.Errorf("the tracked connection survived the isolation: %+v", c2)
		}
	})
	creates := 0
	for _, m := range f.Mutations() {
		if m == "ec2:CreateSnapshot" {
			creates++
		}
	}
	if creates != 2 {
		t.Errorf("%d CreateSnapshot calls for 2 volumes", creates)
	}

	after := filepath.Join(dir, "after.ndjson")
	if code, out = vigil(t, env, "inventory", "collect", "--aws", "--regions", "eu-west-1", "-q", "--out", after); code != 0 {
		t.Fatalf("collect again: %d\n%s", code, out)
	}
	got, err := inventory.Load(t.Context(), after)
	if err != nil {
		t.Fatal(err)
	}
	web := got.Get(instance)
	if web == nil || web.Facets.Status != "stopped" || len(web.Facets.SecurityGroups) != 1 || web.Labels["vigil:quarantine"] != run.ID {
		t.Errorf("web-1 after the response: %+v %v", web.Facets, web.Labels)
	}
}
