package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/inventory"
	"github.com/vigil-ir/vigil/internal/provider/aws/awsfake"
	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
	"github.com/vigil-ir/vigil/runbooks"
)

// allowed are the differences between a rehearsal and the real run that
// are not differences of semantics, each with its reason. Any other
// difference fails the parity test.
var allowed = []struct {
	kind, field, reason string
	// valueOnly excuses a different value, not a field one side lacks.
	valueOnly bool
	// sim and real, when set, are the only values excused.
	sim, real string
}{
	{"snapshot", "facets.status", "the simulated cloud's snapshots are complete at once; a real one is collected while EBS reports it pending or completed", false, "", ""},
	{"instance", "facets.status", "the simulated cloud terminates an instance at once; the real one is collected while EC2 still reports it shutting-down", true,
		`"terminated"`, `"shutting-down"`},
	{"instance", "facets.private_ips", "the cloud assigns a new instance's internal address (create_instance_from_snapshot); the rehearsal cannot know it", false, "", `"10.200.`},
}

// TestSimCloudParity runs every built-in runbook, and runbooks under
// testdata/parity for the actions none of them uses, twice from the same
// inventory, once against the simulated cloud and once against the fakes
// (through the real providers), and compares the inventories they leave,
// normalized: ids the clouds pick (snapshots, security groups) are named
// by what made them, and run ids are blanked. Compared: every asset's
// kind, name, scope, region, labels and facets, and a GCP instance's
// metadata keys (with the count of SSH keys).
//
// Every gcp.* and aws.* action runs in one of them except
// aws.iam.list_access_keys (it only reads). What an inventory does not
// hold cannot be compared, and is tested against the fakes instead:
// tracked connections (internal/provider/aws isolate tests) and the raw
// payload beyond those metadata keys. Network ACLs (the nacl way) and
// project-wide metadata (SSH keys removed with project_metadata) are in
// the inventory since the collectors read them, and are compared.
func TestSimCloudParity(t *testing.T) {
	for _, tc := range parityCases() {
		t.Run(filepath.Base(tc.runbook), func(t *testing.T) {
			env := parityWorld(t)
			dir := t.TempDir()
			before := filepath.Join(dir, "before.ndjson")
			collectBoth(t, env, before)
			var vars []string
			for _, v := range tc.vars {
				vars = append(vars, "-var", v)
			}
			rehearsed := filepath.Join(dir, "sim.ndjson")
			// --auto-approve confirms the plan only: the steps that need an
			// approval are named, as the plan marks them
			args := append([]string{"runbook", "apply", tc.runbook, "-i", before, "-c", "examples/vigil.hcl", "--auto-approve"}, vars...)
			if steps := approvalSteps(t, env, append([]string{"runbook", "plan", tc.runbook, "-i", before, "-c", "examples/vigil.hcl", "--provider", "sim"}, vars...)); steps != "" {
				args = append(args, "--approve", steps)
			}
			if code, out := vigil(t, env, append(args, "--provider", "sim", "--inventory-out", rehearsed, "--state", filepath.Join(dir, "sim.db"))...); code != 0 {
				t.Fatalf("rehearsal: %d\n%s", code, out)
			}
			// Against the (fake) clouds destructive steps need a second
			// person's approval, which --auto-approve does not give.
			state := filepath.Join(dir, "cloud.db")
			if code, out := applyWithSecondApprover(t, env, state, append(append(args, "--state", state), tc.cloud...)...); code != 0 {
				t.Fatalf("real run: %d\n%s", code, out)
			}
			after := filepath.Join(dir, "after.ndjson")
			collectBoth(t, env, after)
			sim, cloud := load(t, rehearsed), load(t, after)
			if diffs := parity(sim, cloud); len(diffs) > 0 {
				t.Errorf("the rehearsal and the real run differ (%d):\n%s", len(diffs), strings.Join(diffs, "\n"))
			}
		})
	}
}

func parityWorld(t *testing.T) []string {
	g := gcpfake.Scenario()
	srv, err := g.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	a := awsfake.Scenario()
	a.Organization(awsfake.ProdAccount, "vigil-collect", awsfake.SecurityAccount)
	a.With(func(f *awsfake.Fake) { f.Get(awsfake.SecurityAccount).Roles["vigil-evidence"] = true })
	asrv := a.Start()
	t.Cleanup(asrv.Close)
	return append(awsfake.Env(asrv.URL), "VIGIL_GCP_ENDPOINT="+srv.REST, "VIGIL_GCP_ASSET_ENDPOINT="+srv.Asset, "VIGIL_GCP_POLL_INTERVAL=20ms")
}

