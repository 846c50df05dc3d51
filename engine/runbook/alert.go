package runbook

import (
	"context"
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// AlertInputs evaluates the runbook's from_alert mapping over an alert (the
// object engine/alert's Value gives), for Inputs.Alert.
func (rb *Runbook) AlertInputs(alert cty.Value) (map[string]cty.Value, hcl.Diagnostics) {
	if len(rb.FromAlert) == 0 {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No from_alert mapping",
			Detail:  fmt.Sprintf("Runbook %s has no from_alert block, so it cannot take its variables from an alert. Set them with -var, or add from_alert { instance = alert.resource.id } to the runbook.", rb.ID),
			Subject: rb.DeclRange.Ptr()}}
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"alert": alert}, Functions: functions(context.Background(), nil, false)}
	names := make([]string, 0, len(rb.FromAlert))
	for name := range rb.FromAlert {
		names = append(names, name)
	}
	sort.Strings(names)
	out := map[string]cty.Value{}
	var diags hcl.Diagnostics
	for _, name := range names {
		v, d := rb.FromAlert[name].Value(ctx)
		diags = append(diags, d...)
		if !d.HasErrors() {
			out[name] = v
		}
	}
	return out, diags
}
