package contract

import (
	"net/url"
	"strings"
	"testing"

	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
)

func post(path, query, body string) gcpfake.Request {
	q, _ := url.ParseQuery(query)
	return gcpfake.Request{HTTPMethod: "POST", Path: path, Query: q, Body: []byte(body)}
}

const firewalls = "/compute/v1/projects/acme-prod/global/firewalls"

// Each case is a request as a client could send it, with the problem the
// discovery documents (or vigil's intents) make of it, worked out from
// the documents by hand.
func TestCheck(t *testing.T) {
	good := `{"name":"vigil-quarantine-deny-in-prod-vpc","network":"https://www.googleapis.com/compute/v1/projects/acme-prod/global/networks/prod-vpc",
		"direction":"INGRESS","priority":0,"denied":[{"IPProtocol":"all"}],"sourceRanges":["0.0.0.0/0"],"targetTags":["vigil-quarantine"],
		"description":"d","disabled":false}`
	for _, tc := range []struct {
		name string
		req  gcpfake.Request
		want []string // substrings of the problems, in order; none for a good request
	}{
		{"good insert", post(firewalls, "alt=json&prettyPrint=false&requestId=8f14e45f-ceea-467f-a0e5-7a1b3c5d9e21", good), nil},
		{"priority dropped", post(firewalls, "requestId=x", strings.Replace(good, `"priority":0,`, "", 1)),
			[]string{`vigil means to set priority, but the JSON has no "priority"`}},
		{"priority as a string", post(firewalls, "requestId=x", strings.Replace(good, `"priority":0`, `"priority":"0"`, 1)),
			[]string{"body field priority is a string, want integer"}},
		{"bad direction", post(firewalls, "requestId=x", strings.Replace(good, `"INGRESS"`, `"IN"`, 1)),
			[]string{`body field direction="IN": want one of EGRESS, INGRESS`}},
		{"unknown field", post(firewalls, "requestId=x", strings.Replace(good, `"disabled":false`, `"disabled":false,"prio":0`, 1)),
			[]string{"body field prio is not in the schema"}},
		{"output only", post(firewalls, "requestId=x", strings.Replace(good, `"disabled":false`, `"disabled":false,"id":"12"`, 1)),
			[]string{"body field id is output only"}},
		{"no requestId", post(firewalls, "", good), []string{"vigil means to send query parameter requestId"}},
		{"unknown query parameter", post(firewalls, "requestId=x&force=true", good), []string{`query parameter "force" is not a parameter of compute.firewalls.insert`}},
		{"Local SSD", gcpfake.Request{HTTPMethod: "POST", Path: "/compute/v1/projects/p/zones/z/instances/web-1/stop", Query: url.Values{"requestId": {"x"}},
			Requires: []string{"discardLocalSsd"}}, []string{"query parameter discardLocalSsd is missing, and the documentation requires it here: This property is required if the instance has any attached Local SSD disks."}},
		{"bad boolean", post("/compute/v1/projects/p/zones/z/instances/web-1/stop", "requestId=x&discardLocalSsd=no", ""),
			[]string{`query parameter discardLocalSsd="no": want true or false`}},
		{"required query parameter", post("/compute/v1/projects/p/zones/z/instances/web-1/deleteAccessConfig", "requestId=x&accessConfig=External+NAT", ""),
			[]string{"required query parameter networkInterface is missing"}},
		{"body where none is taken", post("/compute/v1/projects/p/zones/z/instances/web-1/stop", "requestId=x", "{}"),
			[]string{"the method takes no request body"}},
		{"null request message", post("/v1/projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com/keys/k1:disable", "", "null\n"),
			[]string{"the request body is null, not the DisableServiceAccountKeyRequest object"}},
		{"disable with an object", post("/v1/projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com/keys/k1:disable", "alt=json", "{}\n"), nil},
		{"int64 as a number", post("/compute/v1/projects/p/global/snapshots", "requestId=x",
			`{"name":"s","sourceDisk":"d","labels":{"a":"b"},"description":"d","diskSizeGb":10}`),
			[]string{"body field diskSizeGb is output only", "body field diskSizeGb is a number, want string (int64, sent as a JSON string)"}},
		{"map values", post("/compute/v1/projects/p/global/snapshots", "requestId=x", `{"name":"s","sourceDisk":"d","labels":{"a":1},"description":"d"}`),
			[]string{"body field labels.a is a number, want string"}},
		{"empty tags are a value", post("/compute/v1/projects/p/zones/z/instances/i/setTags", "requestId=x", `{"fingerprint":"Zm9vYmFy"}`),
			[]string{`vigil means to set items, but the JSON has no "items"`}},
		{"patch to nothing", gcpfake.Request{HTTPMethod: "PATCH", Path: firewalls + "/allow-https", Query: url.Values{"requestId": {"x"}}, Body: []byte(`{}`)},
			[]string{"vigil means to set one of sourceRanges, destinationRanges, but the JSON has none"}},
		{"patch to an empty list", gcpfake.Request{HTTPMethod: "PATCH", Path: firewalls + "/allow-https", Query: url.Values{"requestId": {"x"}}, Body: []byte(`{"sourceRanges":[]}`)},
			[]string{"sourceRanges is an empty list"}},
		{"no such method", gcpfake.Request{HTTPMethod: "POST", Path: "/compute/v1/projects/p/zones/z/instances/i/quarantine"},
			[]string{"POST /compute/v1/projects/p/zones/z/instances/i/quarantine: no method"}},
		{"path pattern", gcpfake.Request{HTTPMethod: "GET", Path: "/v1/projects/p/serviceAccounts/sa/keys"},
			[]string{`path parameter name="projects/p/serviceAccounts/sa/keys" does not match ^projects/[^/]+/serviceAccounts/[^/]+/keys/[^/]+$`}},
		{"media download", gcpfake.Request{HTTPMethod: "GET", Path: "/download/storage/v1/b/bkt/o/cai/0", RawPath: "/download/storage/v1/b/bkt/o/cai%2F0",
			Query: url.Values{"alt": {"media"}}}, nil},
		{"fingerprint", post("/compute/v1/projects/p/zones/z/instances/i/setTags", "requestId=x", `{"fingerprint":"not base64!","items":[]}`),
			[]string{`body field fingerprint="not base64!": want base64`}},
	} {
		got := Check(tc.req)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d problems, want %d:\n%s", tc.name, len(got), len(tc.want), strings.Join(got, "\n"))
			continue
		}
		for i := range got {
			if !strings.Contains(got[i], tc.want[i]) {
				t.Errorf("%s: %q lacks %q", tc.name, got[i], tc.want[i])
			}
		}
	}
}

func TestMethodsCoverEveryIntent(t *testing.T) {
	have := map[string]bool{}
	for _, m := range Methods() {
		have[m] = true
	}
	for m := range intents {
		if !have[m] {
			t.Errorf("intent for %s, which the documents do not describe", m)
		}
	}
}

// Check reads whatever a client sends without failing itself.
func FuzzCheck(f *testing.F) {
	f.Add("POST", "/compute/v1/projects/p/global/firewalls", "requestId=x", `{"name":"a","priority":0,"sourceRanges":["0.0.0.0/0"]}`)
	f.Add("POST", "/v1/projects/p/serviceAccounts/s/keys/k:disable", "", "null")
	f.Add("GET", "/download/storage/v1/b/b/o/a%2Fb", "alt=media", "")
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		q, _ := url.ParseQuery(query)
		Check(gcpfake.Request{HTTPMethod: method, Path: path, RawPath: path, Query: q, Body: []byte(body), Requires: []string{"discardLocalSsd"}})
	})
}