func collectBoth(t *testing.T, env []string, out string) {
	t.Helper()
	if code, o := vigil(t, env, "inventory", "collect", "--aws", "--org-role", "vigil-collect", "--regions", "eu-west-1,us-east-1",
		"--gcp-scope", "organizations/684315297612", "-q", "--out", out); code != 0 {
		t.Fatalf("collect: %d\n%s", code, o)
	}
}

func load(t *testing.T, path string) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Load(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// normalized is an asset without what depends on who made it: its data
// (the simulated cloud changes facets; the raw payload is the cloud's),
// source, and the ids and run ids a cloud picks.
type normalized struct {
	Kind, Type, Provider, Name, Scope, Region string
	Labels                                    map[string]string
	Facets                                    asset.Facets
	// Metadata are a GCP instance's metadata: each key, with the number
	// of SSH keys for ssh-keys. The raw data is not compared, but what
	// remove_instance_ssh_keys and isolation change in it is.
	Metadata map[string]string `json:",omitempty"`
}

// metadata reads a GCP instance's metadata items from its CAI record.
func metadata(a *asset.Asset) map[string]string {
	if a.Provider != asset.GCP || a.Kind != asset.KindInstance {
		return nil
	}
	var rec struct {
		Resource struct {
			Data struct {
				Metadata struct {
					Items []struct{ Key, Value string }
				}
			}
		}
	}
	_ = json.Unmarshal(a.Data, &rec)
	out := map[string]string{}
	for _, it := range rec.Resource.Data.Metadata.Items {
		v := "set"
		if it.Key == "ssh-keys" || it.Key == "sshKeys" {
			n := 0
			for _, l := range strings.Split(it.Value, "\n") {
				if strings.TrimSpace(l) != "" {
					n++
				}
			}
			v = fmt.Sprintf("%d keys", n)
		}
		out[it.Key] = v
	}
	return out
}

var runID = regexp.MustCompile(`^(run-|r-)?[0-9a-f]{8,}|^[0-9]{8}t[0-9]{6}-[0-9a-f]+$`)

// canonical names the assets whose ids a cloud picks by what made them.
func canonical(inv *inventory.Inventory) map[string]string {
	names := map[string]string{}
	for _, a := range inv.Assets() {
		switch {
		case a.Provider == asset.AWS && a.Kind == asset.KindSnapshot && a.Labels["vigil-volume"] != "":
			names[a.Name] = fmt.Sprintf("<snapshot of %s by %s>", a.Labels["vigil-volume"], a.Labels["vigil-step"])
		case a.Provider == asset.AWS && a.Kind == asset.KindFirewall && strings.HasPrefix(a.Name, "vigil-"):
			names[a.ID[strings.LastIndex(a.ID, "/")+1:]] = "<group " + a.Name + ">"
		case a.Provider == asset.AWS && a.Kind == asset.KindNetworkACL && strings.HasPrefix(a.Labels["Name"], "vigil-"):
			names[a.ID[strings.LastIndex(a.ID, "/")+1:]] = "<acl " + a.Labels["Name"] + ">"
		}
	}
	for _, a := range inv.Assets() {
		if a.Provider == asset.AWS && a.Kind == asset.KindSnapshot && a.Labels["vigil-source"] != "" {
			src := a.Labels["vigil-source"]
			if n, ok := names[src]; ok {
				src = n
			}
			names[a.Name] = fmt.Sprintf("<copy of %s by %s in %s>", src, a.Labels["vigil-step"], a.Scope)
		}
	}
	return names
}

func normalize(inv *inventory.Inventory) map[string]map[string]string {
	names := canonical(inv)
	rename := func(s string) string {
		for id, n := range names {
			s = strings.ReplaceAll(s, id, n)
		}
		return s
	}
	out := map[string]map[string]string{}
	for _, a := range inv.Assets() {
		n := normalized{Kind: a.Kind, Type: a.Type, Provider: a.Provider, Name: a.Name, Scope: a.Scope, Region: a.Region, Facets: a.Facets, Labels: map[string]string{},
			Metadata: metadata(a)}
		for k, v := range a.Labels {
			if k == "vigil-run" || k == "vigil:quarantine" || runID.MatchString(v) && strings.HasPrefix(k, "vigil") {
				v = "<run>"
			}
			n.Labels[k] = v
		}
		raw, _ := json.Marshal(n)
		var m map[string]any
		json.Unmarshal([]byte(rename(string(raw))), &m)
		flat := map[string]string{}
		flatten("", m, flat)
		out[rename(a.ID)] = flat
	}
	return out
}

func flatten(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			flatten(strings.TrimPrefix(prefix+"."+strings.ToLower(k), "."), e, out)
		}
	case []any:
		if len(x) == 0 {
			return
		}
		for i, e := range x {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), e, out)
		}
	default:
		raw, _ := json.Marshal(x)
		if string(raw) != "null" && string(raw) != `""` && string(raw) != "{}" && string(raw) != "[]" {
			out[prefix] = string(raw)
		}
	}
}

