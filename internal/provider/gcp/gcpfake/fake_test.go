package gcpfake

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// call sends a raw request, as any client could, and decodes the answer.
func call(t *testing.T, base, method, path, body string) (int, Doc) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var d Doc
	json.Unmarshal(raw, &d)
	return resp.StatusCode, d
}

func serve(t *testing.T) (*Fake, string) {
	f := Scenario()
	srv, err := f.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return f, srv.REST + "/compute/v1/projects/acme-prod"
}

// The documented defaults, from the Firewall resource: what a request
// leaves out is what the API fills in.
func TestFirewallDefaultsAndMergePatch(t *testing.T) {
	f, base := serve(t)
	code, op := call(t, base, "POST", "/global/firewalls", `{"name":"no-priority","network":"global/networks/prod-vpc","denied":[{"IPProtocol":"all"}]}`)
	if code != 200 || op.Str("status") != "RUNNING" {
		t.Fatalf("insert: %d %v", code, op)
	}
	f.With(func(f *Fake) {
		if f.Firewall("projects/acme-prod/global/firewalls/no-priority") != nil {
			t.Error("the rule exists before its operation is done")
		}
	})
	if _, op = call(t, base, "GET", "/global/operations/"+op.Str("name"), ""); op.Str("status") != "DONE" {
		t.Fatalf("operation: %v", op)
	}
	f.With(func(f *Fake) {
		fw := f.Firewall("projects/acme-prod/global/firewalls/no-priority")
		p, _ := fw.Int("priority")
		if p != 1000 || fw.Str("direction") != "INGRESS" || strings.Join(fw.Strs("sourceRanges"), ",") != "0.0.0.0/0" || fw.Bool("disabled") {
			t.Errorf("defaults: %v", fw)
		}
	})
	// Merge patch: {} changes nothing; an empty list of sources leaves an
	// ingress rule with none, which is 0.0.0.0/0 again.
	for _, body := range []string{`{}`, `{"sourceRanges":[]}`} {
		code, op = call(t, base, "PATCH", "/global/firewalls/allow-internal", body)
		call(t, base, "GET", "/global/operations/"+op.Str("name"), "")
		f.With(func(f *Fake) {
			got := strings.Join(f.Firewall(Internal).Strs("sourceRanges"), ",")
			want := map[string]string{`{}`: "10.0.0.0/8", `{"sourceRanges":[]}`: "0.0.0.0/0"}[body]
			if code != 200 || got != want {
				t.Errorf("patch %s: %d, sources %s, want %s", body, code, got, want)
			}
		})
	}
	for _, bad := range []string{
		`{"name":"both","network":"global/networks/prod-vpc","allowed":[{"IPProtocol":"tcp"}],"denied":[{"IPProtocol":"all"}]}`,
		`{"name":"far","network":"global/networks/prod-vpc","priority":70000,"allowed":[{"IPProtocol":"tcp"}]}`,
		`{"name":"egress-tags","network":"global/networks/prod-vpc","direction":"EGRESS","sourceTags":["a"],"allowed":[{"IPProtocol":"tcp"}]}`,
		`null`,
	} {
		if code, _ := call(t, base, "POST", "/global/firewalls", bad); code != 400 {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
}

// Stop and suspend of a VM with a Local SSD need discardLocalSsd;
// setTags needs the current fingerprint; a requestId seen before gets the
// first operation back, and nothing is done twice.
func TestInstanceRules(t *testing.T) {
	f, base := serve(t)
	web := "/zones/europe-west1-b/instances/web-1"
	if code, d := call(t, base, "POST", web+"/stop", ""); code != 400 || !strings.Contains(d.Obj("error").Str("message"), "discardLocalSsd") {
		t.Errorf("stop without discardLocalSsd: %d %v", code, d)
	}
	if code, _ := call(t, base, "POST", web+"/setTags", `{"items":["x"],"fingerprint":"stale"}`); code != 412 {
		t.Errorf("stale fingerprint: %d", code)
	}
	_, a := call(t, base, "POST", web+"/suspend?discardLocalSsd=false&requestId=r-1", "")
	_, b := call(t, base, "POST", web+"/suspend?discardLocalSsd=false&requestId=r-1", "")
	if a.Str("name") == "" || a.Str("name") != b.Str("name") {
		t.Errorf("the same requestId made two operations: %s %s", a.Str("name"), b.Str("name"))
	}
	call(t, base, "GET", "/zones/europe-west1-b/operations/"+a.Str("name"), "")
	f.With(func(f *Fake) {
		if f.Instance(Web1).Str("status") != "SUSPENDED" || f.LocalSSDDiscarded(Web1) {
			t.Errorf("status %s", f.Instance(Web1).Str("status"))
		}
	})
}

// A snapshot is READY some looks after its operation is done, and an
// image of it is refused until then.
func TestSnapshotReadiness(t *testing.T) {
	f, base := serve(t)
	f.With(func(f *Fake) { f.SnapshotLooks = 2 })
	_, op := call(t, base, "POST", "/global/snapshots", `{"name":"s1","sourceDisk":"projects/acme-prod/zones/europe-west1-b/disks/web-1"}`)
	call(t, base, "GET", "/global/operations/"+op.Str("name"), "")
	var states []string
	for i := 0; i < 3; i++ {
		if i == 0 {
			if code, _ := call(t, base, "POST", "/global/images", `{"name":"i1","sourceSnapshot":"projects/acme-prod/global/snapshots/s1"}`); code != 400 {
				t.Errorf("image of an uploading snapshot: %d", code)
			}
		}
		_, s := call(t, base, "GET", "/global/snapshots/s1", "")
		states = append(states, s.Str("status"))
	}
	if strings.Join(states, ",") != "UPLOADING,UPLOADING,READY" {
		t.Errorf("states %v", states)
	}
}

// The state machines the fake applies beyond defaults, over raw HTTP: an
// instance is SUSPENDING or STOPPING while its operation runs; a retry
// with the same requestId gets the first operation back even then; an
// injected operation fault ends the operation DONE with an error and
// undoes the transition; an instance on a custom-mode network needs a
// subnetwork of that network, in the zone's region, in its own project.
func TestOperationStatesAndInstanceNetworks(t *testing.T) {
	f, base := serve(t)
	web := "/zones/europe-west1-b/instances/web-1"
	const rid = "9b2f7a31-5c1e-4d2a-9f3b-6e8d0c4a1b27"
	_, op := call(t, base, "POST", web+"/suspend?discardLocalSsd=false&requestId="+rid, "")
	f.With(func(f *Fake) {
		if st := f.Instance(Web1).Str("status"); st != "SUSPENDING" || op.Str("status") != "RUNNING" {
			t.Errorf("while the operation runs: %s, operation %s", st, op.Str("status"))
		}
	})
	if code, again := call(t, base, "POST", web+"/suspend?discardLocalSsd=false&requestId="+rid, ""); code != 200 || again.Str("name") != op.Str("name") {
		t.Errorf("retry while SUSPENDING: %d %v", code, again)
	}
	call(t, base, "GET", "/zones/europe-west1-b/operations/"+op.Str("name"), "")
	f.With(func(f *Fake) {
		if st := f.Instance(Web1).Str("status"); st != "SUSPENDED" {
			t.Errorf("after: %s", st)
		}
	})

	f.Inject(Fault{API: "compute", Operation: "instances.stop", Kind: "operation", Times: 1})
	_, op = call(t, base, "POST", web+"/stop?discardLocalSsd=false", "")
	_, done := call(t, base, "GET", "/zones/europe-west1-b/operations/"+op.Str("name"), "")
	errs := done.Obj("error").Objs("errors")
	f.With(func(f *Fake) {
		if done.Str("status") != "DONE" || len(errs) != 1 || f.Instance(Web1).Str("status") != "SUSPENDED" {
			t.Errorf("failed stop: %v, instance %s", done, f.Instance(Web1).Str("status"))
		}
	})

	sec := strings.Replace(base, "acme-prod", "acme-sec-forensics", 1)
	insert := func(ni string) (int, string) {
		f.With(func(f *Fake) {
			f.snapshots["projects/acme-sec-forensics/global/snapshots/s"] = Doc{"name": "s", "status": "READY", "diskSizeGb": "10"}
		})
		code, d := call(t, sec, "POST", "/zones/europe-west1-b/instances",
			`{"name":"clean","machineType":"zones/europe-west1-b/machineTypes/e2-medium","disks":[{"boot":true,"initializeParams":{"sourceSnapshot":"projects/acme-sec-forensics/global/snapshots/s"}}],"networkInterfaces":[`+ni+`]}`)
		return code, d.Obj("error").Str("message")
	}
	for _, tc := range []struct{ ni, msg string }{
		{`{"network":"global/networks/forensics-vpc"}`, "custom subnet mode: specifying the subnetwork is required"},
		{`{"network":"projects/acme-prod/global/networks/prod-vpc","subnetwork":"projects/acme-prod/regions/europe-west1/subnetworks/prod-ew1"}`, "the fake does not model Shared VPC"},
		{`{"network":"global/networks/forensics-vpc","subnetwork":"projects/acme-prod/regions/europe-west1/subnetworks/prod-ew1"}`, "does not belong to network"},
		{`{"network":"global/networks/nowhere"}`, "The referenced network resource cannot be found"},
		{`{"subnetwork":"regions/europe-west1/subnetworks/none"}`, "The referenced subnetwork resource cannot be found"},
	} {
		if code, msg := insert(tc.ni); code != 400 || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %q, want %q", tc.ni, code, msg, tc.msg)
		}
	}
	if code, msg := insert(`{"subnetwork":"regions/europe-west1/subnetworks/forensics-ew1"}`); code != 200 {
		t.Errorf("with the subnetwork: %d %s", code, msg)
	}
}

// Reach reads destination ranges of ingress rules, source ranges of
// egress rules and source tags.
func TestReachReadsBothSides(t *testing.T) {
	f := Scenario()
	f.PutFirewall("projects/acme-prod/global/firewalls/deny-narrow", Doc{"network": ProdVPC, "direction": "INGRESS", "priority": 10,
		"sourceRanges": []any{"0.0.0.0/0"}, "destinationRanges": []any{"192.0.2.1/32"}, "denied": []any{map[string]any{"IPProtocol": "all"}}})
	f.PutFirewall("projects/acme-prod/global/firewalls/deny-out-narrow", Doc{"network": ProdVPC, "direction": "EGRESS", "priority": 10,
		"sourceRanges": []any{"192.0.2.1/32"}, "destinationRanges": []any{"0.0.0.0/0"}, "denied": []any{map[string]any{"IPProtocol": "all"}}})
	// A deny that names another destination does not match web-1's address.
	if v := f.Reach(Web1, 0, "INGRESS", "198.51.100.7", "tcp", 22); !v.Allowed || v.Rule != "allow-ssh-debug" {
		t.Errorf("ingress: %+v", v)
	}
	if v := f.ReachAt(Web1, 0, "INGRESS", "198.51.100.7", "192.0.2.1", "tcp", 22); v.Allowed || v.Rule != "deny-narrow" {
		t.Errorf("ingress to 192.0.2.1: %+v", v)
	}
	if v := f.Reach(Web1, 0, "EGRESS", "198.51.100.7", "tcp", 443); !v.Allowed {
		t.Errorf("egress: %+v", v)
	}
	f.PutFirewall("projects/acme-prod/global/firewalls/from-tag", Doc{"network": ProdVPC, "direction": "INGRESS", "priority": 5,
		"sourceTags": []any{"http-server"}, "allowed": []any{map[string]any{"IPProtocol": "tcp", "ports": []any{"5432"}}}})
	// web-1 itself carries http-server, on nic0 10.20.0.5.
	if v := f.Reach(Web1, 0, "INGRESS", "10.20.0.5", "tcp", 5432); !v.Allowed || v.Rule != "from-tag" {
		t.Errorf("from the tagged instance: %+v", v)
	}
	if v := f.Reach(Web1, 0, "INGRESS", "198.51.100.9", "tcp", 5432); v.Allowed {
		t.Errorf("from an untagged address: %+v", v)
	}
}
