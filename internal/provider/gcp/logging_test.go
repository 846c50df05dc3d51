package gcp

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
)

// B5 of the issue-16 review: the entries of a resource are those of its
// own name and of its sub-resources (NAME/...), not of every resource
// whose name starts with it (web-10, web-1-canary).
func TestListEntriesOfResource(t *testing.T) {
	f, opts := start(t)
	web1 := "projects/acme-prod/zones/" + gcpfake.Zone + "/instances/web-1"
	f.With(func(f *gcpfake.Fake) {
		base := gcpfake.ScenarioEntries()[0] // web-1, before the alert
		for id, name := range map[string]string{"web-10": web1 + "0", "canary": web1 + "-canary", "sub": web1 + "/serialPort/1"} {
			raw, _ := json.Marshal(base)
			var e gcpfake.Doc
			json.Unmarshal(raw, &e)
			e["insertId"] = id
			e["protoPayload"].(map[string]any)["resourceName"] = name
			f.AddLogEntries(e)
		}
	})
	res, err := act(t, New(opts), "gcp.logging.list_entries").Apply(context.Background(), req(map[string]cty.Value{
		"at": cty.StringVal(gcpfake.AlertTime.Format(time.RFC3339)), "resource": cty.StringVal("//compute.googleapis.com/" + web1)}))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for it := res.Outputs["events"].ElementIterator(); it.Next(); {
		_, e := it.Element()
		ids = append(ids, e.GetAttr("id").AsString())
	}
	slices.Sort(ids)
	// The scenario's two entries of web-1 in the window, and the one of
	// its sub-resource.
	if want := []string{"-n4q1t2e9x0kd", "1x7c9r2e5b8m", "sub"}; !slices.Equal(ids, want) {
		t.Errorf("entries %v, want %v", ids, want)
	}
}
