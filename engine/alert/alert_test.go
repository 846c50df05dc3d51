package alert

import (
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func TestExamples(t *testing.T) {
	tests := []struct {
		file, source, format, severity, scope, region, kind, id string
		fields                                                  map[string]string
	}{
		{"guardduty-getfindings.json", "guardduty", "getfindings", "high", "111111111111", "eu-west-1", "instance",
			"arn:aws:ec2:eu-west-1:111111111111:instance/i-0a1b2c3d4e5f60001", map[string]string{"instance_id": "i-0a1b2c3d4e5f60001", "zone": "eu-west-1a"}},
		{"guardduty-eventbridge-access-key.json", "guardduty", "eventbridge", "medium", "111111111111", "eu-west-1", "access_key",
			"arn:aws:iam::111111111111:user/ci-deployer/accesskey/AKIAQ3EGV2EXAMPLE001", map[string]string{"access_key_id": "AKIAQ3EGV2EXAMPLE001", "user": "ci-deployer"}},
		{"securityhub-asff.json", "securityhub", "asff", "high", "111111111111", "eu-west-1", "firewall",
			"arn:aws:ec2:eu-west-1:111111111111:security-group/sg-0b2b2b2b2b2b2b2b2", map[string]string{"security_group": "sg-0b2b2b2b2b2b2b2b2"}},
		{"scc-list-findings.json", "scc", "listfindings", "high", "acme-prod", "europe-west1", "instance",
			"//compute.googleapis.com/projects/acme-prod/zones/europe-west1-b/instances/web-1", map[string]string{"zone": "europe-west1-b", "instance_name": "web-1"}},
		{"scc-pubsub-notification.json", "scc", "notification", "high", "acme-prod", "", "bucket",
			"//storage.googleapis.com/acme-prod-customer-exports", map[string]string{"bucket": "acme-prod-customer-exports"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			as, err := Load("../../examples/alerts/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if len(as) != 1 {
				t.Fatalf("%d alerts", len(as))
			}
			a := as[0]
			if a.Source != tt.source || a.Format != tt.format || a.Severity != tt.severity || a.Scope != tt.scope || a.Region != tt.region {
				t.Errorf("alert %+v", a)
			}
			if a.Title == "" || a.Summary == "" || a.ID == "" || a.Type == "" {
				t.Errorf("title %q summary %q id %q type %q", a.Title, a.Summary, a.ID, a.Type)
			}
			if len(a.Resources) != 1 || a.Resources[0].Kind != tt.kind || a.Resources[0].ID != tt.id {
				t.Fatalf("resources %+v", a.Resources)
			}
			for k, v := range tt.fields {
				if a.Resources[0].Fields[k] != v {
					t.Errorf("field %s = %q, want %q", k, a.Resources[0].Fields[k], v)
				}
			}
			v := a.Value()
			if got := v.GetAttr("resource").GetAttr("id"); !got.RawEquals(cty.StringVal(tt.id)) {
				t.Errorf("alert.resource.id = %#v", got)
			}
		})
	}
}

// A Pub/Sub push envelope carries the notification base64-encoded.
func TestPubSubEnvelope(t *testing.T) {
	raw, err := os.ReadFile("../../examples/alerts/scc-pubsub-notification.json")
	if err != nil {
		t.Fatal(err)
	}
	env := `{"message":{"data":"` + base64.StdEncoding.EncodeToString(raw) + `","messageId":"1"},"subscription":"projects/acme-sec/subscriptions/ir"}`
	as, err := Parse([]byte(env))
	if err != nil || len(as) != 1 || as[0].Resources[0].ID != "//storage.googleapis.com/acme-prod-customer-exports" {
		t.Fatalf("%v %v", as, err)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", "empty file"},
		{"syntax", "{\n  \"Findings\": [\n    {,\n  ]\n}", "line 3: invalid JSON"},
		{"unknown", `{"hello": "world"}`, "not an alert vigil knows"},
		{"array of unknown", `[{"a": 1}]`, "item 1: not an alert vigil knows"},
		{"guardduty without resource", `{"Findings": [{"Type": "x"}]}`, "finding 1: a GuardDuty finding needs Type and Resource"},
		{"scc without resource name", `{"listFindingsResults": [{"finding": {"category": "x"}}]}`, "result 1: an SCC finding needs finding.resourceName"},
		{"no findings", `{"Findings": []}`, "holds no findings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := Parse([]byte(`{"hello": 1}`)); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown shapes wrap ErrUnknown: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"guardduty-getfindings.json", "securityhub-asff.json", "scc-list-findings.json", "scc-pubsub-notification.json"} {
		raw, _ := os.ReadFile("../../examples/alerts/" + name)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		as, err := Parse(raw)
		if err == nil {
			for _, a := range as {
				if len(a.Resources) == 0 {
					t.Fatal("an alert without resources")
				}
				_ = a.Value()
			}
		}
	})
}
