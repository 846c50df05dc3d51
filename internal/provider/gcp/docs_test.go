package gcp

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/asset/apiv1/assetpb"
	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-ir/vigil/internal/provider/gcp/contract"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
	"github.com/vigil-ir/vigil/internal/testutil"
)

// permRow is one row of testdata/permissions.tsv.
type permRow struct{ method, permission, when, source string }

// permissionTable reads testdata/permissions.tsv: the permissions each
// method needs as Google's pages document them, independent of the fake.
func permissionTable(t *testing.T) []permRow {
	var rows []permRow
	for _, c := range testutil.PermissionRows(t, "testdata/permissions.tsv", "https://cloud.google.com/") {
		rows = append(rows, permRow{c[0], c[1], c[2], c[3]})
	}
	return rows
}

// needs evaluates the table for one recorded REST request: the
// permissions of its method whose condition holds.
func needs(t *testing.T, rows []permRow, f *gcpfake.Fake, r gcpfake.Request) []string {
	m := contract.Method(r)
	var body map[string]any
	_ = json.Unmarshal(r.Body, &body)
	var out []string
	found := false
	for _, row := range rows {
		if row.method != m {
			continue
		}
		found = true
		if holds(t, row.when, f, r, body) {
			out = append(out, row.permission)
		}
	}
	if !found {
		t.Errorf("testdata/permissions.tsv has no row for %s (%s %s)", m, r.HTTPMethod, r.Path)
	}
	return out
}

func holds(t *testing.T, when string, f *gcpfake.Fake, r gcpfake.Request, body map[string]any) bool {
	objs := func(v any) []map[string]any {
		var out []map[string]any
		l, _ := v.([]any)
		for _, e := range l {
			if o, ok := e.(map[string]any); ok {
				out = append(out, o)
			}
		}
		return out
	}
	switch when {
	case "":
		return true
	case "labels":
		l, _ := body["labels"].(map[string]any)
		return len(l) > 0
	case "disk from snapshot":
		for _, d := range objs(body["disks"]) {
			if ip, _ := d["initializeParams"].(map[string]any); ip["sourceSnapshot"] != nil {
				return true
			}
		}
		return false
	case "image from snapshot", "disk from a snapshot":
		return body["sourceSnapshot"] != nil
	case "disk from image":
		for _, d := range objs(body["disks"]) {
			if ip, _ := d["initializeParams"].(map[string]any); ip["sourceImage"] != nil {
				return true
			}
		}
		return false
	case "attaches a disk":
		for _, d := range objs(body["disks"]) {
			if d["source"] != nil {
				return true
			}
		}
		return false
	case "metadata":
		md, _ := body["metadata"].(map[string]any)
		return len(objs(md["items"])) > 0
	case "with a service account":
		return len(objs(body["serviceAccounts"])) > 0
	case "data access log":
		flt, _ := body["filter"].(string)
		return strings.Contains(flt, "%2Fdata_access")
	case "subnetwork", "network, no subnetwork":
		for _, ni := range objs(body["networkInterfaces"]) {
			if (ni["subnetwork"] != nil) == (when == "subnetwork") {
				return true
			}
		}
		return false
	case "runs as a service account":
		path := strings.TrimPrefix(r.Path, "/compute/v1/")
		path = path[:strings.LastIndex(path, "/")] // .../instances/N/setMetadata
		sa := false
		f.With(func(f *gcpfake.Fake) { sa = len(f.Instance(path).Objs("serviceAccounts")) > 0 })
		return sa
	}
	t.Fatalf("testdata/permissions.tsv: unknown condition %q", when)
	return false
}

// needsRPC evaluates the table for one Cloud Asset request.
func needsRPC(t *testing.T, rows []permRow, r gcpfake.RPC) []string {
	ct := ""
	switch m := r.Message.(type) {
	case *assetpb.ListAssetsRequest:
		ct = m.ContentType.String()
	case *assetpb.ExportAssetsRequest:
		ct = m.ContentType.String()
	}
	var out []string
	found := false
	for _, row := range rows {
		if row.method != r.Method {
			continue
		}
		found = true
		if row.when == "" || row.when == "content "+ct {
			out = append(out, row.permission)
		}
	}
	if !found {
		t.Errorf("testdata/permissions.tsv has no row for %s", r.Method)
	}
	return out
}

