package contract

import (
	"net/url"
	"strings"
	"testing"

	"cloud.google.com/go/asset/apiv1/assetpb"

	"github.com/vigil-ir/vigil/internal/provider/gcp/gcpfake"
)

func post(path, query, body string) gcpfake.Request {
	q, _ := url.ParseQuery(query)
	return gcpfake.Request{HTTPMethod: "POST", Path: path, Query: q, Body: []byte(body)}
}

const (
	firewalls = "/compute/v1/projects/acme-prod/global/firewalls"
	rid       = "8f14e45f-ceea-467f-a0e5-7a1b3c5d9e21"
)

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
		{"priority dropped", post(firewalls, "requestId="+rid+"", strings.Replace(good, `"priority":0,`, "", 1)),
			[]string{`vigil means to set priority, but the JSON has no "priority"`}},
		{"priority as a string", post(firewalls, "requestId="+rid+"", strings.Replace(good, `"priority":0`, `"priority":"0"`, 1)),
			[]string{"body field priority is a string, want integer", `a quarantine rule has priority "0", want 0`}},
		{"bad direction", post(firewalls, "requestId="+rid+"", strings.Replace(good, `"INGRESS"`, `"IN"`, 1)),
			[]string{`body field direction="IN": want one of EGRESS, INGRESS`, "direction is IN, want INGRESS or EGRESS"}},
		{"unknown field", post(firewalls, "requestId="+rid+"", strings.Replace(good, `"disabled":false`, `"disabled":false,"prio":0`, 1)),
			[]string{"body field prio is not in the schema"}},
		{"output only", post(firewalls, "requestId="+rid+"", strings.Replace(good, `"disabled":false`, `"disabled":false,"id":"12"`, 1)),
			[]string{"body field id is output only"}},
		{"no requestId", post(firewalls, "", good), []string{"vigil means to send query parameter requestId"}},
		{"unknown query parameter", post(firewalls, "requestId="+rid+"&force=true", good), []string{`query parameter "force" is not a parameter of compute.firewalls.insert`}},
		{"Local SSD", gcpfake.Request{HTTPMethod: "POST", Path: "/compute/v1/projects/p/zones/z/instances/web-1/stop", Query: url.Values{"requestId": {rid}},
			Requires: []string{"discardLocalSsd"}}, []string{"query parameter discardLocalSsd is missing, and the documentation requires it here: This property is required if the instance has any attached Local SSD disks."}},
		{"bad boolean", post("/compute/v1/projects/p/zones/z/instances/web-1/stop", "requestId="+rid+"&discardLocalSsd=no", ""),
			[]string{`query parameter discardLocalSsd="no": want true or false`}},
		{"required query parameter", post("/compute/v1/projects/p/zones/z/instances/web-1/deleteAccessConfig", "requestId="+rid+"&accessConfig=External+NAT", ""),
			[]string{"required query parameter networkInterface is missing"}},
		{"body where none is taken", post("/compute/v1/projects/p/zones/z/instances/web-1/stop", "requestId="+rid+"", "{}"),
			[]string{"the method takes no request body"}},
		{"null request message", post("/v1/projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com/keys/k1:disable", "", "null\n"),
			[]string{"the request body is null, not the DisableServiceAccountKeyRequest object"}},
		{"disable with an object", post("/v1/projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com/keys/k1:disable", "alt=json", "{}\n"), nil},
		{"int64 as a number", post("/compute/v1/projects/p/global/snapshots", "requestId="+rid+"",
			`{"name":"s","sourceDisk":"d","labels":{"vigil-run":"r","vigil-step":"s"},"description":"d","diskSizeGb":10}`),
			[]string{"body field diskSizeGb is output only", "body field diskSizeGb is a number, want string (int64, sent as a JSON string)"}},
		{"map values", post("/compute/v1/projects/p/global/snapshots", "requestId="+rid+"", `{"name":"s","sourceDisk":"d","labels":{"a":1,"vigil-run":"r","vigil-step":"s"},"description":"d"}`),
			[]string{"body field labels.a is a number, want string"}},
		{"empty tags are a value", post("/compute/v1/projects/p/zones/z/instances/i/setTags", "requestId="+rid+"", `{"fingerprint":"Zm9vYmFy"}`),
			[]string{`vigil means to set items, but the JSON has no "items"`}},
		{"patch to nothing", gcpfake.Request{HTTPMethod: "PATCH", Path: firewalls + "/allow-https", Query: url.Values{"requestId": {rid}}, Body: []byte(`{}`)},
			[]string{"sourceRanges is missing, want a non-empty list"}},
		{"patch to an empty list", gcpfake.Request{HTTPMethod: "PATCH", Path: firewalls + "/allow-https", Query: url.Values{"requestId": {rid}}, Body: []byte(`{"sourceRanges":[]}`)},
			[]string{"sourceRanges is [], want a non-empty list"}},
		{"no such method", gcpfake.Request{HTTPMethod: "POST", Path: "/compute/v1/projects/p/zones/z/instances/i/quarantine"},
			[]string{"POST /compute/v1/projects/p/zones/z/instances/i/quarantine: no method"}},
		{"path pattern", gcpfake.Request{HTTPMethod: "GET", Path: "/v1/projects/p/serviceAccounts/sa/keys"},
			[]string{`path parameter name="projects/p/serviceAccounts/sa/keys" does not match ^projects/[^/]+/serviceAccounts/[^/]+/keys/[^/]+$`}},
		{"media download", gcpfake.Request{HTTPMethod: "GET", Path: "/download/storage/v1/b/bkt/o/cai/0", RawPath: "/download/storage/v1/b/bkt/o/cai%2F0",
			Query: url.Values{"alt": {"media"}}}, nil},
		// Path patterns match the whole value (the documents write them
		// unanchored).
		{"bad name", gcpfake.Request{HTTPMethod: "GET", Path: "/compute/v1/projects/p/zones/z/instances/WEB_1!!"},
			[]string{`path parameter instance="WEB_1!!" does not match`}},
		{"newline in a name", gcpfake.Request{HTTPMethod: "GET", Path: "/compute/v1/projects/p/zones/z/instances/web-1\n"},
			[]string{`path parameter instance="web-1\n" does not match`}},
		{"requestId not a UUID", post(firewalls, "requestId=retry-1", good), []string{`query parameter requestId="retry-1": the documentation requires a valid UUID`}},
		{"zero requestId", post(firewalls, "requestId=00000000-0000-0000-0000-000000000000", good),
			[]string{"the documentation does not support the zero UUID"}},
		// Values, not only presence.
		{"priority 1", post(firewalls, "requestId="+rid, strings.Replace(good, `"priority":0`, `"priority":1`, 1)),
			[]string{"a quarantine rule has priority 1, want 0"}},
		{"priority null", post(firewalls, "requestId="+rid, strings.Replace(good, `"priority":0`, `"priority":null`, 1)),
			[]string{"vigil means to set priority, but the JSON has it as null"}},
		{"disabled", post(firewalls, "requestId="+rid, strings.Replace(good, `"disabled":false`, `"disabled":true`, 1)),
			[]string{"a quarantine rule is sent with disabled true"}},
		{"other targets", post(firewalls, "requestId="+rid, strings.Replace(good, `["vigil-quarantine"]`, `["vigil-quarantine","web"]`, 1)),
			[]string{`a quarantine rule targets ["vigil-quarantine","web"], want only the tag vigil-quarantine`}},
		{"a deny that allows", post(firewalls, "requestId="+rid, strings.Replace(good, `"denied"`, `"allowed"`, 1)),
			[]string{"a quarantine rule that should deny sends allowed", `denied is missing, want [{"IPProtocol":"all"}]`}},
		{"a deny narrowed by destination", post(firewalls, "requestId="+rid, strings.Replace(good, `"disabled":false`, `"disabled":false,"destinationRanges":["192.0.2.1/32"]`, 1)),
			[]string{"sends destinationRanges, which narrows a deny"}},
		{"a forensics allow open to the internet", post(firewalls, "requestId="+rid,
			strings.NewReplacer(`"denied"`, `"allowed"`, "deny-in", "allow-forensics", `["0.0.0.0/0"]`, `["0.0.0.0/1","128.0.0.0/1"]`).Replace(good)),
			[]string{"lets the whole internet in: 0.0.0.0/1, 128.0.0.0/1"}},
		{"restrict to halves", gcpfake.Request{HTTPMethod: "PATCH", Path: firewalls + "/allow-https", Query: url.Values{"requestId": {rid}},
			Body: []byte(`{"sourceRanges":["0.0.0.0/1","128.0.0.0/1"]}`)}, []string{"still cover the whole internet"}},
		{"quarantine patch clearing the other side", gcpfake.Request{HTTPMethod: "PATCH", Path: firewalls + "/vigil-quarantine-deny-in-prod-vpc",
			Query: url.Values{"requestId": {rid}}, Body: []byte(`{"priority":0,"disabled":false,"targetTags":["vigil-quarantine"],"sourceRanges":["0.0.0.0/0"],` +
				`"destinationRanges":null,"denied":[{"IPProtocol":"all"}]}`)}, nil},
		{"quarantine patch clearing its priority", gcpfake.Request{HTTPMethod: "PATCH", Path: firewalls + "/vigil-quarantine-deny-in-prod-vpc",
			Query: url.Values{"requestId": {rid}}, Body: []byte(`{"priority":null,"disabled":false,"targetTags":["vigil-quarantine"],"sourceRanges":["0.0.0.0/0"],"denied":[{"IPProtocol":"all"}]}`)},
			[]string{"vigil means to set priority, but the JSON has it as null", "the patch clears priority"}},
		{"fingerprint", post("/compute/v1/projects/p/zones/z/instances/i/setTags", "requestId="+rid+"", `{"fingerprint":"not base64!","items":[]}`),
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
	f.Add("POST", "/compute/v1/projects/p/global/firewalls", "requestId="+rid+"", `{"name":"a","priority":0,"sourceRanges":["0.0.0.0/0"]}`)
	f.Add("POST", "/v1/projects/p/serviceAccounts/s/keys/k:disable", "", "null")
	f.Add("GET", "/download/storage/v1/b/b/o/a%2Fb", "alt=media", "")
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		q, _ := url.ParseQuery(query)
		Check(gcpfake.Request{HTTPMethod: method, Path: path, RawPath: path, Query: q, Body: []byte(body), Requires: []string{"discardLocalSsd"}})
	})
}

