package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-ir/vigil/engine/config"
	"github.com/vigil-ir/vigil/internal/history"
	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/internal/testutil"
)

func firewall(name string, ranges, ports string) string {
	return `{"name":"//compute.googleapis.com/projects/acme-web/global/firewalls/` + name + `","asset_type":"compute.googleapis.com/Firewall",` +
		`"resource":{"version":"v1","data":{"name":"` + name + `","network":"https://www.googleapis.com/compute/v1/projects/acme-web/global/networks/web",` +
		`"direction":"INGRESS","priority":1000,"sourceRanges":[` + ranges + `],"allowed":[{"IPProtocol":"tcp","ports":["` + ports + `"]}]}},` +
		`"ancestors":["projects/1234","organizations/99"]}`
}

// webhook records what a notify block posts.
type webhook struct {
	mu    sync.Mutex
	posts [][]string // asset ids per post
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body struct {
		Findings []struct {
			AssetID string `json:"asset_id"`
		} `json:"findings"`
	}
	json.Unmarshal(raw, &body)
	var ids []string
	for _, f := range body.Findings {
		ids = append(ids, f.AssetID[strings.LastIndex(f.AssetID, "/")+1:])
	}
	h.mu.Lock()
	h.posts = append(h.posts, ids)
	h.mu.Unlock()
}

