package gcp

import (
	"context"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/internal/provider/gcp/contract"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// exercise runs every action through each of its paths (plan, then
// apply), and both ways of collecting, and records the calls (discovery
// method ids, and the Cloud Asset RPCs) and the permissions of each.
func exercise(t *testing.T) (calls, perms map[string]map[string]bool) {
	f, opts := start(t)
	calls, perms = map[string]map[string]bool{}, map[string]map[string]bool{}
	seenCalls, seenReqs := 0, 0
	mark := func(name string) {
		if calls[name] == nil {
			calls[name], perms[name] = map[string]bool{}, map[string]bool{}
		}
		cs, rs := f.Calls(), f.Requests()
		for _, c := range cs[seenCalls:] {
			for _, p := range c.Permissions {
				perms[name][p] = true
			}
			if c.API == "asset" {
				calls[name][map[string]string{"ListAssets": "cloudasset.assets.list", "ExportAssets": "cloudasset.exportAssets",
					"GetOperation": "cloudasset.operations.get"}[c.Operation]] = true
			}
		}
		for _, r := range rs[seenReqs:] {
			calls[name][contract.Method(r)] = true
		}
		seenCalls, seenReqs = len(cs), len(rs)
	}
	collect(t, opts)
	mark("vigil inventory collect --gcp-scope SCOPE")
	exp := opts
	exp.Export = "gs://acme-sec-evidence/cai"
	collect(t, exp)
	mark("vigil inventory collect --gcp-scope SCOPE --export gs://BUCKET/PREFIX")
	p := New(opts)
	ctx := context.Background()
	run := func(name string, args map[string]cty.Value) map[string]cty.Value {
		t.Helper()
		a := act(t, p, name)
		if _, err := a.Plan(ctx, req(args)); err != nil {
			t.Fatalf("%s plan: %v", name, err)
		}
		res, err := a.Apply(ctx, req(args))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		mark(name)
		return res.Outputs
	}
	vm := cty.StringVal(web1)
	snaps := run("gcp.compute.snapshot_instance_disks", map[string]cty.Value{"instance": vm, "destination_project": cty.StringVal(gcpfake.SecurityProject)})
	var ids []cty.Value
	for it := snaps["snapshots"].ElementIterator(); it.Next(); {
		_, s := it.Element()
		ids = append(ids, s.GetAttr("id"))
	}
	run("gcp.compute.export_snapshots", map[string]cty.Value{"snapshots": cty.ListVal(ids), "destination_project": cty.StringVal(gcpfake.SecurityProject)})
	run("gcp.compute.create_instance_from_snapshot", map[string]cty.Value{"snapshot": ids[0], "name": cty.StringVal("web-1-clean"),
		"zone": cty.StringVal(gcpfake.Zone), "network": cty.StringVal(gcpfake.ProdVPC)})
	isolate := map[string]cty.Value{"instance": vm, "allow_ranges": cty.ListVal([]cty.Value{cty.StringVal("10.99.0.0/24")})}
	run("gcp.compute.isolate_instance", isolate)
	// A rule an older run made at another priority is updated.
	f.With(func(f *gcpfake.Fake) {
		f.Firewall("projects/acme-prod/global/firewalls/vigil-quarantine-deny-in-prod-vpc")["priority"] = 1
	})
	run("gcp.compute.isolate_instance", isolate)
	run("gcp.compute.suspend_instance", map[string]cty.Value{"instance": vm})
	run("gcp.compute.resume_instance", map[string]cty.Value{"instance": vm})
	run("gcp.compute.release_instance", map[string]cty.Value{"instance": vm})
	run("gcp.compute.remove_instance_ssh_keys", map[string]cty.Value{"instance": vm, "project_metadata": cty.True})
	run("gcp.compute.stop_instance", map[string]cty.Value{"instance": vm})
	run("gcp.compute.restrict_firewall", map[string]cty.Value{"firewall": cty.StringVal(gcpfake.OpenSSH),
		"source_ranges": cty.ListVal([]cty.Value{cty.StringVal("35.235.240.0/20")})})
	run("gcp.iam.disable_service_account_key", map[string]cty.Value{"key": cty.StringVal(gcpfake.LeakedKey)})
	run("gcp.compute.delete_firewall", map[string]cty.Value{"firewall": cty.StringVal(gcpfake.OpenHTTPS)})
	run("gcp.compute.delete_instance", map[string]cty.Value{"instance": vm})
	return calls, perms
}

var dotted = regexp.MustCompile("`([a-z]+(?:\\.[A-Za-z0-9]+)+)`")

// table reads the rows of a markdown table between two markers: the
// first backticked name of a row (an action or a command), and the
// dotted names (methods, permissions) in its other cells.
func table(t *testing.T, path, begin, end string) map[string]map[string]bool {
	raw, err := os.ReadFile(testutil.Path(t, path))
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no table between %s and %s", path, begin, end)
	}
	out := map[string]map[string]bool{}
	for _, line := range strings.Split(s[i:j], "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		m := regexp.MustCompile("`([^`]+)`").FindStringSubmatch(cells[1])
		if m == nil || !strings.HasPrefix(m[1], "gcp.") && !strings.HasPrefix(m[1], "vigil ") {
			continue
		}
		set := map[string]bool{}
		for _, c := range cells[2:] {
			for _, d := range dotted.FindAllStringSubmatch(c, -1) {
				set[d[1]] = true
			}
		}
		out[m[1]] = set
	}
	return out
}

func diffSets(want, got map[string]bool) string {
	var missing, extra []string
	for k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing)+len(extra) == 0 {
		return ""
	}
	return fmt.Sprintf("made but not listed: %v; listed but not made: %v", missing, extra)
}

// roleFile reads the includedPermissions of a custom role definition
// (gcloud iam roles create --file).
func roleFile(t *testing.T, path string) map[string]bool {
	raw, err := os.ReadFile(testutil.Path(t, path))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	in := false
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(line, "includedPermissions:"):
			in = true
		case in && strings.HasPrefix(strings.TrimSpace(line), "- "):
			out[strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "- "))] = true
		case in && strings.TrimSpace(line) != "" && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "#"):
			in = false
		}
	}
	return out
}

// The README says which calls each action makes, examples/gcp which
// permissions they need, in a table and in two custom roles: exactly what
// the fake saw.
func TestDocumentedCallsAndPermissions(t *testing.T) {
	calls, perms := exercise(t)
	if testing.Verbose() {
		for _, name := range slices.Sorted(maps.Keys(calls)) {
			t.Logf("%s\n  calls: %v\n  perms: %v", name, slices.Sorted(maps.Keys(calls[name])), slices.Sorted(maps.Keys(perms[name])))
		}
	}
	docCalls := table(t, "README.md", "<!-- gcp-calls -->", "<!-- /gcp-calls -->")
	docPerms := table(t, "examples/gcp/README.md", "<!-- gcp-permissions -->", "<!-- /gcp-permissions -->")
	collector, responder := map[string]bool{}, map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(calls)) {
		if d := diffSets(calls[name], docCalls[name]); d != "" {
			t.Errorf("README, calls of %s: %s", name, d)
		}
		if d := diffSets(perms[name], docPerms[name]); d != "" {
			t.Errorf("examples/gcp/README.md, permissions of %s: %s", name, d)
		}
		dst := responder
		if strings.HasPrefix(name, "vigil inventory collect") {
			dst = collector
		}
		for p := range perms[name] {
			dst[p] = true
		}
	}
	if d := diffSets(collector, roleFile(t, "examples/gcp/vigil-collector-role.yaml")); d != "" {
		t.Errorf("vigil-collector-role.yaml: %s", d)
	}
	if d := diffSets(responder, roleFile(t, "examples/gcp/vigil-responder-role.yaml")); d != "" {
		t.Errorf("vigil-responder-role.yaml: %s", d)
	}
}
