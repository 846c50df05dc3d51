package history

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/engine/asset"
	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/engine/policy"
	"github.com/vigil-ir/vigil/engine/scan"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/internal/testutil"
)

func f(policy, asset string, waived bool) store.StoredFinding {
	return store.StoredFinding{PolicyID: policy, AssetID: asset, Severity: "high", Waived: waived}
}

func keys(fs []store.StoredFinding) string {
	var out []string
	for _, x := range fs {
		out = append(out, x.PolicyID+":"+x.AssetID)
	}
	return strings.Join(out, ",")
}

func TestCompare(t *testing.T) {
	from := []store.StoredFinding{f("P1", "a", false), f("P1", "b", false), f("P2", "a", false), f("P3", "w", true)}
	to := []store.StoredFinding{f("P1", "a", false), f("P2", "a", true), f("P1", "c", false), f("P3", "w", false)}
	d := Compare(from, to)
	for name, got := range map[string][2]string{
		"new":          {keys(d.New), "P1:c,P3:w"}, // a waiver that ended makes its finding new again
		"resolved":     {keys(d.Resolved), "P1:b"},
		"still open":   {keys(d.StillOpen), "P1:a"},
		"newly waived": {keys(d.NewlyWaived), "P2:a"},
	} {
		if got[0] != got[1] {
			t.Errorf("%s: %s, want %s", name, got[0], got[1])
		}
	}
}

type failing struct{ calls int }

func (p *failing) Do(*http.Request) (*http.Response, error) {
	p.calls++
	return nil, errors.New("connection refused")
}

