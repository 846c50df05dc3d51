package cli

import (
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/action"
	"github.com/vigil-ir/vigil/engine/runbook"
)

// A prompt names the full address, what it will do, to which targets, and
// the plan's hash; an instance the plan did not show says so.
func TestApprovalText(t *testing.T) {
	got := approvalText(&runbook.ApprovalRequest{Address: `revoke["sg-0a1"]`, Action: "aws.ec2.revoke_open_ingress", Effect: action.Reversible,
		Reason: "removes the world-open rules of this security group", Summary: "revoke 1 world-open rule on port 22",
		Targets: []string{"arn:aws:ec2:eu-west-1:111111111111:security-group/sg-0a1"}, PlanHash: "3f2a", AtApply: true})
	want := `
step.revoke["sg-0a1"] (aws.ec2.revoke_open_ingress, reversible) needs an approval
  reason:  removes the world-open rules of this security group
  it will: revoke 1 world-open rule on port 22
  targets: arn:aws:ec2:eu-west-1:111111111111:security-group/sg-0a1
  plan:    sha256 3f2a
  (this instance was expanded at apply: the plan showed its step, not it)
  Approve step.revoke["sg-0a1"]? Only 'yes' approves: `
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := approvalText(&runbook.ApprovalRequest{Address: "isolate", Action: "a", Effect: action.Reversible, PlanHash: "3f2a"}); !strings.Contains(got, "targets: (known after apply)") {
		t.Errorf("unknown targets: %s", got)
	}
}
