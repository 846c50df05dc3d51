package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/internal/report/schematest"
	"github.com/vigil-ir/vigil/internal/testutil"
)

const complianceFinding = "events/findings/compliance_finding.json"

func ocsfSchema(t *testing.T) *schematest.OCSF {
	t.Helper()
	s, err := schematest.LoadOCSF(testutil.Path(t, "testdata", "schemas", "ocsf"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Every event of the examples' OCSF output is a Compliance Finding by the
// OCSF 1.2.0 schema; broken events are refused.
func TestOCSFValidatesAgainstSchema(t *testing.T) {
	s := ocsfSchema(t)
	r := exampleReport(t)
	var buf bytes.Buffer
	if err := OCSF(&buf, r); err != nil {
		t.Fatal(err)
	}
	var events []string
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		events = append(events, sc.Text())
	}
	if len(events) != r.Findings.Len() || len(events) == 0 {
		t.Fatalf("%d events for %d findings", len(events), r.Findings.Len())
	}
	for i, ev := range events {
		if err := s.Validate(complianceFinding, []byte(ev)); err != nil {
			t.Errorf("event %d does not follow the schema:\n%v", i+1, err)
		}
	}
	ev := events[0]
	for _, tt := range []struct{ name, from, to, want string }{
		{"severity_id outside the enum", `"severity_id":`, `"severity_id":7,"x":`, `7 is not one of`},
		{"required finding_info missing", `"finding_info":`, `"unmapped_info":`, `finding_info is required`},
		{"wrong class_uid", `"class_uid":2003`, `"class_uid":2004`, `want 2003`},
		{"wrong category_uid", `"category_uid":2`, `"category_uid":3`, `want 2 (findings)`},
		{"wrong type_uid", `"type_uid":200301`, `"type_uid":200302`, `want class_uid*100+activity_id = 200301`},
		{"time not a timestamp", `"time":`, `"time":"yesterday","x":`, `want an integer`},
		{"compliance without standards", `"standards":`, `"standardz":`, `standards is required`},
		{"cloud without its profile", `"profiles":["cloud"]`, `"profiles":[]`, `belongs to the cloud profile`},
	} {
		bad := strings.Replace(ev, tt.from, tt.to, 1)
		if bad == ev {
			t.Fatalf("%s: the replacement did not apply to %s", tt.name, ev)
		}
		err := s.Validate(complianceFinding, []byte(bad))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}

// The mapping, worked out by hand: OCSF's severity and status numbers, a
// waived finding Suppressed, the framework tags as standards and
// requirements, the account in the cloud profile, and a stable uid.
func TestOCSFMapping(t *testing.T) {
	f := asffTestFindings(1)[0]
	w := f
	w.AssetID += "-w"
	w.Severity, w.Waived, w.WaiverReason, w.WaiverExpires = "critical", true, "bastion", "2027-01-31"
	render := func(started time.Time) []map[string]any {
		r := &Report{Version: "1.2.3", Findings: scan.NewFindingSet([]policy.Finding{f, w}),
			Policies: []*policy.Policy{{ID: "VGL-NET-001", Frameworks: []string{"cis-aws-3.0:5.2", "cis-aws-3.0:5.3"}}}}
		r.Summary.Started = started
		var buf bytes.Buffer
		if err := OCSF(&buf, r); err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatal(err)
			}
			out = append(out, ev)
		}
		return out
	}
	evs := render(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	get := func(ev map[string]any, path string) string {
		var v any = ev
		for k := range strings.SplitSeq(path, ".") {
			v = v.(map[string]any)[k]
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	crit, high := evs[0], evs[1] // critical sorts first
	for _, c := range []struct {
		ev         map[string]any
		path, want string
	}{
		{high, "severity_id", "4"},
		{crit, "severity_id", "5"},
		{high, "status_id", "1"},
		{crit, "status_id", "3"},
		{crit, "status", `"Suppressed"`},
		{crit, "comment", `"Waived until 2027-01-31: bastion"`},
		{high, "time", "1795770000000"}, // date -u -d 2026-11-27T09:00:00Z +%s is 1795770000 (s)
		{high, "compliance.standards", `["cis-aws-3.0"]`},
		{high, "compliance.requirements", `["cis-aws-3.0:5.2","cis-aws-3.0:5.3"]`},
		{high, "compliance.status_id", "3"},
		{high, "compliance.control", `"VGL-NET-001"`},
		{high, "cloud.account.uid", `"111111111111"`},
		{high, "cloud.provider", `"AWS"`},
		{high, "resource.uid", `"arn:aws:ec2:eu-west-1:111111111111:security-group/sg-0000"`},
		{high, "metadata.product.version", `"1.2.3"`},
	} {
		if got := get(c.ev, c.path); got != c.want {
			t.Errorf("%s = %s, want %s", c.path, got, c.want)
		}
	}
	later := render(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	for i := range evs {
		if get(later[i], "finding_info.uid") != get(evs[i], "finding_info.uid") {
			t.Errorf("event %d: uid changed between scans", i)
		}
	}
	if get(evs[0], "finding_info.uid") == get(evs[1], "finding_info.uid") {
		t.Error("two findings share a uid")
	}
}

// A policy tagged for both clouds: each cloud's finding keeps its own
// benchmark's tags, and vigil's own tags stay on every finding.
func TestFrameworksFor(t *testing.T) {
	tags := []string{"cis-gcp-3.0:5.1", "cis-aws-3.0:2.1.4", "vigil-ir:contain"}
	for provider, want := range map[string]string{
		"gcp": "cis-gcp-3.0:5.1 vigil-ir:contain",
		"aws": "cis-aws-3.0:2.1.4 vigil-ir:contain",
		"":    "vigil-ir:contain",
	} {
		if got := strings.Join(frameworksFor(provider, tags), " "); got != want {
			t.Errorf("%q: %s, want %s", provider, got, want)
		}
	}
}
