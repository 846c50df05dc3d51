package cli

import (
	"context"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ir/vigil/internal/store"
	"github.com/vigil-ir/vigil/internal/testutil"
)

var cmdRE = regexp.MustCompile(`<p id="(cmd-[0-9a-f]+)" class="command" data-runbook="([^"]+)">(.*?)</p>`)

// The report's remediation commands run as printed: each sets every
// variable its runbook has no default for, from the finding, and plans
// against the simulated cloud with exit 0. The examples' runbooks need
// instance and incident (compromised-ec2, compromised-vm-gcp),
// access_key_id and incident (leaked-aws-access-key), project
// (shadow-project-triage) and nothing (open-firewall-remediation); only an
// Inspector or OS Config report (VGL-VULN-001) does not name its instance
// as the runbook wants it, nor an AWS network its project, and those
// commands say so.
func TestReportRemediationCommandsRun(t *testing.T) {
	db := filepath.Join(t.TempDir(), "history.db")
	if code, _, errs := run(t, "scan", "--store="+db, "-c", "examples/vigil.hcl", "-w", "examples/waivers.hcl", "-q", "examples/inventory"); code == ExitError {
		t.Fatalf("scan: %s", errs)
	}
	code, out, errs := run(t, "report", "--store="+db)
	if code != 0 {
		t.Fatalf("report: %d %s", code, errs)
	}
	cmds := cmdRE.FindAllStringSubmatch(out, -1)
	if len(cmds) == 0 {
		t.Fatal("the report prints no remediation command")
	}
	ran, handFilled := map[string]int{}, 0
	for _, m := range cmds {
		if !strings.Contains(out, `href="#`+m[1]+`"`) {
			t.Errorf("no finding links to %s", m[1])
		}
		body := m[3]
		i := strings.Index(body, `<code class="cmd">`)
		j := strings.Index(body, `</code>`)
		text := html.UnescapeString(body[i+len(`<code class="cmd">`) : j])
		words := shellWords(t, text)
		if words[0] != "vigil" {
			t.Fatalf("command %q", text)
		}
		code, _, errs := run(t, words[1:]...)
		if strings.Contains(body, `class="missing"`) {
			// VGL-NET-002 names shadow-project-triage, a Google Cloud
			// runbook, for AWS networks too: an account is no project.
			// The command has no placeholder, so as printed it refuses.
			if m[2] != "shadow-project-triage" || !strings.Contains(body, "add -var project=… by hand") || strings.Contains(text, "project=") {
				t.Errorf("%s lacks more than an AWS network's project: %s", m[2], body)
			}
			if code != ExitError || !strings.Contains(errs, `No value for required variable`) {
				t.Errorf("%s without its project: exit %d\n%s", text, code, errs)
			}
			handFilled++
			continue
		}
		if code != 0 {
			t.Errorf("%s: exit %d\n%s", text, code, errs)
		}
		ran[m[2]]++
	}
	// Worked from the example inventory's open findings with remediations,
	// one command per distinct line: compromised-vm-gcp for web-1 (its
	// VGL-NET-004 finding and its vulnerability report's VGL-VULN-001,
	// whose details name the VM) and test-vm-3; compromised-ec2 likewise
	// for i-…0001 (and its Inspector report) and i-…0003;
	// open-firewall-remediation once (it takes no variable); two leaked
	// keys; shadow-project-triage for acme-sandbox-7731: 8 that run. The
	// three AWS VGL-NET-002 findings have no project: 1 to fill by hand.
	if n := len(cmds) - handFilled; n != 8 || handFilled != 1 {
		t.Errorf("%d runnable and %d hand-filled commands, want 8 and 1 (ran %v)", n, handFilled, ran)
	}
	// Worked from the example inventory's findings with remediations
	// (the waived VPC and the expired web-1 waiver included).
	for _, rb := range []string{"compromised-ec2", "compromised-vm-gcp", "leaked-aws-access-key", "shadow-project-triage", "open-firewall-remediation"} {
		if ran[rb] == 0 {
			t.Errorf("no command of %s ran (ran %v)", rb, ran)
		}
	}
	want := `vigil runbook plan leaked-aws-access-key --provider sim -i examples/inventory/aws-config-snapshot.json -i examples/inventory/aws-iam.ndjson -i examples/inventory/gcp-iam-policies.ndjson -i examples/inventory/gcp-resources.ndjson -var access_key_id=AKIAQ3EGV2EXAMPLE001 -var incident=INC-`
	if !strings.Contains(out, want) {
		t.Errorf("report lacks %q", want)
	}
	// The expired web-1 waiver (2026-10-31) and the finding it covered.
	for _, want := range []string{`<tr class="expired-waiver" data-expires="2026-10-31">`, "web-1 serves the shop directly", `<h2>Expired waivers (1, covering 1 findings now open)</h2>`,
		`expired 2026-10-31 (was: web-1 serves the shop directly`} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// diff and the report compare scans of one schedule and policy set only:
// an ad-hoc --policy scan neither resolves the full scan's findings nor
// shows in its trend.
func TestDiffComparesOneScheduleAndPolicySet(t *testing.T) {
	db := filepath.Join(t.TempDir(), "history.db")
	scan := func(args ...string) {
		t.Helper()
		if code, _, errs := run(t, append([]string{"scan", "--store=" + db, "-c", "examples/vigil.hcl", "-q", "examples/inventory"}, args...)...); code == ExitError {
			t.Fatalf("scan: %s", errs)
		}
	}
	scan()
	scan("--policy", "VGL-NET-001")
	code, out, errs := run(t, "diff", "--store="+db)
	if code != ExitError || !strings.Contains(errs, "scan 2 (no schedule (ad hoc), 1 policies,") || !strings.Contains(errs, "scans 1 are not comparable (scan 1 ran another policy set (35 policies,") {
		t.Errorf("diff with no comparable scan: exit %d\n%s%s", code, out, errs)
	}
	scan()
	code, out, errs = run(t, "diff", "--store="+db)
	if code != 0 || !strings.Contains(out, "-> scan 3 (") || !strings.Contains(out, "Scan 1 (") ||
		!strings.Contains(out, "Scan 1 is the previous scan of the same schedule (no schedule (ad hoc)) and policy set (35 policies,") ||
		!strings.Contains(out, "1 later scans of other schedules, policy sets or inputs were passed over") || !strings.Contains(out, "RESOLVED (0)") {
		t.Errorf("diff of the two full scans: exit %d\n%s%s", code, out, errs)
	}
	// Two ids are compared as asked, with a warning.
	code, out, _ = run(t, "diff", "--store="+db, "1", "2")
	if !strings.Contains(out, "are not comparable") || !strings.Contains(out, "RESOLVED (") {
		t.Errorf("diff 1 2: exit %d\n%s", code, out)
	}
	code, out, errs = run(t, "report", "--store="+db)
	if code != 0 || !strings.Contains(out, `data-points="2"`) || !strings.Contains(out, "1 scans of other schedules, policy sets or inputs are left out") ||
		!strings.Contains(out, `<section id="new"><h2>New since scan 1 (0)</h2>`) {
		t.Errorf("report: exit %d %s", code, errs)
	}
}

// A scan of fewer inputs is not compared either: the AWS findings of the
// full scan were not resolved by a scan of the GCP file alone (review 20,
// bug 5).
func TestDiffComparesTheSameInputs(t *testing.T) {
	db := filepath.Join(t.TempDir(), "history.db")
	scan := func(inputs ...string) {
		t.Helper()
		if code, _, errs := run(t, append([]string{"scan", "--store=" + db, "-c", "examples/vigil.hcl", "-q"}, inputs...)...); code == ExitError {
			t.Fatalf("scan: %s", errs)
		}
	}
	scan("examples/inventory/")
	scan("examples/inventory/gcp-resources.ndjson")
	code, out, errs := run(t, "diff", "--store="+db)
	if code != ExitError || !strings.Contains(errs, "scans 1 are not comparable (scan 1 read other inputs (") ||
		!strings.Contains(errs, ", not examples/inventory/gcp-resources.ndjson)") {
		t.Errorf("diff of the narrower scan: exit %d\n%s%s", code, out, errs)
	}
	// the directory again, named without its slash: the same files
	scan("examples/inventory")
	code, out, errs = run(t, "diff", "--store="+db)
	if code != 0 || !strings.Contains(out, "Scan 1 (") || !strings.Contains(out, "-> scan 3 (") || !strings.Contains(out, "the same inputs") ||
		!strings.Contains(out, "1 later scans of other schedules, policy sets or inputs were passed over") || !strings.Contains(out, "RESOLVED (0)") {
		t.Errorf("diff of the two full scans: exit %d\n%s%s", code, out, errs)
	}
}

// The report opened in headless Chromium: the trend's x axis is dated and
// its y axis has ticks between 0 and the top, and the filter in the
// address (?q=...&severity=...) hides the rows that do not match, by the
// page's own script.
func TestHTMLReportFilterInChromium(t *testing.T) {
	chromium := testutil.Chromium(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "history.db")
	h, err := store.OpenHistory(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	// Three weekly scans; the last has 12 findings: rule-00 to rule-11,
	// severities cycling critical, high, medium, low.
	sevs := []string{"critical", "high", "medium", "low"}
	for week, n := range []int{5, 9, 12} {
		rec := &store.ScanRecord{StartedAt: time.Date(2026, 11, 1+7*week, 6, 0, 0, 0, time.UTC), PolicySet: "1 policies, 0123456789ab", Sources: []string{"inv.ndjson"}, BySeverity: map[string]int{}}
		rec.FinishedAt = rec.StartedAt.Add(time.Minute)
		var fs []store.StoredFinding
		for i := range n {
			f := store.StoredFinding{PolicyID: "VGL-NET-001", Severity: sevs[i%4], Kind: "firewall", Provider: "gcp", Scope: "acme-prod",
				AssetID: fmt.Sprintf("//compute.googleapis.com/projects/acme-prod/global/firewalls/rule-%02d", i), Message: fmt.Sprintf("rule-%02d allows tcp:22 from 0.0.0.0/0", i)}
			fs = append(fs, f)
			rec.Findings++
			rec.BySeverity[f.Severity]++
		}
		if _, err := h.RecordScan(context.Background(), rec, fs); err != nil {
			t.Fatal(err)
		}
	}
	h.Close()
	report := filepath.Join(dir, "posture.html")
	if code, _, errs := run(t, "report", "--store="+db, "--out", report); code != 0 {
		t.Fatalf("report: %d %s", code, errs)
	}
	raw, _ := os.ReadFile(report)
	if regexp.MustCompile(`(?i)<script[^>]+src=|<link[^>]+href=|@import|https?://[^"]*\.(js|css)`).Match(raw) {
		t.Error("the report loads something from elsewhere")
	}
	rows := regexp.MustCompile(`<tr id="f-[0-9a-f]+"[^>]*>`)

	dom := testutil.DumpDOM(t, chromium, "file://"+report)
	labels := regexp.MustCompile(`<tspan[^>]*>(\d{4}-\d{2}-\d{2})</tspan>`).FindAllStringSubmatch(dom, -1)
	var days []string
	for _, l := range labels {
		days = append(days, l[1])
	}
	if strings.Join(days, " ") != "2026-11-01 2026-11-08 2026-11-15" {
		t.Errorf("x axis labels %v, want the three scans' dates", days)
	}
	// 12 at most: a step of 5 (4*5 >= 12), ticks 0, 5, 10, 15.
	var ticks []string
	for _, m := range regexp.MustCompile(`<g class="ytick" data-value="(\d+)">`).FindAllStringSubmatch(dom, -1) {
		ticks = append(ticks, m[1])
	}
	if strings.Join(ticks, ",") != "0,5,10,15" {
		t.Errorf("y ticks %v, want 0,5,10,15", ticks)
	}
	// The last bar: 3 critical, 3 high, 3 medium, 3 low, stacked.
	if n := strings.Count(dom, `class="seg"`); n != 4+4+4 {
		t.Errorf("%d bar segments, want 12 (4 severities in each of 3 scans)", n)
	}
	if all := rows.FindAllString(dom, -1); len(all) != 12 || strings.Contains(strings.Join(all, ""), "hidden") {
		t.Errorf("unfiltered: %d rows, some hidden: %v", len(all), all)
	}

	// rule-0 matches rule-00 to rule-09; of those, high are rule-01, -05
	// and -09.
	dom = testutil.DumpDOM(t, chromium, "file://"+report+"?q=RULE-0&severity=high")
	var shown []string
	for _, m := range regexp.MustCompile(`<tr id="f-[0-9a-f]+"[^>]*>.*?firewalls/(rule-\d+)</code>`).FindAllStringSubmatch(dom, -1) {
		if !strings.Contains(m[0][:strings.Index(m[0], ">")], "hidden") {
			shown = append(shown, m[1])
		}
	}
	if strings.Join(shown, " ") != "rule-01 rule-05 rule-09" {
		t.Errorf("filtered rows shown %v, want rule-01 rule-05 rule-09", shown)
	}
	if !strings.Contains(dom, `data-matching="3"`) || !strings.Contains(dom, "3 of 12 rows match") || !strings.Contains(dom, `data-filtered="yes"`) {
		t.Errorf("the count does not say 3 of 12 match")
	}
}