// The Cloud Asset requests, checked against the protos' field behaviours
// and documented formats; the problems are worked out from
// google/cloud/asset/v1/asset_service.proto by hand.
func TestCheckRPC(t *testing.T) {
	list := "google.cloud.asset.v1.AssetService/ListAssets"
	export := "google.cloud.asset.v1.AssetService/ExportAssets"
	dest := &assetpb.OutputConfig{Destination: &assetpb.OutputConfig_GcsDestination{GcsDestination: &assetpb.GcsDestination{
		ObjectUri: &assetpb.GcsDestination_UriPrefix{UriPrefix: "gs://acme-sec-evidence/cai/1/resource"}}}}
	for _, tc := range []struct {
		name string
		rpc  gcpfake.RPC
		want []string
	}{
		{"good list", gcpfake.RPC{Method: list, Message: &assetpb.ListAssetsRequest{Parent: "organizations/684315297612", AssetTypes: []string{"compute.googleapis.com/Instance"},
			ContentType: assetpb.ContentType_RESOURCE, PageSize: 500}}, nil},
		{"no parent", gcpfake.RPC{Method: list, Message: &assetpb.ListAssetsRequest{AssetTypes: []string{"x"}, ContentType: assetpb.ContentType_RESOURCE}},
			[]string{"field parent is REQUIRED", `parent "": want organizations/`}},
		{"project by a bad id", gcpfake.RPC{Method: list, Message: &assetpb.ListAssetsRequest{Parent: "projects/Acme_Prod", AssetTypes: []string{"x"},
			ContentType: assetpb.ContentType_RESOURCE}}, []string{`parent "projects/Acme_Prod"`}},
		{"page too large, no content", gcpfake.RPC{Method: list, Message: &assetpb.ListAssetsRequest{Parent: "folders/511904211743", AssetTypes: []string{"x"}, PageSize: 5000}},
			[]string{"page_size 5000: the minimum is 1, and maximum is 1000", "content_type CONTENT_TYPE_UNSPECIFIED"}},
		{"relationships without RELATIONSHIP", gcpfake.RPC{Method: list, Message: &assetpb.ListAssetsRequest{Parent: "projects/acme-prod", AssetTypes: []string{"x"},
			ContentType: assetpb.ContentType_RESOURCE, RelationshipTypes: []string{"INSTANCE_TO_INSTANCEGROUP"}}}, []string{"relationship_types is set"}},
		{"bad asset type", gcpfake.RPC{Method: list, Message: &assetpb.ListAssetsRequest{Parent: "projects/acme-prod", AssetTypes: []string{"compute.(*"},
			ContentType: assetpb.ContentType_IAM_POLICY}}, []string{`asset type "compute.(*" is not an RE2 expression`}},
		{"good export", gcpfake.RPC{Method: export, Message: &assetpb.ExportAssetsRequest{Parent: "projects/acme-prod", AssetTypes: []string{"x"},
			ContentType: assetpb.ContentType_RESOURCE, OutputConfig: dest}}, nil},
		{"export without output", gcpfake.RPC{Method: export, Message: &assetpb.ExportAssetsRequest{Parent: "projects/acme-prod", AssetTypes: []string{"x"},
			ContentType: assetpb.ContentType_RESOURCE}}, []string{"field output_config is REQUIRED", "output_config has no gcs_destination"}},
		{"export to a bad URI", gcpfake.RPC{Method: export, Message: &assetpb.ExportAssetsRequest{Parent: "projects/acme-prod", AssetTypes: []string{"x"},
			ContentType: assetpb.ContentType_RESOURCE, OutputConfig: &assetpb.OutputConfig{Destination: &assetpb.OutputConfig_GcsDestination{GcsDestination: &assetpb.GcsDestination{
				ObjectUri: &assetpb.GcsDestination_UriPrefix{UriPrefix: "acme-sec-evidence/cai"}}}}}}, []string{`gcs_destination.uri_prefix "acme-sec-evidence/cai"`}},
	} {
		got := CheckRPC(tc.rpc)
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