// exercise runs every action through each of its paths (plan, then
// apply), and both ways of collecting, and records the calls (discovery
// method ids, and the Cloud Asset RPCs) and the permissions each needs by
// testdata/permissions.tsv.
func exercise(t *testing.T) (calls, perms map[string]map[string]bool) {
	f, opts := start(t)
	rows := permissionTable(t)
	calls, perms = map[string]map[string]bool{}, map[string]map[string]bool{}
	seenReqs, seenRPCs := 0, 0
	mark := func(name string) {
		if calls[name] == nil {
			calls[name], perms[name] = map[string]bool{}, map[string]bool{}
		}
		rs, rpcs := f.Requests(), f.RPCs()
		for _, r := range rs[seenReqs:] {
			calls[name][contract.Method(r)] = true
			for _, p := range needs(t, rows, f, r) {
				perms[name][p] = true
			}
		}
		for _, r := range rpcs[seenRPCs:] {
			calls[name][map[string]string{"google.cloud.asset.v1.AssetService/ListAssets": "cloudasset.assets.list",
				"google.cloud.asset.v1.AssetService/ExportAssets": "cloudasset.exportAssets", "google.longrunning.Operations/GetOperation": "cloudasset.operations.get"}[r.Method]] = true
			for _, p := range needsRPC(t, rows, r) {
				perms[name][p] = true
			}
		}
		seenReqs, seenRPCs = len(rs), len(rpcs)
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
	// Small disks, so that the hash's worker reads little.
	f.With(func(f *gcpfake.Fake) {
		for _, d := range []string{"web-1", "web-1-data"} {
			f.SetDiskContent("projects/acme-prod/zones/"+gcpfake.Zone+"/disks/"+d, 1, map[int64][]byte{0: []byte(d)})
		}
	})
	snaps := run("gcp.compute.snapshot_instance_disks", map[string]cty.Value{"instance": vm, "destination_project": cty.StringVal(gcpfake.SecurityProject)})
	var ids []cty.Value
	for it := snaps["snapshots"].ElementIterator(); it.Next(); {
		_, s := it.Element()
		ids = append(ids, s.GetAttr("id"))
	}
	run("gcp.compute.export_snapshots", map[string]cty.Value{"snapshots": cty.ListVal(ids), "destination_project": cty.StringVal(gcpfake.SecurityProject)})
	run("gcp.compute.hash_snapshot", map[string]cty.Value{"snapshots": cty.ListVal(ids), "project": cty.StringVal(gcpfake.SecurityProject),
		"zone": cty.StringVal(gcpfake.Zone), "bucket": cty.StringVal("gs://acme-sec-evidence/hashes"),
		"service_account": cty.StringVal("vigil-hash-writer@acme-sec-forensics.iam.gserviceaccount.com"),
		"subnetwork":      cty.StringVal("projects/acme-sec-forensics/regions/europe-west1/subnetworks/forensics-ew1")})
	run("gcp.logging.list_entries", map[string]cty.Value{"at": cty.StringVal(gcpfake.AlertTime.Format(time.RFC3339)), "resource": vm,
		"principal": cty.StringVal("//iam.googleapis.com/" + gcpfake.LeakedKey)})
	run("gcp.compute.create_instance_from_snapshot", map[string]cty.Value{"snapshot": ids[0], "name": cty.StringVal("web-1-clean"),
		"zone": cty.StringVal(gcpfake.Zone), "network": cty.StringVal(gcpfake.ForensicsVPC)})
	isolate := map[string]cty.Value{"instance": vm, "allow_ranges": cty.ListVal([]cty.Value{cty.StringVal("10.99.0.0/24")})}
	run("gcp.compute.isolate_instance", isolate)
	// A rule an older run made at another priority is updated, and one of
	// the quarantine's names that a patch cannot fix (here: in the wrong
	// direction) is replaced.
	f.With(func(f *gcpfake.Fake) {
		f.Firewall("projects/acme-prod/global/firewalls/vigil-quarantine-deny-in-prod-vpc")["priority"] = 1
		f.Firewall("projects/acme-prod/global/firewalls/vigil-quarantine-deny-out-v6-mgmt-vpc")["direction"] = "INGRESS"
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

// The fake names, in its denials, the first permission Google documents
// for the method: the table and the fake agree.
func TestFakeDenialsNameTheDocumentedPermission(t *testing.T) {
	first := map[string]string{}
	for _, row := range permissionTable(t) {
		if _, ok := first[row.method]; !ok && row.when == "" && strings.HasPrefix(row.method, "compute.") {
			first[row.method] = row.permission
		}
	}
	for m, p := range first {
		if got := gcpfake.ComputePermission(strings.TrimPrefix(m, "compute.")); got != p {
			t.Errorf("%s: the fake denies naming %q, the documentation %q", m, got, p)
		}
	}
}

var dotted = regexp.MustCompile("`([a-z]+(?:\\.[A-Za-z0-9]+)+)`")

// table reads the rows of a markdown table between two markers: the
// first backticked name of a row (an action or a command), and the
// dotted names (methods, permissions) in its other cells.
func table(t *testing.T, path, begin, end string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, line := range strings.Split(testutil.DocSection(t, path, begin, end), "\n") {
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
		if d := testutil.SetDiff(calls[name], docCalls[name]); d != "" {
			t.Errorf("README, calls of %s: %s", name, d)
		}
		if d := testutil.SetDiff(perms[name], docPerms[name]); d != "" {
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
	if d := testutil.SetDiff(collector, roleFile(t, "examples/gcp/vigil-collector-role.yaml")); d != "" {
		t.Errorf("vigil-collector-role.yaml: %s", d)
	}
	if d := testutil.SetDiff(responder, roleFile(t, "examples/gcp/vigil-responder-role.yaml")); d != "" {
		t.Errorf("vigil-responder-role.yaml: %s", d)
	}
}
