package sim

import (
	"context"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/engine/action"
)

func TestParseFaults(t *testing.T) {
	fs, err := ParseFaults("gcp.compute.suspend_instance=unknown-after:2, aws.ec2.stop_instance=unknown-before")
	if err != nil || len(fs) != 2 || !fs[0].After || fs[0].Times != 2 || fs[1].After || fs[1].Times != 0 {
		t.Fatalf("%+v %v", fs, err)
	}
	for _, bad := range []string{"x", "gcp.compute.suspend_instance=slow", "gcp.compute.suspend_instance=unknown-after:0", "no.such=unknown-after"} {
		if _, err := ParseFaults(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// An injected fault fails a call with an unknown outcome, after the change
// took effect (or before, as asked), as many times as asked.
func TestInjectedOutcomeUnknown(t *testing.T) {
	c, _ := cloud(t)
	c.Inject(Fault{Action: "gcp.compute.suspend_instance", After: true, Times: 1})
	a := act(t, c, "gcp.compute.suspend_instance")
	r := req("suspend", map[string]cty.Value{"instance": cty.StringVal(vm)})
	if _, err := a.Apply(context.Background(), r); !action.IsOutcomeUnknown(err) || !strings.Contains(err.Error(), "timed out after it was sent") {
		t.Fatalf("first call: %v", err)
	}
	if got := c.Inventory().Get(vm).Facets.Status; got != "suspended" {
		t.Errorf("the change took effect before the error: status %s", got)
	}
	if _, err := a.Apply(context.Background(), r); err != nil {
		t.Errorf("the second call: %v", err)
	}
	if n := len(c.Ops()); n != 1 {
		t.Errorf("%d changes, want 1", n)
	}
	c.Inject(Fault{Action: "gcp.compute.resume_instance"})
	if _, err := act(t, c, "gcp.compute.resume_instance").Apply(context.Background(), r); !action.IsOutcomeUnknown(err) {
		t.Fatal(err)
	}
	if got := c.Inventory().Get(vm).Facets.Status; got != "suspended" {
		t.Errorf("a fault before acting changed things: %s", got)
	}
}