// Two scans of inventories that differ by one fixed and one new gap: diff
// reports exactly those two, and the webhook hears of the new one only.
func TestDiffAndNotify(t *testing.T) {
	dir := t.TempDir()
	a := write(t, "a.ndjson", firewall("ssh-debug", `"0.0.0.0/0"`, "22")+"\n"+firewall("internal", `"10.0.0.0/8"`, "22")+"\n")
	b := write(t, "b.ndjson", firewall("ssh-debug", `"10.0.0.0/8"`, "22")+"\n"+firewall("internal", `"10.0.0.0/8"`, "22")+"\n"+firewall("rdp-temp", `"0.0.0.0/0"`, "3389")+"\n")
	hook := &webhook{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	cfg := write(t, "vigil.hcl", `notify "secops" {
  url          = "`+srv.URL+`"
  min_severity = "high"
}
`)
	db := filepath.Join(dir, "history.db")
	// one input whose content changes, as a scheduled export's does (a
	// scan of another file would not be compared)
	inv := filepath.Join(dir, "inventory.ndjson")
	for _, content := range []string{a, b} {
		raw, err := os.ReadFile(content)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(inv, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errs := run(t, "scan", "--store="+db, "-c", cfg, "--policy", "VGL-NET-001", inv)
		if code != ExitFindings || !strings.Contains(errs, "recorded scan") {
			t.Fatalf("scan %s: %d %s", content, code, errs)
		}
	}
	code, out, errs := run(t, "diff", "--store="+db, "-f", "json")
	if code != ExitFindings {
		t.Fatalf("diff: %d %s", code, errs)
	}
	var d history.Diff
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.New) != 1 || !strings.HasSuffix(d.New[0].AssetID, "/rdp-temp") || len(d.Resolved) != 1 || !strings.HasSuffix(d.Resolved[0].AssetID, "/ssh-debug") ||
		len(d.StillOpen) != 0 || len(d.NewlyWaived) != 0 || d.FromID != 1 || d.ToID != 2 {
		t.Errorf("diff: %s", out)
	}
	hook.mu.Lock()
	posts := hook.posts
	hook.mu.Unlock()
	if len(posts) != 2 || strings.Join(posts[0], ",") != "ssh-debug" || strings.Join(posts[1], ",") != "rdp-temp" {
		t.Errorf("webhook posts %v: want the first scan's finding, then exactly the new one", posts)
	}
	// A third scan of the same inventory: nothing new, nothing sent.
	run(t, "scan", "--store="+db, "-c", cfg, "--policy", "VGL-NET-001", inv)
	if len(hook.posts) != 2 {
		t.Errorf("the same finding was sent twice: %v", hook.posts)
	}
	code, out, _ = run(t, "diff", "--store="+db)
	if code != 0 || !strings.Contains(out, "NEW (0)") || !strings.Contains(out, "STILL OPEN: 1") {
		t.Errorf("diff text: %d\n%s", code, out)
	}
	code, out, _ = run(t, "history", "--store="+db)
	if code != 0 || strings.Count(out, "\n") != 4 {
		t.Errorf("history:\n%s", out)
	}
	code, _, errs = run(t, "diff", "--store="+filepath.Join(dir, "empty.db"))
	if code != ExitError || !strings.Contains(errs, "a diff needs two scans; the history has none: record them with 'vigil scan --history'") {
		t.Errorf("empty history: %d %s", code, errs)
	}
	// one scan: say so, not "no scans recorded yet"
	one := filepath.Join(dir, "one.db")
	run(t, "scan", "-q", "--store="+one, "-c", cfg, "--policy", "VGL-NET-001", b)
	code, _, errs = run(t, "diff", "--store="+one)
	if code != ExitError || !strings.Contains(errs, "the history has one (scan 1, ") || strings.Contains(errs, "no scans recorded yet") {
		t.Errorf("one scan: %d %s", code, errs)
	}
}

// A gap that is fixed and opened again is announced again, by `vigil scan
// --store` and by a schedule of `vigil serve` alike; while it stays open it
// is announced once. (The scans see the firewall each time, fixed or not.)
func TestNotifyReopenedFinding(t *testing.T) {
	open := firewall("ssh-debug", `"0.0.0.0/0"`, "22") + "\n"
	fixed := firewall("ssh-debug", `"10.0.0.0/8"`, "22") + "\n"
	for _, via := range []string{"scan --store", "serve schedule"} {
		t.Run(via, func(t *testing.T) {
			dir := t.TempDir()
			inv := filepath.Join(dir, "inv.ndjson")
			hook := &webhook{}
			srv := httptest.NewServer(hook)
			defer srv.Close()
			cfg := write(t, "vigil.hcl", `notify "secops" {
  url = "`+srv.URL+`"
}
schedule "hourly" {
  cron     = "0 * * * *"
  sources  = ["`+inv+`"]
  policies = ["VGL-NET-001"]
}
`)
			db := filepath.Join(dir, "history.db")
			var scan func()
			switch via {
			case "scan --store":
				scan = func() {
					if code, _, errs := run(t, "scan", "--store="+db, "-c", cfg, "--policy", "VGL-NET-001", inv); code > ExitFindings {
						t.Fatalf("scan: %d %s", code, errs)
					}
				}
			default:
				c, _, diags := config.Load(cfg)
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				h, err := store.OpenHistory(context.Background(), db)
				if err != nil {
					t.Fatal(err)
				}
				defer h.Close()
				a := &app{stdout: io.Discard, stderr: io.Discard, stdin: strings.NewReader(""), env: os.Getenv}
				judged := &judgedBySchedule{}
				scanFn, notify := a.scheduleScan(cfg, nil, h, c.Notify, judged), scheduleNotify(h, c.Notify, judged)
				scan = func() {
					rec, fs, err := scanFn(context.Background(), c.Schedules[0])
					if err != nil {
						t.Fatal(err)
					}
					rec.Schedule = c.Schedules[0].Name // as serve sets it
					if _, err := h.RecordScan(context.Background(), rec, fs); err != nil {
						t.Fatal(err)
					}
					if err := notify(context.Background(), rec, fs); err != nil {
						t.Fatal(err)
					}
				}
			}
			for i, content := range []string{open, open, fixed, open} {
				os.WriteFile(inv, []byte(content), 0o644)
				scan()
				hook.mu.Lock()
				n := len(hook.posts)
				hook.mu.Unlock()
				if want := []int{1, 1, 1, 2}[i]; n != want {
					t.Fatalf("after scan %d: %d posts %v, want %d", i+1, n, hook.posts, want)
				}
			}
			if got := strings.Join(hook.posts[1], ","); got != "ssh-debug" {
				t.Errorf("second post %q, want the reopened ssh-debug", got)
			}
		})
	}
}

// The HTML report, opened in headless Chromium: it renders, the chart has a
// point per scan, and a finding link lands on its row.
func TestHTMLReportInChromium(t *testing.T) {
	chromium := testutil.Chromium(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "history.db")
	// one directory, the GCP export in it first, then all the examples'
	// inventories: the second scan is compared with the first
	inv := filepath.Join(dir, "inventory")
	if err := os.Mkdir(inv, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, files := range [][]string{{"gcp-resources.ndjson"}, {"aws-config-snapshot.json", "aws-iam.ndjson", "gcp-iam-policies.ndjson"}} {
		for _, name := range files {
			raw, err := os.ReadFile(filepath.Join(testutil.Root(t), "examples/inventory", name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(inv, name), raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if code, _, errs := run(t, "scan", "--store="+db, "-c", "examples/vigil.hcl", "-q", inv); code == ExitError {
			t.Fatalf("scan: %s", errs)
		}
	}
	report := filepath.Join(dir, "posture.html")
	if code, _, errs := run(t, "report", "--store="+db, "--out", report); code != 0 {
		t.Fatalf("report: %d %s", code, errs)
	}
	raw, _ := os.ReadFile(report)
	if strings.Contains(string(raw), "http://") && strings.Contains(string(raw), "<script src") {
		t.Error("the report must be self-contained")
	}
	// The first "new" link points at a finding's row.
	i := strings.Index(string(raw), `<section id="new">`)
	j := strings.Index(string(raw)[i:], `href="#`)
	anchor := string(raw)[i+j+7 : i+j+7+strings.Index(string(raw)[i+j+7:], `"`)]
	dom := testutil.DumpDOM(t, chromium, "file://"+report+"#"+anchor)
	for _, want := range []string{`id="trend-chart"`, `data-points="2"`, `class="point"`, `<tr id="` + anchor + `" class="`, `data-target="` + anchor + `"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if strings.Count(dom, `class="point"`) != 2 || !strings.Contains(dom, "targeted") {
		t.Errorf("chart points %d, link target marked %v", strings.Count(dom, `class="point"`), strings.Contains(dom, "targeted"))
	}
}

func TestServeConfigErrors(t *testing.T) {
	code, _, errs := run(t, "serve", "--config", "examples/vigil.hcl")
	if code != ExitError || !strings.Contains(errs, "declares no schedule") {
		t.Errorf("no schedules: %d %s", code, errs)
	}
	bad := write(t, "vigil.hcl", "schedule \"x\" {\n  cron    = \"every hour\"\n  sources = [\"inv/\"]\n}\n")
	code, _, errs = run(t, "serve", "--config", bad)
	if code != ExitError || !strings.Contains(errs, "Invalid cron expression") || !strings.Contains(errs, "line 1") ||
		strings.Contains(errs, "source code not available") || !strings.Contains(errs, `1: schedule "x" {`) {
		t.Errorf("bad cron: %d %s", code, errs)
	}
	code, _, errs = run(t, "report", "--store="+filepath.Join(t.TempDir(), "none.db"))
	if code != ExitError || !strings.Contains(errs, "no scans recorded yet") {
		t.Errorf("report without scans: %d %s", code, errs)
	}
}

// vigil report --compliance adds the per-control table of the latest scan.
// History keeps findings and the controls they break, not the facts a
// scan read: on the examples 5.1 fails (VGL-NET-006 maps to it alone: acl
// 0a1a000000000001); VGL-NET-001's findings say which of 5.2 and 5.3 they
// break, as in vigil scan --compliance: bastion admits 0.0.0.0/0 and ::/0
// to 22 (both), launch-wizard-1 0.0.0.0/0 to every port (5.2), so 5.2
// fails with 2 and 5.3 with 1; 1.4 is not assessed (no finding, and no
// record of what was read), 1.6 is not covered, and nothing passes.
func TestHTMLReportCompliance(t *testing.T) {
	db := filepath.Join(t.TempDir(), "history.db")
	if code, _, errs := run(t, "scan", "--store="+db, "-c", "examples/vigil.hcl", "-q", "examples/inventory"); code == ExitError {
		t.Fatalf("scan: %s", errs)
	}
	code, out, errs := run(t, "report", "--store="+db, "--compliance", "cis-aws-3.0")
	if code != 0 {
		t.Fatalf("report: %d %s", code, errs)
	}
	for _, want := range []string{`id="compliance-cis-aws-3.0"`, `data-control="5.1" data-status="fail"`,
		`data-control="5.2" data-status="fail"`, `data-control="5.3" data-status="fail"`, `data-control="1.4" data-status="not assessed"`,
		`data-control="1.6" data-status="not covered"`} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(out, `data-status="pass"`) {
		t.Errorf("a control passes on history alone")
	}
	if code, _, _ := run(t, "report", "--store="+db, "--compliance", "nist"); code != ExitError {
		t.Errorf("unknown benchmark: exit %d", code)
	}
}

// --policy takes globs, as the README shows, and a schedule's policies do
// too; a pattern that names no policy is an error naming it.
func TestPolicyGlobs(t *testing.T) {
	code, out, errs := run(t, "scan", "--policy", "VGL-NET-*", "-f", "json", "examples/inventory/")
	if code != ExitFindings {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep struct {
		Findings []struct {
			PolicyID string `json:"policy_id"`
		} `json:"findings"`
		Summary struct {
			Policies int `json:"policies"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Policies != 9 || len(rep.Findings) == 0 { // VGL-NET-001 to 009
		t.Errorf("ran %d policies, %d findings", rep.Summary.Policies, len(rep.Findings))
	}
	for _, f := range rep.Findings {
		if !strings.HasPrefix(f.PolicyID, "VGL-NET-") {
			t.Errorf("finding of %s", f.PolicyID)
		}
	}
	for pattern, want := range map[string]string{
		"VGL-NOPE-001":  "unknown policy id VGL-NOPE-001",
		"VGL-NET-*,X-*": `no policy id matches "X-*"`,
	} {
		if code, _, errs := run(t, "scan", "--policy", pattern, "examples/inventory/"); code != ExitError || !strings.Contains(errs, want) {
			t.Errorf("--policy %s: %d %s", pattern, code, errs)
		}
	}

	// a scheduled scan with policies = ["VGL-*"], as the README has it
	cfg := write(t, "vigil.hcl", `schedule "hourly" {
  cron     = "0 * * * *"
  sources  = ["`+testutil.Path(t, "examples/inventory")+`"]
  policies = ["VGL-NET-*", "VGL-DATA-*"]
}
`)
	var stderr strings.Builder
	a := &app{stdout: io.Discard, stderr: &stderr, stdin: strings.NewReader(""), env: os.Getenv}
	c, _, diags := config.Load(cfg)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rec, fs, err := a.scheduleScan(cfg, nil, nil, nil, nil)(context.Background(), c.Schedules[0])
	if err != nil {
		t.Fatalf("scheduled scan: %v (%s)", err, stderr.String())
	}
	if !strings.HasPrefix(rec.PolicySet, "11 policies") || len(fs) == 0 { // 9 VGL-NET, 2 VGL-DATA
		t.Errorf("scheduled scan ran %s, %d findings", rec.PolicySet, len(fs))
	}
	for _, f := range fs {
		if !strings.HasPrefix(f.PolicyID, "VGL-NET-") && !strings.HasPrefix(f.PolicyID, "VGL-DATA-") {
			t.Errorf("finding of %s", f.PolicyID)
		}
	}
	c.Schedules[0].Policies = []string{"VGL-NETT-*"}
	if _, _, err := a.scheduleScan(cfg, nil, nil, nil, nil)(context.Background(), c.Schedules[0]); err == nil || !strings.Contains(err.Error(), `no policy id matches "VGL-NETT-*"`) {
		t.Errorf("a glob matching nothing: %v", err)
	}
}
