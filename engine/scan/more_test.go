package scan

import (
	"reflect"
	"testing"

	"github.com/vigil-ir/vigil/engine/asset"
)

// The per-scope facts of review 19's fixes, worked out by hand: the
// Inspector status record is no asset of its region (VGL-DET-001), roles
// are counted (VGL-IAM-002 judges only with some), instances' own
// enable-osconfig is counted (VGL-VULN-003) and an ACCEPT-only flow log
// does not count as flow logging (VGL-LOG-004, CIS 3.7).
func TestScopeMore(t *testing.T) {
	var m scopeMore
	for _, a := range []*asset.Asset{
		{Kind: asset.KindDetector, Region: "us-east-1"},
		{Kind: asset.KindInstance, Region: "eu-west-1", Facets: asset.Facets{Metadata: map[string]string{"enable-osconfig": "TRUE"}}},
		{Kind: asset.KindInstance, Region: "eu-west-1", Facets: asset.Facets{Metadata: map[string]string{"enable-osconfig": "false"}}},
		{Kind: asset.KindInstance, Region: "eu-west-1"},
		{Kind: asset.KindRole, Name: "r1"},
		{Kind: asset.KindRole, Name: "r2"},
		{Kind: asset.KindFlowLog, Facets: asset.Facets{Resource: "vpc-accept", Filter: "ACCEPT"}},
		{Kind: asset.KindFlowLog, Facets: asset.Facets{Resource: "vpc-reject", Filter: "REJECT"}},
		{Kind: asset.KindFlowLog, Facets: asset.Facets{Resource: "vpc-all", Filter: "ALL"}},
		{Kind: asset.KindMetricFilter, Facets: asset.Facets{LogGroup: "g", Filter: "{ ($.eventName = CreateTrail) || ($.eventName = StopLogging) }"}},
	} {
		m.observe(a)
	}
	out := map[string]any{}
	m.data(out)
	want := map[string]any{
		"regions":           map[string]any{"eu-west-1": map[string]any{"assets": int64(3), "instances": int64(3)}},
		"roles":             int64(2),
		"instance_osconfig": map[string]any{"on": int64(1), "off": int64(1)},
		"flow_logs":         map[string]any{"vpc-reject": true, "vpc-all": true},
	}
	// the metric filter's CIS calls, parsed (engine/logfilter)
	want["metric_filters"] = []any{map[string]any{"log_group": "g", "filter": "{ ($.eventName = CreateTrail) || ($.eventName = StopLogging) }",
		"metrics": []any{}, "calls": []any{"CreateTrail", "StopLogging"}, "catch_all": false}}
	for k, w := range want {
		if !reflect.DeepEqual(out[k], w) {
			t.Errorf("%s: %#v, want %#v", k, out[k], w)
		}
	}
}