// A webhook that fails is tried again next time: nothing is marked sent.
func TestNotifyRetriesAfterFailure(t *testing.T) {
	h, err := store.OpenHistory(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	blocks := []config.Notify{{Name: "n", URL: "http://127.0.0.1:1/hook", MinSeverity: "high"}}
	fs := []store.StoredFinding{f("P1", "a", false), {PolicyID: "P2", AssetID: "b", Severity: "low"}}
	p := &failing{}
	if err := Notify(context.Background(), h, blocks, []Scan{{Findings: fs}}, p); err == nil || !strings.Contains(err.Error(), "notify n") {
		t.Errorf("err = %v", err)
	}
	sent, _ := h.Notified(context.Background(), "n")
	if len(sent) != 0 || p.calls != 1 {
		t.Errorf("a failed post must leave the finding unsent: %v (%d calls)", sent, p.calls)
	}
}

// A webhook that does not answer is given up on after the notify block's
// timeout, and no error repeats the URL's path or query: they are its key.
func TestNotifyTimesOutWithoutLeakingTheURL(t *testing.T) {
	h, err := store.OpenHistory(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer slow.Close()
	defer close(hang)
	fs := []store.StoredFinding{f("P1", "a", false)}
	for _, tt := range []struct {
		name string
		nb   config.Notify
		want string
	}{
		{"no answer", config.Notify{Name: "n", URL: slow.URL + "/services/T000/B000/s3cret?token=t0ken", Timeout: 200 * time.Millisecond},
			"notify n: post to " + slow.URL + "/…: no answer within 200ms"},
		{"refused", config.Notify{Name: "n", URL: "http://127.0.0.1:1/services/T000/B000/s3cret?token=t0ken"},
			"notify n: post to http://127.0.0.1:1/…: dial tcp 127.0.0.1:1: connect: connection refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := Notify(context.Background(), h, []config.Notify{tt.nb}, []Scan{{Findings: fs}}, http.DefaultClient)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "t0ken") {
				t.Errorf("the error shows the URL's key: %v", err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T/B/x": "https://hooks.slack.com/…",
		"https://user:pw@h.example/x?y=1":        "https://h.example/…",
		"https://h.example":                      "https://h.example",
		"https://h.example/?k=v":                 "https://h.example/…",
		"::not a url":                            "the webhook",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// Findings of one policy on one asset are paired by message, then in
// order among those whose messages changed.
func TestCompareKeepsEveryFinding(t *testing.T) {
	m := func(policy, asset, msg string) store.StoredFinding {
		return store.StoredFinding{PolicyID: policy, AssetID: asset, Severity: "high", Message: msg}
	}
	from := []store.StoredFinding{m("C", "a", "22 open"), m("C", "a", "3389 open"), m("G", "acct", "5 assets, no detector"), m("P", "x", "m")}
	to := []store.StoredFinding{m("C", "a", "22 open"), m("C", "a", "3389 open"), m("C", "a", "443 open"), m("G", "acct", "6 assets, no detector")}
	d := Compare(from, to)
	msgs := func(fs []store.StoredFinding) string {
		var out []string
		for _, f := range fs {
			out = append(out, f.PolicyID+":"+f.AssetID+":"+f.Message)
		}
		return strings.Join(out, ",")
	}
	for name, got := range map[string][2]string{
		"new":        {msgs(d.New), "C:a:443 open"},
		"still open": {msgs(d.StillOpen), "C:a:22 open,C:a:3389 open,G:acct:6 assets, no detector"},
		"resolved":   {msgs(d.Resolved), "P:x:m"},
	} {
		if got[0] != got[1] {
			t.Errorf("%s: %s, want %s", name, got[0], got[1])
		}
	}
	// two findings become one: one is still open, the other resolved
	d = Compare(from[:2], to[:1])
	if len(d.StillOpen) != 1 || len(d.Resolved) != 1 || d.Resolved[0].Message != "3389 open" {
		t.Errorf("two to one: %+v", d)
	}
}

// poster records what webhooks were sent.
type poster struct{ bodies []map[string]any }

func (p *poster) Do(r *http.Request) (*http.Response, error) {
	var body map[string]any
	json.NewDecoder(r.Body).Decode(&body)
	p.bodies = append(p.bodies, body)
	return &http.Response{StatusCode: 200, Status: "200 OK", Body: io.NopCloser(strings.NewReader(""))}, nil
}

func (p *poster) last() []string {
	if len(p.bodies) == 0 {
		return nil
	}
	var out []string
	list, _ := p.bodies[len(p.bodies)-1]["findings"].([]any)
	for _, x := range list {
		f := x.(map[string]any)
		out = append(out, f["policy_id"].(string)+":"+f["asset_id"].(string)+":"+f["message"].(string))
	}
	sort.Strings(out)
	return out
}

// Every finding is stored, counted by the diff and announced, on SQLite
// and on a real PostgreSQL: two findings of one Config Validator
// constraint on one asset are two findings everywhere.
func TestEveryFindingStoredCountedAndNotified(t *testing.T) {
	backends := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "h.db") },
		"postgres": func(t *testing.T) string { return testutil.Postgres(t) },
	}
	for name, dsn := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h, err := store.OpenHistory(ctx, dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			cv := func(msg string) policy.Finding {
				return policy.Finding{PolicyID: "GCP-CV-FW-001", AssetID: "//compute.googleapis.com/projects/p/global/firewalls/f", Severity: "high", Message: msg}
			}
			other := policy.Finding{PolicyID: "VGL-OWN-001", AssetID: "//storage.googleapis.com/b", Severity: "low", Message: "bucket b has no owner label"}
			blocks := []config.Notify{{Name: "secops", URL: "https://hooks.example/x", MinSeverity: "low"}}
			p := &poster{}
			record := func(fs ...policy.Finding) (*store.ScanRecord, []store.StoredFinding) {
				t.Helper()
				rec, out := Record("", time.Now(), &scan.Summary{Assets: 2}, nil, fs)
				if _, err := h.RecordScan(ctx, rec, out); err != nil {
					t.Fatal(err)
				}
				if err := Notify(ctx, h, blocks, []Scan{{Findings: out}}, p); err != nil {
					t.Fatal(err)
				}
				return rec, out
			}

			// 1: both of the constraint's findings, and another policy's
			rec, _ := record(cv("allows tcp:22 from 0.0.0.0/0"), cv("allows tcp:3389 from 0.0.0.0/0"), other)
			back, err := h.Findings(ctx, rec.ID)
			if err != nil || rec.Findings != 3 || len(back) != 3 {
				t.Fatalf("scan says %d findings, %d stored (%v)", rec.Findings, len(back), err)
			}
			if got, want := p.last(), []string{
				"GCP-CV-FW-001://compute.googleapis.com/projects/p/global/firewalls/f:allows tcp:22 from 0.0.0.0/0",
				"GCP-CV-FW-001://compute.googleapis.com/projects/p/global/firewalls/f:allows tcp:3389 from 0.0.0.0/0",
				"VGL-OWN-001://storage.googleapis.com/b:bucket b has no owner label",
			}; !slices.Equal(got, want) || len(p.bodies) != 1 {
				t.Errorf("first notification %v, want %v", got, want)
			}

			// 2: a third finding of the constraint on the same asset is new,
			// and the only one announced
			record(cv("allows tcp:22 from 0.0.0.0/0"), cv("allows tcp:3389 from 0.0.0.0/0"), cv("allows tcp:5900 from 0.0.0.0/0"), other)
			d, err := Between(ctx, h, "", 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.New) != 1 || d.New[0].Message != "allows tcp:5900 from 0.0.0.0/0" || len(d.StillOpen) != 3 || len(d.Resolved) != 0 {
				t.Errorf("diff: %d new, %d still open, %d resolved", len(d.New), len(d.StillOpen), len(d.Resolved))
			}
			if got := p.last(); len(p.bodies) != 2 || len(got) != 1 || !strings.HasSuffix(got[0], "tcp:5900 from 0.0.0.0/0") {
				t.Errorf("second notification: %v", got)
			}

			// 3: one is fixed, and another policy's message changes: one
			// resolved, nothing new, nothing announced
			changed := other
			changed.Message = "bucket b has no owner or team label"
			record(cv("allows tcp:22 from 0.0.0.0/0"), cv("allows tcp:5900 from 0.0.0.0/0"), changed)
			d, _ = Between(ctx, h, "", 0, 0)
			if len(d.New) != 0 || len(d.Resolved) != 1 || d.Resolved[0].Message != "allows tcp:3389 from 0.0.0.0/0" || len(d.StillOpen) != 3 {
				t.Errorf("diff: %d new, %d still open, %+v resolved", len(d.New), len(d.StillOpen), d.Resolved)
			}
			if len(p.bodies) != 2 {
				t.Errorf("nothing new, yet notified: %v", p.last())
			}
			// The fixed one is forgotten (the scan judged its asset); the
			// changed one's mark follows its new message.
			sent, _ := h.Notified(ctx, "secops")
			if len(sent) != 3 {
				t.Errorf("marks: %v", sent)
			}

			// 4: the fixed one comes back: it is announced again, alone
			record(cv("allows tcp:22 from 0.0.0.0/0"), cv("allows tcp:3389 from 0.0.0.0/0"), cv("allows tcp:5900 from 0.0.0.0/0"), changed)
			if got := p.last(); len(p.bodies) != 3 || len(got) != 1 || !strings.HasSuffix(got[0], "tcp:3389 from 0.0.0.0/0") {
				t.Errorf("the reopened finding: %d posts, last %v", len(p.bodies), got)
			}
		})
	}
}

// A finding is announced once while it stays open; once a scan that ran
// its policy on its asset no longer finds it open (fixed, gone, waived),
// it is forgotten, and announced again if it comes back. A scan that did
// not look at the asset, or did not run the policy, changes nothing.
// Worked out by hand: the posts each step must make.
func TestNotifyAgainAfterResolved(t *testing.T) {
	open := func(asset string) store.StoredFinding {
		return store.StoredFinding{PolicyID: "VGL-NET-001", AssetID: asset, Severity: "high", Message: asset + " open to the internet"}
	}
	waived := open("sg-1")
	waived.Waived = true
	net := []string{"VGL-NET-001"}
	steps := []struct {
		name  string
		scans []Scan
		want  []string // the assets of the one post, none for no post
	}{
		{"opened", []Scan{{Findings: []store.StoredFinding{open("sg-1"), open("sg-2")}, Policies: net}}, []string{"sg-1", "sg-2"}},
		{"still open", []Scan{{Findings: []store.StoredFinding{open("sg-1"), open("sg-2")}, Policies: net}}, nil},
		{"sg-1 fixed", []Scan{{Findings: []store.StoredFinding{open("sg-2")}, Judged: []string{"sg-1"}, Policies: net}}, nil},
		{"sg-1 reopened", []Scan{{Findings: []store.StoredFinding{open("sg-1"), open("sg-2")}, Policies: net}}, []string{"sg-1"}},
		{"sg-2 fixed, sg-1 not looked at", []Scan{{Findings: nil, Judged: []string{"sg-2"}, Policies: net}}, nil},
		{"sg-1 still announced", []Scan{{Findings: []store.StoredFinding{open("sg-1")}, Policies: net}}, nil},
		{"a scan of other policies", []Scan{{Judged: []string{"sg-1"}, Policies: []string{"VGL-OWN-001"}}}, nil},
		{"sg-1 still announced, again", []Scan{{Findings: []store.StoredFinding{open("sg-1")}, Policies: net}}, nil},
		{"sg-1 waived", []Scan{{Findings: []store.StoredFinding{waived}, Policies: net}}, nil},
		{"the waiver ended", []Scan{{Findings: []store.StoredFinding{open("sg-1")}, Policies: net}}, []string{"sg-1"}},
		// One batch (the watcher's notifier): fixed, then reopened:
		// announced again, once.
		{"fixed and reopened in one batch", []Scan{
			{Judged: []string{"sg-1"}, Policies: net},
			{Findings: []store.StoredFinding{open("sg-1")}, Policies: net},
		}, []string{"sg-1"}},
		// Opened and fixed in one batch: announced (it was open), not kept.
		{"sg-3 opened and fixed in one batch", []Scan{
			{Findings: []store.StoredFinding{open("sg-3")}, Policies: net},
			{Judged: []string{"sg-3"}, Policies: net},
		}, []string{"sg-3"}},
		{"sg-3 opened again", []Scan{{Findings: []store.StoredFinding{open("sg-3")}, Policies: net}}, []string{"sg-3"}},
	}
	h, err := store.OpenHistory(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	blocks := []config.Notify{{Name: "secops", URL: "https://hooks.example/x"}}
	p := &poster{}
	for _, st := range steps {
		before := len(p.bodies)
		if err := Notify(context.Background(), h, blocks, st.scans, p); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		var got []string
		if len(p.bodies) > before {
			for _, f := range p.last() {
				got = append(got, strings.Split(f, ":")[1])
			}
		}
		if len(p.bodies) > before+1 || !slices.Equal(got, st.want) {
			t.Errorf("%s: posted %v (%d posts), want %v", st.name, got, len(p.bodies)-before, st.want)
		}
	}
	// At the end sg-1 and sg-3 are open and announced; sg-2 was found
	// fixed (step 5) and forgotten.
	sent, _ := h.Notified(context.Background(), "secops")
	var ids []string
	for _, id := range sent {
		ids = append(ids, id.AssetID)
	}
	if !slices.Equal(ids, []string{"sg-1", "sg-3"}) {
		t.Errorf("marks at the end: %v", ids)
	}
}

// A JudgedSet keeps only the assets with announced findings.
func TestJudgedSet(t *testing.T) {
	h, err := store.OpenHistory(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	h.MarkNotified(ctx, "a", []store.FindingID{{PolicyID: "P", AssetID: "x", Fingerprint: "1"}}, nil)
	h.MarkNotified(ctx, "b", []store.FindingID{{PolicyID: "P", AssetID: "y", Fingerprint: "1"}}, nil)
	h.MarkNotified(ctx, "other", []store.FindingID{{PolicyID: "P", AssetID: "z", Fingerprint: "1"}}, nil)
	js, err := NewJudgedSet(ctx, h, []config.Notify{{Name: "a"}, {Name: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"w", "x", "y", "z", "x"} {
		js.See(&asset.Asset{ID: id})
	}
	if got := js.IDs(); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("judged %v, want x and y (z is another block's)", got)
	}
	var none *JudgedSet
	if none.IDs() != nil {
		t.Error("a nil set names assets")
	}
}

// Slack's control characters are escaped in every Slack text: a finding's
// message cannot mention @channel or disguise a link.
func TestSlackEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain *bold* `code`": "plain *bold* `code`",
		"<!channel>":          "&lt;!channel&gt;",
		"<https://evil.example/x|vigil runbook apply>": "&lt;https://evil.example/x|vigil runbook apply&gt;",
		"a & b &amp; c": "a &amp; b &amp;amp; c",
	} {
		if got := SlackEscape(in); got != want {
			t.Errorf("SlackEscape(%q) = %q, want %q", in, got, want)
		}
	}
	p := &poster{}
	nb := config.Notify{Name: "s", URL: "https://hooks.example/x", Format: "slack"}
	f := store.StoredFinding{PolicyID: "VGL-OWN-001", AssetID: "//storage.googleapis.com/<!here>", Severity: "low", Message: "bucket <!here> & <https://e.example|x> has no owner"}
	if err := Post(context.Background(), p, nb, []store.StoredFinding{f}, "", nil); err != nil {
		t.Fatal(err)
	}
	text := p.bodies[0]["text"].(string)
	if strings.ContainsAny(text, "<>") || !strings.Contains(text, "bucket &lt;!here&gt; &amp; &lt;https://e.example|x&gt; has no owner") {
		t.Errorf("slack text: %q", text)
	}
}

// Scans are compared only when they ran one schedule, one policy set and
// the same inputs; inputs not recorded (nil: before history kept them)
// do not keep scans apart.
func TestComparable(t *testing.T) {
	rec := func(id int64, schedule, set string, inputs ...string) *store.ScanRecord {
		return &store.ScanRecord{ID: id, Schedule: schedule, PolicySet: set, Inputs: inputs}
	}
	all := []string{"inv/aws.json", "inv/gcp.ndjson"}
	for _, c := range []struct {
		name string
		a, b *store.ScanRecord
		ok   bool
		why  string
	}{
		{"same", rec(2, "", "35 policies", all...), rec(1, "", "35 policies", all...), true, "scan 1 is the previous scan of the same schedule (no schedule (ad hoc)) and policy set (35 policies), the same inputs"},
		{"fewer files", rec(3, "", "35 policies", "inv/gcp.ndjson"), rec(1, "", "35 policies", all...), false, "scan 1 read other inputs (inv/aws.json, inv/gcp.ndjson, not inv/gcp.ndjson)"},
		{"other regions", rec(3, "", "p", "aws accounts 1 regions eu-west-1"), rec(1, "", "p", "aws accounts 1 regions eu-west-1,us-east-1"), false,
			"scan 1 read other inputs (aws accounts 1 regions eu-west-1,us-east-1, not aws accounts 1 regions eu-west-1)"},
		{"many", rec(3, "", "p", "a", "b", "c", "d"), rec(1, "", "p", "a"), false, "scan 1 read other inputs (a, not a, b and 2 more)"},
		// read nothing (known: an empty list) is not read a
		{"none read", rec(3, "", "p", []string{}...), rec(1, "", "p", "a"), false, "scan 1 read other inputs (a, not none)"},
		{"old scan", rec(3, "", "p", "a"), rec(1, "", "p"), true, "scan 1 is the previous scan of the same schedule (no schedule (ad hoc)) and policy set (p), inputs not recorded"},
		{"schedule first", rec(3, "daily", "p", "a"), rec(1, "", "q", "b"), false, `scan 1 is of no schedule (ad hoc), scan 3 of schedule "daily"`},
		{"policy set", rec(3, "", "p", "a"), rec(1, "", "q", "a"), false, "scan 1 ran another policy set (q, not p)"},
	} {
		ok, why := Comparable(c.a, c.b)
		if ok != c.ok || why != c.why {
			t.Errorf("%s: %v %q, want %v %q", c.name, ok, why, c.ok, c.why)
		}
	}
}
