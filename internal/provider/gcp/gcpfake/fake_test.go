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