// parity lists the differences that allowed does not excuse.
func parity(sim, cloud *inventory.Inventory) []string {
	a, b := normalize(sim), normalize(cloud)
	var diffs []string
	ids := map[string]bool{}
	for id := range a {
		ids[id] = true
	}
	for id := range b {
		ids[id] = true
	}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		x, y := a[id], b[id]
		switch {
		case x == nil:
			diffs = append(diffs, fmt.Sprintf("%s: only after the real run (%s)", id, y["kind"]))
			continue
		case y == nil:
			diffs = append(diffs, fmt.Sprintf("%s: only after the rehearsal (%s)", id, x["kind"]))
			continue
		}
		fields := map[string]bool{}
		for f := range x {
			fields[f] = true
		}
		for f := range y {
			fields[f] = true
		}
		keys := slices.Collect(maps.Keys(fields))
		sort.Strings(keys)
		for _, f := range keys {
			if x[f] == y[f] || excused(x["kind"], f, x[f], y[f]) {
				continue
			}
			diffs = append(diffs, fmt.Sprintf("%s %s: rehearsal %s, real %s", id, f, orNone(x[f]), orNone(y[f])))
		}
	}
	return diffs
}

func excused(kind, field, sim, real string) bool {
	for _, e := range allowed {
		if `"`+e.kind+`"` == kind && strings.HasPrefix(field, e.field) && (sim != "" && real != "" || !e.valueOnly) &&
			(e.sim == "" || sim == e.sim) && (e.real == "" || strings.HasPrefix(real, e.real)) {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

type parityCase struct {
	runbook string
	vars    []string
	cloud   []string // flags of the real run only
}

func parityCases() []parityCase {
	const role = "arn:aws:iam::333333333333:role/vigil-evidence"
	return []parityCase{
		{"compromised-vm-gcp", []string{"instance=//compute.googleapis.com/" + gcpfake.Web1, "incident=INC-2041", `forensics_ranges=["10.99.0.0/24"]`}, nil},
		{"compromised-ec2", []string{"instance=arn:aws:ec2:eu-west-1:111111111111:instance/" + awsfake.WebInstance, "incident=INC-9"},
			[]string{"--aws-evidence-role", role}},
		{"leaked-aws-access-key", []string{"access_key_id=" + awsfake.LeakedKey, "incident=INC-3", "delete_key=true"}, nil},
		{"open-firewall-remediation", nil, nil},
		{"shadow-project-triage", []string{"project=" + gcpfake.ProdProject, "contain=true"}, nil},
		// The actions no built-in runbook uses, each run both ways too.
		{"cmd/vigil/testdata/parity/gcp-actions.hcl", []string{"instance=//compute.googleapis.com/" + gcpfake.Web1, "key=//iam.googleapis.com/" + gcpfake.LeakedKey, "incident=INC-11"}, nil},
		{"cmd/vigil/testdata/parity/gcp-delete.hcl", []string{"instance=//compute.googleapis.com/" + gcpfake.Web1, "incident=INC-12"}, nil},
		{"cmd/vigil/testdata/parity/aws-actions.hcl", []string{"instance=arn:aws:ec2:eu-west-1:111111111111:instance/" + awsfake.WebInstance, "incident=INC-11"}, nil},
	}
}

// TestParityCoversEveryBuiltinRunbook fails when a built-in runbook is added
// without a row in TestSimCloudParity: a rehearsal nobody compared with the
// real providers is not a rehearsal.
func TestParityCoversEveryBuiltinRunbook(t *testing.T) {
	have := map[string]bool{}
	for _, tc := range parityCases() {
		have[tc.runbook] = true
	}
	for _, name := range runbooks.Names() {
		if !have[name] {
			t.Errorf("built-in runbook %s has no case in TestSimCloudParity", name)
		}
	}
}

// approvalStep is a step the human plan marks as needing an approval:
// " ~ step.isolate  aws.ec2.isolate_instance  [approval]" (an instance's
// key, as in restrict["..."], is dropped: the step's name approves them all).
var approvalStep = regexp.MustCompile(`(?m)^\s*\S+ step\.([A-Za-z0-9_-]+)\S*\s+\S+\s+\[approval\]`)

// approvalSteps plans with args and returns the steps to --approve.
func approvalSteps(t *testing.T, env []string, args []string) string {
	t.Helper()
	code, out := vigil(t, env, args...)
	if code != 0 {
		t.Fatalf("plan: %d\n%s", code, out)
	}
	var names []string
	for _, m := range approvalStep.FindAllStringSubmatch(out, -1) {
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	return strings.Join(names, ",")
}
